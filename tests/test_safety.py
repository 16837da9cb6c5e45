"""The safety policy: disclaimer wording, notices, and triage (data/safety/)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.content import KnowledgeError
from actions.safety import POLICY_FILE, RED_FLAGS_FILE, SafetyPolicy, Triage
from actions.understanding import Reader


@pytest.fixture(scope="module")
def policy() -> SafetyPolicy:
    return SafetyPolicy.load()


@pytest.fixture(scope="module")
def triage(reader: Reader, policy: SafetyPolicy) -> Triage:
    return Triage.load(reader, policy=policy)


def assess(triage: Triage, reader: Reader, text):
    return triage.assess(reader.read(text))


def test_full_disclaimer_says_educational_not_advice_and_consult(policy: SafetyPolicy) -> None:
    text = policy.disclaimer(first_in_conversation=True).lower()
    assert "educational" in text and "not medical advice" in text
    assert "doctor" in text and "healthcare professional" in text


def test_short_disclaimer_still_says_not_advice_and_consult(policy: SafetyPolicy) -> None:
    text = policy.disclaimer(first_in_conversation=False).lower()
    assert "not medical advice" in text and "healthcare professional" in text
    assert text != policy.disclaimer(first_in_conversation=True).lower()


def test_health_answer_has_notices_body_source_afterwords_then_disclaimer(policy: SafetyPolicy) -> None:
    text = policy.finish_health_answer(
        [("Passage one.", "Heading A"), ("Passage two.", "Heading B")], True, notices=["Careful."],
        afterwords=["See someone."],
    )
    assert text.split("\n\n") == [
        "Careful.", "Passage one.", "From the guide: Heading A", "Passage two.", "From the guide: Heading B",
        "See someone.", policy.full_disclaimer,
    ]


def test_health_answer_needs_a_part(policy: SafetyPolicy) -> None:
    with pytest.raises(ValueError):
        policy.finish_health_answer([], True, notices=["Careful."])


@pytest.mark.parametrize("level, says", [
    ("emergency", ["emergency department", "now"]),
    ("today", ["today", "urgent"]),
    ("soon", ["within the next few days", "doctor"]),
])
def test_each_urgency_level_has_its_own_advice_and_names_the_signs(policy: SafetyPolicy, level: str, says) -> None:
    text = policy.red_flag_notice(level, ["a red, hot, swollen foot, or fever"])
    assert "a red, hot, swollen foot, or fever" in text
    assert all(words in text for words in says), text
    assert "massage" in text  # each level says to leave massage aside
    others = [policy.red_flag_notice(other, ["x"]) for other in ("emergency", "today", "soon") if other != level]
    assert policy.red_flag_notice(level, ["x"]) not in others


def test_caution_names_each_condition_once_and_ignores_others(policy: SafetyPolicy) -> None:
    text = policy.caution_notice(["diabetes", "pregnancy", "diabetes", "flat_feet"])
    assert "diabetes and pregnancy" in text and "doctor" in text
    assert policy.caution_notice(["flat_feet", "plantar_fasciitis"]) is None
    assert policy.caution_notice([]) is None


@pytest.mark.parametrize("conditions", [["diabetes"], ["flat_feet", "pregnancy"], ["flat_feet"], []])
def test_a_caution_is_needed_exactly_when_there_is_a_caution_notice(policy: SafetyPolicy, conditions) -> None:
    assert policy.needs_caution(conditions) is (policy.caution_notice(conditions) is not None)


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
    ("it hurts every morning. what do i have to do to get better?", False),
    ("it hurts every morning. what do i have?", True),
    ("what causes plantar fasciitis", False),
    ("", False),
    (None, False),
])
def test_diagnosis_requests_are_recognised(policy: SafetyPolicy, reader: Reader, text, expected: bool) -> None:
    assert policy.asks_for_diagnosis(reader.read(text)) is expected


def broken_copy(tmp_path: Path, source: Path, mutate) -> Path:
    data = yaml.safe_load(source.read_text())
    mutate(data)
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["disclaimer"].pop("short"), r"'short' is missing or empty"),
    (lambda d: d.update(source_line="From the guide"), r"'source_line' must contain \{heading\}"),
    (lambda d: d["red_flag"].update(today="See a doctor."), r"'red_flag.today' must contain \{signs\}"),
    (lambda d: d.update(red_flag="See a doctor."), r"'red_flag' must map each urgency level"),
    (lambda d: d["no_diagnosis"].update(triggers="do i have"), r"no_diagnosis.triggers: expected a non-empty list"),
    (lambda d: d["persistent"].update(phrases=[]), r"persistent.phrases: expected a non-empty list"),
])
def test_policy_file_problems_are_named(tmp_path: Path, mutate, message: str) -> None:
    with pytest.raises(KnowledgeError, match=r"policy\.yml: " + message):
        SafetyPolicy.load(broken_copy(tmp_path, POLICY_FILE, mutate))


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["signs"]["nerve"].update(any=[], together=[]), r"sign 'nerve' has no phrases"),
    (lambda d: d["signs"]["nerve"].update(level="whenever"), r"sign 'nerve' needs a level, one of emergency"),
    (lambda d: d["signs"]["nerve"].update(together=[[["numb"]]]), r"each 'together' entry needs two or more"),
    (lambda d: d["signs"]["wound"]["together"][1].update(groups=[["a sore"]]), r"each 'together' entry needs two"),
    (lambda d: d["signs"]["wound"]["together"][1].update(window=0), r"sign 'wound': 'window' must be a whole"),
    (lambda d: d["signs"]["wound"].update(window="40"), r"sign 'wound': 'window' must be a whole"),
    (lambda d: d["hypothetical"].update(question_cues=[False, "if"]), r"hypothetical.question_cues: expected a non-empty list"),
    (lambda d: d["hypothetical"].pop("suspicion_cues"), r"hypothetical.suspicion_cues: expected a non-empty list"),
    (lambda d: d.pop("history"), r"expected a mapping under 'history'"),
    (lambda d: d["history"].update(resolved=[]), r"history.resolved: expected a non-empty list"),
    (lambda d: d["history"].update(year_numbers="yes"), r"history.year_numbers must be true or false"),
])
def test_red_flag_file_problems_are_named(tmp_path: Path, reader: Reader, mutate, message: str) -> None:
    with pytest.raises(KnowledgeError, match=r"red_flags\.yml: .*" + message):
        Triage.load(reader, broken_copy(tmp_path, RED_FLAGS_FILE, mutate))


def test_the_levels_and_their_source_are_named_in_the_data() -> None:
    data = yaml.safe_load(RED_FLAGS_FILE.read_text())
    assert data["levels"] == ["emergency", "today", "soon"]
    assert "NHS" in data["source"] and "heel-pain" in data["source"]


@pytest.mark.parametrize("text, level, sign", [
    ("I heard a pop when I jumped and now it's black and blue", "emergency", "injury_pop"),
    ("fell off a ladder yesterday and the pain is horrendous", "emergency", "injury_severe"),
    ("landed awkwardly at netball and heard a crack in my foot", "emergency", "injury_pop"),
    ("my ankle is at a weird angle since the match", "emergency", "deformity"),
    ("i cant put any weight on it", "today", "cannot_bear_weight"),
    ("my foot is red and swollen and hot", "today", "infection"),
    ("my toes went numb yesterday", "today", "nerve"),
    ("burning pain spreading up my leg", "today", "nerve"),
    ("I'm diabetic and there's a small wound on my sole", "today", "wound"),
    ("my toes turned a bluish colour and feel cold", "today", "colour_change"),
    ("the xray showed a stress fracture", "today", "fracture"),
    ("i tripped over the dog this morning", "today", "trauma"),
    ("it hurts at night and wakes me up", "soon", "rest_or_constant"),
    ("it hurts all the time, even sitting", "soon", "rest_or_constant"),
    ("ive been doing the massage for 6 weeks and its getting worse despite everything", "soon", "worsening"),
    ("the pain is unbearable", "soon", "severe"),
    ("i can barely walk by the end of my shift", "soon", "hardly_walk"),
    ("pins and needles in my heel", "soon", "tingling"),
    ("got a blister on my sole from new trainers about a fortnight ago and it still isn't healing", "today",
     "wound"),
    ("my toes have gone a bit grey and they're icy cold", "today", "colour_change"),
    ("there's a yellowish discharge from the cut on my heel", "today", "infection"),
    ("the blister under my heel was discharging all night", "today", "infection"),
    ("the pain is agony all day now, not just in the morning", "soon", "agony"),
    ("i rang the surgery and said it was agony, they told me to come in", "soon", "agony"),
    ("the first steps are agony and it doesn't ease off all day now", "soon", "agony"),
    ("my first few steps in the morning are unbearable", "soon", "severe"),
    ("i'm limping everywhere now, even by lunchtime", "soon", "hardly_walk"),
    ("i can hardly walk most days, even after the first few steps", "soon", "hardly_walk"),
    ("the podiatrist is worried it might be a stress fracture and wants an x-ray", "today", "fracture"),
    ("the physio thinks it might be a stress fracture and has sent me for an mri", "today", "fracture"),
    ("since i jumped off the wall i cannot put my weight on the left foot", "today", "cannot_bear_weight"),
    ("my dad's heel pain has changed, it woke him twice last night", "soon", "rest_or_constant"),
    ("her heel hurts even when she is sitting in her chair now", "soon", "rest_or_constant"),
    # signs in people's own words
    ("my wife's heel is bright red and hot like an iron, and she's been shivery tonight", "today", "infection"),
    ("it's gone red and blown up like a balloon since the weekend", "today", "infection"),
    ("my toes are sleeping all the day now", "today", "nerve"),
    ("both soles feel dead and fuzzy and it's creeping up my shins", "today", "nerve"),
    ("the pain shot up to a 10 while i was walking to the car", "soon", "severe"),
    ("been hopping around since friday, i can't put that foot down", "today", "cannot_bear_weight"),
    ("mum won't put her heel down and she's dragging her leg", "today", "cannot_bear_weight"),
    ("the pain has gone through the roof this week despite resting", "soon", "worsening"),
])
def test_signs_are_found_with_their_level(triage: Triage, reader: Reader, text: str, level: str, sign: str) -> None:
    result = assess(triage, reader, text)
    assert result.level == level and sign in [s.id for s in result.signs], result


def test_each_combination_of_a_sign_keeps_its_own_window(triage: Triage, reader: Reader) -> None:
    """The wound sign's diabetes + sore combination reaches 40 tokens; its sore + not healing one only 25,
    so a "not healing" said of the plantar fasciitis far from a blister is not read as the blister's."""
    filler = " and ".join(["i walk the dog"] * 6)   # 24 tokens
    far_diabetes = f"i'm diabetic, {filler}, there's a blister under my heel"
    far_healing = f"there's a blister under my heel from new shoes, {filler}, my pf is not healing"
    assert [s.id for s in assess(triage, reader, far_diabetes).signs] == ["wound"]
    assert not assess(triage, reader, far_healing).urgent
    near = "there's a blister under my heel from new shoes and it is not healing"
    assert [s.id for s in assess(triage, reader, near).signs] == ["wound"]


