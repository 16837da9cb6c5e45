"""Telegram channel (channels/telegram.py) and long polling (scripts/telegram_poll.py) against a fake Bot API.

The bot is started once for the module with TELEGRAM_* pointing at tests/fake_telegram.py on loopback.
Updates are POSTed to the webhook as Telegram posts them, with the secret the bot registered through
setWebhook; what the bot sent back is read from the fake's call log, which is saved to
tests/output/telegram/fake-telegram-log.json.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import requests
import yaml

from channels.telegram import (
    DEFAULTS, MAX_MESSAGE_UTF16, SECRET_HEADER, WEBHOOK_PATH, BotApi, BotApiError, TelegramConfig, TelegramInput,
    TelegramOutput, inline_keyboard, read_update, split_text, utf16_len,
)
from tests.conftest import OUTPUT_DIR, PROJECT_ROOT
from tests.fake_telegram import FakeTelegram, Updates
from tests.servers import URGENT_CARE

e2e = pytest.mark.e2e

TOKEN = "424242:TEST-fake_token-for-tests"
BOT_NAME = "plantar_test_bot"
PUBLIC_URL = "https://bot.example.test" + WEBHOOK_PATH  # what the bot registers; Telegram needs HTTPS
OUT = OUTPUT_DIR / "telegram"
SETTINGS = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())["channels.telegram.TelegramInput"]
POLICY = yaml.safe_load((PROJECT_ROOT / "data" / "safety" / "policy.yml").read_text())
TOPICS = yaml.safe_load((PROJECT_ROOT / "data" / "guide" / "passages.yml").read_text())["topics"]
HEADING = {topic_id: topic["heading"] for topic_id, topic in TOPICS.items()}
# A suggestion button's payload asks for its topic: /choose_topic{"guide_topic": "causes.footwear"}
TOPIC_OF_PAYLOAD = {f'/choose_topic{{"guide_topic": "{topic_id}"}}': topic_id for topic_id in TOPICS}
# Issue 14: the feedback buttons after the suggestions under every health answer.
FEEDBACK_TITLES = yaml.safe_load((PROJECT_ROOT / "data" / "clinic" / "feedback.yml").read_text())["buttons"]


def flat(text: str) -> str:
    """Whitespace-insensitive form, for comparing with YAML's folded strings."""
    return " ".join(text.split())


FULL_DISCLAIMER = flat(POLICY["disclaimer"]["full"])
SHORT_DISCLAIMER = flat(POLICY["disclaimer"]["short"])
PRIVACY = yaml.safe_load((PROJECT_ROOT / "data" / "privacy" / "privacy.yml").read_text())
NOTICE_START = PRIVACY["notice"]["telegram"].split(":")[0]  # "About your privacy"


# ---------------------------------------------------------------------------------------------------------
# Unit tests: no servers.

def test_long_answers_are_split_within_telegram_limit_at_paragraphs() -> None:
    paragraph = "Massage the arch slowly with your thumbs 🦶 and breathe. " * 30  # ~1700 units, emoji count 2
    text = "\n\n".join([paragraph.strip()] * 6 + ["From the guide: Home massage", FULL_DISCLAIMER])
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(0 < utf16_len(piece) <= MAX_MESSAGE_UTF16 for piece in pieces)
    assert flat(" ".join(pieces)) == flat(text)  # nothing lost or repeated
    assert pieces[-1].endswith(FULL_DISCLAIMER)
    assert all(not piece.startswith(" ") for piece in pieces)
    unbroken = "x" * 10_000  # no place to break: hard cuts
    assert [utf16_len(p) for p in split_text(unbroken)] == [4096, 4096, 1808]
    assert split_text("short") == ["short"] and split_text("  ") == []


def test_buttons_become_an_inline_keyboard_with_the_payload_as_callback_data() -> None:
    keyboard = inline_keyboard([{"title": "What causes it", "payload": "/ask_causes"},
                                {"title": "Too long", "payload": "/" + "x" * 64}])
    assert keyboard == {"inline_keyboard": [[{"text": "What causes it", "callback_data": "/ask_causes"}]]}
    assert inline_keyboard([]) is None


