"""Telegram channel of the project: webhook that verifies Telegram's secret header, answers via the Bot API.

Why not Rasa 3.6's own `rasa.core.channels.telegram`:
- it authenticates an update only by calling Telegram's getMe on *every* message and comparing the bot's
  name, which anyone can read: a forged POST to the webhook is processed as long as Telegram answers getMe.
  This channel compares `X-Telegram-Bot-Api-Secret-Token` (set with setWebhook's `secret_token`) in
  constant time and answers 403 before anything else happens; getMe is called once, at start;
- it reads its token from credentials.yml, where `${VAR}` fails when the variable is unset, so `make serve`
  would need Telegram secrets. This channel reads its settings from the environment and stays disabled
  (webhook 503, one log line) when TELEGRAM_TOKEN is unset;
- it calls setWebhook with `asyncio.run` while Rasa builds its blueprints (a failure to reach Telegram stops
  the server) and has no way to point at another API server, so it cannot be tested against a fake;
- it answers stickers, photos and voice notes with silence, splits answers at blank lines into several
  messages and does not answer callback queries (the button keeps spinning in the client).

Privacy and delivery (issue 13):
- a conversation is stored as `telegram:<keyed hash of the chat id>` (channels/identity.py), never under
  the chat id, and no log line names a chat id;
- only private chats are served: a message in a group gets one polite line and never reaches Rasa (a
  group's members would share one conversation, and read each other's health questions);
- answers are sent after the turn is saved (channels/privacy.py), in the background, in order per chat,
  with retries: a 429 waits its `retry_after`, network errors and 5xx back off exponentially. A failed
  send no longer raises out of Rasa (which dropped the turn, so the person got nothing and nothing was
  kept). aiogram 2.15 (Rasa's dependency) raises RetryAfter without retrying, and aiohttp-retry (also
  installed) cannot take its wait from Telegram's JSON `retry_after`, so the loop here is our own;
- `/forget` erases the conversation, like "delete my conversation" in every channel.

One code path handles both modes: in long-polling mode `scripts/telegram_poll.py` fetches updates with
getUpdates and posts each to this webhook with the secret header, as Telegram would.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Text, Tuple

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.abuse import ABUSE_DEFAULTS
from channels.guard import GUARD_DEFAULTS, clean_text, with_urgent_care
from channels.identity import log_id, telegram_sender
from channels.log_privacy import redacting
from channels.privacy import Conversations, message_pipeline

logger = logging.getLogger(__name__)
# Loading the model imports numpy.distutils, which sets the *root* logger to WARNING (through setuptools'
# distutils log), hiding every INFO line after start-up. This channel's start-up lines (webhook set, bot
# name) matter to whoever deploys it, so its logger follows Rasa's own level (`rasa run` sets LOG_LEVEL).
_level = logging.getLevelName(os.environ.get("LOG_LEVEL", "INFO").upper())
logger.setLevel(_level if isinstance(_level, int) else logging.INFO)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/webhooks/telegram/webhook"
# The update types the bot handles; setWebhook and getUpdates ask Telegram for these only.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
DEFAULT_API_URL = "https://api.telegram.org"
MAX_MESSAGE_UTF16 = 4096  # sendMessage: "1-4096 characters after entities parsing" (UTF-16 code units)
MAX_CALLBACK_DATA_BYTES = 64  # InlineKeyboardButton.callback_data: 1-64 bytes
TOKEN_FORMAT = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# setWebhook's secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -. We also ask for at least 16.
SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@([A-Za-z0-9_]+))?(?:\s|$)")

# Non-secret settings; credentials.yml may override each (wording, timeouts).
DEFAULTS: Dict[str, Any] = {
    **GUARD_DEFAULTS,
    **ABUSE_DEFAULTS,
    "privacy_notice": True,
    "api_timeout": 10,
    # A call that fails is tried up to this many times: after a 429 once its retry_after has passed (if that
    # is at most max_retry_after seconds), after a network error or a 5xx with exponential back-off.
    "send_attempts": 5,
    "max_retry_after": 30,
    "retry_backoff": 0.5,
    # Telegram commands and the text sent into Rasa for each ("/greet" triggers the intent greet);
    # "/forget" erases the conversation (channels/privacy.py, data/privacy/privacy.yml).
    "commands": {"start": "/greet", "help": "/help", "forget": "/forget"},
    "group_reply": "I only answer in a private chat, so that nobody else reads your health questions. "
                   "Please send me a direct message.",
    "non_text_reply": "Thanks for the {kind}! I can only read text, though. Please type your question about "
                      "plantar fasciitis or its massage treatment, or send /help to see what I can answer.",
    "unknown_command_reply": "I don't know that command. Send /help to see what I can answer, or just type your question.",
    # What a message that is not text is called in non_text_reply (Telegram's Message field -> words).
    "media_names": {
        "sticker": "sticker", "photo": "photo", "voice": "voice message", "video_note": "video message",
        "video": "video", "audio": "audio", "animation": "GIF", "document": "file", "location": "location",
        "venue": "location", "contact": "contact", "poll": "poll", "dice": "dice", "game": "game",
        "story": "story",
    },
    "other_media_name": "message",
}


@dataclass(frozen=True)
class TelegramConfig:
    """The channel's secrets and addresses, from environment variables only (never from committed files)."""

    token: str = field(default="", repr=False)
    bot_name: str = ""
    webhook_url: str = ""
    secret_token: str = field(default="", repr=False)
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "TelegramConfig":
        return cls(
            token=env.get("TELEGRAM_TOKEN", "").strip(),
            bot_name=env.get("TELEGRAM_BOT_NAME", "").strip().lstrip("@"),
            webhook_url=env.get("TELEGRAM_WEBHOOK_URL", "").strip(),
            secret_token=env.get("TELEGRAM_SECRET_TOKEN", "").strip(),
            api_url=(env.get("TELEGRAM_API_URL", "").strip() or DEFAULT_API_URL).rstrip("/"),
        )

    def problem(self) -> Optional[str]:
        """Why the channel cannot run with this configuration, or None. Without a valid secret the webhook
        could not tell Telegram's updates from forged ones, so the channel refuses to run rather than
        making one up (a generated secret would differ between restarts, replicas and the poller)."""
        if not self.token:
            return "TELEGRAM_TOKEN is not set"
        if not TOKEN_FORMAT.match(self.token):
            return "TELEGRAM_TOKEN does not look like a bot token from BotFather (<digits>:<letters>)"
        if not self.secret_token:
            return "TELEGRAM_SECRET_TOKEN is not set (make one with: openssl rand -hex 32)"
        if not SECRET_FORMAT.match(self.secret_token):
            return "TELEGRAM_SECRET_TOKEN must be 16-256 characters of A-Z, a-z, 0-9, _ and - (e.g. openssl rand -hex 32)"
        return None

    def secret_matches(self, offered: Optional[str]) -> bool:
        """Constant-time comparison of a request's secret header with ours; a missing header never matches."""
        if not offered or not self.secret_token:
            return False
        return hmac.compare_digest(offered.encode("utf-8"), self.secret_token.encode("utf-8"))


