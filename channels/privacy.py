"""A person's conversation: kept only as long as promised, erased on request, and answered only once saved.

What every channel does with a message, outermost first (`message_pipeline`):

1. log lines written while the message is handled never contain its text or its sender id
   (channels/log_privacy.py);
2. rate limits (channels/abuse.py);
3. **erasure**: a message that asks to delete the conversation ("delete my conversation", `/forget`; the
   phrases are data in data/privacy/privacy.yml) deletes every stored event of that conversation, under
   the conversation's lock, and is confirmed in words. It never reaches the model, so it does not depend
   on how a message is classified;
4. channels/guard.py (text checks, an answer within `reply_timeout`, never silence);
5. **answered only once saved**: what Rasa says during a turn is held back and sent only after Rasa has
   saved the turn. An answer the person saw is therefore always in their conversation (a crash between
   sending and saving used to lose it), and a channel that fails to deliver (Telegram answering 429) can
   no longer make Rasa drop the turn. If the turn fails, nothing of it is sent and the guard's polite
   "can't answer right now" goes out instead;
6. **the privacy notice**: after the first answer of a new conversation, in the public channels, the
   notice of data/privacy/privacy.yml says what is kept, for how long (RETENTION_DAYS) and how to delete it.

`PrivacyJobs` (listed in credentials.yml like a channel) deletes what is older than RETENTION_DAYS when the
server starts and then every `retention_interval_hours`; `scripts/privacy.py retention` does the same as a
job, and `scripts/privacy.py forget` erases one conversation for staff (`make forget SENDER=...`).
"""
from __future__ import annotations

import asyncio
import copy
import logging
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, FrozenSet, List, Mapping, Optional, Text, Tuple

import yaml
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic

from channels.abuse import AbuseLimits, ClientHandler, limited
from channels.guard import guarded
from channels.identity import log_id
from channels import log_privacy
from channels.log_privacy import redacting

logger = logging.getLogger(__name__)

PRIVACY_FILE = Path(__file__).resolve().parent.parent / "data" / "privacy" / "privacy.yml"
RETENTION_ENV = "RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 30
KNOWN_FOR_S = 600  # how long "this conversation exists" is remembered without asking the database again
KNOWN_MAX = 20000
Handler = Callable[[UserMessage], Awaitable[None]]
_FILLERS = re.compile(r"^please[\s,]+|[\s,]+please$")
_EDGE_PUNCTUATION = re.compile(r"^[\s\"'“”‘’.,!?;:()\-]+|[\s\"'“”‘’.,!?;:()\-]+$")


def retention_days(env: Mapping[str, str] = os.environ) -> int:
    """RETENTION_DAYS (default 30): how long a stored event is kept. A value that is not a whole number of
    at least 1 stops the server at start, rather than keeping data for an unintended time."""
    value = env.get(RETENTION_ENV, "").strip()
    if not value:
        return DEFAULT_RETENTION_DAYS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{RETENTION_ENV} must be a whole number of days, at least 1 (got {value!r})")
    return int(value)


def normalise(text: str) -> str:
    """A message as compared with the erase phrases: lower case, single spaces, no punctuation at the ends,
    no "please" before or after."""
    text = " ".join(text.lower().split())
    text = _EDGE_PUNCTUATION.sub("", text)
    previous = None
    while previous != text:
        previous, text = text, _EDGE_PUNCTUATION.sub("", _FILLERS.sub("", text))
    return text


