"""Issue 13 against the running bot (the shared `bot` fixture), through the REST channel and the HTTP API:
each test is an attack tried and refused, or a promise checked (erasure, waiting messages, limits).

The flood is in test_flood.py; socket.io and Telegram in their own modules; files, ports, logs and crashes
in test_privacy_server.py; replicas in test_scale_out.py."""
from __future__ import annotations

import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List

import pytest
import requests
import yaml

from tests.conftest import PROJECT_ROOT
from tests.servers import SLOW_DOWN_REPLY, bearer, loopback_address, post_rest

pytestmark = pytest.mark.e2e

CREDENTIALS = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())
REST = CREDENTIALS["channels.rest.ValidatingRestInput"]
SLOW_DOWN = SLOW_DOWN_REPLY
PRIVACY = yaml.safe_load((PROJECT_ROOT / "data" / "privacy" / "privacy.yml").read_text())
ERASED = PRIVACY["erase"]["done"]


def new_sender(kind: str) -> str:
    return f"privacy-{kind}-{uuid.uuid4().hex[:10]}"


def user_events(bot, sender: str) -> List[Dict]:
    return [event for event in bot.tracker(sender)["events"] if event["event"] == "user"]


def texts(replies: List[Dict]) -> List[str]:
    return [reply.get("text") or "" for reply in replies]


# ------------------------------------------------------------------------------------------- REST identity
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic x"}],
                         ids=["no token", "wrong token", "not bearer"])
def test_rest_without_the_bearer_token_is_refused_and_nothing_is_stored(bot, headers: Dict[str, str]) -> None:
    sender = new_sender("no-token")
    reply = requests.post(f"{bot.url}/webhooks/rest/webhook", json={"sender": sender, "message": "what is gua sha"},
                          headers=headers, timeout=30)
    assert reply.status_code == 401 and "Bearer" in reply.json()["error"]
    assert not user_events(bot, sender)


def test_the_token_in_a_query_string_does_not_open_the_rest_channel(bot) -> None:
    reply = requests.post(f"{bot.url}/webhooks/rest/webhook", params={"token": bot.token},
                          json={"sender": new_sender("query"), "message": "hi"}, timeout=30)
    assert reply.status_code == 401


@pytest.mark.parametrize("sender", ["telegram:0123456789abcdef0123456789abcdef", "web:0123456789abcdef0123456789abcdef",
                                    "Telegram:1001", " web:x"])
def test_rest_cannot_write_into_telegram_or_web_conversations(bot, sender: str) -> None:
    reply = post_rest(bot.url, bot.token, {"sender": sender, "message": "tell me more"})
    assert reply.status_code == 400 and "must not start with" in reply.json()["error"]


def test_the_body_cannot_claim_another_channel_or_store_arbitrary_metadata(bot) -> None:
    sender = new_sender("claims")
    reply = post_rest(bot.url, bot.token, {"sender": sender, "message": "what is gua sha", "input_channel": "telegram",
                                           "metadata": {"tracking": "x" * 3000, "user": {"email": "a@b.c"}}})
    assert reply.status_code == 200
    [event] = user_events(bot, sender)
    assert event["input_channel"] == "rest"
    assert not event.get("metadata") or not set(event["metadata"]) & {"tracking", "user"}


def test_the_http_api_takes_its_token_as_a_bearer_header(bot) -> None:
    url = f"{bot.url}/conversations/{new_sender('api')}/tracker"
    assert requests.get(url, headers=bearer(bot.token), timeout=30).status_code == 200
    assert requests.get(url, headers=bearer("wrong"), timeout=30).status_code == 401
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, params={"token": bot.token}, timeout=30).status_code == 200  # still, for tools


# ---------------------------------------------------------------------------------------------- erasure
def test_a_person_erases_their_conversation_and_is_told_so(bot) -> None:
    mine, other = new_sender("erase"), new_sender("keep")
    bot.send(mine, "my heel hurts every morning, what causes that?")
    bot.send(other, "what is gua sha?")
    assert texts(bot.send(mine, "Please delete my conversation.")) == [ERASED]
    assert not user_events(bot, mine)
    assert [e["text"] for e in user_events(bot, other)] == ["what is gua sha?"]
    # The next message starts a new conversation: the full disclaimer again.
    answer = "\n".join(texts(bot.send(mine, "what are the symptoms?")))
    assert "educational information" in answer


