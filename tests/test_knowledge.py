"""The guide's content: complete, faithful to the guide, and loaded with clear errors."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Tuple

import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from actions.content import PROJECT_ROOT, KnowledgeError
from actions.knowledge import (
    NEEDS_FILE,
    PASSAGES_FILE,
    TOPICS_FILE,
    Guide,
    Needs,
    PassageRetriever,
    Scope,
    Suggestions,
    fitted_clause_model,
    load_nlu_examples,
    read_topic_ids,
    technique_topic_id,
)
from actions.understanding import Reader, classifier_text

GUIDE_TEXT_FILE = PROJECT_ROOT / "data" / "guide" / "plantar-fasciitis-massage-guide.txt"
SHARED_GUIDE_DIR = PROJECT_ROOT.parent / "shared" / "guide"


@pytest.fixture(scope="module")
def guide() -> Guide:
    return Guide.load()


@pytest.fixture(scope="module")
def answerer():
    """The whole answering step, loaded once for the module (about 1.4 s a load)."""
    from actions.answers import Answerer

    return Answerer.load()


def fold(text: str) -> str:
    """Fold white space and bullet marks so passages compare with the guide's text line by line."""
    return re.sub(r"\s+", " ", text.replace("•", " ")).strip()


def test_every_topic_of_topics_yml_has_a_passage(guide: Guide) -> None:
    ids = read_topic_ids()
    assert len(ids) >= 30
    assert set(ids) <= set(guide.topics)


def test_every_passage_heading_and_label_is_non_empty(guide: Guide) -> None:
    for topic in guide.topics.values():
        assert topic.passage.strip() and topic.heading.strip() and topic.label.strip(), topic.id


def test_headings_match_topics_yml(guide: Guide) -> None:
    declared = yaml.safe_load(TOPICS_FILE.read_text())["guide_topics"]
    for topic_id, entry in declared.items():
        assert guide.get(topic_id).heading == entry["heading"], topic_id


def test_every_passage_line_stands_in_the_guide_word_for_word(guide: Guide) -> None:
    source = fold(GUIDE_TEXT_FILE.read_text(encoding="utf-8"))
    for topic in guide.topics.values():
        for line in topic.passage.splitlines():
            if line.strip():
                assert fold(line) in source, f"{topic.id}: not in the guide: {line!r}"


@pytest.mark.parametrize("name", ["plantar-fasciitis-massage-guide.txt", "topics.yml"])
def test_project_copy_matches_the_shared_source(name: str) -> None:
    shared = SHARED_GUIDE_DIR / name
    if not shared.exists():
        pytest.skip(f"{shared} is not beside this checkout")
    assert (PROJECT_ROOT / "data" / "guide" / name).read_bytes() == shared.read_bytes()


def test_families_and_top_level(guide: Guide) -> None:
    assert guide.get("causes.other").parent_id == "causes"
    assert guide.find("nope") is None and guide.find(None) is None
    assert guide.related("causes", "causes.footwear") and guide.related("causes.footwear", "causes")
    assert not guide.related("causes", "causes_x") and not guide.related("causes.footwear", "causes.other")
    top = [t.id for t in guide.top_level()]
    assert "what_is" in top and "faq.time_to_results" in top
    assert "causes" in top and "causes.footwear" not in top


def test_button_payloads_fit_telegram_and_name_their_topic(guide: Guide) -> None:
    for topic in guide.topics.values():
        assert len(topic.payload.encode("utf-8")) <= 64, topic.id
        assert topic.payload == '/choose_topic{"guide_topic": "%s"}' % topic.id


def write(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return path


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(KnowledgeError, match=r"nope\.yml: file not found"):
        Guide.load(missing)


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yml", "topics: [unclosed\n")
    with pytest.raises(KnowledgeError, match=r"bad\.yml: is not valid YAML"):
        Guide.load(bad)


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t["symptoms"].pop("passage"), r"topic 'symptoms': 'passage' is missing or empty"),
    (lambda t: t["references"].update(passage="   "), r"topic 'references': 'passage' is missing or empty"),
    (lambda t: t.pop("faq.time_to_results"), r"no passage for topic\(s\) faq\.time_to_results"),
    (lambda t: t.update(surgery=dict(t["safety"])), r"topic\(s\) surgery are not in"),
    (lambda t: t["symptoms"].update(label=""), r"topic 'symptoms': 'label' is missing or empty"),
])
def test_malformed_passages_are_reported_with_file_and_problem(tmp_path: Path, mutate, message: str) -> None:
    data = yaml.safe_load(PASSAGES_FILE.read_text())
    mutate(data["topics"])
    path = write(tmp_path, "passages.yml", yaml.safe_dump(data))
    with pytest.raises(KnowledgeError, match=r"passages\.yml: .*" + message):
        Guide.load(path)


def test_every_technique_has_a_topic(guide: Guide) -> None:
    patterns = yaml.safe_load((PROJECT_ROOT / "data" / "spacy" / "entity_patterns.yml").read_text())
    techniques = list(patterns["entities"]["technique"])
    assert len(techniques) == 6
    for technique in techniques:
        assert technique_topic_id(technique) in guide.topics


# ---- needs: what people ask, and the guide's answer ------------------------------------------------

@pytest.fixture(scope="module")
def needs(guide: Guide, reader: Reader) -> Needs:
    return Needs.load(guide, reader)


def test_every_health_intent_of_the_domain_is_a_need(needs: Needs) -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text())
    health = [i for i in domain["intents"] if i.startswith("ask_") and i != "ask_more"]
    assert sorted(health) == sorted(needs.intents)


def test_every_guide_topic_is_some_need_s_answer(needs: Needs, guide: Guide) -> None:
    """Each passage can be reached by asking (besides buttons and "tell me more")."""
    reachable = set()
    for need in needs.needs.values():
        reachable |= set(need.answer) | {r.to for r in need.refine} | set(t for r in need.refine for t in r.answer)
        reachable |= {need.related} if need.related else set()
    reachable |= {technique_topic_id(t) for t in ("fascia_blasting", "gua_sha")}
    missing = [t for t in guide.topics if t not in reachable]
    assert not missing, missing


