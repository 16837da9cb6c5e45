"""Property: whatever path an answer takes, health information never goes out without the disclaimer.

Drives action_answer through every intent of the domain, the fallback (and so retrieval), and unknown
intents, each combined with plain text, a red flag, a condition that needs caution, a diagnosis request,
a retrievable question, a two-part question and a follow-up, in a first and a later turn of a conversation.
"""
from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import GUIDE, POLICY, ActionAnswer
from tests.conftest import PROJECT_ROOT, make_tracker

DOMAIN_INTENTS = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["intents"]
INTENTS = DOMAIN_INTENTS + ["nlu_fallback", None, "not_an_intent"]
MESSAGES = [
    ("", []),
    ("what about it", []),
    ("my foot has gone numb and tingly", []),
    ("i'm pregnant, is this ok?", [{"entity": "condition", "value": "pregnant"}]),
    ("do i have plantar fasciitis?", []),
    ("do flip flops cause it", []),  # answered by retrieval when the intent is nlu_fallback
    ("what causes it and how do i massage it at home?", []),  # two-part question
    ("tell me more", []),
]
PASSAGES = [topic.passage for topic in GUIDE.topics.values()]


@pytest.mark.parametrize(
    "intent, message, first", list(itertools.product(INTENTS, MESSAGES, [True, False])),
)
def test_no_health_answer_without_disclaimer(intent, message, first: bool) -> None:
    text, entities = message
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent, text=text, entities=entities, slots={"disclaimer_shown": not first, "topic": "causes"})
    events = asyncio.run(ActionAnswer().run(dispatcher, tracker, {}))
    assert dispatcher.messages, "every message gets an answer"
    topic = [e["value"] for e in events if e.get("name") == "topic"][-1]
    for sent in dispatcher.messages:
        body = sent.get("text") or ""
        is_health = topic not in ("smalltalk", "out_of_scope") or any(p in body for p in PASSAGES)
        if is_health:
            expected = POLICY.disclaimer(first_in_conversation=first)
            assert body.endswith(expected), f"{intent!r} / {text!r}: no disclaimer"
        else:
            assert sent.get("response"), "non-health answers are the domain's own responses"
