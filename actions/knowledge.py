"""What the bot knows: the guide's passages by topic id, the needs they answer, and what they don't cover.

This is the one module that reads the guide's content (data/guide/). Everything is validated when it is
loaded, so a malformed file stops the action server at start with a message that names the file and the
problem, instead of failing on a user. The steps that look at a message take the `ParsedMessage` of
actions/understanding.py: a message is read once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Tuple

from actions.content import DATA_DIR, PROJECT_ROOT, KnowledgeError, read_yaml, string_list
from actions.understanding import (ParsedMessage, Reader, classifier_text, intent_model, load_model, matches,
                                   quick_to_predict, store_model)

if TYPE_CHECKING:
    from spacy.matcher import PhraseMatcher

logger = logging.getLogger(__name__)

PASSAGES_FILE = DATA_DIR / "guide" / "passages.yml"
TOPICS_FILE = DATA_DIR / "guide" / "topics.yml"
NEEDS_FILE = DATA_DIR / "guide" / "needs.yml"
RETRIEVAL_FILE = DATA_DIR / "guide" / "retrieval.yml"
SUGGESTIONS_FILE = DATA_DIR / "guide" / "suggestions.yml"
SCOPE_FILE = DATA_DIR / "guide" / "scope.yml"
NLU_DIR = DATA_DIR / "nlu"
# Fitted clause classifiers of TwoPartQuestions, one file per training set (build/ is made, never committed).
TWO_PART_CACHE_DIR = PROJECT_ROOT / "build" / "two_part"
TWO_PART_C = 10
TWO_PART_KEPT = 3  # fitted classifiers kept (5-6 MB each): the newest

REQUIRED_TOPIC_FIELDS = ("heading", "label", "passage")
# Buttons ask for a topic by id: "/choose_topic{"guide_topic": "causes.footwear"}" (domain.yml).
CHOOSE_TOPIC_INTENT = "choose_topic"
TOPIC_ENTITY = "guide_topic"
TECHNIQUE = "technique"


@dataclass(frozen=True)
class Topic:
    """One passage of the guide, addressed by its topic id (e.g. ``causes.footwear``)."""

    id: str
    heading: str
    label: str
    passage: str

    @property
    def parent_id(self) -> Optional[str]:
        """The broader topic (``causes`` for ``causes.footwear``), or None for a top-level topic."""
        return self.id.rsplit(".", 1)[0] if "." in self.id else None

    @property
    def payload(self) -> str:
        """What a button that asks for this topic sends (at most 64 bytes, Telegram's limit)."""
        return f'/{CHOOSE_TOPIC_INTENT}{{"{TOPIC_ENTITY}": "{self.id}"}}'


def read_topic_ids(topics_file: Path = TOPICS_FILE) -> List[str]:
    """The guide's topic ids as topics.yml lists them (the contract for the `topic` slot)."""
    data = read_yaml(topics_file)
    if not isinstance(data, dict) or not isinstance(data.get("guide_topics"), dict):
        raise KnowledgeError(f"{topics_file}: expected a mapping under 'guide_topics'")
    return list(data["guide_topics"])


class Guide:
    """The guide's passages, looked up by topic id."""

    def __init__(self, topics: Mapping[str, Topic]) -> None:
        self.topics: Dict[str, Topic] = dict(topics)

    @classmethod
    def load(cls, passages_file: Path = PASSAGES_FILE, topics_file: Path = TOPICS_FILE) -> "Guide":
        """Load and validate the passages against the topic ids of topics.yml."""
        data = read_yaml(passages_file)
        if not isinstance(data, dict) or not isinstance(data.get("topics"), dict):
            raise KnowledgeError(f"{passages_file}: expected a mapping under 'topics'")
        topics: Dict[str, Topic] = {}
        for topic_id, entry in data["topics"].items():
            where = f"{passages_file}: topic '{topic_id}'"
            if not isinstance(entry, dict):
                raise KnowledgeError(f"{where}: expected a mapping with {', '.join(REQUIRED_TOPIC_FIELDS)}")
            for name in REQUIRED_TOPIC_FIELDS:
                value = entry.get(name)
                if not isinstance(value, str) or not value.strip():
                    raise KnowledgeError(f"{where}: '{name}' is missing or empty")
            topics[str(topic_id)] = Topic(str(topic_id), entry["heading"].strip(), entry["label"].strip(),
                                          entry["passage"].strip())
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

    def find(self, topic_id: Optional[str]) -> Optional[Topic]:
        return self.topics.get(topic_id or "")

    def top_level(self) -> List[Topic]:
        """The topics no other topic contains, in the guide's order (what the bot offers when it cannot help).

        The FAQs (faq.*) have no passage of their own above them, so each of them is listed.
        """
        return [topic for topic in self.topics.values() if topic.parent_id not in self.topics]

    def related(self, a: str, b: str) -> bool:
        """Whether two topics are the same or one contains the other."""
        return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def technique_topic_id(technique: str) -> str:
    """The guide topic of a technique entity value (by convention its suffix)."""
    return f"techniques.{technique}"


@dataclass(frozen=True)
class Refinement:
    """A more specific answer to a need, when the question names what it is about."""

    to: str
    answer: Tuple[str, ...]
    phrases_key: Optional[str] = None
    entity: Optional[str] = None
    values: Tuple[str, ...] = ()
    anywhere: bool = False
    alone: bool = False  # applies only when no other `alone` rule of the need applies too
    # words of a question that points back at what the story names ("My mother-in-law does reflexology
    # ... Will it help?"): the entity or the phrases are then looked for in the whole message
    pointed_at_by: FrozenSet[str] = frozenset()


@dataclass(frozen=True)
class Need:
    """What a person wants to know (an NLU intent) and the guide's answer to it."""

    intent: str
    answer: Tuple[str, ...] = ()
    refine: Tuple[Refinement, ...] = ()
    notice: Optional[str] = None
    not_covered: Optional[str] = None
    related: Optional[str] = None
    # the need a question of this one asks for when it only leaves uncovered subjects out ("how do I treat
    # it without surgery or injections?" is not about other treatments but about what helps)
    when_leaving_out: Optional[str] = None

    @property
    def covered(self) -> bool:
        return self.not_covered is None


@dataclass(frozen=True)
class Answer:
    """The passages that answer a need, main one first, and the safety notice that goes first."""

    topics: Tuple[str, ...]
    notice: Optional[str] = None

    @property
    def topic(self) -> str:
        return self.topics[0]


NOTICES = ("no_diagnosis",)


class Needs:
    """The needs of data/guide/needs.yml: intent -> the guide's answer."""

    def __init__(self, needs: Mapping[str, Need], matcher: "PhraseMatcher", guide: Guide,
                 own_subjects: FrozenSet[str] = frozenset()) -> None:
        self.needs = dict(needs)
        self.matcher = matcher
        self.guide = guide
        self.own_subjects = own_subjects  # words that make a question about massage itself ("is massage worth it?")

    @classmethod
    def load(cls, guide: Guide, reader: Reader, needs_file: Path = NEEDS_FILE) -> "Needs":
        data = read_yaml(needs_file)
        entries = data.get("needs") if isinstance(data, dict) else None
        if not isinstance(entries, dict) or not entries:
            raise KnowledgeError(f"{needs_file}: expected a non-empty mapping under 'needs'")
        needs: Dict[str, Need] = {}
        phrases: Dict[str, Iterable[str]] = {}

        def known(topic_id: Any, where: str) -> str:
            if topic_id not in guide.topics:
                raise KnowledgeError(f"{needs_file}: {where}: unknown topic '{topic_id}'")
            return str(topic_id)

        for intent, entry in entries.items():
            where = f"need '{intent}'"
            if not isinstance(entry, dict):
                raise KnowledgeError(f"{needs_file}: {where}: expected a mapping")
            if bool(entry.get("answer")) == bool(entry.get("not_covered")):
                raise KnowledgeError(f"{needs_file}: {where}: needs either 'answer' or 'not_covered'")
            answer = tuple(known(t, where) for t in entry.get("answer") or ())
            rules = []
            for n, rule in enumerate(entry.get("refine") or ()):
                rule_where = f"{where}, refine rule {n + 1}"
                if not isinstance(rule, dict) or not rule.get("to") or not (rule.get("phrases") or rule.get("entity")):
                    raise KnowledgeError(f"{needs_file}: {rule_where}: needs 'to' and 'phrases' or 'entity'")
                to = str(rule["to"]) if rule["to"] == TECHNIQUE else known(rule["to"], rule_where)
                key = None
                if rule.get("phrases"):
                    key = f"{intent}|{n}"
                    phrases[key] = string_list(rule["phrases"], f"{needs_file}: {rule_where}: phrases")
                pointing = (string_list(rule["pointed_at_by"], f"{needs_file}: {rule_where}: pointed_at_by")
                            if "pointed_at_by" in rule else ())
                rules.append(Refinement(
                    to=to, answer=tuple(known(t, rule_where) for t in rule.get("answer") or ()) or (to,),
                    phrases_key=key, entity=rule.get("entity"), values=tuple(rule.get("values") or ()),
                    anywhere=bool(rule.get("anywhere")), alone=bool(rule.get("alone")), pointed_at_by=frozenset(pointing),
                ))
            notice = entry.get("notice")
            if notice is not None and notice not in NOTICES:
                raise KnowledgeError(f"{needs_file}: {where}: unknown notice '{notice}' (known: {', '.join(NOTICES)})")
            related = entry.get("related")
            needs[str(intent)] = Need(
                intent=str(intent), answer=answer, refine=tuple(rules), notice=notice,
                not_covered=str(entry["not_covered"]) if entry.get("not_covered") else None,
                related=known(related, where) if related else None,
                when_leaving_out=str(entry["when_leaving_out"]) if entry.get("when_leaving_out") else None,
            )
        for need in needs.values():
            other = needs.get(need.when_leaving_out) if need.when_leaving_out else None
            if need.when_leaving_out and (other is None or not other.covered):
                raise KnowledgeError(f"{needs_file}: need '{need.intent}': when_leaving_out must name a need the "
                                     "guide answers")
        own = string_list(data.get("own_subjects"), f"{needs_file}: own_subjects")
        return cls(needs, reader.matcher(phrases), guide, frozenset(own))

    def get(self, intent: Optional[str]) -> Optional[Need]:
        return self.needs.get(intent or "")

    @property
    def intents(self) -> List[str]:
        return list(self.needs)

    def answer(self, need: Need, message: ParsedMessage) -> Answer:
        """The passages that answer this need for this message (refined by what the question names; a
        negation does not change what it is about: "the fascia doesn't get much blood, does massage help?")."""
        everywhere = matches(self.matcher, message)
        found = {key for key, start, _ in everywhere if message.in_question(start)}
        found_anywhere = {key for key, _, _ in everywhere}
        # A refined answer is about what the question names ("how is it different from ordinary foot
        # pain?"), or with `anywhere` what the story tells ("I've had rest, ice and insoles. What else?");
        # the need's notice goes with its own answer (the policy still adds the no-diagnosis notice to any
        # question that asks for a diagnosis).
        def named(rule: Refinement) -> bool:
            return bool(rule.phrases_key) and rule.phrases_key in (found_anywhere if rule.anywhere else found)

        # Rules marked `alone` (one of the four groups of causes a story tells) refine only when just one of
        # them applies: a story that names two groups gets the passage on all of them.
        several = sum(1 for rule in need.refine if rule.alone and named(rule)) > 1
        for rule in need.refine:
            if named(rule) and not (rule.alone and several):
                return Answer(rule.answer)
            if rule.entity:
                refined = self._by_entity(rule, message.values(rule.entity, question_only=not rule.anywhere))
                if refined:
                    return refined
        # Nothing the question names: a question that points back ("Will it help?", "is breaking them up
        # good?") is about what the whole message names, an entity or a phrase, if the need's rule says so.
        # A question that names massage itself is not pointed at a technique of its story ("A friend keeps
        # going on about gua sha. Is massage worth adding, or is it just extra money?": "it" is the massage).
        about_massage = bool(message.asking_words & self.own_subjects)
        for rule in need.refine:
            if not rule.pointed_at_by & message.asking_words:
                continue
            if rule.phrases_key and rule.phrases_key in found_anywhere:
                return Answer(rule.answer)
            refined = (self._by_entity(rule, message.values(rule.entity))
                       if rule.entity and not about_massage else None)
            if refined:
                return refined
        return Answer(need.answer, need.notice)

    @staticmethod
    def _by_entity(rule: Refinement, values: List[str]) -> Optional[Answer]:
        """The rule's answer for these entity values, if they refine it (one technique; a listed value)."""
        if rule.to == TECHNIQUE and len(values) == 1:
            return Answer((technique_topic_id(values[0]),))
        if rule.to != TECHNIQUE and any(v in rule.values for v in values):
            return Answer(rule.answer)
        return None


def phrase_list(value: Any, where: str) -> tuple:
    """A list of phrases in which an item may itself be a list, one level deep: a YAML anchor lets two
    lists share one ("&child_ages [...]" in one, "*child_ages" in the other) instead of copying it."""
    if isinstance(value, list):
        value = [phrase for item in value for phrase in (item if isinstance(item, list) else [item])]
    return string_list(value, where)


@dataclass(frozen=True)
class Scope:
    """What the guide does not cover (data/guide/scope.yml): subjects people ask about with heel pain,
    such as injections or insoles, that no passage answers. A question about one of them gets the honest
    answer instead of a loosely related passage."""

    names: Mapping[str, str]
    matcher: Any
    min_confidence: float
    pointers: FrozenSet[str]
    offers: Any  # a matcher of the words that put a subject forward ("offered", "recommends")
    back_sentences: int = 1  # how many sentences before the question may put it forward
    reach: int = 1000  # at most this many tokens from the word that puts it forward to the subject
    beyond: Any = None  # a matcher of the words that ask past what was named ("what else", "anything further")
    asked_of: Mapping[str, FrozenSet[str]] = field(default_factory=dict)  # subject -> words asking about it
    asked_of_matcher: Any = None  # the phrases that name such a subject in the story
    # subjects that are whom a question is for (a child, a pet): the guide's answers are for an adult's own
    # heel, so such a question is answered as not covered however sure the classifier is of its need
    whole_question: FrozenSet[str] = frozenset()
    either_or: Any = None  # a matcher of the words that offer the other answer ("... or is it more for back knots?")
    excluding: Any = None  # a matcher of the words that leave a subject out ("without surgery or injections")
    excluding_reach: int = 3  # at most this many tokens from such a word to the subject it leaves out
    answered_by: Mapping[str, FrozenSet[str]] = field(default_factory=dict)  # subject name -> needs that answer it

    @classmethod
    def load(cls, reader: Reader, settings_file: Path = SCOPE_FILE) -> "Scope":
        data = read_yaml(settings_file)
        groups = data.get("uncovered") if isinstance(data, dict) else None
        if not isinstance(groups, dict) or not groups:
            raise KnowledgeError(f"{settings_file}: expected a non-empty mapping under 'uncovered'")
        asked_of, named_by, whole_question, answered_by = {}, {}, set(), {}
        for key, group in groups.items():
            if not isinstance(group, dict) or not group.get("name") or not group.get("phrases"):
                raise KnowledgeError(f"{settings_file}: subject '{key}' needs a 'name' and 'phrases'")
            if not isinstance(group.get("whole_question", False), bool):
                raise KnowledgeError(f"{settings_file}: {key}.whole_question must be true or false")
            if group.get("whole_question"):
                whole_question.add(str(group["name"]))
            if "answered_by" in group:
                answered_by[str(group["name"])] = frozenset(
                    string_list(group["answered_by"], f"{settings_file}: {key}.answered_by"))
            if "asked_of" in group:
                entry = group["asked_of"]
                if not isinstance(entry, dict):
                    raise KnowledgeError(f"{settings_file}: {key}.asked_of needs 'words' and 'phrases'")
                asked_of[key] = frozenset(string_list(entry.get("words"), f"{settings_file}: {key}.asked_of.words"))
                named_by[key] = phrase_list(entry.get("phrases"), f"{settings_file}: {key}.asked_of.phrases")
        confidence = data.get("min_confidence")
        if not isinstance(confidence, (int, float)) or not 0 <= confidence <= 1:
            raise KnowledgeError(f"{settings_file}: 'min_confidence' must be a number from 0 to 1")
        matcher = reader.matcher({key: phrase_list(group["phrases"], f"{settings_file}: {key}.phrases")
                                  for key, group in groups.items()})
        back = data.get("pointing_back")
        if not isinstance(back, dict):
            raise KnowledgeError(f"{settings_file}: expected a mapping under 'pointing_back'")
        pointers = string_list(back.get("words"), f"{settings_file}: pointing_back.words")
        offers = reader.matcher({"offer": string_list(back.get("offers"), f"{settings_file}: pointing_back.offers")})
        counts = {}
        for name in ("sentences", "reach"):
            counts[name] = back.get(name)
            if not isinstance(counts[name], int) or isinstance(counts[name], bool) or counts[name] < 1:
                raise KnowledgeError(f"{settings_file}: pointing_back.{name} must be a whole number from 1")
        beyond = reader.matcher({"beyond": string_list(back.get("beyond"), f"{settings_file}: pointing_back.beyond")})
        return cls({key: str(group["name"]) for key, group in groups.items()}, matcher, float(confidence),
                   frozenset(pointers), offers, counts["sentences"], counts["reach"], beyond, asked_of,
                   reader.matcher(named_by) if named_by else None, frozenset(whole_question),
                   reader.matcher({"either_or": string_list(data.get("either_or"), f"{settings_file}: either_or")}),
                   *cls._excluding(reader, data.get("excluding"), settings_file), answered_by)

    @staticmethod
    def _excluding(reader: Reader, entry: Any, settings_file: Path) -> Tuple[Any, int]:
        if not isinstance(entry, dict):
            raise KnowledgeError(f"{settings_file}: expected a mapping under 'excluding'")
        reach = entry.get("reach")
        if not isinstance(reach, int) or isinstance(reach, bool) or reach < 1:
            raise KnowledgeError(f"{settings_file}: excluding.reach must be a whole number from 1")
        return reader.matcher({"excluding": string_list(entry.get("words"), f"{settings_file}: excluding.words")}), reach

    @staticmethod
    def _where(marker: Any, message: ParsedMessage, edge: int) -> List[int]:
        """Where the words of a marker matcher (beyond, either_or, excluding) start (`edge` 1) or end (`edge`
        2, exclusive) in the message; nowhere without a matcher."""
        return [match[edge] for match in message.matched(marker)] if marker is not None else []

    @staticmethod
    def _taken_out(message: ParsedMessage, start: int, marks: List[int], takes_out: Callable[[int, int], bool]) -> bool:
        """Whether the subject at `start` is taken out of the question by a marker at one of `marks` in its
        sentence: the three markers share this shape and differ only in which side of the subject they stand."""
        return any(takes_out(start, mark) and message.same_sentence(start, mark) for mark in marks)

    def _leaving_out(self, message: ParsedMessage) -> Tuple[List[int], Callable[[int, int], bool]]:
        """The last tokens of the words that leave a subject out ("... without surgery"), and the test that
        the subject follows one closely: at most `excluding_reach` tokens after it."""
        lasts = [end - 1 for end in self._where(self.excluding, message, 2)]
        return lasts, lambda start, last: start - self.excluding_reach - 1 <= last < start

    def excluded(self, message: ParsedMessage) -> List[str]:
        """The names of the uncovered subjects the question leaves out ("... without tablets"): what the
        person asks for is something else."""
        lasts, follows = self._leaving_out(message)
        return self._names([match for match in matches(self.matcher, message, asking_only=True)
                            if self._taken_out(message, match[1], lasts, follows)])

    def not_answered_by(self, subjects: Iterable[str], intent: str) -> List[str]:
        """The subjects that the need `intent` does not answer as asked ("can plantar fasciitis cause knee
        pain?" is the untreated-risks FAQ's own question)."""
        return [subject for subject in subjects if intent not in self.answered_by.get(subject, ())]

    def named_anywhere(self, message: ParsedMessage) -> bool:
        """Whether the message names an uncovered subject anywhere, story included (not negated): then a
        question that points back may be about it ("my physio does dry needling in my calves. Is that
        worth it?")."""
        return bool(matches(self.matcher, message, skip_negated=True))

    def declines_whole_question(self, subjects: Iterable[str]) -> bool:
        """Whether one of these uncovered subjects is whom the question is for ("is the massage safe for my
        9 year old?"): then no passage answers it as asked, whatever else it asks."""
        return any(subject in self.whole_question for subject in subjects)

    def uncovered(self, message: ParsedMessage) -> List[str]:
        """The names of the uncovered subjects the question names, in the order they appear. Subjects
        only told in the story ("I had two cortisone shots. What else can I do?") are not the question,
        except a person the question asks about (a subject's `asked_of`: one of its phrases in the story,
        one of its words in the question: "My son is 10 and his heels hurt after football. Can I use my
        massage tool on him?")."""
        found = matches(self.matcher, message, asking_only=True)
        # A sentence that asks past what it has named ("I already wear insoles, but is there anything
        # further I can do?") asks about the rest: what it named is what was tried. The other answer of an
        # either-or question ("does deep tissue help PF, or is it more for back and shoulder knots?") is not
        # what is asked: the question asks whether the guide's subject does it. A subject the question
        # leaves out ("how do I treat it without surgery or injections?") is not asked for.
        past, offered = self._where(self.beyond, message, 1), self._where(self.either_or, message, 1)
        lasts, follows = self._leaving_out(message)
        found = [match for match in found
                 if not self._taken_out(message, match[1], past, lambda start, after: start < after)
                 and not self._taken_out(message, match[1], offered, lambda start, before: before < start)
                 and not self._taken_out(message, match[1], lasts, follows)]
        asked = [key for key, of in self.asked_of.items() if of & message.asking_words]
        if asked and self.asked_of_matcher is not None:
            found = sorted({*found, *((key, start, end) for key, start, end in matches(self.asked_of_matcher, message)
                                      if key in asked)}, key=lambda match: match[1])
        return self._names(found)

    def pointed_at(self, message: ParsedMessage) -> List[str]:
        """The names of the uncovered subjects that the sentences just before the question put forward
        (a few words after one of scope.yml's pointing_back.offers, in its sentence), when the question names
        none itself but points back (pointing_back.words): "My podiatrist offered me a cortisone injection.
        Has anyone had it done?", "My physio says achilles tendinopathy. How do I treat that?". Not when
        the question asks past them ("what else can I do?"). Only a likely reading: "it" may as well be the
        heel ("... keeps telling me to try cortisone. Will it ever go away?"), so the answer uses it only
        when the classifier is unsure."""
        if not message.asking or message.asking[0].start == 0:
            return []
        found = matches(self.matcher, message)  # once: what the question names, and what the story does
        if any(message.in_asking(start) for _, start, _ in found):
            return []
        if not message.asking_words & self.pointers:
            return []
        if any(message.in_asking(start) for start in self._where(self.beyond, message, 1)):
            return []
        question = message.asking[0].start
        start = question
        for _ in range(self.back_sentences):  # back to the start of the sentences that may put it forward
            if start == 0:
                break
            start = message.doc[start - 1].sent.start
        offered = self.offers(message.doc[start:question])
        # What is put forward follows the word that puts it forward, closely and in its sentence: "the
        # therapist I see for my shoulders offered to work on my feet" offers no shoulder treatment.
        # ... and is not denied there ("he said it is plantar fasciitis and not the spur").
        put_forward = [(key, begin, end) for key, begin, end in found if begin < question
                       and begin not in message.negated and any(
            offer_end <= begin <= offer_end + self.reach and message.same_sentence(begin, offer)
            for _, offer, offer_end in offered)]
        return self._names(put_forward)

    def _names(self, found: List[Tuple[str, int, int]]) -> List[str]:
        return [self.names[key] for key in dict.fromkeys(key for key, _, _ in found)]


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
        topic_id = topic_id or ""
        while topic_id and topic_id not in self.after:  # red_flag.today -> red_flag
            topic_id = topic_id.rsplit(".", 1)[0] if "." in topic_id else ""
        return self.after.get(topic_id, self.start)

    def next_topic(self, topic_id: Optional[str]) -> str:
        """What "tell me more" answers after this topic."""
        return self.for_topic(topic_id)[0]


class PassageRetriever:
    """Ranks the guide's passages for a question (TF-IDF over lemmas, cosine similarity).

    It serves the messages that no intent matches with confidence: the best passage is answered only when
    its score clears the threshold kept in data/guide/retrieval.yml.
    """

    def __init__(self, guide: Guide, reader: Reader, threshold: float, extra_stop_words: Iterable[str] = ()) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.guide = guide
        self.threshold = threshold
        self.stop_words = set(reader.nlp.Defaults.stop_words) | {w.lower() for w in extra_stop_words}
        self.topic_ids = list(guide.topics)
        documents = [reader.read(self._document(guide.get(topic_id))).doc for topic_id in self.topic_ids]
        self.vectorizer = TfidfVectorizer(analyzer=self.terms, sublinear_tf=True)
        self.matrix = self.vectorizer.fit_transform(documents)

    @staticmethod
    def _document(topic: Topic) -> str:
        return f"{topic.label}. {topic.heading}. {topic.passage}"

    @classmethod
    def load(cls, guide: Guide, reader: Reader, settings_file: Path = RETRIEVAL_FILE) -> "PassageRetriever":
        """Build the index with the settings of data/guide/retrieval.yml."""
        data = read_yaml(settings_file)
        threshold = data.get("threshold") if isinstance(data, dict) else None
        if not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
            raise KnowledgeError(f"{settings_file}: 'threshold' must be a number between 0 and 1")
        return cls(guide, reader, float(threshold), data.get("extra_stop_words") or ())

    def terms(self, tokens: Iterable[Any]) -> List[str]:
        """Lemmas without stop words and punctuation, plus adjacent pairs ("flat foot", "calf muscle")."""
        lemmas = [
            token.lemma_.lower() for token in tokens
            if token.is_alpha and token.lower_ not in self.stop_words and token.lemma_.lower() not in self.stop_words
        ]
        return lemmas + [f"{a} {b}" for a, b in zip(lemmas, lemmas[1:])]

    def rank(self, message: ParsedMessage) -> List[Tuple[str, float]]:
        """(topic id, score) for every passage, best first, for the message's question."""
        tokens = [token for span in message.question for token in span]
        if not tokens:
            return [(topic_id, 0.0) for topic_id in self.topic_ids]
        scores = (self.matrix @ self.vectorizer.transform([tokens]).T).toarray().ravel()
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return [(self.topic_ids[i], float(scores[i])) for i in order]

    def best(self, message: ParsedMessage) -> Optional[Tuple[Topic, float]]:
        """The best passage if it clears the threshold, else None (the question is out of the guide's scope)."""
        topic_id, score = self.rank(message)[0]
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


def fitted_clause_model(texts: List[str], labels: List[str], cache_dir: Optional[Path]) -> Any:
    """The clause classifier of TwoPartQuestions fitted on (texts, labels), kept in `cache_dir` under a hash
    of its training set and settings.

    Fitting it took 17 s of every action server's start on this machine's 2 cores (and of every test
    process that loads the actions), more as the training data grew; the same training set gives the same
    model, so a start with unchanged data loads the one fitted before (about 0.2 s), as plain arrays read
    without pickle (`store_model`). A missing, unreadable or broken file is fitted again; a cache that
    cannot be written is only logged. The newest TWO_PART_KEPT files are kept."""
    import sklearn

    settings = {"c": TWO_PART_C, "min_df": 1}
    unfitted = intent_model(**settings)
    params = sorted((name, repr(value)) for name, value in unfitted.get_params(deep=True).items()
                    if value is None or isinstance(value, (bool, int, float, str, tuple)))
    key = hashlib.sha256(json.dumps([texts, labels, params, sklearn.__version__]).encode("utf-8")).hexdigest()
    path = cache_dir / f"{key[:32]}.npz" if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            model = load_model(path, **settings)
            if list(model.classes_) == sorted(set(labels)):
                return model
        except Exception as error:  # a truncated or foreign file: fitted again below
            logger.warning("Clause classifier at %s unreadable (%s); fitting it again", path, type(error).__name__)
    model = unfitted.fit(texts, labels)
    if path is not None:
        partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("wb") as kept:
                store_model(kept, model)
            os.replace(partial, path)  # whole or not at all, also with two servers starting at once
            kept_files = sorted(path.parent.glob("*.npz"), key=lambda f: f.stat().st_mtime, reverse=True)
            for old in kept_files[TWO_PART_KEPT:]:  # those of training data edited since
                old.unlink(missing_ok=True)
        except Exception as error:  # a full disk, a read-only folder: the fitted model still serves
            logger.warning("Clause classifier not kept in %s (%s)", path.parent, type(error).__name__)
            try:
                partial.unlink(missing_ok=True)
            except OSError:
                pass
    return model


class TwoPartQuestions:
    """Finds the second question in messages like "what causes it and how do I massage it?".

    Each clause of the question that asks something is classified on its own (the intent model of
    actions/understanding.py, fitted on the short examples of data/nlu once per training set: see
    fitted_clause_model); the needs that clear the confidence bar and whose answer is not the main
    answer's family are returned, in the order asked.
    """

    def __init__(self, needs: Needs, reader: Reader, examples: List[Tuple[str, str]], min_confidence: float,
                 max_parts: int, question_words: Iterable[str], separators: Iterable[str],
                 cache_dir: Optional[Path] = TWO_PART_CACHE_DIR) -> None:
        self.needs = needs
        self.reader = reader
        self.min_confidence = min_confidence
        self.max_parts = max_parts
        self.question_words = {w.lower() for w in question_words}
        self.splitter = re.compile("|".join(re.escape(s) for s in separators), re.IGNORECASE)
        # Short examples only: a clause is a short question, not a story.
        short = [(text, intent) for text, intent in examples if len(text) <= 120]
        texts = [classifier_text(doc) for doc in reader.nlp.pipe([text.lower() for text, _ in short])]
        self.model = quick_to_predict(fitted_clause_model(texts, [self._label(i) for _, i in short], cache_dir))

    def _text(self, clause: str) -> str:
        return classifier_text(self.reader.nlp(clause.lower()))

    def _label(self, intent: str) -> str:
        need = self.needs.get(intent)
        return intent if need and need.covered else "other"

    @classmethod
    def load(cls, needs: Needs, reader: Reader, settings_file: Path = RETRIEVAL_FILE,
             nlu_dir: Path = NLU_DIR) -> "TwoPartQuestions":
        data = read_yaml(settings_file)
        settings = data.get("two_part") if isinstance(data, dict) else None
        if not isinstance(settings, dict):
            raise KnowledgeError(f"{settings_file}: expected a mapping under 'two_part'")
        examples = load_nlu_examples(nlu_dir)
        if not examples:
            raise KnowledgeError(f"{nlu_dir}: no training examples found")
        return cls(needs, reader, examples, float(settings.get("min_confidence", 0.5)),
                   int(settings.get("max_parts", 2)), settings.get("question_words") or (),
                   settings.get("separators") or ("?", " and "))

    def clauses(self, message: ParsedMessage) -> List[str]:
        """The parts of the question that ask something."""
        parts = [" ".join(p.split()) for p in self.splitter.split(message.question_text)]
        asking = []
        for part in parts:
            words = part.split()
            if len(words) >= 2 and words[0].strip(",.!") in self.question_words:
                asking.append(part)
        return asking

    def extra_topics(self, message: ParsedMessage, main_topic: str) -> List[str]:
        """The main topics of needs asked besides the main one (empty for single questions)."""
        clauses = self.clauses(message)
        if len(clauses) < 2:
            return []
        found: List[str] = []
        for row in self.model.predict_proba([self._text(c) for c in clauses]):
            best = int(row.argmax())
            intent = self.model.classes_[best]
            if row[best] < self.min_confidence or intent == "other":
                continue
            topic_id = self.needs.answer(self.needs.needs[intent], message).topic
            if not self.needs.guide.related(topic_id, main_topic) and topic_id not in found:
                found.append(topic_id)
        return found[: self.max_parts - 1]