@pytest.mark.parametrize("intent, text, topics", [
    ("ask_relief", "what can i do about the pain", ("massage_benefits", "home_massage")),
    ("ask_relief", "how do i do mfr on my own foot to fix it", ("techniques.myofascial_release",)),
    ("ask_relief", "i tried reflexology and gua sha. what else can i do", ("massage_benefits", "home_massage")),
    # a refinement `anywhere` reads the story too: the usual treatments tried, then the question
    ("ask_relief", "weeks of rest, ice and new insoles and it's no better. what else can i do",
     ("overview", "home_massage")),
    ("ask_relief", "my heel has been bad since march. what else can i do", ("massage_benefits", "home_massage")),
    # losing weight, asked: obesity is one of the guide's causes; weight only in the story (or "weight
    # bearing") is still what helps
    ("ask_relief", "would losing a bit of weight take some of the pain away", ("causes.other",)),
    ("ask_relief", "i cycle to keep the weight off my feet. what else can i do for it", ("massage_benefits", "home_massage")),
    # the one technique a message names, even in its story, over the classifier's guess among techniques
    ("ask_deep_tissue", "my therapist worked on trigger points in my calf for an hour. how does that work",
     ("techniques.trigger_point",)),
    ("ask_deep_tissue", "is deep tissue better than reflexology for this", ("techniques.deep_tissue",)),
    # the routine with a condition the guide asks caution for, told anywhere: its warning first
    ("ask_home_calves", "I had a DVT in my calf last year and I'm still on Eliquis. Can I do the calf part?",
     ("safety", "home_massage.calves")),
    ("ask_home_massage", "no injury or anything, how do i start the routine", ("home_massage",)),
    # one group of causes in the story: its passage; two groups, or none: the passage on all of them
    ("ask_causes", "why did i get this? im a nurse and on my feet all day", ("causes.overuse",)),
    ("ask_causes", "i'm overweight, why do i have this", ("causes.other",)),
    ("ask_causes", "why does my arch keep cramping up after a long day", ("causes.other",)),
    ("ask_causes", "what causes it? i run and wear flip flops a lot", ("causes",)),
    ("ask_causes", "what causes plantar fasciitis", ("causes",)),
    # what treats the cause: the overview (rest and ice help but do not reach the fascia)
    ("ask_causes", "ice helps for an hour then it's back. what treats the cause instead of just numbing it?",
     ("overview", "massage_benefits")),
    ("ask_how_massage_helps", "does massage improve the blood flow", ("massage_benefits.circulation",)),
    ("ask_how_massage_helps", "does massage break up scar tissue", ("massage_benefits.adhesions",)),
    ("ask_how_massage_helps", "does it help", ("massage_benefits",)),
    # breaking it up is what the guide says of adhesions; "stuff" points back at what the story named
    ("ask_how_massage_helps", "my physio found adhesions in my arch. can massage really break that stuff up?",
     ("massage_benefits.adhesions",)),
    # which technique, by what the guide says each is for: a gentle one is myofascial release; pain beyond
    # the heel, or knots, trigger point therapy; a technique the question names wins over both
    ("ask_techniques", "is there a kind of massage that won't hurt, i bruise easily", ("techniques.myofascial_release",)),
    ("ask_techniques", "the ache goes all along the sole now. which massage is for that?", ("techniques.trigger_point",)),
    ("ask_techniques", "my partner says i have knots in my calves. which massage would you go for?",
     ("techniques.trigger_point",)),
    ("ask_techniques", "which massage works best", ("techniques",)),
    ("ask_how_massage_helps", "does massaging the sole do anything for the ankle", ("faq.muscles_joints",)),
    ("ask_prognosis", "will it ever go away", ("recovery_outlook", "faq.time_to_results")),
    ("ask_prognosis", "how many sessions before i see results", ("faq.time_to_results", "recovery_outlook")),
    ("ask_safety", "i'm diabetic, is massage safe", ("faq.chronic_conditions", "safety")),
    ("ask_safety", "i don't have diabetes, is massage safe", ("safety",)),
    ("ask_safety", "is it risky to just leave it alone and wait", ("faq.untreated_risks",)),
    # a long-term condition told: massage with it, even when leaving it alone is the other choice
    ("ask_safety", "i've got arthritis in my hands and feet. is rubbing the heel ok for me or should i leave it alone?",
     ("faq.chronic_conditions", "safety")),
    # how serious plantar fasciitis is, not whether this is it
    ("ask_is_it_pf", "is pf a serious condition or just a nuisance", ("faq.untreated_risks", "recovery_outlook")),
    ("ask_is_it_pf", "is this pf or just sore feet", ("faq.vs_general_pain", "symptoms")),
    ("ask_how_massage_helps", "ordinary foot pain vs pf, why would massage help one and not the other",
     ("faq.vs_general_pain", "massage_benefits")),
    ("ask_how_massage_helps", "why would rubbing my calves do anything for my heel", ("massage_benefits.tension",)),
    # whether to go on once it is better: the long-term benefits
    ("ask_how_massage_helps", "the heel's fine now, is there any point carrying on with the rolling?",
     ("massage_benefits.long_term", "recovery_outlook")),
    ("ask_how_massage_helps", "does the massage do anything once it's healed", ("massage_benefits.long_term", "recovery_outlook")),
    ("ask_home_massage", "which direction do the strokes go", ("home_massage.strokes",)),
    ("ask_home_massage", "where should i massage, just the heel?", ("home_massage.strokes",)),
    ("ask_home_massage", "where should i press with the ball", ("home_massage.strokes",)),
    ("ask_home_massage", "how firmly should i press to get at the deep tissue", ("home_massage.strokes",)),
    ("ask_home_massage", "with the ball, do i start gently and build up or go firm straight away?", ("home_massage.strokes",)),
    # what goes on the skin, asked with the strokes, is the preparation's answer
    ("ask_home_massage", "out of lotion tonight, can i do the strokes dry?", ("home_massage.preparation",)),
    ("ask_home_massage", "which oil do you use for the sweeping strokes", ("home_massage.preparation",)),
    # what to beware of before a first go: the safety advice, then how to prepare
    ("ask_home_preparation", "first go with the tool tonight, anything i should watch out for?",
     ("safety", "home_massage.preparation")),
    ("ask_home_preparation", "first go with the tool tonight, do i soak first?", ("home_massage.preparation",)),
    # "how long" of the routine, not of the recovery
    ("ask_prognosis", "how long should i massage my heel for each night", ("home_massage",)),
    ("ask_prognosis", "how long do i leave my feet soaking before i start", ("home_massage.preparation",)),
    ("ask_prognosis", "how long until the heel gets better", ("recovery_outlook", "faq.time_to_results")),
])
def test_a_need_is_answered_and_refined_by_what_the_question_names(
        needs: Needs, reader: Reader, intent: str, text: str, topics) -> None:
    assert needs.answer(needs.get(intent), reader.read(text)).topics == topics


