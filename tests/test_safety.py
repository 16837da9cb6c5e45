"""The safety policy: disclaimer wording, notices, and the red-flag detector (data/safety/)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.knowledge import KnowledgeError
from actions.safety import POLICY_FILE, RED_FLAGS_FILE, RedFlagDetector, SafetyPolicy


@pytest.fixture(scope="module")
def policy() -> SafetyPolicy:
    return SafetyPolicy.load()


@pytest.fixture(scope="module")
def detector() -> RedFlagDetector:
    return RedFlagDetector.load()


def test_full_disclaimer_says_educational_not_advice_and_consult(policy: SafetyPolicy) -> None:
    text = policy.disclaimer(first_in_conversation=True).lower()
    assert "educational" in text and "not medical advice" in text
    assert "doctor" in text and "healthcare professional" in text


def test_short_disclaimer_still_says_not_advice_and_consult(policy: SafetyPolicy) -> None:
    text = policy.disclaimer(first_in_conversation=False).lower()
    assert "not medical advice" in text and "healthcare professional" in text
    assert text != policy.disclaimer(first_in_conversation=True).lower()


def test_health_answer_has_notices_body_source_then_disclaimer(policy: SafetyPolicy) -> None:
    text = policy.finish_health_answer(
        [("Passage one.", "Heading A"), ("Passage two.", "Heading B")], True, notices=["Careful."]
    )
    assert text.split("\n\n") == [
        "Careful.", "Passage one.", "From the guide: Heading A", "Passage two.", "From the guide: Heading B",
        policy.full_disclaimer,
    ]


def test_health_answer_needs_a_part(policy: SafetyPolicy) -> None:
    with pytest.raises(ValueError):
        policy.finish_health_answer([], True, notices=["Careful."])


def test_red_flag_notice_says_seek_care_and_names_the_signs(policy: SafetyPolicy) -> None:
    text = policy.red_flag_notice(["a red, hot, swollen foot, or fever"])
    assert "a red, hot, swollen foot, or fever" in text
    assert "today" in text and "emergency services" in text


def test_caution_names_each_condition_once_and_ignores_others(policy: SafetyPolicy) -> None:
    text = policy.caution_notice(["diabetes", "pregnancy", "diabetes", "flat_feet"])
    assert "diabetes and pregnancy" in text and "doctor" in text
    assert policy.caution_notice(["flat_feet", "plantar_fasciitis"]) is None
    assert policy.caution_notice([]) is None


@pytest.mark.parametrize("text, expected", [
    ("do I have plantar fasciitis?", True),
    ("Do i have planter fasciitis or is it something else", True),
    ("could this be plantar fasciitis", True),
    ("can you diagnose my heel", True),
    ("my heel kills me every morning when i get out of bed, is that pf?", True),
    ("my heel kills first thing when i get out of bed, is that this plantar thing?", True),
    ("could it be the plantar fasciitis thing or something else", True),
    ("is it the plantar fascia that gets inflamed?", False),
    ("do i have to massage every day?", False),
    ("what causes plantar fasciitis", False),
    ("", False),
    (None, False),
])
def test_diagnosis_requests_are_recognised(policy: SafetyPolicy, text, expected: bool) -> None:
    assert policy.asks_for_diagnosis(text) is expected


def broken_copy(tmp_path: Path, source: Path, mutate) -> Path:
    data = yaml.safe_load(source.read_text())
    mutate(data)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["disclaimer"].pop("short"), r"'short' is missing or empty"),
    (lambda d: d.update(source_line="From the guide"), r"'source_line' must contain \{heading\}"),
    (lambda d: d.update(red_flag="See a doctor."), r"'red_flag' must contain \{signs\}"),
    (lambda d: d["no_diagnosis"].update(triggers="do i have"), r"'no_diagnosis.triggers' must be a list"),
])
def test_policy_file_problems_are_named(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(KnowledgeError, match=r"policy\.yml: " + message):
        SafetyPolicy.load(broken_copy(tmp_path, POLICY_FILE, mutate))


def test_red_flag_file_problems_are_named(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, RED_FLAGS_FILE, lambda d: d["signs"]["nerve_symptoms"].update(any=[], together=[]))
    with pytest.raises(KnowledgeError, match=r"red_flags\.yml: sign 'nerve_symptoms' has no phrases"):
        RedFlagDetector.load(path)
    path = broken_copy(tmp_path, RED_FLAGS_FILE, lambda d: d["negation"].update(words=[False, "not"]))
    with pytest.raises(KnowledgeError, match=r"negation.words"):
        RedFlagDetector.load(path)


@pytest.mark.parametrize("text, sign", [
    ("my toes went numb yesterday", "nerve_symptoms"),
    ("burning pain spreading up my leg", "nerve_symptoms"),
    ("I heard a pop when I jumped and now it's black and blue", "acute_injury"),
    ("my foot is red and swollen and hot", "infection_signs"),
    ("i cant put any weight on it", "cannot_bear_weight"),
    ("I'm diabetic and there's a small wound on my sole", "diabetic_foot"),
    ("it hurts at night and wakes me up", "rest_or_night_pain"),
    ("ive been doing the massage for 6 weeks and its getting worse despite everything", "worsening_despite_care"),
])
def test_signs_are_found(detector: RedFlagDetector, text: str, sign: str) -> None:
    assert sign in detector.detect(text)


@pytest.mark.parametrize("text", [
    "no numbness, just heel pain in the morning",
    "No tingling or numbness at all",
    "burning sensation in my heel when i get up",
    "I'm diabetic and my heel is sore, can i massage it",
    "what causes plantar fasciitis",
    "",
    None,
])
def test_ordinary_or_negated_messages_are_not_flagged(detector: RedFlagDetector, text) -> None:
    assert detector.detect(text) == []


def test_a_sign_hidden_in_a_long_story_is_found(detector: RedFlagDetector) -> None:
    story = (
        "hi, i'm a teacher and on my feet all day. i started with the usual morning heel pain in spring and "
        "bought one of those fascia tools, which helped a bit. anyway last week i noticed my foot goes kind of "
        "numb on the outside after school, it's probably nothing. what oil should i use with the tool?"
    )
    assert detector.detect(story) == ["nerve_symptoms"]
