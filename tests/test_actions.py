"""action_answer as a plain function: rasa-sdk's dispatcher and tracker, no server."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ANSWERER, ActionAnswer
from actions.answers import SMALLTALK_INTENTS
from actions.replies import Reply
from tests.conftest import make_tracker

GUIDE = ANSWERER.guide
POLICY = ANSWERER.policy
NEEDS = ANSWERER.needs


def run(tracker, dispatcher: CollectingDispatcher) -> List[Dict[str, Any]]:
    return asyncio.run(ActionAnswer().run(dispatcher, tracker, {}))


def slot(events: List[Dict[str, Any]], name: str) -> Any:
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    assert values, f"slot {name} not set in {events}"
    return values[-1]


def choose(topic_id: str, **kwargs):
    """The tracker of a pressed suggestion button that asks for this topic."""
    return make_tracker("choose_topic", text=GUIDE.get(topic_id).payload,
                        entities=[{"entity": "guide_topic", "value": topic_id}], **kwargs)


@pytest.mark.parametrize("topic_id", list(GUIDE.topics))
def test_every_topic_a_button_asks_for_answers_its_passage_with_source_and_disclaimer(topic_id: str) -> None:
    topic = GUIDE.get(topic_id)
    dispatcher = CollectingDispatcher()
    events = run(choose(topic_id), dispatcher)
    assert len(dispatcher.messages) == 1
    text = dispatcher.messages[0]["text"]
    assert text.startswith(topic.passage)
    assert f"From the guide: {topic.heading}" in text
    assert text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == topic_id
    assert slot(events, "disclaimer_shown") is True


@pytest.mark.parametrize("intent", [i for i in NEEDS.intents if NEEDS.get(i).covered])
def test_every_need_answers_its_passages_in_order_each_with_its_source(intent: str) -> None:
    need = NEEDS.get(intent)
    dispatcher = CollectingDispatcher()
    events = run(make_tracker(intent, text="hello"), dispatcher)
    text = dispatcher.messages[0]["text"]
    positions = [text.index(GUIDE.get(t).passage) for t in need.answer]
    assert positions == sorted(positions)
    assert text.count("From the guide:") == len(need.answer)
    assert text.count(POLICY.full_disclaimer) == 1 and text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == need.answer[0]


def test_a_composed_answer_answers_relief_with_how_massage_helps_and_the_home_routine() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_relief", text="what can i do about plantar fasciitis pain?"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.index(GUIDE.get("massage_benefits").passage) < text.index(GUIDE.get("home_massage").passage)
    assert GUIDE.get("overview").passage not in text  # the guide's introduction answers "what is this guide about"
    assert slot(events, "topic") == "massage_benefits"


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


def test_a_button_for_an_unknown_topic_is_answered_honestly() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("choose_topic", text='/choose_topic{"guide_topic": "nope"}',
                           entities=[{"entity": "guide_topic", "value": "nope"}])
    events = run(tracker, dispatcher)
    assert dispatcher.messages[0]["response"] == "utter_out_of_scope"
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
    with pytest.raises(ValueError):
        Reply(topic="x", response="utter_greet", preface="The guide doesn't cover that.")


def test_red_flag_comes_first_with_the_guide_warning_and_disclaimer() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_home_massage", text="my foot is red, hot and swollen, how do i massage it?"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.startswith(POLICY.red_flag_notice("today", ["a red, hot, swollen foot, or fever"]))
    assert GUIDE.get("safety").passage in text
    for topic_id in ("home_massage", "home_massage.strokes", "home_massage.preparation"):
        assert GUIDE.get(topic_id).passage not in text  # no massage instructions on a red flag
    assert text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "red_flag.today"


@pytest.mark.parametrize("text, level", [
    ("I was running for the bus, heard a loud pop in my heel and now it really hurts. can I massage it?", "emergency"),
    ("my toes have turned a bluish colour and feel cold, is that the pf?", "today"),
    ("it has been getting worse and worse for weeks despite rest. what's the best massage?", "soon"),
])
def test_each_urgency_level_has_its_own_advice_and_sub_topic(text: str, level: str) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_techniques", text=text), dispatcher)
    assert slot(events, "topic") == f"red_flag.{level}"
    assert dispatcher.messages[0]["text"].startswith(POLICY.red_flag_texts[level].split("(")[0])


def test_red_flag_overrides_smalltalk_too() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("thanks", text="thanks! btw since yesterday i cant put any weight on my foot"), dispatcher)
    assert slot(events, "topic") == "red_flag.today"
    assert dispatcher.messages[0]["text"].endswith(POLICY.full_disclaimer)


def test_condition_leads_with_caution_then_answers() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_gua_sha", text="im diabetic, is gua sha ok?"), dispatcher)
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
    run(make_tracker("ask_safety", text="is it safe with arthritis"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.count(GUIDE.get("faq.chronic_conditions").passage) == 1


@pytest.mark.parametrize("intent", ["ask_what_is", "ask_is_it_pf"])
def test_diagnosis_request_gets_symptoms_and_cannot_diagnose(intent: str) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker(intent, text="my heel hurts every morning, do i have plantar fasciitis?"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.startswith(POLICY.no_diagnosis_text)
    assert GUIDE.get("symptoms").passage in text
    assert text.endswith(POLICY.full_disclaimer)
    assert text.count(POLICY.no_diagnosis_text) == 1
    assert slot(events, "topic") == "symptoms"


def test_how_pf_differs_from_ordinary_foot_pain_is_answered_without_a_diagnosis_notice() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_is_it_pf", text="whats the difference between pf and ordinary foot pain"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.startswith(GUIDE.get("faq.vs_general_pain").passage) and POLICY.no_diagnosis_text not in text
    assert slot(events, "topic") == "faq.vs_general_pain"


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


def test_a_condition_that_is_denied_gets_no_caution() -> None:
    dispatcher = CollectingDispatcher()
    run(make_tracker("ask_safety", text="i'm not diabetic and i don't have arthritis, is it safe?"), dispatcher)
    assert "You mentioned" not in dispatcher.messages[0]["text"]


def test_technique_entity_steers_a_generic_question() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_home_massage", text="how do i do MFR at home?"), dispatcher)
    assert dispatcher.messages[0]["text"].startswith(GUIDE.get("techniques.myofascial_release").passage)
    assert slot(events, "topic") == "techniques.myofascial_release"


def test_guide_answers_carry_two_or_three_suggestion_buttons_that_ask_for_topics() -> None:
    for topic_id in GUIDE.topics:
        dispatcher = CollectingDispatcher()
        run(choose(topic_id), dispatcher)
        buttons = dispatcher.messages[0]["buttons"]
        assert buttons[-2:] == ANSWERER.feedback.buttons(topic_id)  # then "helpful / not helpful" (issue 14)
        buttons = buttons[:-2]
        assert 2 <= len(buttons) <= 3, topic_id
        payloads = {topic.payload for topic in GUIDE.topics.values()}
        for button in buttons:
            assert button["payload"] in payloads
            assert button["payload"] != GUIDE.get(topic_id).payload  # never suggests itself


def test_greeting_suggests_where_to_start_and_goodbye_suggests_nothing() -> None:
    dispatcher = CollectingDispatcher()
    run(make_tracker("greet"), dispatcher)
    assert [b["payload"] for b in dispatcher.messages[0]["buttons"]] == [
        GUIDE.get(t).payload for t in ("what_is", "symptoms", "home_massage")]
    dispatcher = CollectingDispatcher()
    run(make_tracker("goodbye"), dispatcher)
    assert not dispatcher.messages[0].get("buttons")


def ranked(*pairs):
    return [{"name": name, "confidence": confidence} for name, confidence in pairs]


def test_when_two_needs_are_about_equally_likely_the_other_is_offered_first() -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("ask_prognosis", text="my heel, how long and what do i do", confidence=0.45)
    tracker.latest_message["intent_ranking"] = ranked(("ask_prognosis", 0.45), ("ask_relief", 0.40))
    events = run(tracker, dispatcher)
    assert slot(events, "topic") == "recovery_outlook"
    first = dispatcher.messages[0]["buttons"][0]
    relief = GUIDE.get("massage_benefits")
    assert first == {"title": f"Did you mean: {relief.label}?", "payload": relief.payload}


@pytest.mark.parametrize("ranking", [
    (("ask_prognosis", 0.85), ("ask_relief", 0.10)),   # sure enough
    (("ask_prognosis", 0.45), ("ask_relief", 0.15)),   # the second is far behind
    (("ask_prognosis", 0.45), ("ask_activity", 0.40)),  # the second is not covered by the guide
])
def test_no_did_you_mean_when_the_classifier_is_sure_or_there_is_no_close_second(ranking) -> None:
    dispatcher = CollectingDispatcher()
    tracker = make_tracker("ask_prognosis", text="how long will it take", confidence=ranking[0][1])
    tracker.latest_message["intent_ranking"] = ranked(*ranking)
    run(tracker, dispatcher)
    assert not dispatcher.messages[0]["buttons"][0]["title"].startswith("Did you mean")


def test_tell_me_more_goes_on_from_the_previous_topic() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_more", text="tell me more", slots={"topic": "causes"}), dispatcher)
    assert slot(events, "topic") == "causes.footwear"
    assert GUIDE.get("causes.footwear").passage in dispatcher.messages[0]["text"]


def test_tell_me_more_with_no_previous_topic_starts_at_the_beginning() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_more", text="more"), dispatcher)
    assert slot(events, "topic") == "what_is"


def test_tell_me_more_at_the_end_of_a_long_story_asks_for_the_storys_need() -> None:
    """"... bought a spiky ball. Anything else I should be doing alongside that?" asks what helps."""
    text = ("chef, twelve hour shifts on a tiled kitchen floor. the right heel has been sore every morning for "
            "two months and by the end of service it throbs. i got a roller and use it after work. anything "
            "else i should be doing alongside that?")
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_more", text=text, confidence=0.5, ranking=[("ask_relief", 0.3), ("greet", 0.1)],
                              slots={"topic": "causes"}), dispatcher)
    expected = NEEDS.answer(NEEDS.get("ask_relief"), ANSWERER.reader.read(text)).topic
    assert slot(events, "topic") == expected != "causes.footwear"


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


@pytest.mark.parametrize("intent", ["ask_other_treatments", "nlu_fallback", "out_of_scope"])
def test_a_question_about_an_uncovered_subject_gets_the_honest_answer_naming_it(intent: str) -> None:
    dispatcher = CollectingDispatcher()
    text = "how many cortisone injections can i have in my heel"
    events = run(make_tracker(intent, text, confidence=0.3), dispatcher)
    message = dispatcher.messages[0]
    assert message["response"] == "utter_not_covered"
    assert "injection" in message["subjects"] and "What plantar fasciitis is" in message["topics"]
    assert slot(events, "topic") == "out_of_scope"


@pytest.mark.parametrize("intent, text, technique", [
    ("ask_gua_sha", "my partner wants to scrape my heel with a gua sha stone but i bruise easily, is that safe?",
     "techniques.gua_sha"),
    ("ask_fascia_blasting", "thinking of buying a fascia blaster for my arch. any side effects I should know about",
     "techniques.fascia_blasting"),
])
def test_is_it_safe_about_a_technique_gets_the_guides_warning_first(intent: str, text: str, technique: str) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker(intent, text, confidence=0.8), dispatcher)
    answer = dispatcher.messages[0]["text"]
    assert slot(events, "topic") == "safety"
    assert answer.index(GUIDE.get("safety").passage) < answer.index(GUIDE.get(technique).passage)


@pytest.mark.parametrize("text", [
    "had PF about a year now, tried insoles and a night splint. nothing works. would massage be worth a go?",
    "physio gave me orthotics and a boot, no better. Does massaging the arch actually help?",
])
def test_treatments_a_short_message_only_tells_about_are_not_what_it_asks(text: str) -> None:
    """What a short message says it tried is its story; its question is about massage, which the guide covers."""
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_how_massage_helps", text, confidence=0.5), dispatcher)
    assert slot(events, "topic") == "massage_benefits", dispatcher.messages[0]["text"][:200]
    assert "doesn't cover" not in dispatcher.messages[0]["text"]


def test_an_unsure_guide_need_about_an_uncovered_subject_says_so_then_what_the_guide_does_say() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_how_massage_helps", "do cortisone injections work better than massage?",
                              confidence=0.5), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert text.startswith("Sorry, the guide I answer from doesn't cover injections")
    assert text.index("Here is what it does say about how massage helps:") < text.index(GUIDE.get("massage_benefits").passage)
    assert text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "out_of_scope"


def test_a_need_the_guide_does_not_cover_names_it_and_gives_what_the_guide_does_say() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_activity", "can i keep playing tennis with plantar fasciitis"), dispatcher)
    text = dispatcher.messages[0]["text"]
    assert "doesn't cover whether to keep running" in text
    assert GUIDE.get("causes.overuse").passage in text and text.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "out_of_scope"


def test_a_confident_question_that_names_an_uncovered_subject_keeps_its_answer_and_says_what_is_left_out() -> None:
    dispatcher = CollectingDispatcher()
    text = "what causes plantar fasciitis, and can cortisone injections fix it"
    events = run(make_tracker("ask_causes", text, confidence=0.95), dispatcher)
    message = dispatcher.messages[0]["text"]
    assert GUIDE.get("causes").passage in message
    assert "The guide doesn't cover injections" in message
    assert slot(events, "topic") == "causes"


OFFERED = ("my heel has been bad since the summer and my podiatrist has offered me a cortisone injection at the "
           "next appointment. has anyone had it done and does it hurt?")


def test_an_unsure_question_that_points_back_at_an_offered_treatment_is_about_that_treatment() -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_prognosis", OFFERED, confidence=0.4), dispatcher)
    assert dispatcher.messages[0]["text"].startswith("Sorry, the guide I answer from doesn't cover injections")
    assert slot(events, "topic") == "out_of_scope"


def test_a_sure_question_that_may_point_back_keeps_its_answer_without_a_not_covered_line() -> None:
    """ "... my boss keeps telling me to try cortisone. Will it ever go away?": "it" may be the heel."""
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("ask_prognosis", OFFERED, confidence=0.95), dispatcher)
    assert "doesn't cover" not in dispatcher.messages[0]["text"]
    assert slot(events, "topic") == "recovery_outlook"


def test_a_pointed_at_subject_that_the_need_answers_is_not_declined() -> None:
    """The gait a running shop speaks of is the guide's improper gait when the question is what caused it."""
    dispatcher = CollectingDispatcher()
    text = ("the lady at the running shop filmed me on the treadmill and said i overpronate badly. "
            "six weeks later my heel started. could that be what caused it?")
    events = run(make_tracker("ask_cause_biomechanics", text, confidence=0.7), dispatcher)
    assert "doesn't cover" not in dispatcher.messages[0]["text"]
    assert slot(events, "topic") == "causes.biomechanics"