def test_a_refinement_reads_the_question_not_the_story(needs: Needs, reader: Reader) -> None:
    story = ("my calves feel like rocks after work and i read that massage improves circulation and "
             "blood flow in the legs, which sounds great, and my friend swears by it for her knees. "
             "i have plantar fasciitis in both heels since the summer. does it actually help?")
    assert needs.answer(needs.get("ask_how_massage_helps"), reader.read(story)).topics == ("massage_benefits",)


@pytest.mark.parametrize("intent, text, topics", [
    # the story names one technique and the question only points back at it
    ("ask_how_massage_helps", "my sister is training in gua sha at a college in leeds and wants to practise on my "
                              "heel, she has all the tools and oils already. she is very keen and i don't want to "
                              "say no. would it do anything for pf?", ("techniques.gua_sha",)),
    ("ask_techniques", "the clinic down the road from my work has started offering myofascial release on a board "
                       "outside, twenty pounds a session. my heel has been sore for weeks. what even is it?",
     ("techniques.myofascial_release",)),
    # no word that points back: the need's own answer
    ("ask_techniques", "i had reflexology on holiday in spain last summer and the lady spent an hour on my feet, it "
                       "was lovely. now back home my heel is sore again. which kinds of massage are there for heel "
                       "pain?", ("techniques",)),
    # two techniques in the story: which one "it" is, is not known
    ("ask_how_massage_helps", "my sister is training in gua sha and my neighbour does reflexology from her front "
                              "room, and both want to practise on my heel this month. would it do anything for pf?",
     ("massage_benefits",)),
    # a question that names massage itself: "it" is the massage, not the story's technique
    ("ask_how_massage_helps", "my podiatrist has me on rest and insoles for now and it is slowly improving. my "
                              "neighbour keeps telling me about reflexology at her salon. is massage worth adding "
                              "or is it just more money?", ("massage_benefits",)),
    # a phrase of the story, when the question points back at it with a plural
    ("ask_how_massage_helps", "my therapist keeps finding adhesions in my arch and works on them for ages every "
                              "other tuesday after my shift at the warehouse, it stings a bit but i walk out looser. "
                              "is working on those actually doing anything for my pf?",
     ("massage_benefits.adhesions",)),
    ("ask_how_massage_helps", "my therapist keeps finding adhesions in my arch and works on them for ages every "
                              "other tuesday after my shift at the warehouse, it stings a bit but i walk out looser. "
                              "is the massage actually doing anything for my pf?", ("massage_benefits",)),
    # what the question names comes first ("it" is the heel here)
    ("ask_how_massage_helps", "my physio has been doing deep tissue on my calves every week since the spring and "
                              "i work long shifts on a hospital ward. does massage get more blood flowing to it?",
     ("massage_benefits.circulation",)),
])
def test_a_question_that_points_back_is_about_the_technique_the_story_names(
        needs: Needs, reader: Reader, intent: str, text: str, topics) -> None:
    assert needs.answer(needs.get(intent), reader.read(text)).topics == topics


def test_needs_the_guide_does_not_answer_say_so(needs: Needs) -> None:
    assert not needs.get("ask_other_treatments").covered
    assert needs.get("ask_activity").related == "causes.overuse"
    assert needs.get("ask_is_it_pf").notice == "no_diagnosis"
    assert needs.get("greet") is None


@pytest.mark.parametrize("mutate, message", [
    (lambda n: n["ask_relief"].update(answer=["massage"]), r"need 'ask_relief': unknown topic 'massage'"),
    (lambda n: n["ask_relief"].update(not_covered="x"), r"need 'ask_relief': needs either 'answer' or 'not_covered'"),
    (lambda n: n["ask_symptoms"].update(notice="hug"), r"unknown notice 'hug'"),
    (lambda n: n["ask_prognosis"]["refine"][0].update(to="nowhere"), r"refine rule 1: unknown topic 'nowhere'"),
    (lambda n: n["ask_prognosis"]["refine"][0].pop("phrases"), r"refine rule 1: needs 'to' and 'phrases' or 'entity'"),
    (lambda n: n["ask_other_treatments"].update(when_leaving_out="ask_activity"),
     r"need 'ask_other_treatments': when_leaving_out must name a need the guide answers"),
])
def test_malformed_needs_are_reported_with_file_and_problem(
        tmp_path: Path, guide: Guide, reader: Reader, mutate, message: str) -> None:
    data = yaml.safe_load(NEEDS_FILE.read_text())
    mutate(data["needs"])
    path = write(tmp_path, "needs.yml", yaml.safe_dump(data))
    with pytest.raises(KnowledgeError, match=r"needs\.yml: .*" + message):
        Needs.load(guide, reader, path)


@pytest.fixture(scope="module")
def retriever(guide: Guide, reader: Reader) -> PassageRetriever:
    return PassageRetriever.load(guide, reader)


@pytest.mark.parametrize("text, topic_id", [
    ("do flip flops cause it", "causes.footwear"),
    ("how long before it works", "faq.time_to_results"),
    ("will massage improve circulation and blood flow", "massage_benefits.circulation"),
])
def test_retrieval_ranks_the_right_passage_first(retriever, reader: Reader, text: str, topic_id: str) -> None:
    message = reader.read(text)
    assert retriever.rank(message)[0][0] == topic_id
    assert retriever.best(message)[0].id == topic_id


def test_retrieval_ranks_on_the_question_of_a_story(retriever, reader: Reader) -> None:
    story = ("i bought flip flops for the beach and wore them all summer, then high heels for a wedding. "
             "my sister says footwear is a big deal for feet and she is usually right about these things. "
             "anyway my question is: will massage improve circulation and blood flow?")
    assert retriever.rank(reader.read(story))[0][0] == "massage_benefits.circulation"


@pytest.mark.parametrize("text", ["what dose of ibuprofen", "weather in london", "", None, "!!!"])
def test_retrieval_keeps_unrelated_text_out(retriever, reader: Reader, text) -> None:
    assert retriever.best(reader.read(text)) is None


def test_retrieval_threshold_is_validated(tmp_path: Path, guide: Guide, reader: Reader) -> None:
    path = write(tmp_path, "retrieval.yml", "threshold: 2\n")
    with pytest.raises(KnowledgeError, match=r"retrieval\.yml: 'threshold' must be a number between 0 and 1"):
        PassageRetriever.load(guide, reader, path)


