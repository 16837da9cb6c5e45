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


def test_red_flag_in_a_story_is_answered_first_with_its_level(bot) -> None:
    story = ("been using the massage roller for my heel for a month. since saturday my foot is red, "
             "swollen and hot. how many times a day should i use the roller?")
    text = joined(bot.send("e2e-red-flag", story))
    assert text.startswith(POLICY.red_flag_notice("today", ["a red, hot, swollen foot, or fever"]))
    assert text.rstrip().endswith(POLICY.full_disclaimer)
    assert topic_slot(bot, "e2e-red-flag") == "red_flag.today"


def test_the_question_at_the_end_of_a_long_story_is_what_gets_answered(bot) -> None:
    story = ("hi all, long time lurker. i'm a postwoman so i walk about ten miles a day in all weathers, and my "
             "right heel has been sore every morning since the spring. my sister swears by her gel insoles and my "
             "boss keeps telling me to try cortisone, but i'd rather not. will it ever go away on its own?")
    text = joined(bot.send("e2e-story", story))
    assert GUIDE.get("recovery_outlook").passage in text
    assert "doesn't cover" not in text
    assert topic_slot(bot, "e2e-story") == "recovery_outlook"


def test_condition_from_the_entity_ruler_leads_with_caution(bot) -> None:
    text = joined(bot.send("e2e-caution", "im diabetic, would deep tissue massage help my heel?"))
    assert text.startswith(POLICY.caution_notice(["diabetes"]))
    assert GUIDE.get("faq.chronic_conditions").passage in text
    assert topic_slot(bot, "e2e-caution") == "techniques.deep_tissue"


def test_answers_carry_suggestion_buttons_through_rest(bot) -> None:
    messages = bot.send("e2e-buttons", QUESTIONS["guide"]["causes"])
    buttons = [b for m in messages for b in m.get("buttons", [])]
    assert [b["payload"] for b in buttons[-2:]] == ['/helpful{"rated_topic":"causes"}', '/not_helpful{"rated_topic":"causes"}']
    buttons = buttons[:-2]  # the suggestions, before "helpful / not helpful" (issue 14)
    payloads = {topic.payload: topic.id for topic in GUIDE.topics.values()}
    assert 2 <= len(buttons) <= 3 and all(b["payload"] in payloads for b in buttons)
    pressed = bot.send("e2e-buttons", buttons[0]["payload"])
    assert GUIDE.get(payloads[buttons[0]["payload"]]).passage in joined(pressed)
    assert topic_slot(bot, "e2e-buttons") == payloads[buttons[0]["payload"]]


def test_out_of_scope_reply_also_offers_where_to_start(bot) -> None:
    messages = bot.send("e2e-oos-buttons", QUESTIONS["out_of_scope"][0])
    assert [b["payload"] for m in messages for b in m.get("buttons", [])]


def test_tell_me_more_follows_on_from_the_previous_answer(bot) -> None:
    bot.send("e2e-more", QUESTIONS["guide"]["what_is"])
    text = joined(bot.send("e2e-more", "tell me more"))
    assert GUIDE.get("symptoms").passage in text
    assert topic_slot(bot, "e2e-more") == "symptoms"