def test_an_uncovered_subject_only_in_the_story_does_not_decline_the_question() -> None:
    dispatcher = CollectingDispatcher()
    text = ("i've had two cortisone injections already and the podiatrist made me custom orthotics last spring. "
            "it still comes back every time i go back to running my usual distance. what causes it?")
    events = run(make_tracker("ask_causes", text, confidence=0.6), dispatcher)
    # the story names one group of causes (running), so the answer is that group's passage
    assert GUIDE.get("causes.overuse").passage in dispatcher.messages[0]["text"]
    assert slot(events, "topic") == "causes.overuse"


def test_a_red_flag_comes_before_the_scope_check() -> None:
    dispatcher = CollectingDispatcher()
    text = "after the cortisone injection my heel is red, hot and swollen and i have a fever"
    events = run(make_tracker("nlu_fallback", text, confidence=0.2), dispatcher)
    assert slot(events, "topic") == "red_flag.today"


def test_long_lasting_pain_gets_a_line_advising_an_assessment() -> None:
    dispatcher = CollectingDispatcher()
    text = "i've had this for over a year and tried everything, will it ever go away?"
    events = run(make_tracker("ask_prognosis", text), dispatcher)
    message = dispatcher.messages[0]["text"]
    assert message.index(GUIDE.get("recovery_outlook").passage) < message.index(POLICY.persistent_text)
    assert message.endswith(POLICY.full_disclaimer)
    assert slot(events, "topic") == "recovery_outlook"


