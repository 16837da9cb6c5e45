"""The bot's actions. They stay thin: how a reply is chosen is in `answers` (from `understanding`,
`knowledge` and `safety`), and every reply goes out through `replies.send`."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answers import Answerer, Understood
from actions.replies import send

logger = logging.getLogger(__name__)

# Loaded once, when the action server imports this module: a broken content file stops it at start.
ANSWERER = Answerer.load()


class ActionAnswer(Action):
    """Answers any user message: a passage of the guide, smalltalk, or the honest out-of-scope reply."""

    def name(self) -> Text:
        return "action_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]
    ) -> List[Dict[Text, Any]]:
        message = tracker.latest_message or {}
        understood = Understood.from_latest_message(message)
        reply = ANSWERER.reply(understood, message.get("text"), tracker.get_slot("topic"))
        logger.debug("intent=%s -> topic=%s", understood.intent, reply.topic)
        return send(dispatcher, tracker, reply, ANSWERER.policy, ANSWERER.settings.did_you_mean_title,
                    feedback=ANSWERER.feedback)