def test_updates_are_read_by_kind() -> None:
    updates = Updates()
    assert read_update(updates.text(7, "hi")).text == "hi"
    edited = read_update(updates.edited(7, "what causes it?"))
    assert edited.edited and edited.text == "what causes it?"
    assert read_update(updates.sticker(7)).media == "sticker"
    assert read_update(updates.voice(7)).media == "voice"
    photo = read_update(updates.photo(7, caption="is this normal?"))
    assert (photo.media, photo.text) == ("photo", "is this normal?")
    button = read_update(updates.callback(7, "/ask_causes", query_id="q1"))
    assert (button.chat_id, button.text, button.callback_query_id) == (7, "/ask_causes", "q1")
    assert read_update(updates.member_update(7)) is None
    assert read_update({"update_id": 1}) is None


@pytest.mark.parametrize("env, problem", [
    ({}, "TELEGRAM_TOKEN is not set"),
    ({"TELEGRAM_TOKEN": "not a token"}, "does not look like a bot token"),
    ({"TELEGRAM_TOKEN": TOKEN}, "TELEGRAM_SECRET_TOKEN is not set"),
    ({"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_SECRET_TOKEN": "short"}, "16-256 characters"),
    ({"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_SECRET_TOKEN": "has spaces in it, not allowed"}, "16-256 characters"),
    ({"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_SECRET_TOKEN": "a" * 32}, None),
])
def test_configuration_comes_from_the_environment_and_is_checked(env: Dict[str, str], problem: Optional[str]) -> None:
    config = TelegramConfig.from_env(env)
    assert (config.problem() is None) if problem is None else (problem in config.problem())
    assert config.api_url == "https://api.telegram.org"
    assert TOKEN not in repr(config)  # secrets stay out of logs


def test_secret_comparison() -> None:
    config = TelegramConfig(token=TOKEN, secret_token="s" * 32)
    assert config.secret_matches("s" * 32)
    assert not config.secret_matches("s" * 31 + "t") and not config.secret_matches(None)
    assert not config.secret_matches("")


def test_output_splits_long_answers_and_retries_once_when_telegram_says_wait() -> None:
    """TelegramOutput against the fake, which refuses texts over 4096 units and bad keyboards as Telegram does."""
    long_text = "\n\n".join(["The plantar fascia supports the arch. " * 40] * 5 + [FULL_DISCLAIMER])

    async def scenario(fake: FakeTelegram) -> None:
        api = BotApi(TelegramConfig(token=TOKEN, secret_token="s" * 32, api_url=fake.url), max_retry_after=2)
        output = TelegramOutput(api)
        try:
            await output.send_text_with_buttons("-100123", long_text, [{"title": "Causes", "payload": "/ask_causes"}])
            fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
            await output.send_text_message("77", "after a flood wait")
        finally:
            await api.close()

    with FakeTelegram(TOKEN) as fake:
        asyncio.run(scenario(fake))
        sent = fake.calls_to("sendMessage", chat_id=-100123)
        assert len(sent) > 1 and all(call["ok"] for call in sent)
        assert [bool(call["params"].get("reply_markup")) for call in sent] == [False] * (len(sent) - 1) + [True]
        flood = fake.calls_to("sendMessage", chat_id=77)
        assert [call["status"] for call in flood] == [429, 200]