# -- a story that asks nothing, the classifier unsure (data/guide/answering.yml, story) --------------------

STORY = ("six months of this now. every morning the first steps really hurt and by the evening my heel aches "
         "again. i'm so fed up with it.")
STORY_PREFACE = ANSWERER.settings.story_preface.split("{topic}")[0]


def story_reply(text: str, ranking: List[Any]) -> tuple:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("nlu_fallback", text=text, confidence=0.25, ranking=ranking), dispatcher)
    return dispatcher.messages[0], slot(events, "topic")


def test_a_story_that_asks_nothing_gets_the_likeliest_need_said_to_be_a_guess_with_the_next_as_a_button() -> None:
    message, topic = story_reply(STORY, [("ask_prognosis", 0.22), ("ask_causes", 0.12), ("greet", 0.05)])
    expected = NEEDS.answer(NEEDS.get("ask_prognosis"), ANSWERER.reader.read(STORY)).topic
    assert topic == expected
    assert message["text"].startswith(STORY_PREFACE)
    assert GUIDE.get(expected).passage in message["text"]
    assert message["text"].endswith(POLICY.full_disclaimer)
    assert any(GUIDE.get("causes").label in b["title"] for b in message["buttons"])


def test_a_story_the_classifier_rates_every_need_low_for_gets_what_helps() -> None:
    message, topic = story_reply(STORY, [("ask_prognosis", 0.1), ("ask_causes", 0.08)])
    relief = NEEDS.answer(NEEDS.get(ANSWERER.settings.story_default_need), ANSWERER.reader.read(STORY))
    assert topic == relief.topic
    assert message["text"].startswith(STORY_PREFACE)


