"""Bad input through the socketio channel (the website widget): every message gets a polite reply or an
answer, never silence, and the channel keeps answering afterwards (channels/socketio.py, channels/guard.py).
A socket.io client without an Origin header is a program, not a browser page, so CORS does not apply."""
from __future__ import annotations

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
    assert bot.tracker(client.session)["slots"]["topic"] == "causes"
