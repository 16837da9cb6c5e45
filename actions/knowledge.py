"""What the bot knows: the guide's passages by topic id, and the entity vocabulary.

This is the one module that reads the guide's content (data/guide/passages.yml) and the entity patterns
(data/spacy/entity_patterns.yml). Everything is validated when it is loaded, so a malformed file stops the
action server at start with a message that names the file and the problem, instead of failing on a user.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

import yaml

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import PhraseMatcher
    from spacy.tokens import Doc

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
PASSAGES_FILE = DATA_DIR / "guide" / "passages.yml"
TOPICS_FILE = DATA_DIR / "guide" / "topics.yml"
PATTERNS_FILE = DATA_DIR / "spacy" / "entity_patterns.yml"
RETRIEVAL_FILE = DATA_DIR / "guide" / "retrieval.yml"
SUGGESTIONS_FILE = DATA_DIR / "guide" / "suggestions.yml"
SCOPE_FILE = DATA_DIR / "guide" / "scope.yml"
NLU_DIR = DATA_DIR / "nlu"

REQUIRED_TOPIC_FIELDS = ("heading", "label", "intent", "passage")


class KnowledgeError(ValueError):
    """A content file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class Topic:
    """One passage of the guide, addressed by its topic id (e.g. ``causes.footwear``)."""

    id: str
    heading: str
    label: str
    intent: str
    passage: str

    @property
    def parent_id(self) -> Optional[str]:
        """The broader topic (``causes`` for ``causes.footwear``), or None for a top-level topic."""
        return self.id.rsplit(".", 1)[0] if "." in self.id else None


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a KnowledgeError that names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found") from None
    except OSError as error:
        raise KnowledgeError(f"{path}: cannot be read ({error})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{path}: is not valid YAML ({error})") from None


def read_topic_ids(topics_file: Path = TOPICS_FILE) -> List[str]:
    """The guide's topic ids as topics.yml lists them (the contract for the `topic` slot)."""
    data = read_yaml(topics_file)
    if not isinstance(data, dict) or not isinstance(data.get("guide_topics"), dict):
        raise KnowledgeError(f"{topics_file}: expected a mapping under 'guide_topics'")
    return list(data["guide_topics"])


class Guide:
    """The guide's passages, looked up by topic id or by the intent that asks for them."""

    def __init__(self, topics: Mapping[str, Topic]) -> None:
        self.topics: Dict[str, Topic] = dict(topics)
        self._by_intent = {topic.intent: topic for topic in self.topics.values()}

    @classmethod
    def load(cls, passages_file: Path = PASSAGES_FILE, topics_file: Path = TOPICS_FILE) -> "Guide":
        """Load and validate the passages against the topic ids of topics.yml."""
        data = read_yaml(passages_file)
        if not isinstance(data, dict) or not isinstance(data.get("topics"), dict):
            raise KnowledgeError(f"{passages_file}: expected a mapping under 'topics'")
        topics: Dict[str, Topic] = {}
        intents: Dict[str, str] = {}
        for topic_id, entry in data["topics"].items():
            where = f"{passages_file}: topic '{topic_id}'"
            if not isinstance(entry, dict):
                raise KnowledgeError(f"{where}: expected a mapping with {', '.join(REQUIRED_TOPIC_FIELDS)}")
            for field in REQUIRED_TOPIC_FIELDS:
                value = entry.get(field)
                if not isinstance(value, str) or not value.strip():
                    raise KnowledgeError(f"{where}: '{field}' is missing or empty")
            intent = entry["intent"].strip()
            if intent in intents:
                raise KnowledgeError(f"{where}: intent '{intent}' is already used by topic '{intents[intent]}'")
            intents[intent] = topic_id
            topics[topic_id] = Topic(
                id=str(topic_id),
                heading=entry["heading"].strip(),
                label=entry["label"].strip(),
                intent=intent,
                passage=entry["passage"].strip(),
            )
        expected = read_topic_ids(topics_file)
        missing = [topic_id for topic_id in expected if topic_id not in topics]
        if missing:
            raise KnowledgeError(f"{passages_file}: no passage for topic(s) {', '.join(missing)} of {topics_file}")
        unknown = [t for t in topics if t not in expected and t.split(".", 1)[0] not in expected]
        if unknown:
            raise KnowledgeError(f"{passages_file}: topic(s) {', '.join(unknown)} are not in {topics_file}")
        logger.info("Loaded %d guide topics from %s", len(topics), passages_file)
        return cls(topics)

    def get(self, topic_id: str) -> Topic:
        """The topic with this id; KeyError names the id if there is none."""
        return self.topics[topic_id]

    def for_intent(self, intent: Optional[str]) -> Optional[Topic]:
        """The topic that an NLU intent asks for, or None for intents that are not about the guide."""
        return self._by_intent.get(intent or "")

    def children(self, topic_id: str) -> List[Topic]:
        """The sub-topics directly below a topic, in the guide's order."""
        return [topic for topic in self.topics.values() if topic.parent_id == topic_id]

    def top_level(self) -> List[Topic]:
        """The topics no other topic contains, in the guide's order (what the bot offers when it cannot help).

        The FAQs (faq.*) have no passage of their own above them, so each of them is listed.
        """
        return [topic for topic in self.topics.values() if topic.parent_id not in self.topics]

    @property
    def intents(self) -> List[str]:
        """Every intent that asks for a passage of the guide."""
        return list(self._by_intent)


