"""Bad input through the REST channel: a clear 4xx or a polite reply, never a 5xx or silence, and the
server keeps answering afterwards (channels/rest.py, SANIC_REQUEST_MAX_SIZE)."""
from __future__ import annotations

import json

import pytest
import requests

pytestmark = pytest.mark.e2e

POLITE = [
    ("empty", ""),
    ("whitespace", "   \n\t "),
    ("too long", "my heel hurts " * 800),
]
ANSWERED = [
    ("emoji only", "😭😭🦶"),
    ("other language", "me duele el talón, qué hago"),
    ("control characters", "what causes\x00 plantar\x07 fasciitis"),
    ("script", "<script>alert('x')</script> what is gua sha"),
    ("html", "<b>how long</b> until massage works?"),
]
REJECTED = [
    ("no message", {"sender": "bad-1"}),
    ("number message", {"sender": "bad-1", "message": 42}),
    ("list message", {"sender": "bad-1", "message": ["hi"]}),
    ("no sender", {"message": "hi"}),
    ("empty sender", {"sender": " ", "message": "hi"}),
    ("number sender", {"sender": 7, "message": "hi"}),
    ("long sender", {"sender": "x" * 500, "message": "hi"}),
    ("not an object", ["hi"]),
]


def post(bot, body, raw: bool = False) -> requests.Response:
    url = f"{bot.url}/webhooks/rest/webhook"
    if raw:
        return requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
    return requests.post(url, json=body, timeout=60)


@pytest.mark.parametrize("name, message", POLITE)
def test_empty_or_too_long_messages_get_a_polite_reply(bot, name: str, message: str) -> None:
    reply = post(bot, {"sender": f"bad-{name}", "message": message})
    assert reply.status_code == 200
    texts = [m["text"] for m in reply.json()]
    assert texts and ("didn't get a question" in texts[0] or "too long" in texts[0])


@pytest.mark.parametrize("name, message", ANSWERED)
def test_odd_but_valid_messages_are_answered(bot, name: str, message: str) -> None:
    reply = post(bot, {"sender": f"bad-{name}", "message": message})
    assert reply.status_code == 200
    assert reply.json() and all(m.get("text") for m in reply.json())
    assert "<script>" not in json.dumps(reply.json())  # the bot never echoes markup back


@pytest.mark.parametrize("name, body", REJECTED)
def test_malformed_requests_get_400_with_a_reason(bot, name: str, body) -> None:
    reply = post(bot, body)
    assert reply.status_code == 400
    assert reply.json()["error"]


def test_invalid_json_gets_400(bot) -> None:
    reply = post(bot, "{not json", raw=True)
    assert reply.status_code == 400


def test_a_body_over_the_size_limit_gets_413(bot) -> None:
    reply = post(bot, json.dumps({"sender": "bad-big", "message": "a" * 1_000_000}), raw=True)
    assert reply.status_code == 413


def test_the_server_keeps_answering_after_bad_input(bot) -> None:
    for body in [{"sender": "bad-after"}, {"sender": "bad-after", "message": ""}]:
        post(bot, body)
    reply = post(bot, {"sender": "bad-after", "message": "what causes plantar fasciitis"})
    assert reply.status_code == 200 and "From the guide:" in reply.json()[0]["text"]


def test_the_http_api_refuses_requests_without_the_token(bot) -> None:
    assert requests.get(f"{bot.url}/conversations/anyone/tracker", timeout=10).status_code == 401
    assert requests.post(f"{bot.url}/model/parse", json={"text": "hi"}, timeout=10).status_code == 401
    wrong = requests.get(f"{bot.url}/conversations/anyone/tracker", params={"token": "wrong"}, timeout=10)
    assert wrong.status_code == 401