class BotApiError(Exception):
    """A Bot API call that failed: Telegram said no, or could not be reached."""

    def __init__(self, method: str, description: str, code: Optional[int] = None) -> None:
        super().__init__(f"{method} failed: {description}" + (f" ({code})" if code else ""))
        self.method, self.description, self.code = method, description, code


class BotApi:
    """The few Bot API methods the channel needs, as JSON POSTs to `<api_url>/bot<token>/<method>`, retried.

    A small client of our own rather than aiogram 2.x's Bot: that one validates and parses every object,
    binds its session to the loop it was first used in, and adds nothing we need for five methods.

    A call is tried up to `attempts` times: after a 429 once Telegram's `retry_after` has passed (at most
    `max_retry_after` seconds, else it fails at once), after a network error, a timeout or a 5xx after
    `backoff`, 2 x `backoff`, 4 x ... seconds. Other errors (a 400, a 403 from a user who blocked the bot)
    fail at once: trying again would not change the answer."""

    def __init__(self, config: TelegramConfig, timeout: float = 10, max_retry_after: float = 30,
                 attempts: int = 5, backoff: float = 0.5) -> None:
        self.config = config
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_retry_after = max_retry_after
        self.attempts = max(1, int(attempts))
        self.backoff = backoff
        self._session: Optional[aiohttp.ClientSession] = None

    def _hide_token(self, text: str) -> str:
        return text.replace(self.config.token, "<token>") if self.config.token else text

    async def _post(self, method: str, payload: Dict[str, Any]) -> Tuple[Optional[int], Any]:
        """(HTTP status, JSON body) of one call; BotApiError if Telegram could not be reached."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        url = f"{self.config.api_url}/bot{self.config.token}/{method}"
        try:
            async with self._session.post(url, json=payload) as reply:
                return reply.status, await reply.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise BotApiError(method, self._hide_token(f"{type(error).__name__}: {error}")) from None

    async def call(self, method: str, **params: Any) -> Any:
        """The method's `result`; BotApiError if Telegram says no, or still cannot be reached after retries."""
        payload = {key: value for key, value in params.items() if value is not None}
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                status, body = await self._post(method, payload)
            except BotApiError as error:
                if last:
                    raise
                wait = self.backoff * 2 ** (attempt - 1)
                logger.warning("%s; retrying %s in %.1f s (attempt %d/%d)", error, method, wait, attempt,
                               self.attempts)
                await asyncio.sleep(wait)
                continue
            if not isinstance(body, dict):
                error = BotApiError(method, "the answer is not a JSON object", status)
            elif body.get("ok"):
                return body.get("result")
            else:
                error = BotApiError(method, str(body.get("description", "no description")), body.get("error_code"))
            code = error.code or status or 0
            retry_after = (body.get("parameters") or {}).get("retry_after") if isinstance(body, dict) else None
            if last:
                raise error
            if code == 429 and isinstance(retry_after, (int, float)) and 0 <= retry_after <= self.max_retry_after:
                logger.warning("Telegram asks to wait %s s before %s; retrying then (attempt %d/%d)", retry_after,
                               method, attempt, self.attempts)
                await asyncio.sleep(retry_after)
            elif code >= 500 or code == 0:
                wait = self.backoff * 2 ** (attempt - 1)
                logger.warning("%s; retrying %s in %.1f s (attempt %d/%d)", error, method, wait, attempt,
                               self.attempts)
                await asyncio.sleep(wait)
            else:
                raise error
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class Delivery:
    """Sends the bot's messages to each chat in the background, one chat's messages in the order given.

    The turn is saved before anything is handed over here (channels/privacy.py), so a slow or failing
    Telegram never holds the conversation's lock or loses the turn; what still cannot be sent after the
    retries of BotApi is logged (without the chat id)."""

    def __init__(self, api: BotApi) -> None:
        self.api = api
        self._last: Dict[int, "asyncio.Task[None]"] = {}

    def send(self, chat_id: int, calls: List[Dict[str, Any]]) -> "asyncio.Task[None]":
        """Queue sendMessage calls (their parameters) for a chat, after what is already queued for it."""
        previous = self._last.get(chat_id)
        task = asyncio.ensure_future(self._deliver(chat_id, calls, previous))
        self._last[chat_id] = task

        def forget(done: "asyncio.Task[None]") -> None:
            if self._last.get(chat_id) is done:
                del self._last[chat_id]

        task.add_done_callback(forget)
        return task

    async def _deliver(self, chat_id: int, calls: List[Dict[str, Any]],
                       previous: Optional["asyncio.Task[None]"]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        for params in calls:
            try:
                await self.api.call("sendMessage", chat_id=chat_id, **params)
            except BotApiError as error:
                logger.error("Could not deliver a message to conversation %s: %s", log_id(telegram_sender(chat_id)),
                             error)

    async def drain(self, timeout: float = 30) -> None:
        """Wait for what is queued (at server stop)."""
        pending = list(self._last.values())
        if pending:
            await asyncio.wait(pending, timeout=timeout)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_MESSAGE_UTF16) -> List[str]:
    """The text in pieces Telegram accepts, cut at a paragraph break, else a line break, else a space.

    Long guide answers plus the disclaimer can exceed the limit; each piece keeps whole paragraphs where it
    can, so the source line and the disclaimer stay together at the end."""
    rest = text.strip()
    pieces: List[str] = []
    while utf16_len(rest) > limit:
        fits, units = 0, 0
        for index, char in enumerate(rest):  # the longest prefix within the limit
            units += 2 if ord(char) > 0xFFFF else 1
            if units > limit:
                fits = index
                break
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = rest.rfind(separator, 0, fits + 1)
            if cut > fits // 2:
                break
        if cut <= fits // 2:
            cut = fits  # no good break: a hard cut
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def inline_keyboard(buttons: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """Rasa buttons as an inline keyboard, one button per row (labels are a few words long).

    callback_data is the button's payload (e.g. "/ask_causes"); a pressed button sends it back as a
    callback_query, which the channel hands to Rasa as the user's message."""
    rows = []
    for button in buttons:
        title, payload = str(button.get("title") or ""), str(button.get("payload") or button.get("title") or "")
        if not title or not payload or len(payload.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
            logger.warning("Skipping a button Telegram cannot carry (title %r, payload %r)", title, payload)
            continue
        rows.append([{"text": title, "callback_data": payload}])
    return {"inline_keyboard": rows} if rows else None


class TelegramOutput(OutputChannel):
    """Sends the bot's messages with sendMessage: long texts split, buttons as an inline keyboard.

    The conversation's sender id is a pseudonym, so the output of a message is bound to its chat id
    (`chat_id`); with `delivery` the messages are queued there (sent in the background, retried) instead of
    being sent before this returns."""

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    def __init__(self, api: BotApi, chat_id: Optional[int] = None, delivery: Optional[Delivery] = None) -> None:
        self.api = api
        self.bound_chat_id = chat_id
        self.delivery = delivery

    def chat_id(self, recipient_id: Text) -> Any:
        """The chat to send to: the bound one, else the recipient id as a number (tests, tools)."""
        if self.bound_chat_id is not None:
            return self.bound_chat_id
        recipient = str(recipient_id)
        return int(recipient) if re.fullmatch(r"-?\d+", recipient) else recipient

    async def _send(self, recipient_id: Text, text: Text, keyboard: Optional[Dict[str, Any]] = None) -> None:
        pieces = split_text(text or "")
        if not pieces:
            logger.warning("Not sending an empty message")
            return
        calls = [{"text": piece, "reply_markup": keyboard if number == len(pieces) else None}  # keyboard last
                 for number, piece in enumerate(pieces, start=1)]
        chat_id = self.chat_id(recipient_id)
        if self.delivery is not None:
            self.delivery.send(chat_id, calls)
            return
        for params in calls:
            await self.api.call("sendMessage", chat_id=chat_id, **params)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        await self._send(recipient_id, text, inline_keyboard(buttons))


@dataclass
class Incoming:
    """What an update asks of the bot: a text for Rasa, and/or a kind of message it cannot read."""

    chat_id: int
    text: Optional[str] = None
    media: Optional[str] = None  # Telegram's field name for a message that is not text (sticker, photo...)
    callback_query_id: Optional[str] = None
    edited: bool = False
    chat_type: str = "private"  # "group", "supergroup" and "channel" are not served

    @property
    def private(self) -> bool:
        return self.chat_type == "private"


def read_update(update: Dict[str, Any]) -> Optional[Incoming]:
    """The chat and content of an update, or None for updates no user is waiting on (e.g. my_chat_member).

    An edited message is answered like a new one: the user corrected their question, so the corrected
    question is what they want answered. A caption of a photo or file counts as its text."""
    query = update.get("callback_query")
    if isinstance(query, dict):
        chat = ((query.get("message") or {}).get("chat") or query.get("from") or {})
        if not isinstance(chat.get("id"), int):
            return None
        return Incoming(chat_id=chat["id"], text=str(query.get("data") or ""), callback_query_id=str(query.get("id")),
                        chat_type=str(chat.get("type") or "private"))
    for key_name, edited in (("message", False), ("edited_message", True)):
        message = update.get(key_name)
        if not isinstance(message, dict):
            continue
        chat = message.get("chat") or {}
        if not isinstance(chat.get("id"), int):
            return None
        chat_type = str(chat.get("type") or "private")
        text = message.get("text")
        if isinstance(text, str):
            return Incoming(chat_id=chat["id"], text=text, edited=edited, chat_type=chat_type)
        media = next((key for key in DEFAULTS["media_names"] if key in message), None)
        if media is None:
            if any(key in message for key in ("new_chat_members", "left_chat_member", "pinned_message",
                                                "new_chat_title", "group_chat_created", "migrate_to_chat_id")):
                return None  # service messages: nobody asked anything
            media = "other"
        caption = message.get("caption")
        return Incoming(chat_id=chat["id"], media=media, edited=edited, chat_type=chat_type,
                        text=caption if isinstance(caption, str) and caption.strip() else None)
    return None


class TelegramInput(InputChannel):
    """`POST /webhooks/telegram/webhook`: updates from Telegram (or the long-polling script), verified by the
    secret header, from private chats only, answered through channels/privacy.py's pipeline (rate limits,
    erasure, the guard, answers sent once saved, the privacy notice)."""

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    def __init__(self, settings: Optional[Dict[str, Any]] = None, config: Optional[TelegramConfig] = None) -> None:
        self.settings = {**DEFAULTS, **(settings or {})}
        self.config = config or TelegramConfig.from_env()
        self.disabled_reason = self.config.problem()
        self.api = BotApi(self.config, float(self.settings["api_timeout"]), float(self.settings["max_retry_after"]),
                          int(self.settings["send_attempts"]), float(self.settings["retry_backoff"]))
        self.delivery = Delivery(self.api)
        self.conversations = Conversations()
        self.seen_updates: "OrderedDict[int, None]" = OrderedDict()
        if self.disabled_reason:
            log = logger.info if not self.config.token else logger.error
            log("Telegram channel disabled: %s; its webhook answers 503.", self.disabled_reason)

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramInput":
        return cls(credentials)

    def get_output_channel(self) -> Optional[TelegramOutput]:
        """None: Rasa asks for this to send outside a turn (the HTTP API's `output_channel=telegram`), but a
        conversation's id is a pseudonym and no chat id is stored, so the bot cannot reach a chat on its own."""
        return None

    def output_for(self, chat_id: int) -> TelegramOutput:
        return TelegramOutput(self.api, chat_id=chat_id, delivery=self.delivery)

    def first_time(self, update_id: Any) -> bool:
        """False for an update already handled: Telegram delivers again when it missed our answer."""
        if not isinstance(update_id, int):
            return True
        if update_id in self.seen_updates:
            return False
        self.seen_updates[update_id] = None
        while len(self.seen_updates) > 2048:
            self.seen_updates.popitem(last=False)
        return True

    async def start(self) -> None:
        """At server start: getMe once (checks token and name), setWebhook when a public URL is configured.
        Failures are logged, never fatal: the other channels keep working."""
        try:
            me = await self.api.call("getMe")
            username = (me or {}).get("username", "")
            logger.info("Telegram bot @%s is ready", username)
            if self.config.bot_name and username and username.lower() != self.config.bot_name.lower():
                logger.warning("TELEGRAM_BOT_NAME is %s but the token belongs to @%s", self.config.bot_name, username)
        except BotApiError as error:
            logger.error("Could not reach Telegram at start (%s); the webhook still answers updates", error)
        if not self.config.webhook_url:
            logger.info("TELEGRAM_WEBHOOK_URL is not set: no webhook registered (long polling: make telegram-poll)")
            return
        try:
            await self.api.call("setWebhook", url=self.config.webhook_url, secret_token=self.config.secret_token,
                                allowed_updates=ALLOWED_UPDATES)
            logger.info("Telegram webhook set to %s", self.config.webhook_url)
        except BotApiError as error:
            logger.error("Could not set the Telegram webhook to %s: %s", self.config.webhook_url, error)

    def reply(self, chat_id: int, text: str) -> None:
        """A reply from the channel itself (not from Rasa), e.g. to a sticker: queued, retried, failures logged."""
        self.delivery.send(chat_id, [{"text": text}])

    def text_for_rasa(self, incoming: Incoming) -> Tuple[Optional[str], Optional[str]]:
        """(text to send into Rasa, or None; the channel's own reply, or None) for a text or command.
        An empty or too long text goes on: the guard of channels/guard.py answers it, as in every channel."""
        text = clean_text(incoming.text or "").strip()
        if incoming.callback_query_id is None and text.startswith("/"):
            command = COMMAND.match(text)
            if command and command.group(2) and self.config.bot_name \
                    and command.group(2).lower() != self.config.bot_name.lower():
                return None, None  # a command for another bot in a group
            commands = self.settings["commands"]
            if command and command.group(1).lower() in commands:
                return commands[command.group(1).lower()], None
            return None, self.settings["unknown_command_reply"]
        return text, None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("project_telegram_webhook", __name__)
        handle = message_pipeline(on_new_message, self.settings, self.name(), self.conversations)
        self.conversations.attach(blueprint)

        @blueprint.listener("after_server_start")
        async def started(app: Sanic, _loop: Any) -> None:
            if not self.disabled_reason:
                app.add_task(self.start())

        @blueprint.listener("before_server_stop")
        async def stopping(_app: Sanic, _loop: Any) -> None:
            await self.delivery.drain()

        @blueprint.listener("after_server_stop")
        async def stopped(_app: Sanic, _loop: Any) -> None:
            await self.api.close()

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if self.disabled_reason:
                return response.json({"status": "disabled", "reason": self.disabled_reason}, status=503)
            return response.json({"status": "ok", "webhook": bool(self.config.webhook_url)})

        @blueprint.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            if self.disabled_reason:
                return response.json({"ok": False, "description": "Telegram channel disabled"}, status=503)
            if not self.config.secret_matches(request.headers.get(SECRET_HEADER)):
                logger.warning("Rejected a Telegram update from %s: missing or wrong secret token", request.ip)
                return response.json({"ok": False, "description": "Forbidden"}, status=403)
            try:
                update = request.json
            except Exception:  # Sanic raises for a body that is not JSON
                update = None
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return response.json({"ok": False, "description": "Not a Telegram update"}, status=400)
            if not self.first_time(update["update_id"]):
                logger.info("Update %s was already handled; ignoring the repeat", update["update_id"])
                return response.json({"ok": True})
            turn = asyncio.ensure_future(self.handle_update(update, handle))
            await asyncio.shield(turn)  # Telegram hanging up does not cancel the turn
            return response.json({"ok": True})  # 200 even if sending failed: a retry would repeat the answer

        return blueprint

    async def handle_update(self, update: Dict[str, Any], handle: Callable[..., Awaitable[None]]) -> None:
        incoming = read_update(update)
        if incoming is None:
            logger.debug("Update %s has nothing to answer", update.get("update_id"))
            return
        sender = telegram_sender(incoming.chat_id)
        with redacting(incoming.chat_id, sender, incoming.text):
            await self._handle_incoming(incoming, sender, update["update_id"], handle)

    async def _handle_incoming(self, incoming: Incoming, sender: str, update_id: int,
                               handle: Callable[..., Awaitable[None]]) -> None:
        if incoming.callback_query_id:
            try:  # stops the client's progress indicator on the pressed button
                await self.api.call("answerCallbackQuery", callback_query_id=incoming.callback_query_id)
            except BotApiError as error:
                logger.warning("Could not answer callback query: %s", error)
        if not incoming.private:
            logger.info("A message from a %s chat got the private-chats-only reply", incoming.chat_type)
            self.reply(incoming.chat_id, self.settings["group_reply"])
            return
        if incoming.media:
            names = self.settings["media_names"]
            kind = names.get(incoming.media, self.settings["other_media_name"])
            note = self.settings["non_text_reply"].format(kind=kind)
            if incoming.text is None:  # nothing else will be answered: say when to seek care
                self.reply(incoming.chat_id, with_urgent_care(note))
                return
            self.reply(incoming.chat_id, note)
        text, own_reply = self.text_for_rasa(incoming)
        if own_reply:
            self.reply(incoming.chat_id, own_reply)
        if text is None:
            return
        await handle(UserMessage(text, self.output_for(incoming.chat_id), sender, input_channel=self.name(),
                                 message_id=f"telegram-{update_id}"))