def normalise_phrase(text: str) -> str:
    """Lower-case and fold white space, the way the entity_ruler matches phrases."""
    return re.sub(r"\s+", " ", text.strip().lower())


class EntityVocabulary:
    """Maps what the entity_ruler found (e.g. "MFR") to its canonical value (``myofascial_release``).

    It reads the same patterns file the spaCy pipeline is built from, so the synonyms live in one place.
    """

    def __init__(self, entities: Mapping[str, Mapping[str, Iterable[str]]]) -> None:
        self.values: Dict[str, List[str]] = {label: list(values) for label, values in entities.items()}
        self._canonical: Dict[tuple, str] = {}
        for label, values in entities.items():
            for value, phrases in values.items():
                self._canonical[(label, normalise_phrase(value.replace("_", " ")))] = value
                for phrase in phrases:
                    self._canonical[(label, normalise_phrase(str(phrase)))] = value

    @classmethod
    def load(cls, patterns_file: Path = PATTERNS_FILE) -> "EntityVocabulary":
        """Load and validate label -> value -> phrases."""
        data = read_yaml(patterns_file)
        entities = data.get("entities") if isinstance(data, dict) else None
        if not isinstance(entities, dict) or not entities:
            raise KnowledgeError(f"{patterns_file}: expected a non-empty mapping under 'entities'")
        for label, values in entities.items():
            if not isinstance(values, dict) or not values:
                raise KnowledgeError(f"{patterns_file}: entity '{label}' needs values with phrases")
            for value, phrases in values.items():
                if not isinstance(phrases, list) or not phrases:
                    raise KnowledgeError(f"{patterns_file}: {label}.{value} needs a non-empty list of phrases")
        return cls(entities)

    def canonical(self, label: str, text: Any) -> Optional[str]:
        """The canonical value for an extracted entity, or None if the text is not in the vocabulary."""
        if not isinstance(text, str):
            return None
        return self._canonical.get((label, normalise_phrase(text)))


def technique_topic_id(technique: str) -> str:
    """The guide topic of a technique entity value (by convention its suffix)."""
    return f"techniques.{technique}"


def load_lemmatizer() -> "Language":
    """Blank English with the lookup lemmatizer: the NLU pipeline's lemmas, without a downloaded model."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


# The channels refuse messages over 2,000 characters (by default); this bounds the parse of any text.
MAX_PARSED_CHARS = 5000


def lemma_doc(nlp: "Language", text: str) -> "Doc":
    """A message parsed the one way the guide's matchers and retrieval read it: lower case, bounded."""
    return nlp(text.lower()[:MAX_PARSED_CHARS])