def test_every_topic_has_suggestions_and_unknown_ones_are_rejected(tmp_path: Path, guide: Guide) -> None:
    suggestions = Suggestions.load(guide)
    for topic_id in guide.topics:
        assert 2 <= len(suggestions.for_topic(topic_id)) <= 3, topic_id
    assert suggestions.for_topic("red_flag.today") == suggestions.for_topic("red_flag")
    assert suggestions.for_topic("out_of_scope") == suggestions.start
    path = write(tmp_path, "suggestions.yml", "start: [what_is]\nafter:\n  what_is: [massage]\n")
    with pytest.raises(KnowledgeError, match=r"unknown topic\(s\) massage"):
        Suggestions.load(guide, path)


def write_scope(tmp_path: Path, data) -> Path:
    path = tmp_path / "scope.yml"
    path.write_text(yaml.safe_dump(data))
    return path


SMALL_SCOPE = {
    "min_confidence": 0.6,
    "uncovered": {
        "injections": {"name": "injections", "phrases": ["injection", "cortisone", "steroid shot"]},
        "insoles": {"name": "insoles", "phrases": ["insole", "orthotic"]},
        "conditions": {"name": "other conditions", "phrases": ["heel spur", "tendinitis"]},
        "surgery": {"name": "surgery", "phrases": ["surgery", "operation"]},
        "children": {"name": "children", "phrases": ["my 9 year old", "growing pains"],
                     "asked_of": {"words": ["him", "his"], "phrases": ["my son is 9", "my 9 year old"]}},
    },
    "pointing_back": {"words": ["it", "that", "those"], "offers": ["offer", "suggest", "say", "mention", "reckon"],
                      "sentences": 3, "reach": 8, "beyond": ["what else", "anything further"]},
    "either_or": ["or is it more for"],
    "excluding": {"words": ["without", "apart from"], "reach": 3},
}


def test_scope_finds_uncovered_subjects_by_lemma_in_order(tmp_path: Path, reader: Reader) -> None:
    scope = Scope.load(reader, write_scope(tmp_path, SMALL_SCOPE))
    assert scope.uncovered(reader.read("Are ORTHOTICS better than cortisone injections?")) == ["insoles", "injections"]
    assert scope.uncovered(reader.read("two steroid shots and an injection later")) == ["injections"]
    assert scope.uncovered(reader.read("how do i massage my arch")) == []
    assert scope.uncovered(reader.read("")) == [] and scope.uncovered(reader.read(None)) == []


def test_scope_reads_the_question_not_the_story(tmp_path: Path, reader: Reader) -> None:
    scope = Scope.load(reader, write_scope(tmp_path, SMALL_SCOPE))
    story = ("i have had heel pain for a year. i had two cortisone injections and custom orthotics and "
             "they helped for a while, then it came back worse in the mornings after the school run. "
             "what else can i do?")
    assert scope.uncovered(reader.read(story)) == []
    asked = ("i have had heel pain for a year and tried massage, stretching and rest and new trainers with "
             "a lot more cushioning than my old ones. my podiatrist now suggests a cortisone injection. "
             "does a cortisone injection work?")
    assert scope.uncovered(reader.read(asked)) == ["injections"]


def test_a_question_that_points_back_at_what_the_story_puts_forward_asks_about_it(tmp_path: Path, reader: Reader) -> None:
    scope = Scope.load(reader, write_scope(tmp_path, SMALL_SCOPE))
    offered = ("ive had this heel pain for most of the year and my podiatrist has offered me a cortisone injection "
               "at my next appointment. has anyone had it done and does it hurt?")
    assert scope.uncovered(reader.read(offered)) == []  # the question names no subject itself ...
    assert scope.pointed_at(reader.read(offered)) == ["injections"]  # ... but points back at one
    tried = ("ive had this heel pain for most of the year and i had a cortisone injection in the spring that "
             "wore off after a month. will it ever go away?")
    assert scope.pointed_at(reader.read(tried)) == []  # told as tried: the question is about the heel
    before_the_offer = ("i wear orthotics for my flat feet and my massage therapist offered to work on my heel "
                        "next time. what would that do for it?")
    assert scope.pointed_at(reader.read(before_the_offer)) == []  # the orthotics are not what is offered
    named = "my gp offered me a cortisone injection. are insoles better than that?"
    assert scope.pointed_at(reader.read(named)) == []  # the question names its own subject


def test_what_was_put_forward_a_few_sentences_back_or_said_to_be_the_matter_is_pointed_at(
        tmp_path: Path, reader: Reader) -> None:
    scope = Scope.load(reader, write_scope(tmp_path, SMALL_SCOPE))
    said = "went back to the podiatrist on monday. she said heel spurs, probably. how do you get rid of those?"
    assert scope.pointed_at(reader.read(said)) == ["other conditions"]
    further_back = ("two years of this. the consultant mentioned surgery at my last visit. i have never been in "
                    "hospital in my life and the thought scares me. does it actually work?")
    assert scope.pointed_at(reader.read(further_back)) == ["surgery"]
    too_far_back = ("the consultant mentioned surgery in the spring. i said no. i kept up the massage. it eased "
                    "a lot over the summer. will it come back?")
    assert scope.pointed_at(reader.read(too_far_back)) == []  # four sentences back: the story's
    far_from_the_word = ("my doctor said that with rest and patience and time most people never need an "
                         "operation. is that true for it?")
    assert scope.pointed_at(reader.read(far_from_the_word)) == []  # said, but not what was said to be done
    reckons = ("been to the physio twice now for my heel. she reckons tendinitis rather than pf. "
               "what's the best way to treat that?")
    assert scope.pointed_at(reader.read(reckons)) == ["other conditions"]
    past_it = "my gp suggested orthotics, which i got. what else can i do for it?"
    assert scope.pointed_at(reader.read(past_it)) == []  # asks past what was put forward


def test_a_question_that_asks_past_what_it_names_is_not_about_it(tmp_path: Path, reader: Reader) -> None:
    scope = Scope.load(reader, write_scope(tmp_path, SMALL_SCOPE))
    tried = "i wear orthotics every day now, but is there anything further i could be doing for my heel?"
    assert scope.uncovered(reader.read(tried)) == []
    after = "is there anything further i could be doing, or should i get orthotics?"
    assert scope.uncovered(reader.read(after)) == ["insoles"]  # named after it: asked
    elsewhere = "i walk a lot for work. do orthotics help? what else can i do?"
    assert scope.uncovered(reader.read(elsewhere)) == ["insoles"]  # asked in a sentence of its own


