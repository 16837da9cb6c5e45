"""End to end: the trained bot behind the REST channel, its actions, and the HTTP API's tracker.

Both servers start once per test session (the `bot` fixture); each question uses its own conversation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import pytest
import yaml

from actions.knowledge import Guide
from actions.safety import SafetyPolicy

pytestmark = pytest.mark.e2e

QUESTIONS = yaml.safe_load((Path(__file__).parent / "data" / "e2e_questions.yml").read_text())
GUIDE = Guide.load()
POLICY = SafetyPolicy.load()


def joined(messages: List[Dict]) -> str:
    return "\n\n".join(m.get("text", "") for m in messages)


def topic_slot(bot, sender: str) -> str:
    return bot.tracker(sender)["slots"]["topic"]


def test_every_topic_of_the_guide_has_an_e2e_question() -> None:
    assert set(QUESTIONS["guide"]) == set(GUIDE.topics)


@pytest.mark.parametrize("topic_id", list(QUESTIONS["guide"]))
def test_question_gets_passage_source_and_disclaimer(bot, topic_id: str) -> None:
    sender = f"e2e-{topic_id}"
    text = joined(bot.send(sender, QUESTIONS["guide"][topic_id]))
    topic = GUIDE.get(topic_id)
    assert topic.passage in text
    assert f"From the guide: {topic.heading}" in text
    assert text.rstrip().endswith(POLICY.full_disclaimer)
    assert topic_slot(bot, sender) == topic_id


def test_second_answer_in_a_conversation_has_the_short_disclaimer(bot) -> None:
    bot.send("e2e-two-answers", QUESTIONS["guide"]["what_is"])
    text = joined(bot.send("e2e-two-answers", QUESTIONS["guide"]["symptoms"]))
    assert text.rstrip().endswith(POLICY.short_disclaimer)
    assert topic_slot(bot, "e2e-two-answers") == "symptoms"


def sender_id(kind: str, message: str) -> str:
    """A URL-safe conversation id per message (the tracker is read back by id)."""
    return f"e2e-{kind}-{abs(hash(message))}"


@pytest.mark.parametrize("message", QUESTIONS["smalltalk"])
def test_smalltalk_sets_topic_smalltalk(bot, message: str) -> None:
    sender = sender_id("smalltalk", message)
    messages = bot.send(sender, message)
    assert messages and all(m.get("text") for m in messages)
    assert topic_slot(bot, sender) == "smalltalk"


@pytest.mark.parametrize("message", QUESTIONS["out_of_scope"])
def test_out_of_scope_is_answered_honestly(bot, message: str) -> None:
    sender = sender_id("oos", message)
    text = joined(bot.send(sender, message))
    assert "doesn't cover" in text and "won't guess" in text
    assert "What plantar fasciitis is" in text  # the menu of what the bot can answer
    assert "{" not in text  # every placeholder filled
    assert topic_slot(bot, sender) == "out_of_scope"


def test_an_uncovered_subject_is_named_in_the_honest_answer(bot) -> None:
    text = joined(bot.send("e2e-scope", "my podiatrist wants to give me a cortisone shot, how many can i have a year?"))
    assert "doesn't cover injections" in text
    assert topic_slot(bot, "e2e-scope") == "out_of_scope"


def test_red_flag_in_a_story_is_answered_first_with_topic_red_flag(bot) -> None:
    story = ("been using the massage roller for my heel for a month. since saturday my foot is red, "
             "swollen and hot. how many times a day should i use the roller?")
    text = joined(bot.send("e2e-red-flag", story))
    assert text.startswith("⚠️") and "today" in text
    assert text.rstrip().endswith(POLICY.full_disclaimer)
    assert topic_slot(bot, "e2e-red-flag") == "red_flag"


def test_condition_from_the_entity_ruler_leads_with_caution(bot) -> None:
    text = joined(bot.send("e2e-caution", "im diabetic, would deep tissue massage help my heel?"))
    assert text.startswith(POLICY.caution_notice(["diabetes"]))
    assert GUIDE.get("faq.chronic_conditions").passage in text
    assert topic_slot(bot, "e2e-caution") == "techniques.deep_tissue"


def test_answers_carry_suggestion_buttons_through_rest(bot) -> None:
    messages = bot.send("e2e-buttons", QUESTIONS["guide"]["causes"])
    buttons = [b for m in messages for b in m.get("buttons", [])]
    assert 2 <= len(buttons) <= 3 and all(b["payload"].startswith("/ask_") for b in buttons)
    pressed = bot.send("e2e-buttons", buttons[0]["payload"])
    assert "From the guide:" in joined(pressed)
    assert topic_slot(bot, "e2e-buttons") == GUIDE.for_intent(buttons[0]["payload"][1:]).id


def test_out_of_scope_reply_also_offers_where_to_start(bot) -> None:
    messages = bot.send("e2e-oos-buttons", QUESTIONS["out_of_scope"][0])
    assert [b["payload"] for m in messages for b in m.get("buttons", [])]


def test_tell_me_more_follows_on_from_the_previous_answer(bot) -> None:
    bot.send("e2e-more", QUESTIONS["guide"]["what_is"])
    text = joined(bot.send("e2e-more", "tell me more"))
    assert GUIDE.get("symptoms").passage in text
    assert topic_slot(bot, "e2e-more") == "symptoms"
