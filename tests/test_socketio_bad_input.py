"""Bad input through the socketio channel (the website widget): every message gets a polite reply or an
answer, never silence, and the channel keeps answering afterwards (channels/socketio.py, channels/guard.py).
A socket.io client without an Origin header is a program, not a browser page, so CORS does not apply."""
from __future__ import annotations

import json
import time
from typing import Any, List

import pytest

pytestmark = pytest.mark.e2e

EMPTY = "didn't get a question"
TOO_LONG = "too long"
ANSWERED = "From the guide:"
CASES = [
    ("empty", {"message": ""}, EMPTY),
    ("whitespace", {"message": " \n\t "}, EMPTY),
    ("number", {"message": 42}, EMPTY),
    ("no message", {}, EMPTY),
    ("10,000 characters", {"message": "my heel hurts " * 715}, TOO_LONG),
    ("control characters", {"message": "what causes\x00 plantar\x07 fasciitis"}, ANSWERED),
    ("metadata not json", {"message": "what is gua sha", "customData": "{not json"}, ANSWERED),
    ("no session id", {"message": "what is gua sha", "session_id": None}, ANSWERED),
    ("session id not a string", {"message": "what is gua sha", "session_id": ["x"]}, ANSWERED),
    ("bare string", "what is gua sha", ANSWERED),
    ("a number as data", 5, EMPTY),
    ("script text", {"message": "<script>alert(1)</script>"}, "guide"),
]


@pytest.fixture(scope="module")
def client(bot):
    import socketio

    said: List[dict] = []
    confirmed: List[str] = []
    client = socketio.Client(reconnection=False)
    client.on("bot_uttered", said.append)
    client.on("session_confirm", confirmed.append)
    client.connect(bot.url, transports=["polling"], wait_timeout=10)  # no Origin header
    client.emit("session_request", {"session_id": None})
    deadline = time.monotonic() + 10
    while not confirmed and time.monotonic() < deadline:
        time.sleep(0.05)
    client.said, client.session = said, confirmed[0]
    yield client
    client.disconnect()


def exchange(client, data: Any, timeout: float = 30) -> str:
    """Send one user_uttered event and return the text of what the bot said until it went quiet."""
    if isinstance(data, dict) and "session_id" not in data:
        data = {**data, "session_id": client.session}
    client.said.clear()
    client.emit("user_uttered", data)
    deadline = time.monotonic() + timeout
    while not client.said and time.monotonic() < deadline:
        time.sleep(0.05)
    count = -1
    while count != len(client.said):  # the bot has finished when nothing more arrives for a second
        count = len(client.said)
        time.sleep(1.0)
    return "\n".join(m.get("text", "") for m in client.said)


