"""Issue 14, points 2 and 3: answer feedback and the clinic's contact, as action_answer replies (no server)
and through the running bot's REST channel (the session's `bot` has no clinic's details).

The clinic's details come from data/clinic/clinic.example.yml here, read as the clinic's own file would be.
"""
from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import ANSWERER, ActionAnswer
from actions.answers import Answerer
from actions.contact import CONTACT_TOPIC, ClinicDetails, Contact, clinic_file
from actions.content import KnowledgeError
from actions.feedback import FEEDBACK_TOPIC, MAX_PAYLOAD_BYTES, Feedback, payload
from tests.conftest import PROJECT_ROOT, make_tracker

EXAMPLE = PROJECT_ROOT / "data" / "clinic" / "clinic.example.yml"
DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
GUIDE, POLICY = ANSWERER.guide, ANSWERER.policy
LEVELS = ANSWERER.triage.levels
RED_FLAG_STORIES = {  # one per level, each caught by triage (tests/data/red_flags.yml has hundreds more)
    "emergency": "i jumped off a wall and heard a loud pop in my heel, now i can't walk on it. can i book in?",
    "today": "my heel is red, hot and swollen since yesterday and i have a fever. what massage should i do?",
    "soon": "the heel pain is getting worse every week even though i stopped running a month ago. any tips?",
}


def answerer(clinic_path: Path) -> Answerer:
    """The action server's answerer with the clinic's details of this file (or none, if it does not exist)."""
    other = copy.copy(ANSWERER)
    other.contact = Contact.load(ANSWERER.reader, LEVELS, clinic_path=clinic_path)
    other.feedback = Feedback.load(GUIDE.topics, other.contact.clinic)
    return other


@pytest.fixture(scope="module")
def with_clinic() -> Answerer:
    return answerer(EXAMPLE)


@pytest.fixture(scope="module")
def without_clinic(tmp_path_factory) -> Answerer:
    return answerer(tmp_path_factory.mktemp("no-clinic") / "clinic.yml")


@pytest.fixture(scope="module")
def clinic() -> ClinicDetails:
    details = ClinicDetails.load(EXAMPLE)
    assert details is not None
    return details


def respond(answerer: Answerer, intent: Optional[str], text: str = "", entities: Optional[List[Dict]] = None,
            confidence: float = 0.95) -> Dict[str, Any]:
    """action_answer's one message and the topic it set, with this answerer."""
    import actions.actions as module

    dispatcher = CollectingDispatcher()
    saved, module.ANSWERER = module.ANSWERER, answerer
    try:
        events = asyncio.run(ActionAnswer().run(
            dispatcher, make_tracker(intent, text=text, entities=entities, confidence=confidence), {}))
    finally:
        module.ANSWERER = saved
    [message] = dispatcher.messages
    topic = [e["value"] for e in events if e.get("name") == "topic"][-1]
    return dict(message, topic=topic)


def rendered(message: Dict[str, Any]) -> str:
    """The text the person reads: a health answer's text, or the domain response with its values filled."""
    if message.get("text"):
        return message["text"]
    template = DOMAIN["responses"][message["response"]][0]["text"]
    values = {k: v for k, v in message.items() if k not in ("response", "buttons", "topic")}
    return template.format(**values)


# ------------------------------------------------------------------------------------- the clinic's file
def test_the_example_file_reads_as_the_clinics_details(clinic: ClinicDetails) -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    assert clinic.values() == {
        "clinic_name": example["name"], "clinic_phone": example["phone"], "clinic_booking": example["booking_url"],
        "clinic_hours": "; ".join(example["opening_hours"]), "emergency_number": example["emergency_number"]}


def test_no_file_means_no_details_and_clinic_file_follows_the_environment(tmp_path: Path) -> None:
    assert ClinicDetails.load(tmp_path / "absent.yml") is None
    assert clinic_file({"CLINIC_FILE": str(tmp_path / "x.yml")}) == tmp_path / "x.yml"
    assert clinic_file({}) == PROJECT_ROOT / "data" / "clinic" / "clinic.yml"


