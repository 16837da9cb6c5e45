"""Unit tests of issue 13's building blocks, no server: identities, log redaction, rate limits, erasure
phrases, answers held back until the turn is saved, the HTTP API's header token, the lock store's wake-up.
The attacks against the running servers are in test_privacy_e2e.py, test_socketio_bad_input.py,
test_telegram.py, test_privacy_server.py and test_scale_out.py."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Dict, List, Optional

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from channels import identity, log_privacy
from channels.abuse import AbuseLimits, TokenBuckets, limited
from channels.guard import GUARD_DEFAULTS, guarded, with_urgent_care
from channels.hardening import bearer_token, requires_auth, token_matches
from channels.privacy import PrivacyTexts, answered_once_saved, normalise, retention_days
from channels.rest import ValidatingRestInput, bounded_metadata
from stores.lock_store import InMemoryLockStore

SECRET = b"k" * 32
TEXTS = PrivacyTexts.load()


def slowed(limits: AbuseLimits) -> str:
    """The slow-down reply as sent: the message is not read, so it ends with when to seek urgent care."""
    return with_urgent_care(limits.reply)


# ------------------------------------------------------------------------------------------- identities
def test_telegram_conversations_are_stored_under_a_keyed_hash_not_the_chat_id() -> None:
    sender = identity.telegram_sender(123456789, SECRET)
    assert sender.startswith("telegram:") and "123456789" not in sender
    assert sender == identity.telegram_sender(123456789, SECRET)  # stable: the conversation continues
    assert sender != identity.telegram_sender(123456789, b"x" * 32)  # without the secret, not computable
    assert sender != identity.telegram_sender(123456780, SECRET)


def test_web_sessions_are_issued_by_the_server_and_cannot_be_made_up() -> None:
    issued = identity.new_web_session(SECRET)
    assert len(issued) == 32 and int(issued, 16) >= 0
    assert identity.is_issued_web_session(issued, SECRET)
    assert identity.new_web_session(SECRET) != issued  # random
    forged = issued[:24] + ("0" * 8 if issued[24:] != "0" * 8 else "1" * 8)
    for attempt in (forged, "a" * 32, "alice", issued.upper(), issued + "0", None, 42, ["x"]):
        assert not identity.is_issued_web_session(attempt, SECRET), attempt
    assert not identity.is_issued_web_session(issued, b"other-secret" * 3)
    assert identity.web_sender(issued, SECRET).startswith("web:") and issued not in identity.web_sender(issued, SECRET)


def test_rest_senders_cannot_name_other_channels_conversations() -> None:
    channel = ValidatingRestInput({}, token="t" * 20)
    for sender in ("telegram:abc", "web:0123", " Telegram:x", "WEB:x"):
        assert "must not start with" in channel.problem({"sender": sender, "message": "hi"}), sender
    assert channel.problem({"sender": "integration-7", "message": "hi"}) is None
    assert channel.problem({"sender": "my-telegram:x", "message": "hi"}) is None  # only a prefix is reserved


def test_metadata_is_bounded_to_the_allowed_keys_and_size() -> None:
    assert bounded_metadata({"language": "en", "evil": "x" * 10}, ["language"], 100) == {"language": "en"}
    assert bounded_metadata({"language": "x" * 500}, ["language"], 100) == {}
    assert bounded_metadata({"anything": 1}, [], 100) == {}
    assert bounded_metadata("not a dict", ["language"], 100) == {}


def test_log_ids_are_short_pseudonyms() -> None:
    assert identity.log_id("alice@example.org") == identity.log_id("alice@example.org")
    assert "alice" not in identity.log_id("alice@example.org")
    assert identity.log_id("alice@example.org") != identity.log_id("bob@example.org")


# --------------------------------------------------------------------------------------- log redaction
def test_log_records_made_while_a_message_is_handled_never_hold_its_text_or_sender(caplog) -> None:
    log_privacy.install()
    logger = logging.getLogger("rasa.core.processor")  # as Rasa's own lines would
    text, sender = "my toes went numb after I fell", "patient-4711"
    with caplog.at_level(logging.INFO):
        with log_privacy.redacting(text, sender):
            logger.warning(f"Circuit breaker tripped. Stopped predicting more actions for sender '{sender}'.")
            logger.info("Parsed %r", text)
            logger.info('{"user_text": "%s"}', text.upper().lower())
            try:
                raise ValueError(f"could not parse '{text}'")
            except ValueError:
                logger.exception("failed")
        logger.info("after the message: %s", "my toes went numb after I fell")
    lines = [caplog.handler.format(record) for record in caplog.records]
    assert len(lines) == 5
    assert all(text not in line and sender not in line for line in lines[:4]), lines
    assert all(log_privacy.REDACTED in line for line in lines[:4])
    assert text in lines[4]  # outside the message's context nothing is touched


# ---------------------------------------------------------------------------------------------- limits
def test_token_buckets_allow_a_burst_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(burst=3, per_minute=60, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(4)] == [True, True, True, False]
    assert buckets.take("b")  # another key has its own bucket
    now[0] += 1.0  # one token a second
    assert buckets.take("a") and not buckets.take("a")


def test_token_buckets_forget_the_oldest_keys_beyond_their_bound() -> None:
    buckets = TokenBuckets(burst=1, per_minute=1, max_keys=100)
    for n in range(1000):
        buckets.take(f"client-{n}")
    assert len(buckets._buckets) == 100


class Collected(CollectingOutputChannel):
    pass


def message(text: str = "hi", sender: str = "s1", output: Optional[Any] = None) -> UserMessage:
    return UserMessage(text, output or Collected(), sender)


def test_a_refused_message_gets_the_polite_reply_and_never_reaches_the_bot() -> None:
    handled: List[str] = []

    async def bot(msg: UserMessage) -> None:
        handled.append(msg.text)
        await msg.output_channel.send_text_message(msg.sender_id, "answer")

    limits = AbuseLimits.from_settings({"rate_limits": {"per_conversation": {"burst": 2, "per_minute": 1},
                                                        "per_address": {"burst": 100, "per_minute": 1}}})
    handle = limited(bot, limits)
    outputs = [Collected() for _ in range(3)]

    async def run() -> None:
        for n, output in enumerate(outputs):
            await handle(message(f"q{n}", "s1", output), client="10.0.0.1")

    asyncio.run(run())
    assert handled == ["q0", "q1"]
    assert [o.messages[0]["text"] for o in outputs] == ["answer", "answer", slowed(limits)]


def test_at_most_max_waiting_messages_wait_per_conversation() -> None:
    release = asyncio.Event()
    started: List[str] = []

    async def slow_bot(msg: UserMessage) -> None:
        started.append(msg.text)
        await release.wait()
        await msg.output_channel.send_text_message(msg.sender_id, "answer")

    limits = AbuseLimits.from_settings({"rate_limits": {"max_waiting": 2}})
    handle = limited(slow_bot, limits)
    outputs = [Collected() for _ in range(6)]

    async def run() -> None:
        tasks = [asyncio.ensure_future(handle(message(f"q{n}", "s1", o))) for n, o in enumerate(outputs)]
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.gather(*tasks)

    asyncio.run(run())
    texts = [o.messages[0]["text"] for o in outputs]
    assert texts.count("answer") == 3 and texts.count(slowed(limits)) == 3  # 1 answered + 2 waiting; 3 refused
    assert not limits.in_progress


# ------------------------------------------------------------------------------------------- erasure
@pytest.mark.parametrize("text", ["delete my conversation", "Delete my conversation.", "please delete my chat!",
                                  "  DELETE MY CONVERSATION please ", "forget me", "/forget", "/forget@some_bot",
                                  "“Delete my data”"])
def test_erase_requests_are_recognised(text: str) -> None:
    assert TEXTS.asks_to_erase(text)


@pytest.mark.parametrize("text", ["how do I delete my conversation?", "don't delete my conversation",
                                  "delete my conversation and tell me about gua sha", "what is plantar fasciitis",
                                  "/forgetful", "", None, 5])
def test_other_messages_are_not_erase_requests(text: Any) -> None:
    assert not TEXTS.asks_to_erase(text)


def test_normalise() -> None:
    assert normalise("  Please,  DELETE my   chat please!!! ") == "delete my chat"


def test_the_notice_says_what_is_kept_for_how_long_and_how_to_delete_it() -> None:
    for channel in ("telegram", "socketio", "rest"):
        notice = TEXTS.notice(channel, 30)
        assert "30 days" in notice and "delete" in notice.lower()
    assert "/forget" in TEXTS.notice("telegram", 30)


def test_retention_days_is_checked() -> None:
    assert retention_days({}) == 30 and retention_days({"RETENTION_DAYS": "7"}) == 7
    for bad in ("0", "-1", "ten", "1.5"):
        with pytest.raises(ValueError, match="RETENTION_DAYS"):
            retention_days({"RETENTION_DAYS": bad})


# ----------------------------------------------------------------------- answers sent once the turn is saved
def test_nothing_of_a_failed_turn_is_sent_and_the_person_gets_the_polite_reply() -> None:
    """What Rasa said before its save failed must not reach the person: it would be an answer that is not
    in their conversation."""

    async def rasa_that_fails_to_save(msg: UserMessage) -> None:
        await msg.output_channel.send_response(msg.sender_id, {"text": "an answer"})
        raise RuntimeError("the database is gone")

    output = Collected()
    handle = guarded(answered_once_saved(rasa_that_fails_to_save), dict(GUARD_DEFAULTS))
    asyncio.run(handle(message("what causes it?", "s1", output)))
    assert [m["text"] for m in output.messages] == [with_urgent_care(GUARD_DEFAULTS["unavailable_reply"])]


def test_a_saved_turn_is_sent_after_rasa_returns_in_order() -> None:
    events: List[str] = []

    class Recording(Collected):
        async def send_response(self, recipient_id: str, msg: Dict[str, Any]) -> None:
            events.append("sent " + msg["text"])
            await super().send_response(recipient_id, msg)

    async def rasa(msg: UserMessage) -> None:
        await msg.output_channel.send_response(msg.sender_id, {"text": "one"})
        await msg.output_channel.send_response(msg.sender_id, {"text": "two", "buttons": [{"title": "t", "payload": "/p"}]})
        events.append("saved")

    output = Recording()
    asyncio.run(guarded(answered_once_saved(rasa), dict(GUARD_DEFAULTS))(message("q", "s1", output)))
    assert events == ["saved", "sent one", "sent two"]
    assert output.messages[1]["buttons"]


# --------------------------------------------------------------------------- the HTTP API's header token
class FakeRequest:
    def __init__(self, headers: Dict[str, str], args: Optional[Dict[str, str]] = None) -> None:
        self.headers, self.args = headers, args or {}


def test_the_api_token_is_accepted_as_a_bearer_header_in_constant_time() -> None:
    assert bearer_token(FakeRequest({"authorization": "Bearer abc"})) == "abc"
    assert bearer_token(FakeRequest({"authorization": "Basic abc"})) is None
    assert token_matches("abc", "abc") and not token_matches("abd", "abc") and not token_matches(None, "abc")

    class App:
        config: Dict[str, Any] = {}

    calls: List[str] = []

    async def view(request: Any) -> str:
        calls.append("view")
        return "ok"

    decorated = requires_auth(App(), "s3cret")(view)
    assert asyncio.run(decorated(FakeRequest({"authorization": "Bearer s3cret"}))) == "ok"
    assert asyncio.run(decorated(FakeRequest({}, {"token": "s3cret"}))) == "ok"
    from rasa.server import ErrorResponse
    with pytest.raises(ErrorResponse):
        asyncio.run(decorated(FakeRequest({"authorization": "Bearer wrong"})))
    assert calls == ["view", "view"]


# --------------------------------------------------------------------------------------- lock wake-up
def test_a_waiting_message_goes_on_as_soon_as_the_one_before_it_is_done() -> None:
    """Rasa's lock store checked again only after a second; the project's wakes the next ticket at once."""
    store = InMemoryLockStore()
    gaps: List[float] = []

    async def turn(done_at: List[float], hold: float) -> None:
        async with store.lock("conversation"):
            if done_at:
                gaps.append(time.monotonic() - done_at[-1])
            await asyncio.sleep(hold)
            done_at.append(time.monotonic())

    async def run() -> None:
        done: List[float] = []
        await asyncio.gather(turn(done, 0.05), turn(done, 0.01), turn(done, 0.01))

    asyncio.run(run())
    assert len(gaps) == 2 and max(gaps) < 0.1, gaps  # Rasa's InMemoryLockStore: about 1 s each
