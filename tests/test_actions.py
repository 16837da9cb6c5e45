"""action_answer as a plain function: rasa-sdk's dispatcher and tracker, no server."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import GUIDE, POLICY, SMALLTALK_INTENTS, ActionAnswer
from actions.replies import Reply
from tests.conftest import make_tracker


def run(tracker, dispatcher: CollectingDispatcher) -> List[Dict[str, Any]]:
    return asyncio.run(ActionAnswer().run(dispatcher, tracker, {}))


def slot(events: List[Dict[str, Any]], name: str) -> Any:
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    assert values, f"slot {name} not set in {events}"
    return values[-1]


@pytest.mark.parametrize("topic_id", list(GUIDE.topics))
def test_every_guide_intent_answers_its_passage_with_source_and_disclaimer(topic_id: str) -> None:
    topic = GUIDE.get(topic_id)
    dispatcher = CollectingDispatcher()
    events = run(make_tracker(topic.intent), dispatcher)
    assert len(dispatcher.messages) == 1
    text = dispatcher.messages[0]["text"]
    assert text.startswith(topic.passage)
    assert f"From the guide: {topic.heading}" in text
    assert text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == topic_id
    assert slot(events, "disclaimer_shown") is True


def test_later_health_answers_carry_the_short_disclaimer() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_symptoms", slots={"disclaimer_shown": True}), dispatcher)
    assert dispatcher.messages[0]["text"].endswith(POLICY.short_disclaimer)
    assert all(e.get("name") != "disclaimer_shown" for e in events)


@pytest.mark.parametrize("intent", SMALLTALK_INTENTS)
def test_smalltalk_uses_its_response_and_sets_topic_smalltalk(intent: str) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker(intent), dispatcher)
    assert dispatcher.messages[0]["response"] == f"utter_{intent}"
    assert slot(events, "topic") == "smalltalk"


@pytest.mark.parametrize("intent", ["nlu_fallback", "out_of_scope", None, "some_unknown_intent"])
def test_fallback_answers_honestly_and_lists_topics(intent) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker(intent), dispatcher)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_out_of_scope"
    assert "What plantar fasciitis is" in message["topics"]
    assert slot(events, "topic") == "out_of_scope"


def test_help_lists_the_guide_topics() -> None:
    dispatcher = CollectingDispatcher()
    run(make_tracker("help"), dispatcher)
    menu = dispatcher.messages[0]["topics"]
    assert menu.count("•") == len(GUIDE.top_level())


def test_a_reply_is_either_passages_or_a_response() -> None:
    with pytest.raises(ValueError):
        Reply(topic="x")
    with pytest.raises(ValueError):
        Reply(topic="x", passages=[GUIDE.get("safety")], response="utter_greet")


def test_red_flag_comes_first_with_the_guide_warning_and_disclaimer() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_home_strokes", text="my foot is red, hot and swollen, how do i massage it?"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.startswith("⚠️") and "a red, hot, swollen foot, or fever" in text
    assert GUIDE.get("safety").passage in text
    assert GUIDE.get("home_massage.strokes").passage not in text  # no massage instructions on a red flag
    assert text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "red_flag"


def test_red_flag_overrides_smalltalk_too() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("thanks", text="thanks! btw since yesterday i cant put any weight on my foot"), dispatcher)
    assert slot(events, "topic") == "red_flag"
    assert dispatcher.messages[0]["text"].endswith(POLICY.full_disclaimer)


def test_condition_leads_with_caution_then_answers() -> None:
    dispatcher = CollectingDispatcher()
    entities = [{"entity": "condition", "value": "diabetic"}]
    events = run(make_tracker("ask_gua_sha", text="im diabetic, is gua sha ok?", entities=entities), dispatcher)
    text = dispatcher.messages[0]["text"]
    caution = POLICY.caution_notice(["diabetes"])
    chronic = GUIDE.get("faq.chronic_conditions").passage
    gua_sha = GUIDE.get("techniques.gua_sha").passage
    assert text.startswith(caution)
    assert text.index(chronic) < text.index(gua_sha)
    assert text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "techniques.gua_sha"


def test_caution_does_not_repeat_a_passage_already_answered() -> None:
    dispatcher = CollectingDispatcher()
    entities = [{"entity": "condition", "value": "arthritis"}]
    run(make_tracker("ask_chronic_conditions", text="is it safe with arthritis", entities=entities), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.count(GUIDE.get("faq.chronic_conditions").passage) == 1


def test_diagnosis_request_gets_symptoms_and_cannot_diagnose() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_what_is", text="my heel hurts every morning, do i have plantar fasciitis?"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.startswith(POLICY.no_diagnosis_text)
    assert GUIDE.get("symptoms").passage in text
    assert text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "symptoms"


def test_low_confidence_message_is_answered_by_retrieval_when_it_clears_the_threshold() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("nlu_fallback", text="do flip flops cause it"), dispatcher)
    assert GUIDE.get("causes.footwear").passage in dispatcher.messages[0]["text"]
    assert slot(events, "topic") == "causes.footwear"


def test_low_confidence_unrelated_message_stays_out_of_scope() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("nlu_fallback", text="what's the weather in london"), dispatcher)
    assert dispatcher.messages[0]["response"] == "utter_out_of_scope"
    assert slot(events, "topic") == "out_of_scope"


def test_technique_entity_steers_a_generic_question() -> None:
    dispatcher = CollectingDispatcher()
    entities = [{"entity": "technique", "value": "MFR"}]
    events = run(make_tracker("ask_home_massage", text="how do i do MFR at home?", entities=entities), dispatcher)
    assert dispatcher.messages[0]["text"].startswith(GUIDE.get("techniques.myofascial_release").passage)
    assert slot(events, "topic") == "techniques.myofascial_release"


def test_guide_answers_carry_two_or_three_suggestion_buttons_that_trigger_intents() -> None:
    for topic_id in GUIDE.topics:
        dispatcher = CollectingDispatcher()
        run(make_tracker(GUIDE.get(topic_id).intent), dispatcher)
        buttons = dispatcher.messages[0]["buttons"]
        assert 2 <= len(buttons) <= 3, topic_id
        for button in buttons:
            assert GUIDE.for_intent(button["payload"].lstrip("/")) is not None
            assert button["payload"] != f"/{GUIDE.get(topic_id).intent}"  # never suggests itself


def test_greeting_suggests_where_to_start_and_goodbye_suggests_nothing() -> None:
    dispatcher = CollectingDispatcher()
    run(make_tracker("greet"), dispatcher)
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == ["/ask_what_is", "/ask_symptoms", "/ask_home_massage"]
    dispatcher = CollectingDispatcher()
    run(make_tracker("goodbye"), dispatcher)
    assert not dispatcher.messages[0].get("buttons")


def test_tell_me_more_goes_on_from_the_previous_topic() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_more", text="tell me more", slots={"topic": "causes"}), dispatcher)
    assert slot(events, "topic") == "causes.footwear"
    assert GUIDE.get("causes.footwear").passage in dispatcher.messages[0]["text"]


def test_tell_me_more_with_no_previous_topic_starts_at_the_beginning() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_more", text="more"), dispatcher)
    assert slot(events, "topic") == "what_is"


def test_two_part_question_answers_both_parts_each_with_its_source_and_one_disclaimer() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_causes", text="what causes it and how do i massage it at home?"), dispatcher)
    text = dispatcher.messages[0]["text"]
    causes, home = GUIDE.get("causes"), GUIDE.get("home_massage")
    assert text.index(causes.passage) < text.index(home.passage)
    assert f"From the guide: {causes.heading}" in text and f"From the guide: {home.heading}" in text
    assert text.count(POLICY.full_disclaimer) == 1 and text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "causes"


@pytest.mark.parametrize("text", [
    "what causes plantar fasciitis",
    "i have flat feet and my heel hurts in the morning, what causes it",
    "how do i massage my foot at home and should i do my calves too",
])
def test_single_questions_get_a_single_passage(text: str) -> None:
    dispatcher = CollectingDispatcher()
    run(make_tracker("ask_causes" if "cause" in text else "ask_home_massage", text=text), dispatcher)
    assert dispatcher.messages[0]["text"].count("From the guide:") == 1


@pytest.mark.parametrize("intent", ["ask_symptoms", "nlu_fallback", "greet"])
def test_an_unsure_question_about_an_uncovered_subject_gets_the_honest_answer(intent: str) -> None:
    dispatcher = CollectingDispatcher()
    text = "how many cortisone injections can i have in my heel"
    events = run(make_tracker(intent, text, confidence=0.3), dispatcher)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_not_covered"
    assert "injection" in message["subjects"] and "What plantar fasciitis is" in message["topics"]
    assert slot(events, "topic") == "out_of_scope"


def test_a_confident_question_that_mentions_an_uncovered_subject_keeps_its_answer() -> None:
    dispatcher = CollectingDispatcher()
    text = "i've had two cortisone injections already, what causes plantar fasciitis in the first place"
    events = run(make_tracker("ask_causes", text, confidence=0.95), dispatcher)
    assert "From the guide:" in dispatcher.messages[0]["text"]
    assert slot(events, "topic") == "causes"


def test_a_red_flag_comes_before_the_scope_check() -> None:
    dispatcher = CollectingDispatcher()
    text = "after the cortisone injection my heel is red, hot and swollen and i have a fever"
    events = run(make_tracker("nlu_fallback", text, confidence=0.2), dispatcher)
    assert slot(events, "topic") == "red_flag"
