"""The guide's content: complete, faithful to the guide, and loaded with clear errors."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from actions.knowledge import (
    PASSAGES_FILE,
    PATTERNS_FILE,
    PROJECT_ROOT,
    TOPICS_FILE,
    EntityVocabulary,
    Guide,
    KnowledgeError,
    Scope,
    read_topic_ids,
    technique_topic_id,
)

GUIDE_TEXT_FILE = PROJECT_ROOT / "data" / "guide" / "plantar-fasciitis-massage-guide.txt"
SHARED_GUIDE_DIR = PROJECT_ROOT.parent / "shared" / "guide"


@pytest.fixture(scope="module")
def guide() -> Guide:
    return Guide.load()


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


def test_lookup_by_intent_and_family(guide: Guide) -> None:
    assert guide.for_intent("ask_cause_footwear").id == "causes.footwear"
    assert guide.for_intent("greet") is None
    assert guide.for_intent(None) is None
    assert [t.id for t in guide.children("causes")] == [
        "causes.overuse", "causes.footwear", "causes.biomechanics", "causes.other"]
    assert guide.get("causes.other").parent_id == "causes"
    top = [t.id for t in guide.top_level()]
    assert "what_is" in top and "faq.time_to_results" in top
    assert "causes" in top and "causes.footwear" not in top


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
    (lambda t: t.update(surgery=dict(t["safety"], intent="ask_surgery")), r"topic\(s\) surgery are not in"),
    (lambda t: t["symptoms"].update(intent="ask_what_is"), r"intent 'ask_what_is' is already used"),
])
def test_malformed_passages_are_reported_with_file_and_problem(tmp_path: Path, mutate, message: str) -> None:
    data = yaml.safe_load(PASSAGES_FILE.read_text())
    mutate(data["topics"])
    path = write(tmp_path, "passages.yml", yaml.safe_dump(data))
    with pytest.raises(KnowledgeError, match=r"passages\.yml: .*" + message):
        Guide.load(path)


def test_entity_synonyms_map_to_canonical_values() -> None:
    vocabulary = EntityVocabulary.load()
    assert vocabulary.canonical("technique", "MFR") == "myofascial_release"
    assert vocabulary.canonical("technique", "Gwa  Sha") == "gua_sha"
    assert vocabulary.canonical("technique", "scraping") == "gua_sha"
    assert vocabulary.canonical("body_part", "bottom of my foot") == "arch"
    assert vocabulary.canonical("technique", "acupuncture") is None
    assert vocabulary.canonical("technique", None) is None


def test_every_technique_has_a_topic(guide: Guide) -> None:
    vocabulary = EntityVocabulary.load()
    techniques = vocabulary.values["technique"]
    assert len(techniques) == 6
    for technique in techniques:
        assert technique_topic_id(technique) in guide.topics


def test_malformed_patterns_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "patterns.yml", "entities:\n  technique:\n    gua_sha: []\n")
    with pytest.raises(KnowledgeError, match=r"patterns\.yml: technique\.gua_sha needs a non-empty list"):
        EntityVocabulary.load(path)
    assert PATTERNS_FILE.exists()


@pytest.fixture(scope="module")
def retriever(guide: Guide):
    from actions.knowledge import PassageRetriever

    return PassageRetriever.load(guide)


@pytest.mark.parametrize("text, topic_id", [
    ("do flip flops cause it", "causes.footwear"),
    ("how long before it works", "faq.time_to_results"),
    ("will massage improve circulation and blood flow", "massage_benefits.circulation"),
])
def test_retrieval_ranks_the_right_passage_first(retriever, text: str, topic_id: str) -> None:
    assert retriever.rank(text)[0][0] == topic_id
    assert retriever.best(text)[0].id == topic_id


@pytest.mark.parametrize("text", ["what dose of ibuprofen", "weather in london", "", None, "!!!"])
def test_retrieval_keeps_unrelated_text_out(retriever, text) -> None:
    assert retriever.best(text) is None


def test_retrieval_threshold_is_validated(tmp_path: Path, guide: Guide) -> None:
    from actions.knowledge import PassageRetriever

    path = write(tmp_path, "retrieval.yml", "threshold: 2\n")
    with pytest.raises(KnowledgeError, match=r"retrieval\.yml: 'threshold' must be a number between 0 and 1"):
        PassageRetriever.load(guide, path)


def test_steering_sends_techniques_and_conditions_to_specific_passages(guide: Guide) -> None:
    from actions.knowledge import Steering

    steering = Steering.load(guide)
    assert steering.steer("home_massage", ["myofascial_release"], []) == "techniques.myofascial_release"
    assert steering.steer("techniques.fascia_blasting", ["gua_sha"], []) == "techniques.gua_sha"
    assert steering.steer("safety", ["gua_sha"], []) == "safety"  # safety is more specific than a technique
    assert steering.steer("home_massage", ["gua_sha", "reflexology"], []) == "home_massage"  # ambiguous
    assert steering.steer("safety", [], ["diabetes"]) == "faq.chronic_conditions"
    assert steering.steer("safety", [], ["pregnancy"]) == "safety"


def test_steering_rejects_unknown_topics(tmp_path: Path, guide: Guide) -> None:
    from actions.knowledge import Steering

    path = write(tmp_path, "retrieval.yml", "steering:\n  technique_overrides: [massage]\n")
    with pytest.raises(KnowledgeError, match=r"unknown topic\(s\) massage"):
        Steering.load(guide, path)


def test_every_topic_has_suggestions_and_unknown_ones_are_rejected(tmp_path: Path, guide: Guide) -> None:
    from actions.knowledge import Suggestions

    suggestions = Suggestions.load(guide)
    for topic_id in guide.topics:
        assert 2 <= len(suggestions.for_topic(topic_id)) <= 3, topic_id
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
    },
}


def test_scope_finds_uncovered_subjects_by_lemma_in_order(tmp_path: Path) -> None:
    scope = Scope.load(write_scope(tmp_path, SMALL_SCOPE))
    assert scope.uncovered("Are ORTHOTICS better than cortisone injections?") == ["insoles", "injections"]
    assert scope.uncovered("two steroid shots and an injection later") == ["injections"]
    assert scope.uncovered("how do i massage my arch") == []
    assert scope.uncovered("") == [] and scope.uncovered(None) == []


def test_scope_leaves_confident_intents_alone(tmp_path: Path) -> None:
    scope = Scope.load(write_scope(tmp_path, SMALL_SCOPE))
    text = "i had a cortisone injection last year, what causes plantar fasciitis"
    assert scope.outside(text, confidence=0.9) == []
    assert scope.outside(text, confidence=0.3) == ["injections"]


@pytest.mark.parametrize("data, message", [
    ({"min_confidence": 0.5}, "non-empty mapping under 'uncovered'"),
    ({"min_confidence": 0.5, "uncovered": {"x": {"phrases": ["a"]}}}, "subject 'x' needs a 'name' and 'phrases'"),
    ({"min_confidence": 1.5, "uncovered": {"x": {"name": "x", "phrases": ["a"]}}}, "'min_confidence' must be"),
])
def test_malformed_scope_is_reported_with_file_and_problem(tmp_path: Path, data, message: str) -> None:
    path = write_scope(tmp_path, data)
    with pytest.raises(KnowledgeError, match=re.escape(message)) as error:
        Scope.load(path)
    assert str(path) in str(error.value)


def test_no_uncovered_phrase_is_a_topic_the_guide_covers() -> None:
    """A phrase that the guide's own text uses is probably in scope: the scope file must not hide it."""
    scope = Scope.load()
    guide_text = " ".join(GUIDE_TEXT_FILE.read_text(encoding="utf-8").lower().split())
    assert scope.uncovered(guide_text) == []
