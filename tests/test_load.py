"""Concurrency: 50 senders sending 20 messages each at once (bounded, loopback only). Every message is
answered, and every conversation's tracker holds all its messages once, in order, each with an answer."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import List

import pytest

pytestmark = pytest.mark.e2e

SENDERS = 50
MESSAGES_PER_SENDER = 20
QUESTIONS = [
    "what causes plantar fasciitis", "hi", "how long until massage works", "what is gua sha",
    "should i massage my calves too", "is it safe", "thanks", "what are the symptoms",
    "tell me more", "do flip flops cause it",
]


def converse(bot, sender: str) -> List[bool]:
    """One user: each message waits for the bot's reply before the next, as in a chat."""
    answered = []
    for i in range(MESSAGES_PER_SENDER):
        text = f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"
        answered.append(bool(bot.send(sender, text, timeout=120)))
    return answered


def test_fifty_concurrent_conversations_lose_nothing(bot, figures) -> None:
    senders = [f"load-{n}" for n in range(SENDERS)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        results = list(pool.map(lambda s: converse(bot, s), senders))
    elapsed = time.monotonic() - started
    total = SENDERS * MESSAGES_PER_SENDER
    figures.append(f"Load: {total} messages from {SENDERS} concurrent senders in {elapsed:.1f} s "
                   f"({total / elapsed:.0f} messages/s), {sum(map(sum, results))} answered")
    assert all(all(r) for r in results), "some messages got no answer"
    for sender in senders:
        events = bot.tracker(sender)["events"]
        user_texts = [e["text"] for e in events if e["event"] == "user"]
        expected = [f"{QUESTIONS[i % len(QUESTIONS)]} ({i})" for i in range(MESSAGES_PER_SENDER)]
        assert user_texts == expected, f"{sender}: messages missing, repeated or out of order"
        kinds = [e["event"] for e in events if e["event"] in ("user", "bot")]
        for i, kind in enumerate(kinds):
            if kind == "user":
                assert i + 1 < len(kinds) and kinds[i + 1] == "bot", f"{sender}: a message without an answer"