THIN_REQUEST_STORY = ("my dad is 79 and has had a sore heel every morning since the spring. he says it eases once he's "
                      "been round the garden, and a foot rub at night seems to settle it. he won't hear of the gp, "
                      "so any thoughts would be welcome.")


def test_a_story_that_asks_only_for_thoughts_is_answered_as_a_story() -> None:
    """"..., so any thoughts would be welcome" asks about the story: the likeliest need, said to be a guess."""
    message, topic = story_reply(THIN_REQUEST_STORY, [("ask_relief", 0.2), ("ask_is_it_pf", 0.12)])
    expected = NEEDS.answer(NEEDS.get("ask_relief"), ANSWERER.reader.read(THIN_REQUEST_STORY)).topic
    assert topic == expected
    assert message["text"].startswith(STORY_PREFACE)


@pytest.mark.parametrize("text", [
    "what a week. work is mad busy and my manager is on my case all the time.",  # not about the heel or foot
    "no heel pain or anything like that, i just sit at a desk all day.",  # the heel is denied
    "my heel hurts every morning. who won the football last night?",  # it asks something else
])
def test_only_a_story_of_heel_pain_that_asks_nothing_is_answered_so(text: str) -> None:
    message, topic = story_reply(text, [("ask_prognosis", 0.22), ("ask_causes", 0.12)])
    assert not (message.get("text") or "").startswith(STORY_PREFACE)


