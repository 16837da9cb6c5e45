"""The bot's actions. They stay thin: the guide lives in `knowledge`, the safety policy in `safety`,
and every reply goes out through `replies.send`."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import Guide
from actions.replies import OUT_OF_SCOPE, SMALLTALK, Reply, send
from actions.safety import SafetyPolicy

logger = logging.getLogger(__name__)

# Loaded once, when the action server imports this module: a broken content file stops it at start.
GUIDE = Guide.load()
POLICY = SafetyPolicy.load()

SMALLTALK_INTENTS = ("greet", "goodbye", "thanks", "bot_challenge", "help")
FALLBACK_INTENTS = ("nlu_fallback", "out_of_scope")


def topics_menu(guide: Guide) -> str:
    """The list of what the bot can answer, built from the guide so it never goes stale."""
    return "\n".join(f"• {topic.label}" for topic in guide.top_level())


def out_of_scope_reply(guide: Guide) -> Reply:
    """The honest answer when the guide does not cover a question."""
    return Reply(topic=OUT_OF_SCOPE, response="utter_out_of_scope", response_values={"topics": topics_menu(guide)})


def decide_reply(intent: Optional[str], guide: Guide) -> Reply:
    """Choose the reply for the user's latest intent."""
    if intent in SMALLTALK_INTENTS:
        values = {"topics": topics_menu(guide)} if intent == "help" else {}
        return Reply(topic=SMALLTALK, response=f"utter_{intent}", response_values=values)
    topic = guide.for_intent(intent)
    if topic is None:
        if intent not in FALLBACK_INTENTS:
            logger.warning("No topic for intent %r; answering as out of scope", intent)
        return out_of_scope_reply(guide)
    return Reply(topic=topic.id, passages=[topic])


class ActionAnswer(Action):
    """Answers any user message: a passage of the guide, smalltalk, or the honest out-of-scope reply."""

    def name(self) -> Text:
        return "action_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        reply = decide_reply(intent, GUIDE)
        logger.debug("intent=%s -> topic=%s", intent, reply.topic)
        return send(dispatcher, tracker, reply, POLICY)
