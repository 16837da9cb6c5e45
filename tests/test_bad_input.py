"""Bad input through the REST channel: a clear 4xx or a polite reply, never a 5xx or silence, and the
server keeps answering afterwards (channels/rest.py, SANIC_REQUEST_MAX_SIZE)."""
from __future__ import annotations

import json

import pytest
import requests

from tests.servers import post_rest

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
    """POST to the REST channel with its bearer token (a raw body is sent as it is)."""
    return post_rest(bot.url, bot.token, body, timeout=60)


@pytest.mark.parametrize("name, message", POLITE)
def test_empty_or_too_long_messages_get_a_polite_reply(bot, name: str, message: str) -> None:
    reply = post(bot, {"sender": f"bad-{name}", "message": message})
    assert reply.status_code == 200
    texts = [m["text"] for m in reply.json()]
    assert texts and ("didn't get a question" in texts[0] or "too long" in texts[0])


def test_a_too_long_message_with_a_red_flag_gets_the_urgent_advice_first(bot) -> None:
    story = ("so my heel has been bad for months, i work long shifts in a warehouse and walk miles on concrete. " * 22
             + "Yesterday I fell, heard a pop and now I can't put any weight on my foot at all.")
    assert len(story) > 2000
    texts = [m["text"] for m in post(bot, {"sender": "bad-long-red-flag", "message": story}).json()]
    assert texts[0].startswith("⚠️") and "emergency department" in texts[0]  # the pop at an injury: emergency
    assert any("not medical advice" in t for t in texts[:-1])  # health information carries the disclaimer
    assert "too long" in texts[-1]


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


# Rasa's HTTP API (with the token): bad bodies get 400 and a reason (channels/http_api.py), never 500.
API_BAD_BODIES = [
    ("parse: not json", "/model/parse", "{bad"),
    ("parse: no text", "/model/parse", {}),
    ("parse: number text", "/model/parse", {"text": 5}),
    ("parse: empty text", "/model/parse", {"text": "  "}),
    ("parse: a list", "/model/parse", ["hi"]),
    ("messages: number text", "/conversations/api-bad/messages", {"text": 5, "sender": "user"}),
    ("messages: not json", "/conversations/api-bad/messages", "{bad"),
    ("execute: unknown action", "/conversations/api-bad/execute", {"name": "action_nope"}),
    ("execute: number name", "/conversations/api-bad/execute", {"name": 3}),
    ("trigger: no name", "/conversations/api-bad/trigger_intent", {}),
]


@pytest.mark.parametrize("name, path, body", API_BAD_BODIES, ids=[c[0] for c in API_BAD_BODIES])
def test_http_api_bad_bodies_get_400_with_a_reason(bot, name: str, path: str, body) -> None:
    requests.post(f"{bot.url}/conversations/api-bad/messages", params={"token": bot.token},
                  json={"text": "hi", "sender": "user"}, timeout=60).raise_for_status()  # it exists
    data = body if isinstance(body, str) else json.dumps(body)
    reply = requests.post(f"{bot.url}{path}", params={"token": bot.token}, data=data,
                          headers={"Content-Type": "application/json"}, timeout=60)
    assert reply.status_code == 400, reply.text
    assert reply.json()["message"]


def test_http_api_without_the_token_is_refused_whatever_the_body(bot) -> None:
    reply = requests.post(f"{bot.url}/model/parse", data="{bad", timeout=10)
    assert reply.status_code == 401


def test_http_api_still_answers_good_calls(bot) -> None:
    parsed = bot.parse("what causes plantar fasciitis")
    assert parsed["intent"]["name"] == "ask_causes"
    assert bot.parse("my heel hurts " * 700)["intent"]["name"]  # 10,000 characters: parsed, no error
    reply = requests.post(f"{bot.url}/conversations/api-good/messages", params={"token": bot.token},
                          json={"text": "hello", "sender": "user"}, timeout=60)
    assert reply.status_code == 200 and reply.json()["latest_message"]["text"] == "hello"