def test_failed_sends_are_retried_with_backoff_honouring_retry_after() -> None:
    """A 429 waits its retry_after, a dropped connection and a 502 back off; a 400 is not retried."""

    async def scenario(fake: FakeTelegram) -> float:
        api = BotApi(TelegramConfig(token=TOKEN, secret_token="s" * 32, api_url=fake.url), max_retry_after=2,
                     attempts=5, backoff=0.05)
        try:
            fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
            fake.fail_next("sendMessage", 0, "dropped")
            fake.fail_next("sendMessage", 502, "Bad Gateway")
            started = time.monotonic()
            await api.call("sendMessage", chat_id=88, text="it arrives")
            elapsed = time.monotonic() - started
            fake.fail_next("sendMessage", 400, "Bad Request: chat not found")
            with pytest.raises(BotApiError, match="chat not found"):
                await api.call("sendMessage", chat_id=89, text="never")
            fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3600", retry_after=3600)
            with pytest.raises(BotApiError):  # longer than max_retry_after: not waited for
                await api.call("sendMessage", chat_id=90, text="never")
            return elapsed
        finally:
            await api.close()

    with FakeTelegram(TOKEN) as fake:
        elapsed = asyncio.run(scenario(fake))
        assert [call["status"] for call in fake.calls_to("sendMessage", chat_id=88)] == [429, 0, 502, 200]
        assert elapsed >= 1.0  # the retry_after was honoured
        assert [call["status"] for call in fake.calls_to("sendMessage", chat_id=89)] == [400]
        assert [call["status"] for call in fake.calls_to("sendMessage", chat_id=90)] == [429]


def test_a_disabled_channel_answers_503_and_does_not_call_telegram() -> None:
    """Without TELEGRAM_TOKEN (`make serve` without Telegram): one log line, webhook and health 503."""
    from sanic import Sanic

    async def scenario() -> List[int]:
        channel = TelegramInput(SETTINGS, TelegramConfig())
        assert channel.disabled_reason == "TELEGRAM_TOKEN is not set"
        app = Sanic(f"telegram_disabled_{os.getpid()}")

        async def never(_message: Any) -> None:
            raise AssertionError("a disabled channel handed a message to Rasa")

        app.blueprint(channel.blueprint(never), url_prefix="/webhooks/telegram")
        server = await app.create_server(host="127.0.0.1", port=0, return_asyncio_server=True)
        await server.startup()
        port = server.server.sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}/webhooks/telegram"
        loop = asyncio.get_running_loop()
        try:
            statuses = []
            for call in (lambda: requests.get(base + "/", timeout=5),
                         lambda: requests.post(base + "/webhook", json=Updates().text(1, "hi"), timeout=5)):
                statuses.append((await loop.run_in_executor(None, call)).status_code)
            return statuses
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) == [503, 503]


# ---------------------------------------------------------------------------------------------------------
# End to end: the Rasa server and the action server with the Telegram channel, and the fake Bot API.

class TelegramBot:
    """The running bot as Telegram sees it: its webhook, plus the fake's log of what it sent."""

    def __init__(self, server: Any, fake: FakeTelegram, secret: str) -> None:
        self.server, self.fake, self.secret = server, fake, secret
        self.updates = Updates()
        self.latencies: List[float] = []

    def post(self, update: Dict[str, Any], secret: Optional[str] = "registered") -> requests.Response:
        """POSTs an update to the webhook; by default with the secret the bot gave Telegram in setWebhook."""
        if secret == "registered":
            secret = self.fake.webhook["secret_token"]
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        started = time.monotonic()
        reply = requests.post(self.server.url + WEBHOOK_PATH, json=update, headers=headers, timeout=60)
        message = update.get("message") or update.get("edited_message") or {}
        if reply.status_code == 200 and ("callback_query" in update or "text" in message):
            self.latencies.append(time.monotonic() - started)  # the webhook answers once the bot has replied
        return reply

    def sent_to(self, chat_id: int, count: int = 1, timeout: float = 30,
                notices: bool = False) -> List[Dict[str, Any]]:
        """Successful sendMessage calls to the chat, once at least `count` have arrived (answers are sent
        in the background once the turn is saved). Without `notices`, the privacy notice after a
        conversation's first answer is left out."""

        def sent() -> List[Dict[str, Any]]:
            return [call["params"] for call in self.fake.calls_to("sendMessage", chat_id=chat_id) if call["ok"]
                    and (notices or not str(call["params"].get("text", "")).startswith(NOTICE_START))]

        found = self.fake.wait_for(lambda: len(sent()) >= count, timeout)
        assert found, f"expected {count} sendMessage to chat {chat_id}; fake log: {self.fake.calls[-5:]}"
        return sent()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN, username=BOT_NAME) as server:
        yield server
        server.save_log(OUT / "fake-telegram-log.json")