@pytest.mark.parametrize("name, data, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_socketio_input_gets_a_polite_reply_or_an_answer(client, name: str, data: Any, expected: str) -> None:
    said = exchange(client, data)
    assert expected in said, f"{name}: {said!r}"
    assert "<script>" not in said


def test_the_channel_keeps_answering_in_the_visitors_conversation(client, bot) -> None:
    assert ANSWERED in exchange(client, {"message": "what causes plantar fasciitis"})
    assert bot.web_tracker(client.session)["slots"]["topic"] == "causes"


# -------------------------------------------------------------------------------------------------------
# Identity, size and erasure (issue 13): each test is an attack tried against the channel.

def connect(bot, asked: Any = None, transport: str = "websocket"):
    """A socket.io client (no Origin: a program) that asked for a session; (client, session id, said)."""
    import socketio

    said: List[dict] = []
    confirmed: List[str] = []
    # websocket-client sends the server's own URL as Origin unless told not to; a program sends none.
    client = socketio.Client(reconnection=False, websocket_extra_options={"suppress_origin": True})
    client.on("bot_uttered", said.append)
    client.on("session_confirm", confirmed.append)
    client.connect(bot.url, transports=[transport], wait_timeout=10)
    client.emit("session_request", {"session_id": asked})
    deadline = time.monotonic() + 10
    while not confirmed and time.monotonic() < deadline:
        time.sleep(0.05)
    client.said, client.session = said, confirmed[-1]
    return client, confirmed[-1], said


def user_texts(tracker: dict) -> List[str]:
    return [event["text"] for event in tracker["events"] if event["event"] == "user"]


def test_a_session_id_the_server_did_not_issue_gets_a_new_session(bot) -> None:
    for made_up in ("alice", "0" * 32, "default", "web:abc"):
        client, session, _ = connect(bot, made_up)
        client.disconnect()
        assert session != made_up and len(session) == 32


def test_a_socket_posts_only_into_its_own_session_and_hears_only_its_own_answers(bot) -> None:
    victim, victim_session, victim_said = connect(bot)
    attacker, attacker_session, attacker_said = connect(bot)
    try:
        exchange(victim, {"message": "what is gua sha?"})
        victim_said_before = len(victim_said)
        # The attacker names the victim's session in its message, as Rasa's channel let it.
        exchange(attacker, {"message": "tell me more", "session_id": victim_session})
        time.sleep(1.0)
        assert len(victim_said) == victim_said_before  # the victim's widget heard nothing of it
    finally:
        victim.disconnect()
        attacker.disconnect()
    assert user_texts(bot.web_tracker(victim_session)) == ["what is gua sha?"]
    assert user_texts(bot.web_tracker(attacker_session)) == ["tell me more"]
    # The victim's conversation is not under the id the widget holds, nor anywhere a REST caller can name.
    assert not user_texts(bot.tracker(victim_session))


def test_a_reconnecting_widget_with_its_issued_id_continues_its_conversation(bot) -> None:
    first, session, _ = connect(bot)
    exchange(first, {"message": "what causes plantar fasciitis"})
    first.disconnect()
    again, same, _ = connect(bot, session)
    try:
        assert same == session
        assert ANSWERED in exchange(again, {"message": "how long until massage works?"})
    finally:
        again.disconnect()
    assert len(user_texts(bot.web_tracker(session))) == 2


def test_the_first_answer_of_a_conversation_is_followed_by_the_privacy_notice(bot) -> None:
    client, session, _ = connect(bot)
    try:
        first = exchange(client, {"message": "what is plantar fasciitis?"})
        second = exchange(client, {"message": "what are the symptoms?"})
    finally:
        client.disconnect()
    assert "About your privacy" in first and "30 days" in first and "Delete my conversation" in first
    assert first.index("From the guide:") < first.index("About your privacy")
    assert "About your privacy" not in second


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_socketio_packets_over_16_kb_are_refused(bot, transport: str) -> None:
    """python-engineio accepted 1 MB; a 20 KB event now closes the socket, a 10 KB one is answered (too long)."""
    client, session, said = connect(bot, transport=transport)
    try:
        assert TOO_LONG in exchange(client, {"message": "x" * 10_000})
        client.emit("user_uttered", {"message": "y" * 20_000})
        deadline = time.monotonic() + 20
        while client.connected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not client.connected
    finally:
        if client.connected:
            client.disconnect()
    assert not [t for t in user_texts(bot.web_tracker(session)) if t.startswith("y")]


def test_metadata_is_kept_only_as_the_widget_sends_it(bot) -> None:
    client, session, _ = connect(bot)
    try:
        exchange(client, {"message": "what is gua sha", "customData": {"tracking_id": "x" * 5000, "language": "en"},
                          "metadata": {"injected": True}})
    finally:
        client.disconnect()
    [user] = [e for e in bot.web_tracker(session)["events"] if e["event"] == "user"]
    assert "tracking_id" not in json.dumps(user) and "injected" not in json.dumps(user)


def forget(bot, session: Any, origin: str = None):
    import requests

    headers = {"Content-Type": "text/plain", **({"Origin": origin} if origin else {})}
    return requests.post(f"{bot.url}/webhooks/socketio/forget", data=json.dumps({"session_id": session}),
                         headers=headers, timeout=30)


def test_the_widget_control_erases_its_own_conversation_and_nothing_else(bot) -> None:
    mine, session, _ = connect(bot)
    other, other_session, _ = connect(bot)
    try:
        exchange(mine, {"message": "is it safe to massage my foot?"})
        exchange(other, {"message": "what is reflexology?"})
    finally:
        mine.disconnect()
        other.disconnect()
    assert forget(bot, "0" * 32).status_code == 400  # a made-up id erases nothing
    assert forget(bot, session, origin="http://evil.example").status_code == 403
    reply = forget(bot, session)
    assert reply.status_code == 200 and reply.json()["erased"] and "deleted" in reply.json()["message"]
    assert not user_texts(bot.web_tracker(session))
    assert user_texts(bot.web_tracker(other_session)) == ["what is reflexology?"]


def test_typing_delete_my_conversation_in_the_widget_erases_it_and_says_so(bot) -> None:
    client, session, _ = connect(bot)
    try:
        exchange(client, {"message": "what is trigger point therapy?"})
        said = exchange(client, {"message": "Delete my conversation, please"})
    finally:
        client.disconnect()
    assert "deleted this conversation" in said
    assert not user_texts(bot.web_tracker(session))