@dataclass(frozen=True)
class PrivacyTexts:
    """data/privacy/privacy.yml: the erase phrases and commands, and what the bot says about privacy."""

    phrases: FrozenSet[str]
    commands: FrozenSet[str]
    done: str
    failed: str
    notices: Dict[str, str]

    @classmethod
    def load(cls, path: Path = PRIVACY_FILE) -> "PrivacyTexts":
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            erase, notices = data["erase"], data["notice"]
            texts = cls(
                phrases=frozenset(normalise(p) for p in erase["phrases"]),
                commands=frozenset(str(c).strip().lower() for c in erase["commands"]),
                done=str(erase["done"]), failed=str(erase["failed"]),
                notices={str(k): str(v) for k, v in notices.items()},
            )
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: cannot read the privacy texts ({type(error).__name__}: {error})") from error
        if not texts.phrases or "default" not in texts.notices:
            raise ValueError(f"{path}: needs erase.phrases and a default notice")
        return texts

    def asks_to_erase(self, text: Any) -> bool:
        if not isinstance(text, str):
            return False
        stripped = text.strip().lower()
        if stripped.split("@")[0] in self.commands:  # "/forget" or "/forget@the_bot"
            return True
        return normalise(text) in self.phrases

    def notice(self, channel: str, days: int) -> str:
        return self.notices.get(channel, self.notices["default"]).format(days=days)


class Conversations:
    """The running server's stored conversations, reached through its Sanic app (`attach` to a blueprint)."""

    def __init__(self) -> None:
        self.app: Optional[Sanic] = None
        self._known: "OrderedDict[str, float]" = OrderedDict()

    def attach(self, blueprint: Blueprint) -> None:
        @blueprint.listener("before_server_start")
        async def remember_app(app: Sanic, _loop: Any) -> None:
            self.app = app
            log_privacy.capture_warnings()

    @property
    def agent(self) -> Any:
        return getattr(self.app.ctx, "agent", None) if self.app is not None else None

    def store(self) -> Any:
        """The project's tracker store (inside Rasa's FailSafeTrackerStore wrapper)."""
        store = self.agent.tracker_store
        return getattr(store, "_tracker_store", store)

    def _remember(self, sender_id: str) -> None:
        self._known.pop(sender_id, None)
        self._known[sender_id] = time.monotonic()
        while len(self._known) > KNOWN_MAX:
            self._known.popitem(last=False)

    async def exists(self, sender_id: str) -> bool:
        """Whether the conversation has stored events (remembered for a while once it has)."""
        seen = self._known.get(sender_id)
        if seen is not None and time.monotonic() - seen < KNOWN_FOR_S:
            return True
        store = self.store()
        if hasattr(store, "has_conversation"):
            found = await store.has_conversation(sender_id)
        else:
            found = await store.retrieve(sender_id) is not None
        if found:
            self._remember(sender_id)
        return bool(found)

    async def erase(self, sender_id: str) -> int:
        """Delete every stored event of the conversation, under its lock (so that no turn in progress saves
        into it afterwards); the number of events deleted."""
        self._known.pop(sender_id, None)
        agent = self.agent
        async with agent.lock_store.lock(sender_id):
            deleted = await self.store().erase(sender_id)
        self._known.pop(sender_id, None)
        return deleted


class HeldBackOutput(OutputChannel):
    """Holds what Rasa sends during a turn; `release` passes it on, in order, once the turn is saved."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.held: List[Tuple[Text, Dict[Text, Any]]] = []

    @classmethod
    def name(cls) -> Text:
        return "held_back"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self.held.append((recipient_id, copy.deepcopy(message)))

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, **kwargs})

    async def release(self) -> None:
        held, self.held = self.held, []
        for recipient_id, message in held:
            await self.inner.send_response(recipient_id, message)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)


def answered_once_saved(on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Handler:
    """Rasa's handler, with what it says sent only after it returned (so after the turn was saved)."""

    async def handle(message: UserMessage) -> None:
        output = HeldBackOutput(message.output_channel)
        message.output_channel = output
        await on_new_message(message)  # an error or a timeout: nothing held is sent
        await output.release()

    return handle