def test_a_child_named_in_the_story_is_what_a_question_about_him_asks_about(tmp_path: Path, reader: Reader) -> None:
    scope = Scope.load(reader, write_scope(tmp_path, SMALL_SCOPE))
    child = "my son is 9 and plays rugby every weekend. his heels ache after games. can i massage them for him?"
    assert scope.uncovered(reader.read(child)) == ["children"]
    grown_up = "my son is 29 and plays rugby every weekend. his heels ache after games. can i massage them for him?"
    assert scope.uncovered(reader.read(grown_up)) == []  # a grown-up son: the guide's
    mine = "my son is 9 and plays rugby, i stand on the sideline for hours. can i massage my own heel after?"
    assert scope.uncovered(reader.read(mine)) == []  # the question is about the parent's heel


def test_a_phrase_list_shared_by_an_anchor_serves_both_lists(tmp_path: Path, reader: Reader) -> None:
    """scope.yml names a child's age forms once (&child_ages) and reuses them under asked_of (*child_ages)."""
    ages = ["my 9yo", "my 9 year old"]  # one list in two places: YAML writes it once, with an anchor
    text = yaml.safe_dump({**SMALL_SCOPE, "uncovered": {
        **SMALL_SCOPE["uncovered"],
        "children": {"name": "children", "phrases": ["growing pains", ages],
                     "asked_of": {"words": ["him", "his"], "phrases": ["my son is 9", ages]}},
    }})
    assert text.count("my 9yo") == 1 and "&" in text and "*" in text
    path = tmp_path / "scope.yml"
    path.write_text(text)
    scope = Scope.load(reader, path)
    assert scope.uncovered(reader.read("can i massage my 9yo's heels?")) == ["children"]
    story = "my 9yo plays rugby every weekend. his heels ache after games. can i massage them for him?"
    assert scope.uncovered(reader.read(story)) == ["children"]


@pytest.mark.parametrize("phrases", [["injection", ["cortisone", False]], ["injection", [["cortisone"]]], []])
def test_a_malformed_phrase_list_is_reported(tmp_path: Path, reader: Reader, phrases) -> None:
    groups = {**SMALL_SCOPE["uncovered"], "injections": {"name": "injections", "phrases": phrases or [""]}}
    with pytest.raises(KnowledgeError, match=re.escape("injections.phrases")):
        Scope.load(reader, write_scope(tmp_path, {**SMALL_SCOPE, "uncovered": groups}))


@pytest.mark.parametrize("name, value", [("sentences", 0), ("reach", "far"), ("sentences", True), ("beyond", [])])
def test_malformed_pointing_back_settings_are_reported(tmp_path: Path, reader: Reader, name: str, value) -> None:
    data = {**SMALL_SCOPE, "pointing_back": {**SMALL_SCOPE["pointing_back"], name: value}}
    with pytest.raises(KnowledgeError, match=re.escape(f"pointing_back.{name}")):
        Scope.load(reader, write_scope(tmp_path, data))


@pytest.mark.parametrize("data, message", [
    ({"min_confidence": 0.5}, "non-empty mapping under 'uncovered'"),
    ({"min_confidence": 0.5, "uncovered": {"x": {"name": "x", "phrases": ["a"]}}}, "mapping under 'pointing_back'"),
    ({"min_confidence": 0.5, "uncovered": {"x": {"phrases": ["a"]}}}, "subject 'x' needs a 'name' and 'phrases'"),
    ({"min_confidence": 1.5, "uncovered": {"x": {"name": "x", "phrases": ["a"]}}}, "'min_confidence' must be"),
    ({**SMALL_SCOPE, "either_or": []}, "either_or: expected a non-empty list"),
    ({**SMALL_SCOPE, "excluding": {"words": ["without"], "reach": 0}}, "excluding.reach must be a whole number"),
    ({**SMALL_SCOPE, "excluding": ["without"]}, "expected a mapping under 'excluding'"),
])
def test_malformed_scope_is_reported_with_file_and_problem(tmp_path: Path, reader: Reader, data, message: str) -> None:
    path = write_scope(tmp_path, data)
    with pytest.raises(KnowledgeError, match=re.escape(message)) as error:
        Scope.load(reader, path)
    assert str(path) in str(error.value)


def test_no_uncovered_phrase_is_a_topic_the_guide_covers(reader: Reader) -> None:
    """A phrase that the guide's own text uses is probably in scope: the scope file must not hide it."""
    scope = Scope.load(reader)
    guide_text = " ".join(GUIDE_TEXT_FILE.read_text(encoding="utf-8").lower().split())
    assert scope.uncovered(reader.read(guide_text)) == []


KEEPING_FIT = "which exercise or training to do instead to keep fit"
KEEPING_GOING = "whether to keep running, training or playing sport through it"


def test_how_much_weight_to_lose_is_a_weight_loss_plan(reader: Reader) -> None:
    """The guide names obesity as a cause; how much to lose, and how, it does not say."""
    text = "the nurse says i should slim down for my heels. how much weight would i need to lose to notice it?"
    assert Scope.load(reader).uncovered(reader.read(text)) == ["diets, food or weight-loss plans"]


@pytest.mark.parametrize("text, subject", [
    # which machine or class to train on instead (LABELING.md: exercise plans)
    ("is an exercise bike ok with pf or should i use the elliptical instead", KEEPING_FIT),
    ("my gym has a rowing machine and a cross trainer, which one is easier on plantar fasciitis?", KEEPING_FIT),
    ("would a spin class be too much for my heel", KEEPING_FIT),
    ("walking's agony in the mornings, what about the pool? swimming maybe?", KEEPING_FIT),
    # whether to keep running is out of scope, whatever the massage around it
    ("my 10k is in a fortnight, can i keep running if i roll my foot before and after?", KEEPING_GOING),
    ("should i stop running until the heel settles or is massage enough", KEEPING_GOING),
    ("is it ok to play through it if i massage my foot after matches", KEEPING_GOING),
    ("the physio wants me to rest it but i really don't want to give up playing", KEEPING_GOING),
    ("do i need time off running or can the massage sort it", KEEPING_GOING),
    # the race ahead: whether to run it is the same question
    ("half marathon on the 12th and my heel is sore after every run. do i run it or pull out?", KEEPING_GOING),
    ("the 10k is next sunday, should i pull out or will rolling my foot be enough?", KEEPING_GOING),
])
def test_training_instead_or_carrying_on_with_a_sport_is_not_covered(reader: Reader, text: str, subject: str) -> None:
    """The guide says nothing about which exercise to do instead, or whether to keep going (LABELING.md)."""
    assert Scope.load(reader).uncovered(reader.read(text)) == [subject]


