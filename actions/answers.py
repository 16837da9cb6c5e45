"""How the bot chooses its reply to one message, from the modules that know things.

The order is the safety policy's: triage first (a sign that needs prompt care is answered before
anything else, whatever was asked); then smalltalk and button presses; then the need the classifier found,
answered from the guide, or honestly declined when the guide does not cover it; then the policy's
notices and lines around the answer. The message is read once (`Reader.read`) and every step uses that
`ParsedMessage`. Nothing here holds wording or content: that is data, read by knowledge and safety.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from actions.contact import CONTACT_INTENT, Contact
from actions.content import DATA_DIR, KnowledgeError, read_yaml, string_list
from actions.feedback import RATINGS, Feedback
from actions.knowledge import (
    CHOOSE_TOPIC_INTENT, TOPIC_ENTITY, Guide, Need, Needs, PassageRetriever, Scope, Suggestions, Topic,
    TwoPartQuestions, technique_topic_id,
)
from actions.replies import OUT_OF_SCOPE, RED_FLAG, SMALLTALK, Reply
from actions.safety import SafetyPolicy, Triage
from actions.understanding import ParsedMessage, Reader, matches

logger = logging.getLogger(__name__)

ANSWERING_FILE = DATA_DIR / "guide" / "answering.yml"
SMALLTALK_INTENTS = ("greet", "goodbye", "thanks", "bot_challenge", "help")
FALLBACK_INTENTS = ("nlu_fallback", "out_of_scope")
FOLLOW_UP_INTENT = "ask_more"
NO_SUGGESTIONS_AFTER = ("goodbye", *RATINGS)


@dataclass(frozen=True)
class AnsweringSettings:
    """The bot's own words around passages and the "did you mean" bar (data/guide/answering.yml)."""

    partial_answer: str
    not_covered_line: str
    did_you_mean_title: str
    did_you_mean_max_confidence: float
    did_you_mean_min_ratio: float
    story_preface: str
    story_min_confidence: float
    story_default_need: str
    story_about: Tuple[Tuple[str, str], ...]  # (entity label, value)
    story_smalltalk_max_confidence: float
    story_smalltalk_min_words: int
    story_greetings: Tuple[str, ...] = ()  # smalltalk intents that, telling of the heel, are a story
    story_thanks_given: Tuple[str, ...] = ()  # phrases that thank for help already given: thanks, not a story
    caution_need: str = ""  # the need that answers an unsure message telling of a caution condition

    @classmethod
    def load(cls, path: Path = ANSWERING_FILE) -> "AnsweringSettings":
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise KnowledgeError(f"{path}: expected a mapping")
        texts = {key: data.get(key) for key in ("partial_answer", "not_covered_line")}
        did_you_mean = data.get("did_you_mean") if isinstance(data.get("did_you_mean"), dict) else {}
        texts["did_you_mean.title"] = did_you_mean.get("title")
        for key, value in texts.items():
            if not isinstance(value, str) or not value.strip():
                raise KnowledgeError(f"{path}: '{key}' is missing or empty")
        for key, placeholders in (("partial_answer", ("{subjects}", "{topic}")), ("not_covered_line", ("{subjects}",)),
                                  ("did_you_mean.title", ("{label}",))):
            if not all(p in texts[key] for p in placeholders):
                raise KnowledgeError(f"{path}: '{key}' must contain {' and '.join(placeholders)}")
        numbers = {k: did_you_mean.get(k) for k in ("max_confidence", "min_ratio")}
        if not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in numbers.values()):
            raise KnowledgeError(f"{path}: did_you_mean.max_confidence and min_ratio must be numbers from 0 to 1")
        story = data.get("story")
        if not isinstance(story, dict) or not isinstance(story.get("preface"), str) or "{topic}" not in story["preface"]:
            raise KnowledgeError(f"{path}: 'story.preface' is missing or has no {{topic}}")
        floor, default_need, about = story.get("min_confidence"), story.get("default_need"), story.get("about")
        smalltalk, min_words = story.get("smalltalk_max_confidence"), story.get("smalltalk_min_words")
        if not isinstance(min_words, int) or isinstance(min_words, bool) or min_words < 1:
            raise KnowledgeError(f"{path}: story.smalltalk_min_words must be a whole number of at least 1")
        if not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in (floor, smalltalk)):
            raise KnowledgeError(f"{path}: story.min_confidence and smalltalk_max_confidence must be numbers from 0 to 1")
        if not isinstance(about, dict) or not about:
            raise KnowledgeError(f"{path}: story.about must map entity labels to values")
        pairs = tuple((str(label), str(value)) for label, values in about.items() for value in string_list(values, f"{path}: story.about.{label}"))
        greetings = string_list(story.get("greetings"), f"{path}: story.greetings")
        allowed = [intent for intent in SMALLTALK_INTENTS if intent != "help"]
        if not set(greetings) <= set(allowed):
            raise KnowledgeError(f"{path}: story.greetings must be smalltalk intents other than help "
                                 f"({', '.join(allowed)})")
        return cls(" ".join(texts["partial_answer"].split()), " ".join(texts["not_covered_line"].split()),
                   texts["did_you_mean.title"].strip(), float(numbers["max_confidence"]), float(numbers["min_ratio"]),
                   " ".join(story["preface"].split()), float(floor),
                   cls._need_name(default_need, "story.default_need", path), pairs, float(smalltalk), min_words,
                   greetings, string_list(story.get("thanks_for_help_given"), f"{path}: story.thanks_for_help_given"),
                   cls._need_name(data.get("caution_need"), "caution_need", path))

    @staticmethod
    def _need_name(value: Any, key: str, path: Path) -> str:
        """A setting that names a need (whether the guide answers it is checked where the needs are known)."""
        if not isinstance(value, str) or not value:
            raise KnowledgeError(f"{path}: {key} must name a need of data/guide/needs.yml")
        return value


