"""The bot's actions. They stay thin: the guide lives in `knowledge`, the safety policy in `safety`,
and every reply goes out through `replies.send`."""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import EntityVocabulary, Guide, PassageRetriever, Scope, Steering, Suggestions, TwoPartQuestions
from actions.replies import OUT_OF_SCOPE, RED_FLAG, SMALLTALK, Reply, send
from actions.safety import RedFlagDetector, SafetyPolicy

logger = logging.getLogger(__name__)

# Loaded once, when the action server imports this module: a broken content file stops it at start.
GUIDE = Guide.load()
VOCABULARY = EntityVocabulary.load()
POLICY = SafetyPolicy.load()
RED_FLAGS = RedFlagDetector.load()
RETRIEVER = PassageRetriever.load(GUIDE, nlp=RED_FLAGS.nlp)
STEERING = Steering.load(GUIDE)
SUGGESTIONS = Suggestions.load(GUIDE)
TWO_PART = TwoPartQuestions.load(GUIDE)
SCOPE = Scope.load(nlp=RED_FLAGS.nlp)

SMALLTALK_INTENTS = ("greet", "goodbye", "thanks", "bot_challenge", "help")
FALLBACK_INTENTS = ("nlu_fallback", "out_of_scope")
FOLLOW_UP_INTENT = "ask_more"
NO_SUGGESTIONS_AFTER = ("goodbye",)


def topics_menu(guide: Guide) -> str:
    """The list of what the bot can answer, built from the guide so it never goes stale."""
    return "\n".join(f"• {topic.label}" for topic in guide.top_level())


def out_of_scope_reply(guide: Guide, subjects: Iterable[str] = ()) -> Reply:
    """The honest answer when the guide does not cover a question, naming what it does not cover if known."""
    subjects = list(subjects)
    if subjects:
        return Reply(topic=OUT_OF_SCOPE, response="utter_not_covered",
                     response_values={"subjects": " or ".join(subjects), "topics": topics_menu(guide)})
    return Reply(topic=OUT_OF_SCOPE, response="utter_out_of_scope", response_values={"topics": topics_menu(guide)})


def reply_for_intent(intent: Optional[str], text: Optional[str], previous_topic: Optional[str], guide: Guide) -> Reply:
    """The plain answer to the user's intent: its passage, smalltalk, the next passage after the previous
    topic ("tell me more"), a retrieved passage when no intent was confident (nlu_fallback), or the
    honest out-of-scope reply."""
    if intent in SMALLTALK_INTENTS:
        values = {"topics": topics_menu(guide)} if intent == "help" else {}
        return Reply(topic=SMALLTALK, response=f"utter_{intent}", response_values=values)
    if intent == FOLLOW_UP_INTENT:
        topic = guide.get(SUGGESTIONS.next_topic(previous_topic))
        return Reply(topic=topic.id, passages=[topic])
    topic = guide.for_intent(intent)
    if topic is None and intent == "nlu_fallback":
        found = RETRIEVER.best(text)
        if found:
            logger.info("Retrieved %s (score %.2f) for a low-confidence message", found[0].id, found[1])
            topic = found[0]
    if topic is None:
        if intent not in FALLBACK_INTENTS:
            logger.warning("No topic for intent %r; answering as out of scope", intent)
        return out_of_scope_reply(guide)
    return Reply(topic=topic.id, passages=[topic])


def mentioned(entities: Iterable[Dict[str, Any]], label: str, vocabulary: EntityVocabulary) -> List[str]:
    """Canonical values of the entities with this label (e.g. 'diabetic' -> diabetes)."""
    values = (vocabulary.canonical(label, e.get("value")) for e in entities if e.get("entity") == label)
    return [value for value in dict.fromkeys(values) if value]


def decide_reply(
    intent: Optional[str],
    text: Optional[str],
    entities: List[Dict[str, Any]],
    previous_topic: Optional[str] = None,
    confidence: float = 1.0,
) -> Reply:
    """The reply to one user message, with the safety policy applied before anything else and follow-up
    suggestions after it. `confidence` is the classifier's confidence in `intent`."""
    reply = safe_reply(intent, text, entities, previous_topic, confidence)
    if intent not in NO_SUGGESTIONS_AFTER:
        reply.suggestions = [GUIDE.get(t) for t in SUGGESTIONS.for_topic(reply.topic) if t != reply.topic]
    return reply


def safe_reply(
    intent: Optional[str], text: Optional[str], entities: List[Dict[str, Any]], previous_topic: Optional[str],
    confidence: float = 1.0,
) -> Reply:
    """The answer itself: red flags first, then what the guide does not cover, then the intent's answer,
    steered, with cautions."""
    signs = RED_FLAGS.detect(text)
    if signs:
        descriptions = [RED_FLAGS.signs[sign].description for sign in signs]
        logger.info("Red flag(s) %s", signs)
        return Reply(topic=RED_FLAG, notices=[POLICY.red_flag_notice(descriptions)], passages=[GUIDE.get("safety")])
    uncovered = SCOPE.outside(text, 0.0 if intent in FALLBACK_INTENTS else confidence)
    if uncovered:
        logger.info("Not covered by the guide: %s (intent %s, confidence %.2f)", uncovered, intent, confidence)
        return out_of_scope_reply(GUIDE, uncovered)
    reply = reply_for_intent(intent, text, previous_topic, GUIDE)
    conditions = mentioned(entities, "condition", VOCABULARY)
    if reply.is_health_answer:
        steered = STEERING.steer(reply.topic, mentioned(entities, "technique", VOCABULARY), conditions)
        if steered != reply.topic:
            reply = Reply(topic=steered, passages=[GUIDE.get(steered)])
        extra = TWO_PART.extra_topics(text, reply.topic)
        if extra:
            reply = Reply(topic=reply.topic, passages=reply.passages + [GUIDE.get(t) for t in extra])
    if POLICY.asks_for_diagnosis(text) and reply.topic not in (SMALLTALK,):
        symptoms = GUIDE.get("symptoms")
        passages = [symptoms] + [p for p in reply.passages if p.id != symptoms.id]
        reply = Reply(topic=symptoms.id, notices=[POLICY.no_diagnosis_text], passages=passages)
    if not reply.is_health_answer:
        return reply
    caution = POLICY.caution_notice(conditions)
    if caution:
        ids = [p.id for p in reply.passages]
        backing = [GUIDE.get(t) for t in POLICY.caution_topics if t not in ids]
        reply = Reply(topic=reply.topic, notices=reply.notices + [caution], passages=backing + reply.passages)
    return reply


class ActionAnswer(Action):
    """Answers any user message: a passage of the guide, smalltalk, or the honest out-of-scope reply."""

    def name(self) -> Text:
        return "action_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name")
        confidence = float((message.get("intent") or {}).get("confidence") or 0.0)
        reply = decide_reply(intent, message.get("text"), message.get("entities") or [], tracker.get_slot("topic"),
                             confidence)
        logger.debug("intent=%s -> topic=%s", intent, reply.topic)
        return send(dispatcher, tracker, reply, POLICY)
