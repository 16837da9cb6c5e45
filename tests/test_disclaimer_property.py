"""Property: whatever path an answer takes, health information never goes out without the disclaimer.

Drives action_answer through every intent of the domain, the fallback (and so retrieval), and unknown
intents, each combined with plain text, a red flag, a condition that needs caution, a diagnosis request,
a retrievable question, a two-part question, an uncovered subject, long-lasting pain, a follow-up and a
button press, in a first and a later turn of a conversation, at a sure and an unsure confidence.
"""
from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ANSWERER, ActionAnswer
from tests.conftest import PROJECT_ROOT, make_tracker

GUIDE, POLICY = ANSWERER.guide, ANSWERER.policy
DOMAIN_INTENTS = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())["intents"]
INTENTS = DOMAIN_INTENTS + ["nlu_fallback", None, "not_an_intent"]
MESSAGES = [
    ("", []),
    ("what about it", []),
    ("my foot has gone numb and tingly", []),
    ("i'm pregnant, is this ok?", []),
    ("do i have plantar fasciitis?", []),
    ("do flip flops cause it", []),  # answered by retrieval when the intent is nlu_fallback
    ("what causes it and how do i massage it at home?", []),  # two-part question
    ("can cortisone shots fix it or should i massage it?", []),  # an uncovered subject: partial answers
    ("i've had it for a year and tried everything. will it go away?", []),  # the persistent-pain line
    ("tell me more", []),
    ('/choose_topic{"guide_topic": "causes.footwear"}', [{"entity": "guide_topic", "value": "causes.footwear"}]),
    ('/not_helpful{"rated_topic":"causes"}', [{"entity": "rated_topic", "value": "causes"}]),  # a feedback press
    ("can i book an appointment?", []),  # asking to reach the clinic
]
PASSAGES = [topic.passage for topic in GUIDE.topics.values()]


@pytest.mark.parametrize(
    "intent, message, first, confidence",
    list(itertools.product(INTENTS, MESSAGES, [True, False], [0.95, 0.4])),
)
def test_no_health_answer_without_disclaimer(intent, message, first: bool, confidence: float) -> None:
    text, entities = message
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(intent, text=text, entities=entities, slots={"disclaimer_shown": not first, "topic": "causes"},
                           confidence=confidence)
    events = asyncio.run(ActionAnswer().run(dispatcher, tracker, {}))
    assert dispatcher.messages, "every message gets an answer"
    topic = [e["value"] for e in events if e.get("name") == "topic"][-1]
    for sent in dispatcher.messages:
        body = sent.get("text") or ""
        # smalltalk, out_of_scope and their sub-topics (smalltalk.feedback, out_of_scope.contact) are not health
        is_health = topic.split(".")[0] not in ("smalltalk", "out_of_scope") or any(p in body for p in PASSAGES)
        if is_health:
            expected = POLICY.disclaimer(first_in_conversation=first)
            assert body.endswith(expected), f"{intent!r} / {text!r}: no disclaimer"
        else:
            assert sent.get("response"), "non-health answers are the domain's own responses"