def lemma_matcher(nlp: "Language", phrases_by_key: Mapping[str, Iterable[str]]) -> "PhraseMatcher":
    """A matcher that finds each key's phrases by lemma ("injections" matches "injection"), lower case."""
    from spacy.matcher import PhraseMatcher

    matcher = PhraseMatcher(nlp.vocab, attr="LEMMA")
    for key, phrases in phrases_by_key.items():
        docs = [nlp(str(phrase).lower()) for phrase in phrases]
        if docs:
            matcher.add(key, docs)
    return matcher


@dataclass(frozen=True)
class Scope:
    """What the guide does not cover (data/guide/scope.yml): subjects people ask about with heel pain,
    such as injections or insoles, that no passage answers. A message about one of them gets the honest
    answer instead of a loosely related passage."""

    names: Mapping[str, str]
    matcher: Any
    nlp: Any
    min_confidence: float

    @classmethod
    def load(cls, settings_file: Path = SCOPE_FILE, nlp: Optional["Language"] = None) -> "Scope":
        data = read_yaml(settings_file)
        groups = data.get("uncovered") if isinstance(data, dict) else None
        if not isinstance(groups, dict) or not groups:
            raise KnowledgeError(f"{settings_file}: expected a non-empty mapping under 'uncovered'")
        for key, group in groups.items():
            if not isinstance(group, dict) or not group.get("name") or not group.get("phrases"):
                raise KnowledgeError(f"{settings_file}: subject '{key}' needs a 'name' and 'phrases'")
        confidence = data.get("min_confidence")
        if not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
            raise KnowledgeError(f"{settings_file}: 'min_confidence' must be a number from 0 to 1")
        nlp = nlp or load_lemmatizer()
        matcher = lemma_matcher(nlp, {key: group["phrases"] for key, group in groups.items()})
        return cls({key: str(group["name"]) for key, group in groups.items()}, matcher, nlp, float(confidence))

    def uncovered(self, text: Optional[str]) -> List[str]:
        """The names of the uncovered subjects the message mentions, in the order they appear."""
        if not text or not text.strip():
            return []
        doc = lemma_doc(self.nlp, text)
        keys = [self.nlp.vocab.strings[match_id] for match_id, _, _ in sorted(self.matcher(doc), key=lambda m: m[1])]
        return [self.names[key] for key in dict.fromkeys(keys)]

    def outside(self, text: Optional[str], confidence: float) -> List[str]:
        """The uncovered subjects of a message the classifier is not sure is about a guide topic: for
        these the honest answer beats a loosely related passage. A confident intent keeps its answer."""
        return self.uncovered(text) if confidence < self.min_confidence else []


@dataclass(frozen=True)
class Suggestions:
    """Follow-up questions offered after each answer, and the topic "tell me more" goes on to."""

    start: Tuple[str, ...]
    after: Dict[str, Tuple[str, ...]]

    @classmethod
    def load(cls, guide: Guide, settings_file: Path = SUGGESTIONS_FILE) -> "Suggestions":
        """Load the suggestions and check that every topic they name exists and has some."""
        data = read_yaml(settings_file)
        if not isinstance(data, dict) or not isinstance(data.get("after"), dict) or not data.get("start"):
            raise KnowledgeError(f"{settings_file}: expected 'start' and a mapping under 'after'")
        after = {str(k): tuple(v or ()) for k, v in data["after"].items()}
        named = list(data["start"]) + [t for v in after.values() for t in v]
        unknown = [t for t in dict.fromkeys(named) if t not in guide.topics]
        if unknown:
            raise KnowledgeError(f"{settings_file}: unknown topic(s) {', '.join(unknown)}")
        missing = [t for t in guide.topics if not after.get(t)]
        if missing:
            raise KnowledgeError(f"{settings_file}: no suggestions after topic(s) {', '.join(missing)}")
        return cls(tuple(data["start"]), after)

    def for_topic(self, topic_id: Optional[str]) -> Tuple[str, ...]:
        """What to suggest after an answer about this topic (the starting set for anything else)."""
        return self.after.get(topic_id or "", self.start)

    def next_topic(self, topic_id: Optional[str]) -> str:
        """What "tell me more" answers after this topic."""
        return self.for_topic(topic_id)[0]