def test_the_routine_s_caution_refinements_name_the_policy_s_caution_conditions(needs: Needs) -> None:
    """needs.yml repeats the caution conditions of data/safety/policy.yml: they must not drift apart."""
    policy = yaml.safe_load((PROJECT_ROOT / "data" / "safety" / "policy.yml").read_text())
    conditions = set(policy["caution"]["conditions"])
    for intent in ("ask_home_massage", "ask_home_preparation", "ask_home_calves"):
        rule = next(r for r in needs.get(intent).refine if r.to == "safety")
        assert set(rule.values) == conditions, intent


CLAUSES = ["what causes it", "how do i massage my calves", "is it safe when pregnant", "can i take ibuprofen",
           "will it go away"]


@pytest.fixture(scope="module")
def clause_training_set(reader: Reader) -> Tuple[List[str], List[str]]:
    """A small training set of the clause classifier's kind (every 15th short example), quick to fit."""
    short = [(text, intent) for text, intent in load_nlu_examples() if len(text) <= 120][::15]
    return [classifier_text(reader.nlp(text.lower())) for text, _ in short], [intent for _, intent in short]


def probabilities(model: Any, reader: Reader) -> Any:
    return model.predict_proba([classifier_text(reader.nlp(clause)) for clause in CLAUSES])