def listed(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


@dataclass(frozen=True)
class Understood:
    """What Rasa's NLU made of the message: the intent, its confidence, the ranking, and entities."""

    intent: Optional[str]
    confidence: float = 1.0
    ranking: Tuple[Tuple[str, float], ...] = ()
    entities: Tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_latest_message(cls, message: Mapping[str, Any]) -> "Understood":
        intent = message.get("intent") or {}
        ranking = tuple((str(r.get("name")), float(r.get("confidence") or 0.0))
                        for r in message.get("intent_ranking") or () if isinstance(r, dict) and r.get("name"))
        return cls(intent.get("name"), float(intent.get("confidence") or 0.0), ranking,
                   tuple(e for e in message.get("entities") or () if isinstance(e, dict)))

    def without(self, intent: str, keep: Callable[[str], bool]) -> "Understood":
        """The same message read as its likeliest other intent that `keep` accepts (the fallback if none)."""
        ranking = tuple((name, confidence) for name, confidence in self.ranking if name != intent)
        name, confidence = next(((n, c) for n, c in ranking if keep(n)), ("nlu_fallback", 0.0))
        return Understood(name, confidence, ranking, self.entities)

    def entity(self, name: str) -> Optional[str]:
        values = [e.get("value") for e in self.entities if e.get("entity") == name]
        return str(values[0]) if values and values[0] is not None else None


class Answerer:
    """Everything the bot knows, loaded once, and the choice of the reply to a message."""

    def __init__(self, reader: Reader, guide: Guide, needs: Needs, scope: Scope, retriever: PassageRetriever,
                 two_part: TwoPartQuestions, suggestions: Suggestions, policy: SafetyPolicy, triage: Triage,
                 settings: AnsweringSettings, contact: Contact, feedback: Feedback) -> None:
        self.reader, self.guide, self.needs, self.scope = reader, guide, needs, scope
        self.retriever, self.two_part, self.suggestions = retriever, two_part, suggestions
        self.policy, self.triage, self.settings = policy, triage, settings
        self.contact, self.feedback = contact, feedback
        self.thanks_given = reader.matcher({"thanks_given": settings.story_thanks_given})

    @classmethod
    def load(cls) -> "Answerer":
        """Load every content file; a broken one stops the action server at start, naming the file."""
        reader = Reader.load()
        guide = Guide.load()
        needs = Needs.load(guide, reader)
        policy = SafetyPolicy.load()
        triage = Triage.load(reader, policy=policy)
        contact = Contact.load(reader, triage.levels)
        answer_topics = [*guide.topics, OUT_OF_SCOPE, *(f"{RED_FLAG}.{level}" for level in triage.levels)]
        settings = AnsweringSettings.load()
        for key, name in (("story.default_need", settings.story_default_need), ("caution_need", settings.caution_need)):
            need = needs.get(name)
            if need is None or not need.covered:
                raise KnowledgeError(f"{ANSWERING_FILE}: {key} {name!r} is not a need the guide answers "
                                     "(data/guide/needs.yml)")
        return cls(reader, guide, needs, Scope.load(reader), PassageRetriever.load(guide, reader),
                   TwoPartQuestions.load(needs, reader), Suggestions.load(guide), policy, triage,
                   settings, contact, Feedback.load(answer_topics, contact.clinic))

    # -- the reply ----------------------------------------------------------------------------------

    def reply(self, understood: Understood, text: Optional[str], previous_topic: Optional[str] = None) -> Reply:
        """The reply to one user message, with the safety policy applied before anything else and
        follow-up suggestions after it."""
        message = self.reader.read(text)
        reply = self._answer(understood, message, previous_topic)
        if understood.intent not in NO_SUGGESTIONS_AFTER:
            reply.suggestions = [self.guide.get(t) for t in self.suggestions.for_topic(reply.topic) if t != reply.topic]
        return reply

    def _answer(self, understood: Understood, message: ParsedMessage, previous_topic: Optional[str]) -> Reply:
        triage = self.triage.assess(message)
        if triage.urgent:
            logger.info("Red flag, level %s (%d sign(s))", triage.level, len(triage.signs))
            return Reply(topic=f"{RED_FLAG}.{triage.level}", passages=[self.guide.get("safety")],
                         notices=[self.policy.red_flag_notice(triage.level, triage.descriptions),
                                  *self.contact.after_red_flag(triage.level)])
        intent = understood.intent
        # The clinic (issue 14): a feedback button's press is thanked; asking to reach the clinic is answered
        # with its details, unless the question is also, and surely, one the guide answers.
        if intent in RATINGS:
            return self.feedback.reply(intent)
        contact_too = self.contact.wanted(intent, understood.confidence, message)
        if contact_too and not self._surely_a_need(understood):
            return self.contact.reply()
        if intent in SMALLTALK_INTENTS and not self._unsure_story(understood, message):
            values = {"topics": self.topics_menu()} if intent == "help" else {}
            return Reply(topic=SMALLTALK, response=f"utter_{intent}", response_values=values)
        reply = self._guide_answer(understood, message, previous_topic)
        if not reply.is_health_answer:
            return reply
        reply = self._with_policy(reply, message, triage.persistent)
        if contact_too and not any(line in reply.afterwords for line in self.contact.after_referral()):
            reply.afterwords.extend(self.contact.after_referral())
        return reply

    def _surely_a_need(self, understood: Understood) -> bool:
        """A need the guide answers, as sure as the scope check asks (the clinic's details then follow it)."""
        need = self.needs.get(understood.intent)
        return (understood.intent != CONTACT_INTENT and need is not None and need.covered
                and understood.confidence >= self.scope.min_confidence)

    def _guide_answer(self, understood: Understood, message: ParsedMessage, previous_topic: Optional[str]) -> Reply:
        """The answer from the guide (or the honest "not covered"), before the policy's notices."""
        intent = understood.intent
        if intent == CHOOSE_TOPIC_INTENT:
            topic = self.guide.find(understood.entity(TOPIC_ENTITY))
            return Reply(topic=topic.id, passages=[topic]) if topic else self.out_of_scope_reply()
        if intent == FOLLOW_UP_INTENT and message.is_long:
            # "tell me more" is said in a conversation; at the end of a long story ("... bought a spiky ball.
            # Anything else I should be doing alongside that?") it asks for the story's need: the likeliest
            # need after it
            understood = understood.without(FOLLOW_UP_INTENT, keep=lambda name: self.needs.get(name) is not None)
            intent = understood.intent
        if intent == FOLLOW_UP_INTENT:
            topic = self.guide.get(self.suggestions.next_topic(previous_topic))
            return Reply(topic=topic.id, passages=[topic])
        need = self.needs.get(intent)
        uncovered = self.scope.not_answered_by(self.scope.uncovered(message), intent)
        # What the question may point back at ("... offered me an injection. Does it hurt?") counts only
        # where the classifier is unsure: as the subject not covered, never as an extra line.
        unsure = need is None or not need.covered or understood.confidence < self.scope.min_confidence
        if unsure and not uncovered:
            uncovered = self.scope.not_answered_by(self.scope.pointed_at(message), intent)
        if need is None and not uncovered and self._unsure_story(understood, message):
            return self._story_answer(understood, message)
        if (need is None and not uncovered and intent in FALLBACK_INTENTS
                and understood.confidence < self.scope.min_confidence
                and self.policy.needs_caution(message.values("condition"))):
            # Unsure what is asked, but the person tells of a condition the guide asks caution for ("on blood
            # thinners ... is it sensible for someone like me?"): the guide's word on it, not "not covered".
            need = self.needs.get(self.settings.caution_need)
            logger.info("An unsure message that tells of a caution condition: answered with need %s", need.intent)
        if need is None:
            if intent == "nlu_fallback" and not uncovered:
                techniques = message.values("technique")
                if techniques:
                    # Unsure what is asked, but the message names one of the guide's techniques ("a friend
                    # mentioned trigger point therapy ... what is it and would it help?"): its passage; or
                    # several ("deep tissue, trigger point, gua sha ... how are they different?"): the
                    # passage that sets the techniques side by side.
                    topic = self.guide.get(technique_topic_id(techniques[0]))
                    if len(techniques) > 1 and topic.parent_id:
                        topic = self.guide.get(topic.parent_id)
                    return Reply(topic=topic.id, passages=[topic])
                found = self.retriever.best(message)
                if found:
                    logger.info("Retrieved %s (score %.2f) for a low-confidence message", found[0].id, found[1])
                    return Reply(topic=found[0].id, passages=[found[0]])
            if intent not in FALLBACK_INTENTS and intent not in SMALLTALK_INTENTS:
                logger.warning("No need for intent %r; answering as out of scope", intent)
            return self.out_of_scope_reply(uncovered)
        if not need.covered and need.when_leaving_out and not uncovered and self.scope.excluded(message):
            # "how do I treat it without surgery or injections?": what helps, not the treatments left out
            need = self.needs.get(need.when_leaving_out)
        answer = self.needs.answer(need, message)
        if not need.covered and (uncovered or not answer.topics or self.scope.named_anywhere(message)):
            # A need the guide does not answer, unless one of its rules finds the guide's own subject in the
            # question ("the spa has reflexology for plantar fasciitis ... does it really help?") and the
            # message names nothing the guide does not cover
            return self.not_covered_reply(need, uncovered)
        topics = [self.guide.get(t) for t in answer.topics]
        if uncovered and (understood.confidence < self.scope.min_confidence
                          or self.scope.declines_whole_question(uncovered)):
            # The classifier is not sure the question is about the guide's topic, and it names a subject the
            # guide does not cover (or it is for a child or a pet, whom the guide does not cover whatever the
            # need): say so first, then what the guide does say.
            logger.info("Partial answer: %d uncovered subject(s), intent %s (%.2f)", len(uncovered), intent,
                        understood.confidence)
            return Reply(topic=OUT_OF_SCOPE, passages=topics[:1], preface=self.settings.partial_answer.format(
                subjects=listed(uncovered), topic=topics[0].label.lower()))
        extra = [self.guide.get(t) for t in self.two_part.extra_topics(message, answer.topic)
                 if t not in answer.topics]
        notices = [self.policy.no_diagnosis_text] if answer.notice == "no_diagnosis" else []
        afterwords = [self.settings.not_covered_line.format(subjects=listed(uncovered))] if uncovered else []
        return Reply(topic=answer.topic, passages=topics + extra, notices=notices, afterwords=afterwords,
                     did_you_mean=self._did_you_mean(understood, answer.topic, message))

    def _unsure_story(self, understood: Understood, message: ParsedMessage) -> bool:
        """A message about the person's heel or foot (answering.yml, story.about; not denied) that the
        classifier is unsure of: it asks nothing (or only "any thoughts?") and no need clears the fallback
        bar, or it is long and only weakly taken for smalltalk ("hi all, ... my heel ... thanks in advance"),
        or it greets ("hi, my heel hurts")."""
        told = [entity for entity in message.entities
                if not entity.negated and (entity.label, entity.value) in self.settings.story_about]
        if not told:
            return False
        if understood.intent == "nlu_fallback":
            # it asks nothing, or only "any thoughts?" of what it tells ("... she refuses to see her doctor,
            # so we would appreciate your thoughts on the matter")
            return message.asks_nothing or message.asks_thinly
        if understood.intent in self.settings.story_greetings:
            return True
        # Weakly smalltalk and long: a story, if it tells of the heel outside its questions (not "are you a
        # bot? ... is it everything to do with heel pain?") and does not thank for help already given ("I
        # wrote in the spring ... I simply wished to say thank you").
        return (understood.intent in SMALLTALK_INTENTS and understood.intent != "help"
                and understood.confidence < self.settings.story_smalltalk_max_confidence
                and message.words >= self.settings.story_smalltalk_min_words
                and (message.asks_nothing or any(not message.in_asking(entity.start) for entity in told))
                and not matches(self.thanks_given, message, skip_negated=True))

    def _story_answer(self, understood: Understood, message: ParsedMessage) -> Reply:
        """A story that asks nothing, the classifier unsure of every need: the likeliest need's answer (at
        least story.min_confidence), else the default need's (what helps), said to be a guess, with the next
        likeliest need as a button. A need the guide does not cover gets its honest answer."""
        ranked = [(need, confidence) for need, confidence in
                  ((self.needs.get(name), confidence) for name, confidence in understood.ranking) if need is not None]
        likely = [need for need, confidence in ranked if confidence >= self.settings.story_min_confidence]
        need = likely[0] if likely else self.needs.get(self.settings.story_default_need)
        if not need.covered:
            return self.not_covered_reply(need, [])
        answer = self.needs.answer(need, message)
        topics = [self.guide.get(t) for t in answer.topics]
        other = next((n for n, _ in ranked if n is not need and n.covered), None)
        did_you_mean = self._other_reading(other, answer.topic, message) if other else None
        logger.info("A story that asks nothing: answered with need %s (classifier unsure)", need.intent)
        return Reply(topic=answer.topic, passages=topics, did_you_mean=did_you_mean,
                     preface=self.settings.story_preface.format(topic=topics[0].label))

    def _with_policy(self, reply: Reply, message: ParsedMessage, persistent: bool) -> Reply:
        """The safety policy's notices around a health answer: no diagnosis, cautions, long-lasting pain."""
        notices = list(reply.notices)
        passages = list(reply.passages)
        if not notices and self.policy.asks_for_diagnosis(message):
            notices.append(self.policy.no_diagnosis_text)
            symptoms = self.guide.get("symptoms")
            passages = [symptoms] + [p for p in passages if p.id != symptoms.id]
            if reply.topic != OUT_OF_SCOPE:
                reply.topic = symptoms.id
        caution = self.policy.caution_notice(message.values("condition"))
        if caution:
            notices.append(caution)
            ids = [p.id for p in passages]
            passages = [self.guide.get(t) for t in self.policy.caution_topics if t not in ids] + passages
        afterwords = list(reply.afterwords) + ([self.policy.persistent_text] if persistent else [])
        if persistent or caution or self.policy.no_diagnosis_text in notices:
            afterwords.extend(self.contact.after_referral())  # whom to see, when the clinic is known
        return Reply(topic=reply.topic, passages=passages, notices=notices, preface=reply.preface,
                     afterwords=afterwords, did_you_mean=reply.did_you_mean)

    def _did_you_mean(self, understood: Understood, topic_id: str, message: ParsedMessage) -> Optional[Topic]:
        """The other likely reading, when the classifier rates two needs about equally."""
        if understood.confidence > self.settings.did_you_mean_max_confidence or len(understood.ranking) < 2:
            return None
        (first, p1), (second, p2) = understood.ranking[0], understood.ranking[1]
        need = self.needs.get(second)
        if first != understood.intent or need is None or not need.covered or p2 < self.settings.did_you_mean_min_ratio * p1:
            return None
        return self._other_reading(need, topic_id, message)

    def _other_reading(self, need: Need, topic_id: str, message: ParsedMessage) -> Optional[Topic]:
        """The topic that `need` answers the message with, as a "did you mean" beside `topic_id`: none when
        it is the same family."""
        other = self.needs.answer(need, message).topic
        return None if self.guide.related(other, topic_id) else self.guide.get(other)

    # -- the bot's own replies ------------------------------------------------------------------------

    def topics_menu(self) -> str:
        """The list of what the bot can answer, built from the guide so it never goes stale."""
        return "\n".join(f"• {topic.label}" for topic in self.guide.top_level())

    def out_of_scope_reply(self, subjects: Iterable[str] = ()) -> Reply:
        """The honest answer when the guide does not cover a question, naming what it does not cover if known."""
        subjects = list(subjects)
        if subjects:
            return Reply(topic=OUT_OF_SCOPE, response="utter_not_covered",
                         response_values={"subjects": listed(subjects), "topics": self.topics_menu()})
        return Reply(topic=OUT_OF_SCOPE, response="utter_out_of_scope", response_values={"topics": self.topics_menu()})

    def not_covered_reply(self, need: Need, subjects: Sequence[str]) -> Reply:
        """A need the guide does not answer: say so, naming the subject, and give what the guide does say
        about it where it says something (`related`)."""
        named = listed(subjects) if subjects else need.not_covered
        if need.related:
            related = self.guide.get(need.related)
            return Reply(topic=OUT_OF_SCOPE, passages=[related], preface=self.settings.partial_answer.format(
                subjects=named, topic=related.label.lower()))
        return self.out_of_scope_reply([named])