@pytest.mark.parametrize("text, story", [
    ("hiya, my heel is killing me", True),  # a greeting that tells of the heel: what helps, said to be a guess
    ("hello! left foot hurts again first thing", True),
    ("hi there", False),  # a greeting alone is greeted back
    ("hi, no heel problems, just curious", False),  # the heel is denied
])
def test_a_greeting_that_tells_of_the_heel_is_a_story(text: str, story: bool) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("greet", text=text, confidence=0.9, ranking=[("greet", 0.9), ("ask_relief", 0.05)]),
                 dispatcher)
    said = dispatcher.messages[0]
    assert (said.get("text") or "").startswith(STORY_PREFACE) is story
    assert (slot(events, "topic") == "smalltalk") is not story
    if not story:
        assert said.get("response") == "utter_greet"


def test_a_story_whose_likeliest_need_the_guide_does_not_cover_is_told_so() -> None:
    message, topic = story_reply("my heel has been bad for a year, i've done physio and night splints.",
                                 [("ask_other_treatments", 0.24), ("ask_prognosis", 0.2)])
    assert topic == "out_of_scope"
    assert not (message.get("text") or "").startswith(STORY_PREFACE)


def test_a_heel_story_the_classifier_weakly_takes_for_thanks_is_answered_as_a_story() -> None:
    text = ("hi all, new here. my heel has been sore for about two months, worst in the mornings, "
            "i'm a hairdresser so on my feet all day. thanks in advance")
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("thanks", text=text, confidence=0.45, ranking=[("ask_relief", 0.2)]), dispatcher)
    assert dispatcher.messages[0]["text"].startswith(STORY_PREFACE)
    assert slot(events, "topic") == NEEDS.answer(NEEDS.get("ask_relief"), ANSWERER.reader.read(text)).topic


@pytest.mark.parametrize("text, confidence", [
    ("thanks for that. my heel is a bit better today after the massage, will keep going with it", 0.98),  # sure
    ("hi all, new here. work has been mad this week and my manager is on my case, thanks in advance", 0.45),  # no heel
    ("thanks, my heel feels better", 0.45),  # short
    # thanks for help already given, however much it tells of the heel
    ("i asked you about my heel a few weeks back and just wanted to say thank you, the mornings are so much "
     "easier now and i'm back to my walks", 0.45),
])
def test_thanks_stay_thanks_when_sure_short_or_not_about_the_heel(text: str, confidence: float) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("thanks", text=text, confidence=confidence, ranking=[("ask_relief", 0.2)]), dispatcher)
    assert dispatcher.messages[0]["response"] == "utter_thanks"
    assert slot(events, "topic") == "smalltalk"