@pytest.mark.parametrize("change, problem", [
    ({"emergency_number": 999}, "emergency_number"),       # unquoted: YAML would turn "000" into 0
    ({"emergency_number": "call 999"}, "emergency_number"),
    ({"phone": "ring us"}, "phone"),
    ({"phone": 2079460123}, "phone"),                      # unquoted: the leading 0 is lost
    ({"booking_url": "http://example.org/book"}, "https"),
    ({"booking_url": "example.org/book"}, "https"),
    ({"opening_hours": []}, "opening_hours"),
    ({"name": ""}, "name"),
])
def test_a_malformed_clinic_file_stops_the_start_naming_the_field(tmp_path: Path, change: Dict, problem: str) -> None:
    data = dict(yaml.safe_load(EXAMPLE.read_text()), **change)
    path = tmp_path / "clinic.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(KnowledgeError, match=problem):
        ClinicDetails.load(path)


# ------------------------------------------------------------------------------------- contact, handoff
@pytest.mark.parametrize("intent, text", [
    ("contact_clinic", "can i talk to a person"),
    ("contact_clinic", "how do i book an appointment"),
    ("out_of_scope", "what are your opening hours?"),        # labelled out_of_scope by older training data
    ("nlu_fallback", "whats ur phone number"),
    ("greet", "hi, can I speak to someone at the clinic?"),
])
def test_asking_to_reach_the_clinic_gets_its_details(with_clinic: Answerer, clinic: ClinicDetails,
                                                     intent: str, text: str) -> None:
    message = respond(with_clinic, intent, text)
    assert message["topic"] == CONTACT_TOPIC
    said = rendered(message)
    for value in (clinic.name, clinic.phone, clinic.booking_url, *clinic.opening_hours, clinic.emergency_number):
        assert value in said
    assert "{" not in said


@pytest.mark.parametrize("intent, text", [("contact_clinic", "can i talk to a person"),
                                          ("out_of_scope", "when are you open?")])
def test_without_the_clinics_file_the_contact_reply_sends_to_the_doctor(without_clinic: Answerer, clinic: ClinicDetails,
                                                                        intent: str, text: str) -> None:
    message = respond(without_clinic, intent, text)
    said = rendered(message)
    assert message["topic"] == CONTACT_TOPIC and message["response"] == "utter_contact_no_clinic"
    assert "your doctor" in said and "your local emergency number" in said
    assert clinic.phone not in said and clinic.name not in said


def test_am_i_talking_to_a_person_is_still_about_the_bot(with_clinic: Answerer) -> None:
    message = respond(with_clinic, "bot_challenge", "am i talking to a real person?", confidence=0.9)
    assert message["topic"] == "smalltalk" and message["response"] == "utter_bot_challenge"


def test_a_question_the_guide_surely_answers_keeps_its_answer_and_gets_the_details_after(
        with_clinic: Answerer, clinic: ClinicDetails) -> None:
    message = respond(with_clinic, "ask_causes", "what causes plantar fasciitis and can i book an appointment?",
                      confidence=0.97)
    assert message["topic"] == "causes"
    text = message["text"]
    assert text.index(GUIDE.get("causes").passage) < text.index(clinic.phone) < text.index(POLICY.full_disclaimer)
    assert text.endswith(POLICY.full_disclaimer)


def test_a_booking_in_the_story_is_not_a_request(with_clinic: Answerer, clinic: ClinicDetails) -> None:
    message = respond(with_clinic, "ask_prognosis", "I have a massage appointment booked next week. How long does "
                      "plantar fasciitis last?", confidence=0.6)
    assert message["topic"] == "recovery_outlook"
    assert clinic.phone not in message["text"]


@pytest.mark.parametrize("intent, story", [
    ("ask_prognosis", "My heel flared up in the spring. I saw a physio and after a few of those appointments "
                      "it settled down. Now it's back and I'm scared it's never going to clear up for good."),
    ("ask_relief", "Been on my feet all day at the market stall. My arch is burning. I rang the surgery but "
                   "there's no availability till next month, so I'm rolling it on a bottle in the meantime."),
])
def test_a_story_that_asks_nothing_is_not_read_as_a_request_to_book(with_clinic: Answerer, clinic: ClinicDetails,
                                                                     intent: str, story: str) -> None:
    """A long story that asks nothing tells about appointments, it does not ask for one."""
    message = respond(with_clinic, intent, story, confidence=0.5)
    assert message["topic"] != CONTACT_TOPIC, message["topic"]