@dataclass(frozen=True)
class Steering:
    """How entities redirect an answer to a more specific passage (data/guide/retrieval.yml: steering)."""

    technique_overrides: Tuple[str, ...]
    condition_topics: Dict[str, Dict[str, str]]

    @classmethod
    def load(cls, guide: Guide, settings_file: Path = RETRIEVAL_FILE) -> "Steering":
        """Load the rules and check that every topic they name exists."""
        data = read_yaml(settings_file)
        steering = data.get("steering") if isinstance(data, dict) else None
        if not isinstance(steering, dict):
            raise KnowledgeError(f"{settings_file}: expected a mapping under 'steering'")
        overrides = tuple(steering.get("technique_overrides") or ())
        conditions = steering.get("condition_topics") or {}
        named = list(overrides) + list(conditions) + [t for m in conditions.values() for t in m.values()]
        unknown = [t for t in named if t not in guide.topics]
        if unknown:
            raise KnowledgeError(f"{settings_file}: steering names unknown topic(s) {', '.join(unknown)}")
        return cls(overrides, {k: dict(v) for k, v in conditions.items()})

    def steer(self, topic_id: str, techniques: List[str], conditions: List[str]) -> str:
        """The topic to answer, given the entities the user named (the original topic if none applies)."""
        if len(techniques) == 1 and topic_id in self.technique_overrides:
            return technique_topic_id(techniques[0])
        for condition in conditions:
            if condition in self.condition_topics.get(topic_id, {}):
                return self.condition_topics[topic_id][condition]
        return topic_id