def test_a_question_about_the_bot_that_names_heel_pain_is_not_a_story() -> None:
    """The heel named only inside questions about the bot ("are you a person? do you cover everything to do
    with heel pain?") is not a story told: the bot says what it is."""
    text = ("quick one before i type out my whole history, it's a long one. are you a real person or a bot? "
            "and do you cover everything to do with heel pain or only the massage side?")
    dispatcher = CollectingDispatcher()
    events = run(make_tracker("bot_challenge", text=text, confidence=0.35, ranking=[("ask_what_is", 0.13)]),
                 dispatcher)
    assert dispatcher.messages[0]["response"] == "utter_bot_challenge"
    assert slot(events, "topic") == "smalltalk"


def test_a_weak_thanks_story_whose_likeliest_need_the_guide_does_not_cover_is_told_so() -> None:
    """The story answer of a weak smalltalk message takes the same path as any other answer: a need the
    guide does not cover, or a subject it does not cover, gets the honest answer (not an error)."""
    text = ("hi all, new here. my heel has been sore for about two months, worst in the mornings, "
            "i'm a hairdresser so on my feet all day. thanks in advance")
    for story, ranking in ((text, [("ask_other_treatments", 0.3)]),
                           (text.replace("thanks in advance", "should i get cortisone shots? thanks"), [("ask_relief", 0.2)])):
        dispatcher = CollectingDispatcher()
        events = run(make_tracker("thanks", text=story, confidence=0.45, ranking=ranking), dispatcher)
        assert slot(events, "topic") == "out_of_scope", story
        assert not (dispatcher.messages[0].get("text") or "").startswith(STORY_PREFACE)


def test_an_unsure_question_that_names_one_technique_gets_that_technique() -> None:
    dispatcher = CollectingDispatcher()
    text = "my mate swears by mfr for his heels. would that sort me out, do you reckon?"
    events = run(make_tracker("nlu_fallback", text, confidence=0.25), dispatcher)
    assert slot(events, "topic") == "techniques.myofascial_release"
    assert GUIDE.get("techniques.myofascial_release").passage in dispatcher.messages[0]["text"]


def test_an_unsure_question_that_names_several_techniques_gets_the_passage_that_sets_them_side_by_side() -> None:
    dispatcher = CollectingDispatcher()
    text = ("the clinic near me lists reflexology, gua sha and trigger point work on its menu and i'm lost. "
            "i've never had a massage in my life and my heel has been bad since june. where would a newbie even start")
    events = run(make_tracker("nlu_fallback", text, confidence=0.25), dispatcher)
    assert slot(events, "topic") == "techniques"
    assert GUIDE.get("techniques").passage in dispatcher.messages[0]["text"]
    assert dispatcher.messages[0]["text"].endswith(POLICY.full_disclaimer)


@pytest.mark.parametrize("intent, confidence, text, topic", [
    # unsure, and a caution condition told: the guide's safety advice for it, with the caution
    ("nlu_fallback", 0.25, "i take warfarin for my heart and mark easily. i'd like to start on my heel with one of "
     "those ridged rollers. any thoughts from people in the same position?", "safety"),
    ("out_of_scope", 0.5, "type 1 diabetic since childhood, good control. my heel has been sore for weeks. is it "
     "alright for someone like me?", "faq.chronic_conditions"),
    # a daily aspirin thins the blood as the guide's blood thinners do
    ("nlu_fallback", 0.25, "i'm on a baby aspirin every morning since my stent and i bruise if you look at me. "
     "my heel has been sore since the spring and i've got a spiky ball. any thoughts?", "safety"),
    # ... not when the question names something the guide doesn't cover, nor when it is surely out of scope
    ("nlu_fallback", 0.25, "i'm diabetic and my heel hurts. can i take ibuprofen for it?", "out_of_scope"),
    ("out_of_scope", 0.95, "i'm pregnant, can you help me write a cover letter", "out_of_scope"),
])
def test_an_unsure_message_that_tells_of_a_caution_condition_gets_the_guide_s_safety_advice(
        intent: str, confidence: float, text: str, topic: str) -> None:
    dispatcher = CollectingDispatcher()
    events = run(make_tracker(intent, text, confidence=confidence), dispatcher)
    assert slot(events, "topic") == topic
    if topic != "out_of_scope":
        message = dispatcher.messages[0]["text"]
        assert GUIDE.get(topic).passage in message
        assert POLICY.caution_notice(ANSWERER.reader.read(text).values("condition")) in message
        assert message.endswith(POLICY.full_disclaimer)