@pytest.mark.parametrize("intent, question", [
    ("ask_home_calves", "my physio works on my calves every week. can i do the same thing myself between appointments?"),
    ("ask_home_preparation", "what should i do to get my foot ready before my appointment with the massage therapist?"),
])
def test_an_appointment_told_of_inside_a_question_is_no_request(with_clinic: Answerer, clinic: ClinicDetails,
                                                                 intent: str, question: str) -> None:
    """A question that names appointments it only tells of ("between appointments") asks the guide."""
    message = respond(with_clinic, intent, question, confidence=0.6)
    assert message["topic"] != CONTACT_TOPIC, message["topic"]
    assert clinic.phone not in message["text"]


def test_a_short_request_without_a_question_still_reaches_the_clinic(with_clinic: Answerer) -> None:
    assert respond(with_clinic, "out_of_scope", "Appointment please.", confidence=0.4)["topic"] == CONTACT_TOPIC


@pytest.mark.parametrize("level", ["emergency", "today", "soon"])
def test_red_flag_advice_is_followed_by_whom_to_call(with_clinic: Answerer, without_clinic: Answerer,
                                                     clinic: ClinicDetails, level: str) -> None:
    story = RED_FLAG_STORIES[level]
    message = respond(with_clinic, "ask_relief", story)
    assert message["topic"] == f"red_flag.{level}"
    notice, line = message["text"].split("\n\n")[:2]
    assert notice.startswith("⚠️")
    expected = clinic.booking_url if level == "soon" else clinic.emergency_number  # to book, or to call now
    assert expected in line, line
    assert message["text"].endswith(POLICY.full_disclaimer)
    # Without the clinic's file the policy's words stand alone: "your doctor", "emergency services".
    plain = respond(without_clinic, "ask_relief", story)["text"]
    assert plain.split("\n\n")[0] == notice and clinic.name not in plain and clinic.emergency_number not in plain
    assert "your doctor" in plain or "emergency services" in plain


@pytest.mark.parametrize("intent, text", [
    ("ask_relief", "ive had this heel pain for over a year and nothing helps, what can i do?"),   # persistent
    ("ask_home_massage", "i'm diabetic, how do i massage my foot at home?"),                     # caution
    ("ask_is_it_pf", "sharp pain in my heel first thing in the morning, do i have plantar fasciitis?"),  # diagnosis
])
def test_see_a_professional_replies_say_how_to_reach_the_clinic(with_clinic: Answerer, without_clinic: Answerer,
                                                                clinic: ClinicDetails, intent: str, text: str) -> None:
    text_with = respond(with_clinic, intent, text)["text"]
    line = with_clinic.contact.after_referral()[0]
    assert line in text_with and clinic.booking_url in line and clinic.phone in line
    assert text_with.index(line) < text_with.index(POLICY.full_disclaimer)
    assert clinic.phone not in respond(without_clinic, intent, text)["text"]


def test_an_ordinary_answer_carries_no_contact_line(with_clinic: Answerer, clinic: ClinicDetails) -> None:
    assert clinic.phone not in respond(with_clinic, "ask_causes", "what causes it?")["text"]


# ------------------------------------------------------------------------------------- feedback
def test_every_answer_topic_has_feedback_buttons_within_telegrams_limit() -> None:
    topics = [*GUIDE.topics, "out_of_scope", *(f"red_flag.{level}" for level in LEVELS)]
    for topic_id in topics:
        for button in ANSWERER.feedback.buttons(topic_id):
            assert len(button["payload"].encode("utf-8")) <= MAX_PAYLOAD_BYTES, button
    assert ANSWERER.feedback.buttons("causes") == [
        {"title": "👍 Helpful", "payload": '/helpful{"rated_topic":"causes"}'},
        {"title": "👎 Not helpful", "payload": '/not_helpful{"rated_topic":"causes"}'}]


def test_a_topic_id_too_long_for_telegram_stops_the_start() -> None:
    with pytest.raises(KnowledgeError, match="64 bytes"):
        Feedback.load(["causes", "massage_benefits.a_very_long_sub_topic_name_indeed"])


def test_red_flag_and_partial_answers_offer_feedback_but_replies_without_passages_do_not(with_clinic: Answerer) -> None:
    red = respond(with_clinic, "ask_relief", RED_FLAG_STORIES["today"])
    assert red["buttons"][-2:] == ANSWERER.feedback.buttons("red_flag.today")
    for intent, text in (("greet", "hi"), ("out_of_scope", "tell me a joke"), ("contact_clinic", "can i talk to a person")):
        buttons = respond(with_clinic, intent, text).get("buttons") or []
        assert not [b for b in buttons if b["payload"].startswith(("/helpful", "/not_helpful"))], (intent, buttons)