def test_the_most_urgent_level_wins(triage: Triage, reader: Reader) -> None:
    result = assess(triage, reader, "it hurts all the time and today i heard a pop and i can't walk on it")
    assert result.level == "emergency"
    assert [s.level for s in result.signs] == sorted((s.level for s in result.signs),
                                                      key=["emergency", "today", "soon"].index)


@pytest.mark.parametrize("text", [
    "no numbness, just heel pain in the morning",
    "No tingling or numbness at all",
    "i didn't hear any pop or snap, it just crept up",
    "there are no cuts, sores or colour changes on my feet",
    "burning sensation in my heel when i get up",
    "I'm diabetic and my heel is sore, can i massage it",
    "it feels like a bruise on the bottom of my heel",
    "stabbing pain with the first steps in the morning, then it eases",
    "my heel has been screaming every morning for three weeks, by lunch it calms down",
    "i almost fell over getting out of bed because my heel was so stiff",
    "what if my foot goes numb after the massage?",
    "can plantar fasciitis cause numbness?",
    "is tingling ever a sign of something worse?",
    "i tripped on a step last week but didn't hurt myself, the heel is the same old pf",
    "my wrist fracture healed last year, now my heel hurts in the mornings",
    "i roll my foot on a frozen bottle at night",
    "what causes plantar fasciitis",
    # ordinary plantar fasciitis in the words people use: agony for the first steps, morning hobbling,
    # stiffness, cold feet, a slow recovery
    "my heel is agony for the first few steps every morning, is that normal",
    "my brother had the injection, said it was agony but it worked, is it worth it",
    "i hobble round first thing like an old man",
    "my ankle is stiff, i can't bend my foot up as far as the other one",
    # an except phrase is read after a negation too, in any spelling of it
    "cant bend my foot as far as before, is that the fascia",
    "the first steps out of bed are absolute agony, by lunch i barely notice it",
    "getting up in the night for the loo is still agony on that heel for a few steps",
    "my first steps in the morning are still total agony, otherwise it's manageable",
    "my gp was worried it might be a stress fracture, but the scan showed no fracture, just the fascia",
    "i can't walk barefoot on the bathroom floor any more, is that pf",
    "my daughter had a fever last week and i was up all night carrying her, now my heels are sore",
    "my husband is worried about me being on crutches after the op, how long is recovery",
    "my wonky self massage probably isn't helping, which technique is easiest",
    # loose or other senses of alarming words
    "my brain is numb from reading forums all night, what even is the fascia",
    "left a couple of small purple bruises on my arch where i pressed with the ball, otherwise fine",
    "scared i'm going to break something doing this, how hard do i press",
    "my arch feels tight like a rope about to snap when i pull my toes back",
    "i'm worried the ibuprofen will give me an ulcer, is massage an alternative",
    "is the deep tissue session going to be torture?",
    "i sit perched at a weird angle at my desk all day, could that matter",
    "i'm diabetic but i have no feeling problems, they checked last month",
    "my little one has had a fever since monday so i've skipped my foot routine",
    "i cannot bend my ankle as much as the left one in the morning",
    "my feet are cold and achy after a long shift",
    "the doctor says it won't heal quickly at my age",
    "my pf just isn't healing, 8 months now",
    "years ago my toes went numb from a bad back but it's gone now",
    "my calves are always sore after a long walk, should i massage them too",
    "it always hurts a bit when i roll it, is that normal",
    "my heel went from agony to just a dull ache, will the rest go",
    "the waiting is the hardest part, worse than the pain honestly",
    "the podiatrist discharged me last week and said keep up the massage, how often should i do it",
    "i am hobbling like an old man for the first few steps after the cinema, then im fine",
    "back in the spring it hurt constantly but it's settled to a morning twinge now",
    "i read somewhere that shockwave can rupture the fascia, is massage safer",
    "is gua sha ok on a foot that's been broken before",
    "",
    None,
])
def test_ordinary_negated_or_hypothetical_messages_are_not_flagged(triage: Triage, reader: Reader, text) -> None:
    result = assess(triage, reader, text)
    assert not result.urgent, result


def test_a_sign_hidden_in_a_long_story_is_found(triage: Triage, reader: Reader) -> None:
    story = (
        "hi, i'm a teacher and on my feet all day. i started with the usual morning heel pain in spring and "
        "bought one of those fascia tools, which helped a bit. anyway last week i noticed my foot goes kind of "
        "numb on the outside after school, it's probably nothing. what oil should i use with the tool?"
    )
    assert [s.id for s in assess(triage, reader, story).signs] == ["nerve"]


@pytest.mark.parametrize("text, expected", [
    ("i've had it for months and tried everything, it's no better", True),
    ("it keeps coming back every winter", True),
    ("insoles help a bit but it never fully goes away", True),  # long-lasting, not constant: no red flag
    ("it started last week", False),
    ("it's not chronic, it started last week", False),
])
def test_long_lasting_pain_is_noticed_but_is_not_urgent(triage: Triage, reader: Reader, text: str, expected: bool) -> None:
    result = assess(triage, reader, text)
    assert result.persistent is expected and not result.urgent