@pytest.fixture(scope="module")
def telegram(trained_model: Path, fake: FakeTelegram, figures: List[str]) -> Iterator[TelegramBot]:
    from tests.servers import running_bot

    secret = secrets.token_urlsafe(32)
    env = {"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_BOT_NAME": BOT_NAME, "TELEGRAM_WEBHOOK_URL": PUBLIC_URL,
           "TELEGRAM_SECRET_TOKEN": secret, "TELEGRAM_API_URL": fake.url}
    with running_bot(trained_model, OUT, extra_env=env) as server:
        bot = TelegramBot(server, fake, secret)
        assert fake.wait_for(lambda: fake.webhook, timeout=20), "the bot did not call setWebhook at start"
        yield bot
        if bot.latencies:
            figures.append(f"telegram webhook: {len(bot.latencies)} texts/buttons answered, median "
                           f"{statistics.median(bot.latencies):.3f} s, "
                           f"max {max(bot.latencies):.3f} s; {len(fake.calls_to('sendMessage'))} sendMessage; "
                           f"getMe called {len(fake.calls_to('getMe'))}x")


@e2e
def test_the_webhook_is_registered_with_the_secret_token(telegram: TelegramBot, fake: FakeTelegram) -> None:
    calls = fake.calls_to("setWebhook")
    assert len(calls) == 1 and calls[0]["ok"]
    params = calls[0]["params"]
    assert params["url"] == PUBLIC_URL
    assert params["secret_token"] == telegram.secret
    assert set(params["allowed_updates"]) >= {"message", "edited_message", "callback_query"}
    log = (OUT / "rasa-server.log").read_text()
    assert f"Telegram webhook set to {PUBLIC_URL}" in log and f"Telegram bot @{BOT_NAME} is ready" in log
    assert telegram.secret not in log and TOKEN not in log


@e2e
def test_a_question_is_answered_with_its_source_the_disclaimer_and_buttons(telegram: TelegramBot) -> None:
    reply = telegram.post(telegram.updates.text(1001, "what causes plantar fasciitis?"))
    assert reply.status_code == 200
    [message] = telegram.sent_to(1001)
    assert f"From the guide: {HEADING['causes']}" in message["text"]
    assert FULL_DISCLAIMER in flat(message["text"])
    rows = message["reply_markup"]["inline_keyboard"]
    *suggestions, [helpful], [not_helpful] = rows
    assert len(suggestions) >= 2
    for [button] in suggestions:
        assert button["text"] and button["callback_data"] in TOPIC_OF_PAYLOAD  # each suggestion asks for a topic
    # then "helpful / not helpful" for this answer (issue 14), each within Telegram's 64 bytes
    assert [helpful["callback_data"], not_helpful["callback_data"]] == [
        '/helpful{"rated_topic":"causes"}', '/not_helpful{"rated_topic":"causes"}']
    assert [helpful["text"], not_helpful["text"]] == list(FEEDBACK_TITLES.values())
    assert telegram.server.telegram_tracker(1001)["slots"]["topic"] == "causes"


@e2e
def test_a_pressed_button_answers_its_topic(telegram: TelegramBot, fake: FakeTelegram) -> None:
    earlier = telegram.sent_to(1001)
    payload = earlier[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]  # the bot's own button
    reply = telegram.post(telegram.updates.callback(1001, payload, query_id="press-1"))
    assert reply.status_code == 200
    assert [c["ok"] for c in fake.calls_to("answerCallbackQuery", callback_query_id="press-1")] == [True]
    answer = telegram.sent_to(1001, count=len(earlier) + 1)[-1]
    assert f"From the guide: {HEADING[TOPIC_OF_PAYLOAD[payload]]}" in answer["text"]
    assert SHORT_DISCLAIMER in flat(answer["text"])  # later answers of a conversation carry the short one
    assert answer["reply_markup"]["inline_keyboard"]