class PassageRetriever:
    """Ranks the guide's passages for a free-text question (TF-IDF over lemmas, cosine similarity).

    It serves the messages that no intent matches with confidence: the best passage is answered only when
    its score clears the threshold kept in data/guide/retrieval.yml.
    """

    def __init__(self, guide: Guide, threshold: float, extra_stop_words: Iterable[str] = (),
                 nlp: Optional["Language"] = None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.guide = guide
        self.threshold = threshold
        self.nlp = nlp or load_lemmatizer()
        self.stop_words = set(self.nlp.Defaults.stop_words) | {w.lower() for w in extra_stop_words}
        self.topic_ids = list(guide.topics)
        documents = [self._document(guide.get(topic_id)) for topic_id in self.topic_ids]
        self.vectorizer = TfidfVectorizer(analyzer=self.terms, sublinear_tf=True)
        self.matrix = self.vectorizer.fit_transform(documents)

    @staticmethod
    def _document(topic: Topic) -> str:
        return f"{topic.label}. {topic.heading}. {topic.passage}"

    @classmethod
    def load(cls, guide: Guide, settings_file: Path = RETRIEVAL_FILE, nlp: Optional["Language"] = None) -> "PassageRetriever":
        """Build the index with the settings of data/guide/retrieval.yml."""
        data = read_yaml(settings_file)
        threshold = data.get("threshold") if isinstance(data, dict) else None
        if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise KnowledgeError(f"{settings_file}: 'threshold' must be a number between 0 and 1")
        return cls(guide, float(threshold), data.get("extra_stop_words") or (), nlp)

    def terms(self, text: str) -> List[str]:
        """Lemmas without stop words and punctuation, plus adjacent pairs ("flat foot", "calf muscle")."""
        lemmas = [
            token.lemma_.lower() for token in lemma_doc(self.nlp, text)
            if token.is_alpha and token.lower_ not in self.stop_words and token.lemma_.lower() not in self.stop_words
        ]
        return lemmas + [f"{a} {b}" for a, b in zip(lemmas, lemmas[1:])]

    def rank(self, text: Optional[str]) -> List[Tuple[str, float]]:
        """(topic id, score) for every passage, best first; all scores 0 for an empty or unknown text."""
        if not text or not text.strip():
            return [(topic_id, 0.0) for topic_id in self.topic_ids]
        scores = (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return [(self.topic_ids[i], float(scores[i])) for i in order]

    def best(self, text: Optional[str]) -> Optional[Tuple[Topic, float]]:
        """The best passage if it clears the threshold, else None (the question is out of the guide's scope)."""
        topic_id, score = self.rank(text)[0]
        return (self.guide.get(topic_id), score) if score >= self.threshold else None


def load_nlu_examples(folder: Path = NLU_DIR) -> List[Tuple[str, str]]:
    """(text, intent) pairs from the Rasa YAML training files."""
    pairs = []
    for path in sorted(folder.glob("*.yml")):
        data = read_yaml(path)
        for block in (data or {}).get("nlu", []) if isinstance(data, dict) else []:
            if isinstance(block, dict) and "intent" in block and isinstance(block.get("examples"), str):
                for line in block["examples"].splitlines():
                    line = line.strip()
                    if line.startswith("- "):
                        pairs.append((line[2:].strip(), block["intent"]))
    return pairs


class TwoPartQuestions:
    """Finds the second question in messages like "what causes it and how do I massage it?".

    Each clause that asks something is classified on its own (TF-IDF over character n-grams and words,
    logistic regression, trained at start on data/nlu); topics that clear the confidence bar and are not
    the main answer's family are returned, in the order the user asked them.
    """

    def __init__(self, guide: Guide, examples: List[Tuple[str, str]], min_confidence: float, max_parts: int,
                 question_words: Iterable[str], separators: Iterable[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        self.guide = guide
        self.min_confidence = min_confidence
        self.max_parts = max_parts
        self.question_words = {w.lower() for w in question_words}
        self.splitter = re.compile("|".join(re.escape(s) for s in separators), re.IGNORECASE)
        texts = [text.lower() for text, _ in examples]
        labels = [self._label(intent) for _, intent in examples]
        self.model = make_pipeline(
            make_union(
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
            ),
            LogisticRegression(max_iter=1000, C=10),
        ).fit(texts, labels)

    def _label(self, intent: str) -> str:
        topic = self.guide.for_intent(intent)
        return topic.id if topic else "other"

    @classmethod
    def load(cls, guide: Guide, settings_file: Path = RETRIEVAL_FILE, nlu_dir: Path = NLU_DIR) -> "TwoPartQuestions":
        data = read_yaml(settings_file)
        settings = data.get("two_part") if isinstance(data, dict) else None
        if not isinstance(settings, dict):
            raise KnowledgeError(f"{settings_file}: expected a mapping under 'two_part'")
        examples = load_nlu_examples(nlu_dir)
        if not examples:
            raise KnowledgeError(f"{nlu_dir}: no training examples found")
        return cls(guide, examples, float(settings.get("min_confidence", 0.5)), int(settings.get("max_parts", 2)),
                   settings.get("question_words") or (), settings.get("separators") or ("?", " and "))

    def clauses(self, text: Optional[str]) -> List[str]:
        """The parts of a message that ask something."""
        parts = [" ".join(p.split()) for p in self.splitter.split(text or "")]
        asking = []
        for part in parts:
            words = part.lower().split()
            if len(words) >= 2 and words[0].strip(",.!") in self.question_words:
                asking.append(part)
        return asking

    def extra_topics(self, text: Optional[str], main_topic: str) -> List[str]:
        """Topics asked about besides the main one (empty for single questions)."""
        clauses = self.clauses(text)
        if len(clauses) < 2:
            return []
        found: List[str] = []
        probabilities = self.model.predict_proba([c.lower() for c in clauses])
        for row in probabilities:
            best = int(row.argmax())
            topic_id = self.model.classes_[best]
            if row[best] < self.min_confidence or topic_id == "other":
                continue
            related = topic_id == main_topic or topic_id.startswith(main_topic + ".") or main_topic.startswith(topic_id + ".")
            if not related and topic_id not in found:
                found.append(topic_id)
        return found[: self.max_parts - 1]