def test_a_question_about_deleting_is_not_an_erasure(bot) -> None:
    sender = new_sender("about-erase")
    bot.send(sender, "what is reflexology?")
    replies = texts(bot.send(sender, "how do I delete my conversation?"))
    assert ERASED not in replies
    assert len(user_events(bot, sender)) == 2


def test_forget_command_erases_in_rest_too(bot) -> None:
    sender = new_sender("forget")
    bot.send(sender, "hello")
    assert texts(bot.send(sender, "/forget")) == [ERASED]
    assert not user_events(bot, sender)


# ------------------------------------------------------------------------------------- waiting messages
def test_a_message_waiting_behind_another_is_answered_soon_after_it(bot, figures: List[str]) -> None:
    """Two messages sent at once in one conversation. Before: answered 30 ms and 1,035 ms after sending
    (Rasa's lock checked once a second). `make bench` measures the 100 ms target; this bound is generous
    so as not to flake on a busy machine, and still far below the old second."""
    gaps = []
    for attempt in range(3):
        sender = new_sender("queued")
        bot.send(sender, "hi")  # the conversation exists; the two messages below are ordinary turns
        finished: Dict[str, float] = {}

        def send(text: str) -> None:
            bot.send(sender, text)
            finished[text] = time.monotonic()

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(send, ["what is gua sha?", "what is reflexology?"]))
        first, second = sorted(finished.values())
        gaps.append(second - first)
    figures.append(f"queued message, one server (REST): answered {1000 * min(gaps):.0f}-{1000 * max(gaps):.0f} ms "
                   f"after the one before it (3 tries)")
    assert sorted(gaps)[1] < 0.5, gaps


# ---------------------------------------------------------------------------------------------- limits
def test_a_conversation_flooding_gets_slow_down_replies_and_no_message_is_dropped_silently(bot) -> None:
    sender = new_sender("flood-one")
    burst = REST["rate_limits"]["per_conversation"]["burst"]
    replies = [texts(bot.send(sender, f"what is gua sha {n}")) for n in range(burst + 10)]
    assert all(reply and all(reply) for reply in replies)  # every message got an answer or the polite reply
    refused = [reply for reply in replies if reply == [SLOW_DOWN]]
    assert len(refused) >= 5
    assert len(user_events(bot, sender)) <= burst + 2  # refused messages never reached the bot


def test_at_most_a_few_messages_of_one_conversation_wait(bot) -> None:
    sender = new_sender("waiting")
    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda n: texts(bot.send(sender, f"what is reflexology {n}", timeout=60)), range(12)))
    assert all(reply and all(reply) for reply in replies)
    answered = [reply for reply in replies if reply != [SLOW_DOWN]]
    assert 1 <= len(answered) < 12, replies  # 12 at once: beyond 1 answered + 3 waiting, asked to slow down
    assert len(user_events(bot, sender)) == len(answered)


def test_one_address_sending_for_many_conversations_is_slowed_down(bot) -> None:
    address = "127.9.9.9"
    limit = REST["rate_limits"]["per_address"]["burst"]

    def one(n: int) -> List[str]:
        return texts(bot.send(new_sender(f"address-{n}"), "hi", source=address))

    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(one, range(limit + 20)))
    assert sum(reply == [SLOW_DOWN] for reply in replies) >= 10
    assert texts(bot.send(new_sender("other-address"), "hi", source=loopback_address("someone else")))[0] != SLOW_DOWN


# ---------------------------------------------------------------------------------------- disconnects
def test_a_client_that_disconnects_mid_turn_does_not_lose_the_turn(bot) -> None:
    """Before: Sanic cancelled the turn with the request, and Rasa logged the text as it failed."""
    sender = new_sender("hangup")
    body = ('{"sender": "%s", "message": "how do I massage my foot at home?"}' % sender).encode()
    request = (f"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bot.token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    host, port = bot.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
    # closed at once, before any answer
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not [e for e in bot.tracker(sender)["events"] if e["event"] == "bot"]:
        time.sleep(0.2)
    events = bot.tracker(sender)["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == ["how do I massage my foot at home?"]
    assert [e for e in events if e["event"] == "bot"]