def test_the_clause_classifier_is_fitted_once_and_kept(clause_training_set, reader: Reader, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    texts, labels = clause_training_set
    fits, fit = [], LogisticRegression.fit
    monkeypatch.setattr(LogisticRegression, "fit", lambda *a, **k: fits.append(1) or fit(*a, **k))
    fitted = fitted_clause_model(texts, labels, tmp_path)
    kept = list(tmp_path.glob("*.npz"))
    assert len(kept) == 1 and fits == [1]
    again = fitted_clause_model(texts, labels, tmp_path)
    assert fits == [1]  # read from the file, not fitted again ...
    assert (probabilities(again, reader) == probabilities(fitted, reader)).all()  # ... and the same model
    assert list(tmp_path.glob("*.npz")) == kept


def test_other_training_data_is_fitted_anew(clause_training_set, tmp_path: Path) -> None:
    texts, labels = clause_training_set
    fitted_clause_model(texts, labels, tmp_path)
    other = fitted_clause_model(texts[1:], labels[1:], tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert len(other.steps[-1][1].coef_) == len(set(labels[1:]))


def test_a_broken_or_unwritable_cache_is_fitted_again_without_failing(clause_training_set, reader: Reader,
                                                                      tmp_path: Path) -> None:
    texts, labels = clause_training_set
    reference = probabilities(fitted_clause_model(texts, labels, None), reader)
    fitted_clause_model(texts, labels, tmp_path)
    (kept,) = tmp_path.glob("*.npz")
    kept.write_bytes(kept.read_bytes()[:1000])  # truncated, as by a full disk
    assert (probabilities(fitted_clause_model(texts, labels, tmp_path), reader) == reference).all()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    assert (probabilities(fitted_clause_model(texts, labels, blocked), reader) == reference).all()


CHILDREN = "children's conditions (such as growing pains or Sever's disease)"


@pytest.mark.parametrize("text, subjects", [
    ("my 11 year old says the backs of his heels ache after every match, is that pf?", [CHILDREN]),
    ("is massage ok for my eight yr old's heels after netball?", [CHILDREN]),
    ("my seven year old has sore heels when she wakes up, what could it be?", [CHILDREN]),
    ("i'm a 45 year old postman with heel pain in the mornings, is it pf?", []),  # an adult's own age
    ("my 9yo limps after gymnastics, can i massage her heel?", [CHILDREN]),  # age written short
    ("my 13-year-old plays a lot of tennis. is rolling the sole ok for him?", [CHILDREN]),
    ("can a kid even get plantar fasciitis?", [CHILDREN]),
    ("my 10 year old asked what plantar fasciitis is and i couldn't explain it. what is it, simply?", []),
])
def test_a_child_named_by_age_is_not_covered(reader: Reader, text: str, subjects: List[str]) -> None:
    """Children's heel pain is out of the guide's scope (LABELING.md), also when the child is named by age."""
    assert Scope.load(reader).uncovered(reader.read(text)) == subjects


def test_a_question_for_a_child_is_not_covered_however_sure_the_need(answerer) -> None:
    """A sure safety question asked for a teenager gets the honest "not covered" first, with what the guide
    says as a partial answer; the same question for oneself gets the safety passage."""
    from actions.answers import Understood

    sure = Understood("ask_safety", 0.97, (("ask_safety", 0.97),))
    child = answerer.reply(sure, "my daughter is 13 and does ballet most nights. is foot massage safe for a "
                                 "teenager or should we leave it?")
    assert child.topic == "out_of_scope" and CHILDREN in child.preface
    assert [p.id for p in child.passages] == ["safety"]
    adult = answerer.reply(sure, "i do ballet most nights. is foot massage safe for me or should i leave it?")
    assert adult.topic == "safety" and not adult.preface


def test_whole_question_must_be_true_or_false(tmp_path: Path, reader: Reader) -> None:
    groups = {**SMALL_SCOPE["uncovered"], "children": {**SMALL_SCOPE["uncovered"]["children"], "whole_question": "yes"}}
    with pytest.raises(KnowledgeError, match="children.whole_question must be true or false"):
        Scope.load(reader, write_scope(tmp_path, {**SMALL_SCOPE, "uncovered": groups}))


@pytest.mark.parametrize("asked_of, message", [
    (["him"], "children.asked_of needs 'words' and 'phrases'"),
    ({"words": ["him"]}, "children.asked_of.phrases"),
    ({"phrases": ["my son is 9"]}, "children.asked_of.words"),
])
def test_malformed_asked_of_is_reported(tmp_path: Path, reader: Reader, asked_of, message: str) -> None:
    groups = {**SMALL_SCOPE["uncovered"], "children": {**SMALL_SCOPE["uncovered"]["children"], "asked_of": asked_of}}
    with pytest.raises(KnowledgeError, match=re.escape(message)):
        Scope.load(reader, write_scope(tmp_path, {**SMALL_SCOPE, "uncovered": groups}))


def test_a_treatment_the_doctor_wants_to_give_is_what_the_question_points_at(reader: Reader) -> None:
    """"wants to give me" puts a treatment forward as "offered" does; "gave me" tells what was tried."""
    scope = Scope.load(reader)
    offered = "my gp wants to give me a steroid jab in the heel soon. is that going to sort it out for good?"
    assert scope.pointed_at(reader.read(offered)) == ["injections (such as cortisone or PRP)"]


def test_what_others_send_or_the_person_read_about_is_what_the_question_points_at(reader: Reader) -> None:
    """"My mum keeps sending me stuff about X. Would it help?" puts X forward as "offered" does."""
    scope = Scope.load(reader)
    sent = ("been doing the heel massage most nights for a couple of months now and it is slowly easing. my mum "
            "keeps sending me stuff about magnesium tablets from some facebook group. would those help as well?")
    assert scope.pointed_at(reader.read(sent)) == ["medicines, painkillers, creams or supplements"]
    told = ("been doing the heel massage most nights for a couple of months now and it is slowly easing. my mum "
            "keeps asking if i have tried magnesium tablets from some facebook group. would those help as well?")
    assert scope.pointed_at(reader.read(told)) == []


def test_what_the_story_denies_is_not_what_the_question_points_at(reader: Reader) -> None:
    """"he said it is plantar fasciitis and not the spur" puts no heel spur forward."""
    scope = Scope.load(reader)
    denied = ("I went to the orthopaedist last month about my heel and he looked at the x-ray. He said it is "
              "plantar fasciitis and not the spur. I also have flat feet. Can this be the reason for the problem?")
    assert scope.pointed_at(reader.read(denied)) == []
    said = ("I went to the orthopaedist last month about my heel and he looked at the x-ray. He said it is "
            "a heel spur and quite a big one. I also have flat feet. Can this be the reason for the problem?")
    assert scope.pointed_at(reader.read(said)) != []


@pytest.mark.parametrize("text, uncovered", [
    ("the shop did a gait analysis and says i overpronate, do i need stability trainers?",
     ["which shoes or brands to buy, or how they should fit"]),
    ("could my old trainers be what's causing the heel pain?", []),  # shoes as a cause: the guide's causes.footwear
    ("do my new running shoes support my arch enough?", ["which shoes or brands to buy, or how they should fit"]),
    ("once the heel settles can i go back to barefoot shoes?", ["which shoes or brands to buy, or how they should fit"]),
    ("i switched to minimalist shoes and then got heel pain, connection?", []),  # a cause: causes.footwear
])
def test_how_shoes_should_fit_is_not_covered_but_shoes_as_a_cause_are(reader: Reader, text: str, uncovered) -> None:
    assert Scope.load(reader).uncovered(reader.read(text)) == uncovered


@pytest.mark.parametrize("text, uncovered", [
    ("do i ice my heel before the massage or after?", ["ice, heat pads, frozen water bottles or contrast baths"]),
    ("how long should i ice it for", ["ice, heat pads, frozen water bottles or contrast baths"]),
    ("rest, ice and orthotics didn't fix it. does massage help?", []),  # tried, and named by the guide
    ("which attachment do i use on my massage gun for the arch", ["massage gun speeds, settings or attachments"]),
    ("what sets plantar fasciitis off in the first place", []),  # "setting" is lemmatized to "set"
])
def test_how_to_ice_and_massage_gun_settings_are_not_covered(reader: Reader, text: str, uncovered) -> None:
    assert Scope.load(reader).uncovered(reader.read(text)) == uncovered


def test_a_diagnosis_the_doctor_named_is_what_the_question_points_at(reader: Reader) -> None:
    """"the doctor called it Achilles tendinitis. Can I treat this the same way?" asks about the tendinitis."""
    scope = Scope.load(reader)
    named = ("I have pain at the back of the heel as well, on the tendon, and last week the doctor called it "
             "achilles tendinitis after a scan. Can I treat this in the same way as the other heel?")
    assert scope.pointed_at(reader.read(named)) != []
    thought = ("the podiatrist thinks i have bursitis at the back of the heel, on top of the pf i had last year. "
               "the massage sorted the pf out nicely. wondering if the same would work for this one.")
    assert scope.pointed_at(reader.read(thought)) == [
        "other foot and ankle conditions (such as gout, bunions, heel spurs or Achilles problems)"]


@pytest.mark.parametrize("text, topic", [
    ("the spa near me has reflexology for plantar fasciitis on the menu. does it really help or is it just "
     "for relaxing?", "techniques.reflexology"),
    ("my gym offers deep tissue, trigger point and gua sha. which of these is worth it for pf?", "techniques"),
    ("is acupuncture any better than reflexology for this?", "out_of_scope"),
    ("my massage therapist spends the whole hour on my calves, not my heel. is there any reason for that?",
     "home_massage.calves"),
    ("my physio does dry needling in my calves. is that worth it?", "out_of_scope"),
    # the treatments a question leaves out: it asks for what helps
    ("how can i treat it without surgery or injections?", "massage_benefits"),
    ("what can i do for it apart from cortisone?", "massage_benefits"),
    ("what other treatments are there apart from massage?", "out_of_scope"),
])
def test_the_guides_own_techniques_are_not_other_treatments(answerer, text: str, topic: str) -> None:
    """A question taken for "other treatments" that names or points back at the guide's techniques gets
    their passage; another treatment named (acupuncture), or none, gets the honest "not covered"."""
    from actions.answers import Understood

    reply = answerer.reply(Understood("ask_other_treatments", 0.8, (("ask_other_treatments", 0.8),)), text)
    assert reply.topic == topic


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["story"].update(preface="Here is the closest part."), r"'story.preface' is missing or has no \{topic\}"),
    (lambda d: d["story"].update(greetings=["help"]), r"story.greetings must be smalltalk intents other than help"),
    (lambda d: d["story"].update(thanks_for_help_given=[]), r"story.thanks_for_help_given: expected a non-empty list"),
    (lambda d: d["story"].update(smalltalk_min_words=0), r"story.smalltalk_min_words must be a whole number"),
    (lambda d: d.pop("caution_need"), r"caution_need must name a need"),
    (lambda d: d["story"].pop("default_need"), r"story.default_need must name a need"),
])
def test_answering_settings_problems_are_named(tmp_path: Path, mutate, message: str) -> None:
    from actions.answers import ANSWERING_FILE, AnsweringSettings

    data = yaml.safe_load(ANSWERING_FILE.read_text())
    mutate(data)
    path = tmp_path / "answering.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(KnowledgeError, match=r"answering\.yml: " + message):
        AnsweringSettings.load(path)