def with_privacy(handle: Handler, texts: PrivacyTexts, conversations: Conversations, channel: str,
                 notice: bool) -> Handler:
    """`handle` with erasure requests answered first and the privacy notice after a conversation's first
    answer (when `notice`)."""

    async def handle_privately(message: UserMessage) -> None:
        output, sender = message.output_channel, message.sender_id
        if texts.asks_to_erase(message.text):
            try:
                deleted = await conversations.erase(sender)
            except Exception:  # the person is told; we get the error (without their words or id)
                logger.exception("Erasing conversation %s failed", log_id(sender))
                await output.send_text_message(sender, texts.failed)
                return
            logger.info("Erased conversation %s on its owner's request (%d events)", log_id(sender), deleted)
            await output.send_text_message(sender, texts.done)
            return
        new = notice and not await _exists_or_assume(conversations, sender)
        await handle(message)
        if new and await _exists_or_assume(conversations, sender, assume=False):
            await output.send_text_message(sender, texts.notice(channel, retention_days()))

    return handle_privately


async def _exists_or_assume(conversations: Conversations, sender_id: str, assume: bool = True) -> bool:
    """Whether the conversation exists; if the store cannot say, `assume` (no notice rather than a failure)."""
    try:
        return await conversations.exists(sender_id)
    except Exception as error:
        logger.warning("Could not check whether conversation %s exists (%s)", log_id(sender_id),
                       type(error).__name__)
        return assume


def message_pipeline(
    on_new_message: Callable[[UserMessage], Awaitable[Any]], settings: Mapping[str, Any],
    channel: str, conversations: Conversations, texts: Optional[PrivacyTexts] = None,
) -> ClientHandler:
    """Everything a channel does with a message (see the module's docstring), as one handler
    `handle(message, client=<address or None>)`."""
    texts = texts or PrivacyTexts.load()
    retention_days()  # a bad RETENTION_DAYS fails at start, not at the first message
    inner = guarded(answered_once_saved(on_new_message), dict(settings))
    inner = with_privacy(inner, texts, conversations, channel, bool(settings.get("privacy_notice", True)))
    limited_handle = limited(inner, AbuseLimits.from_settings(settings))

    async def handle(message: UserMessage, client: Optional[str] = None) -> None:
        with redacting(message.text, message.sender_id):
            await limited_handle(message, client=client)

    return handle


class PrivacyJobs(InputChannel):
    """Not a chat channel: deletes stored events older than RETENTION_DAYS when the server starts and then
    every `retention_interval_hours` (credentials.yml). Every replica may run it; deleting twice is harmless."""

    @classmethod
    def name(cls) -> Text:
        return "privacy_jobs"

    def __init__(self, settings: Optional[Dict[str, Any]] = None) -> None:
        settings = settings or {}
        self.interval_s = float(settings.get("retention_interval_hours", 24)) * 3600
        self.days = retention_days()
        self.conversations = Conversations()

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "PrivacyJobs":
        return cls(credentials)

    async def delete_expired(self) -> Optional[int]:
        """One retention run: the number of events deleted (None if the store cannot do it)."""
        store = self.conversations.store()
        if not hasattr(store, "delete_older_than"):
            logger.error("The tracker store %s cannot delete old conversations: RETENTION_DAYS is not enforced",
                         type(store).__name__)
            return None
        cutoff = time.time() - self.days * 86400
        deleted = await store.delete_older_than(cutoff)
        logger.info("Retention: deleted %d stored events older than %d days", deleted, self.days)
        return deleted

    async def run_daily(self) -> None:
        while True:
            try:
                await self.delete_expired()
            except Exception as error:  # tried again at the next run; the server keeps answering
                logger.error("Retention run failed (%s); trying again in %.0f h", type(error).__name__,
                             self.interval_s / 3600)
            await asyncio.sleep(self.interval_s)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("privacy_jobs", __name__)
        self.conversations.attach(blueprint)

        @blueprint.listener("after_server_start")
        async def start(_app: Sanic, _loop: Any) -> None:
            self.task = asyncio.ensure_future(self.run_daily())

        @blueprint.listener("before_server_stop")
        async def stop(_app: Sanic, _loop: Any) -> None:
            task = getattr(self, "task", None)
            if task is not None:
                task.cancel()

        return blueprint