@e2e
def test_not_helpful_from_the_inline_keyboard_is_kept_and_thanked(telegram: TelegramBot, fake: FakeTelegram) -> None:
    """Issue 14: the feedback button's press is answered with a short thanks that offers whom to contact, and
    the conversation keeps it as the button's intent and the rated answer's topic."""
    telegram.post(telegram.updates.text(1011, "how do i massage my foot at home?"))
    [answer] = telegram.sent_to(1011)
    topic = telegram.server.telegram_tracker(1011)["slots"]["topic"]
    [[press]] = [row for row in answer["reply_markup"]["inline_keyboard"] if row[0]["text"] == FEEDBACK_TITLES["not_helpful"]]
    reply = telegram.post(telegram.updates.callback(1011, press["callback_data"], query_id="rate-1"))
    assert reply.status_code == 200
    assert [c["ok"] for c in fake.calls_to("answerCallbackQuery", callback_query_id="rate-1")] == [True]
    thanks = telegram.sent_to(1011, count=2)[-1]
    assert thanks["text"].startswith("Thanks") and "doctor" in thanks["text"]
    tracker = telegram.server.telegram_tracker(1011)
    [pressed] = [e for e in tracker["events"] if e["event"] == "user" and e["parse_data"]["intent"]["name"] == "not_helpful"]
    assert [(e["entity"], e["value"]) for e in pressed["parse_data"]["entities"]] == [("rated_topic", topic)]
    assert tracker["slots"]["topic"] == "smalltalk.feedback"


@e2e
@pytest.mark.parametrize("chat, secret", [(6601, None), (6602, ""), (6603, "wrong-secret-of-the-right-shape-0123456789")],
                         ids=["missing", "empty", "wrong"])
def test_forged_updates_are_rejected(telegram: TelegramBot, fake: FakeTelegram, chat: int, secret: Optional[str]) -> None:
    sends_before = len(fake.calls_to("sendMessage"))
    reply = telegram.post(telegram.updates.text(chat, "what causes plantar fasciitis?"), secret=secret)
    assert reply.status_code == 403
    time.sleep(0.5)
    assert len(fake.calls_to("sendMessage")) == sends_before
    events = telegram.server.telegram_tracker(chat)["events"]
    assert not [event for event in events if event["event"] == "user"]  # never reached Rasa


MEDIA = ["sticker", "photo", "voice", "document", "location"]


@e2e
@pytest.mark.parametrize("kind", MEDIA)
def test_messages_that_are_not_text_get_a_polite_reply(telegram: TelegramBot, kind: str) -> None:
    chat = 2000 + MEDIA.index(kind)
    reply = telegram.post(getattr(telegram.updates, kind)(chat))
    assert reply.status_code == 200
    [message] = telegram.sent_to(chat)
    assert message["text"] == (SETTINGS["non_text_reply"].format(kind=DEFAULTS["media_names"][kind]) + " "
                               + URGENT_CARE)  # nothing else is answered: it says when to seek care


@e2e
def test_a_photo_caption_is_answered_after_the_note(telegram: TelegramBot) -> None:
    telegram.post(telegram.updates.photo(2100, caption="how long until massage works?"))
    note, answer = telegram.sent_to(2100, count=2)
    assert note["text"] == SETTINGS["non_text_reply"].format(kind="photo")
    assert f"From the guide: {HEADING['faq.time_to_results']}" in answer["text"]