@pytest.mark.parametrize("text, subjects", [
    ("does deep tissue actually help pf or is it more for back and shoulder knots?", []),
    ("my cousin uses a claw tool on her thighs. does it work on the foot or is it more of a cellulite thing?", []),
    ("is reflexology real for heels or is that just a fad with an influencer's promo code?", []),
    ("is fascia blasting any good for cellulite?", ["cellulite or cosmetic uses of fascia tools"]),
    ("does deep tissue help with back pain too?", ["problems in other parts of the body (such as the knees, hips or back)"]),
])
def test_the_other_answer_of_an_either_or_question_is_not_asked(reader: Reader, text: str, subjects) -> None:
    assert Scope.load(reader).uncovered(reader.read(text)) == subjects


@pytest.mark.parametrize("text, uncovered, excluded", [
    ("kindly suggest some treatment without tablets which i can do at home", [],
     ["medicines, painkillers, creams or supplements"]),
    ("i really don't want to give up running, should i keep going?",
     ["whether to keep running, training or playing sport through it"], []),
    ("how do i get rid of a heel spur without surgery?",
     ["other foot and ankle conditions (such as gout, bunions, heel spurs or Achilles problems)"], ["surgery"]),
    ("what can i do for my heel that isn't tablets or injections?", [],
     ["medicines, painkillers, creams or supplements", "injections (such as cortisone or PRP)"]),
    ("pf help pls, nothing with painkillers", [], ["medicines, painkillers, creams or supplements"]),
    ("what can i do for it myself that isn't another jab?", [], ["injections (such as cortisone or PRP)"]),
])
def test_a_subject_the_question_leaves_out_is_not_asked(reader: Reader, text: str, uncovered, excluded) -> None:
    scope = Scope.load(reader)
    message = reader.read(text)
    assert scope.uncovered(message) == uncovered
    assert scope.excluded(message) == excluded


@pytest.mark.parametrize("text", [
    "the gp mentioned cortisone, but what i want to know is whether massage can sort it first",
    "my podiatrist suggested custom insoles, but before deciding i'd like to know how massage helps",
])
def test_what_is_named_before_the_question_proper_is_not_asked(reader: Reader, text: str) -> None:
    assert Scope.load(reader).uncovered(reader.read(text)) == []


@pytest.mark.parametrize("intent, text, topic", [
    # the untreated-risks FAQ answers "can it cause knee pain?"; a knee problem of its own it does not
    ("ask_untreated_risks", "can plantar fasciitis cause knee or back pain?", "faq.untreated_risks"),
    ("ask_relief", "my knee pain on the stairs is the real problem, what can i do about it?", "out_of_scope"),
    # massage against what insoles do is the guide's answer about massage; which insoles to buy is not
    ("ask_how_massage_helps", "does massage do something my insoles don't?", "massage_benefits"),
    ("ask_other_treatments", "which insoles should i buy?", "out_of_scope"),
    # what the person already does, told inside the question, is not what is asked
    ("ask_prognosis", "i've been doing the calf stretches and rolling my foot every night. how long does it "
                      "usually take to settle?", "recovery_outlook"),
    ("ask_other_treatments", "which fascia tool should i buy, the cheap one or the branded one?", "out_of_scope"),
])
def test_a_subject_the_need_answers_or_the_person_already_does_is_not_declined(
        answerer, intent: str, text: str, topic: str) -> None:
    from actions.answers import Understood

    reply = answerer.reply(Understood(intent, 0.8, ((intent, 0.8),)), text)
    assert reply.topic == topic


def test_answered_by_must_be_a_list_of_needs(tmp_path: Path, reader: Reader) -> None:
    groups = {**SMALL_SCOPE["uncovered"], "surgery": {**SMALL_SCOPE["uncovered"]["surgery"], "answered_by": "ask_relief"}}
    with pytest.raises(KnowledgeError, match=re.escape("surgery.answered_by")):
        Scope.load(reader, write_scope(tmp_path, {**SMALL_SCOPE, "uncovered": groups}))


def test_which_massage_tool_to_buy_is_named_as_not_covered(reader: Reader) -> None:
    assert Scope.load(reader).uncovered(reader.read("which massage gun should i buy for my feet?")) == [
        "prices, buying, delivery or refunds"]


@pytest.mark.parametrize("text, uncovered", [
    # injections named again as "the shots" in the question, after a story that only mentions them
    ("my podiatrist keeps mentioning steroids. after a year of this i'm tempted. do the shots actually work "
     "long term?", ["injections (such as cortisone or PRP)"]),
    ("is a shot in the heel worth it if nothing else has worked?", ["injections (such as cortisone or PRP)"]),
    # ... not giving something a go
    ("everyone says rolling a frozen bottle is worth a shot. does massage do more than that?", []),
])
def test_injections_named_as_shots_are_not_covered(reader: Reader, text: str, uncovered) -> None:
    assert Scope.load(reader).uncovered(reader.read(text)) == uncovered


@pytest.mark.parametrize("text, uncovered", [
    ("how much is a course of sessions for heel pain?", ["prices, buying, delivery or refunds"]),
    ("how much for the fascia tool and do you post to ireland?", ["prices, buying, delivery or refunds"]),
    # how much to do or how firmly is the routine, not a price
    ("how much pressure should i use on my sole?", []),
    ("how much should i massage each day?", []),
])
def test_what_something_costs_is_not_covered(reader: Reader, text: str, uncovered) -> None:
    assert Scope.load(reader).uncovered(reader.read(text)) == uncovered


def test_a_condition_the_person_takes_theirs_for_is_what_a_pointing_question_asks_about(reader: Reader) -> None:
    """"I think mine is Achilles tendinitis ... does the same massage work for that?" asks about Achilles
    tendinitis, which the guide does not cover."""
    text = ("i'm 50 and walk a lot for work. i think mine is a heel spur rather than pf, my dad had one too. "
            "would the massage in the guide help that?")
    message = reader.read(text)
    assert Scope.load(reader).pointed_at(message) == [
        "other foot and ankle conditions (such as gout, bunions, heel spurs or Achilles problems)"]