def rate(answerer: Answerer, rating: str, topic_id: str) -> Dict[str, Any]:
    return respond(answerer, rating, payload(rating, topic_id), [{"entity": "rated_topic", "value": topic_id}],
                   confidence=1.0)


def test_helpful_is_thanked_shortly(with_clinic: Answerer) -> None:
    message = rate(with_clinic, "helpful", "causes.footwear")
    assert message["response"] == "utter_feedback_helpful" and message["topic"] == FEEDBACK_TOPIC
    assert rendered(message).startswith("Thanks") and len(rendered(message)) < 60
    assert not message.get("buttons")


def test_not_helpful_is_thanked_and_offers_the_clinic_or_the_doctor(with_clinic: Answerer, without_clinic: Answerer,
                                                                     clinic: ClinicDetails) -> None:
    message = rate(with_clinic, "not_helpful", "techniques.gua_sha")
    said = rendered(message)
    assert message["topic"] == FEEDBACK_TOPIC and said.startswith("Thanks")
    assert clinic.phone in said and clinic.booking_url in said and clinic.name in said
    plain = rendered(rate(without_clinic, "not_helpful", "techniques.gua_sha"))
    assert plain.startswith("Thanks") and "your doctor" in plain and clinic.phone not in plain


def test_a_hand_typed_feedback_without_a_topic_is_still_thanked(without_clinic: Answerer) -> None:
    message = respond(without_clinic, "not_helpful", "/not_helpful", confidence=1.0)
    assert message["topic"] == FEEDBACK_TOPIC and rendered(message).startswith("Thanks")


# ------------------------------------------------------------------------------------- through the bot
def joined(messages: List[Dict]) -> str:
    return "\n\n".join(m.get("text", "") for m in messages)


@pytest.mark.e2e
@pytest.mark.parametrize("question", ["can I talk to a person please", "how do i book an appointment with you",
                                      "what are your opening hours?"])
def test_contact_requests_through_rest_without_the_clinics_file(bot, question: str) -> None:
    sender = f"contact-{abs(hash(question))}"
    said = joined(bot.send(sender, question))
    assert "your doctor" in said and "emergency number" in said
    assert bot.tracker(sender)["slots"]["topic"] == CONTACT_TOPIC


@pytest.mark.e2e
def test_a_feedback_press_through_rest_is_kept_as_the_buttons_intent_and_topic(bot) -> None:
    sender = "feedback-rest"
    answer = bot.send(sender, "what is plantar fasciitis?")
    topic = bot.tracker(sender)["slots"]["topic"]
    buttons = [b for m in answer for b in m.get("buttons", [])]
    [press] = [b for b in buttons if b["title"] == "👎 Not helpful"]
    assert press["payload"] == payload("not_helpful", topic)
    thanks = joined(bot.send(sender, press["payload"]))
    assert thanks.startswith("Thanks") and "your doctor" in thanks
    tracker = bot.tracker(sender)
    [pressed] = [e for e in tracker["events"] if e["event"] == "user" and e["text"] == press["payload"]]
    assert pressed["parse_data"]["intent"]["name"] == "not_helpful"
    assert [(e["entity"], e["value"]) for e in pressed["parse_data"]["entities"]] == [("rated_topic", topic)]
    assert tracker["slots"]["topic"] == FEEDBACK_TOPIC


@pytest.mark.parametrize("text, level", [
    ("what's your phone number?", None),          # the lookup table read "number" as "more numb"
    ("can i have the clinic's number please", None),
    ("my toes have gone numb since this morning", "today"),
])
def test_a_phone_number_is_not_numbness(text: str, level: Optional[str]) -> None:
    assert ANSWERER.triage.assess(ANSWERER.reader.read(text)).level == level


def test_a_question_about_the_bot_taken_for_it_unsurely_can_still_reach_the_clinic(with_clinic: Answerer) -> None:
    unsure = respond(with_clinic, "bot_challenge", "could i speak to a member of staff", confidence=0.42)
    assert unsure["topic"] == CONTACT_TOPIC
    sure = respond(with_clinic, "bot_challenge", "am i talking to a real person?", confidence=0.9)
    assert sure["topic"] == "smalltalk"