@e2e
def test_a_too_long_message_gets_the_polite_reply_and_never_reaches_rasa(telegram: TelegramBot) -> None:
    limit = int(SETTINGS.get("max_message_chars", DEFAULTS["max_message_chars"]))
    telegram.post(telegram.updates.text(2200, "my heel hurts " * (limit // 10)))
    [message] = telegram.sent_to(2200)
    assert message["text"] == SETTINGS.get("too_long_reply", DEFAULTS["too_long_reply"]).format(limit=limit)
    assert not [event for event in telegram.server.telegram_tracker(2200)["events"] if event["event"] == "user"]


@e2e
def test_an_edited_message_is_answered_as_the_corrected_question(telegram: TelegramBot) -> None:
    telegram.post(telegram.updates.text(3001, "what are the symtpoms of plantr fasciitis"))
    first = telegram.sent_to(3001)
    reply = telegram.post(telegram.updates.edited(3001, "what are the symptoms of plantar fasciitis?"))
    assert reply.status_code == 200
    answer = telegram.sent_to(3001, count=len(first) + 1)[-1]
    assert f"From the guide: {HEADING['symptoms']}" in answer["text"]


@e2e
@pytest.mark.parametrize("chat, command, intent", [(4001, "/start", "greet"), (4002, "/help", "help"),
                                                   (4003, f"/help@{BOT_NAME}", "help"),
                                                   (4004, "/start deep-link-payload", "greet")])
def test_start_greets_and_help_lists_what_the_bot_answers(telegram: TelegramBot, chat: int, command: str,
                                                          intent: str) -> None:
    telegram.post(telegram.updates.text(chat, command))
    [message] = telegram.sent_to(chat)
    assert message["text"].strip()
    assert message["reply_markup"]["inline_keyboard"]  # suggested first questions
    latest = telegram.server.telegram_tracker(chat)["latest_message"]
    assert latest["intent"]["name"] == intent
    if intent == "help":
        assert all(f"• {TOPICS[topic]['label']}" in message["text"] for topic in ("what_is", "causes", "symptoms"))


@e2e
def test_an_unknown_command_gets_a_pointer_to_help(telegram: TelegramBot) -> None:
    telegram.post(telegram.updates.text(4999, "/massage_now"))
    [message] = telegram.sent_to(4999)
    assert message["text"] == SETTINGS["unknown_command_reply"]


@e2e
def test_a_repeated_update_is_answered_once(telegram: TelegramBot) -> None:
    update = telegram.updates.text(5001, "what is gua sha?")
    assert telegram.post(update).status_code == 200
    assert telegram.post(update).status_code == 200  # Telegram delivers again when it missed our 200
    time.sleep(0.5)
    assert len(telegram.sent_to(5001)) == 1


@e2e
def test_updates_with_nothing_to_answer_and_malformed_bodies(telegram: TelegramBot, fake: FakeTelegram) -> None:
    sends_before = len(fake.calls_to("sendMessage"))
    assert telegram.post(telegram.updates.member_update(5101)).status_code == 200
    assert telegram.post({"no": "update_id"}).status_code == 400
    raw = requests.post(telegram.server.url + WEBHOOK_PATH, data="{not json",
                        headers={SECRET_HEADER: telegram.secret, "Content-Type": "application/json"}, timeout=30)
    assert raw.status_code == 400
    time.sleep(0.5)
    assert len(fake.calls_to("sendMessage")) == sends_before


@e2e
def test_getme_is_called_once_at_start_not_per_message(telegram: TelegramBot, fake: FakeTelegram) -> None:
    assert len(fake.calls_to("sendMessage")) >= 10
    assert len(fake.calls_to("getMe")) == 1
    assert fake.calls.index(fake.calls_to("getMe")[0]) < fake.calls.index(fake.calls_to("sendMessage")[0])


# ---------------------------------------------------------------------------------------------------------
# Privacy and delivery (issue 13): each an attack tried or a failure made, and what must hold.

def user_texts(tracker: Dict[str, Any]) -> List[str]:
    return [event["text"] for event in tracker["events"] if event["event"] == "user"]


@e2e
def test_a_conversation_is_stored_under_a_pseudonym_never_the_chat_id(telegram: TelegramBot) -> None:
    chat = 987_654_321
    telegram.post(telegram.updates.text(chat, "what is gua sha?"))
    telegram.sent_to(chat)
    assert user_texts(telegram.server.telegram_tracker(chat)) == ["what is gua sha?"]
    assert not user_texts(telegram.server.tracker(str(chat)))  # nothing under the chat id
    stored = b"".join(path.read_bytes() for path in OUT.glob("conversations.db*"))
    assert b"what is gua sha?" in stored and str(chat).encode() not in stored


@e2e
def test_a_rest_caller_cannot_reach_a_telegram_users_conversation(telegram: TelegramBot) -> None:
    """Before: POST as sender "<chat id>" with input_channel telegram reset the Telegram user's conversation,
    used up their full disclaimer and learnt their last topic with "tell me more"."""
    chat = 6701
    telegram.post(telegram.updates.text(chat, "what causes plantar fasciitis?"))
    telegram.sent_to(chat)
    before = telegram.server.telegram_tracker(chat)
    for sender in (str(chat), telegram_sender_guess(chat)):
        reply = requests.post(telegram.server.url + "/webhooks/rest/webhook", timeout=60,
                              headers={"Authorization": f"Bearer {telegram.server.token}"},
                              json={"sender": sender, "message": "tell me more", "input_channel": "telegram"})
        assert reply.status_code in (200, 400)
    after = telegram.server.telegram_tracker(chat)
    assert user_texts(after) == user_texts(before) == ["what causes plantar fasciitis?"]
    assert after["slots"] == before["slots"]
    rest = telegram.server.tracker(str(chat))  # the REST caller only wrote into its own conversation
    assert [e["input_channel"] for e in rest["events"] if e["event"] == "user"] == ["rest"]


def telegram_sender_guess(chat: int) -> str:
    """What an attacker would try if they knew the prefix: they cannot compute the hash without the secret."""
    return f"telegram:{chat}"


@e2e
def test_group_chats_get_one_polite_line_and_never_reach_rasa(telegram: TelegramBot) -> None:
    group = -100_555
    update = telegram.updates.text(group, "/help")
    update["message"]["chat"] = {"id": group, "type": "supergroup", "title": "Running club"}
    assert telegram.post(update).status_code == 200
    [line] = telegram.sent_to(group)
    assert line["text"] == SETTINGS["group_reply"]
    time.sleep(0.5)
    assert len(telegram.sent_to(group, notices=True)) == 1
    assert not telegram.server.telegram_tracker(group)["latest_message"].get("text")


@e2e
def test_the_first_answer_is_followed_by_the_privacy_notice_once(telegram: TelegramBot) -> None:
    chat = 6801
    telegram.post(telegram.updates.text(chat, "what is reflexology?"))
    telegram.post(telegram.updates.text(chat, "what is gua sha?"))
    sent = telegram.sent_to(chat, count=3, notices=True)
    time.sleep(0.5)
    texts = [message["text"] for message in telegram.sent_to(chat, notices=True)]
    assert len(texts) == 3 and texts[1].startswith(NOTICE_START)
    assert "30 days" in texts[1] and "/forget" in texts[1]
    assert "From the guide:" in sent[0]["text"] and "From the guide:" in texts[2]


@e2e
def test_a_turn_is_kept_and_answered_when_telegram_fails_then_recovers(telegram: TelegramBot, fake: FakeTelegram) -> None:
    """Before: a failed sendMessage raised out of Rasa, so the turn was not saved and the person got nothing."""
    chat = 6901
    telegram.post(telegram.updates.text(chat, "hello"))
    telegram.sent_to(chat)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    fake.fail_next("sendMessage", 0, "dropped")
    reply = telegram.post(telegram.updates.text(chat, "what is myofascial release?"))
    assert reply.status_code == 200
    answer = telegram.sent_to(chat, count=2)[-1]
    assert f"From the guide: {HEADING['techniques.myofascial_release']}" in answer["text"]
    assert user_texts(telegram.server.telegram_tracker(chat)) == ["hello", "what is myofascial release?"]


@e2e
def test_a_turn_is_kept_even_when_telegram_refuses_the_answer(telegram: TelegramBot, fake: FakeTelegram) -> None:
    chat = 6902
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    telegram.post(telegram.updates.text(chat, "what is deep tissue massage?"))
    assert fake.wait_for(lambda: fake.calls_to("sendMessage", chat_id=chat), timeout=10)
    tracker = telegram.server.telegram_tracker(chat)
    assert user_texts(tracker) == ["what is deep tissue massage?"]
    assert [e for e in tracker["events"] if e["event"] == "bot"]


@e2e
def test_forget_erases_the_conversation_and_says_so(telegram: TelegramBot) -> None:
    chat = 7101
    telegram.post(telegram.updates.text(chat, "my heel hurts in the morning, what causes it?"))
    telegram.sent_to(chat)
    telegram.post(telegram.updates.text(chat, "/forget"))
    done = telegram.sent_to(chat, count=2)[-1]
    assert done["text"] == PRIVACY["erase"]["done"]
    assert not user_texts(telegram.server.telegram_tracker(chat))
    stored = b"".join(path.read_bytes() for path in OUT.glob("conversations.db*"))
    assert b"my heel hurts in the morning" not in stored  # gone from the files too, not only the table


def start_poller(telegram: TelegramBot, fake: FakeTelegram, secret: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, TELEGRAM_TOKEN=TOKEN, TELEGRAM_SECRET_TOKEN=secret, TELEGRAM_API_URL=fake.url,
               TELEGRAM_POLL_TIMEOUT="1", RASA_URL=telegram.server.url, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TELEGRAM_WEBHOOK_URL", None)
    return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "scripts" / "telegram_poll.py")],
                            cwd=PROJECT_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


@e2e
def test_long_polling_forwards_updates_to_the_webhook(telegram: TelegramBot, fake: FakeTelegram) -> None:
    question = telegram.updates.text(7001, "how do I massage my foot at home?")
    button = telegram.updates.callback(7001, '/choose_topic{"guide_topic": "safety"}', query_id="poll-press")
    fake.queue_update(question)
    fake.queue_update(button)
    poller = start_poller(telegram, fake, telegram.secret, OUT / "telegram-poll.log")
    try:
        sent = telegram.sent_to(7001, count=2, timeout=60)
        assert "From the guide:" in sent[0]["text"] and FULL_DISCLAIMER in flat(sent[0]["text"])
        assert f"From the guide: {HEADING['safety']}" in sent[1]["text"]
        assert fake.calls_to("answerCallbackQuery", callback_query_id="poll-press")
        assert fake.wait_for(lambda: fake.confirmed_below > button["update_id"], timeout=10)  # next getUpdates confirmed both
    finally:
        poller.send_signal(signal.SIGINT)  # Ctrl-C
        code = poller.wait(timeout=20)
    assert code == 0
    methods = [call["method"] for call in fake.calls]
    assert "deleteWebhook" in methods and methods.index("deleteWebhook") < methods.index("getUpdates")
    assert not fake.webhook


@e2e
def test_long_polling_with_the_wrong_secret_stops_with_a_clear_error(telegram: TelegramBot, fake: FakeTelegram) -> None:
    fake.queue_update(telegram.updates.text(7002, "what is reflexology?"))
    log = OUT / "telegram-poll-wrong-secret.log"
    poller = start_poller(telegram, fake, "a-different-secret-0123456789", log)
    try:
        code = poller.wait(timeout=60)
    finally:
        if poller.poll() is None:
            poller.kill()
    assert code == 2
    assert "refused the secret token" in log.read_text()
    assert not fake.calls_to("sendMessage", chat_id=7002)
