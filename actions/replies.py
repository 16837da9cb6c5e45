"""Replies and the one function that sends them.

Every action builds a `Reply` and hands it to `send`. `send` is the single place where a health answer is
finished by the safety policy (source lines and disclaimer) and where the `topic` slot is set, so no answer
path can skip either.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import Topic
from actions.safety import SafetyPolicy

TOPIC_SLOT = "topic"
DISCLAIMER_SLOT = "disclaimer_shown"
SMALLTALK = "smalltalk"
OUT_OF_SCOPE = "out_of_scope"
RED_FLAG = "red_flag"


@dataclass
class Reply:
    """What to answer: passages of the guide (health information) or a domain response (anything else).

    `notices` are the safety policy's words (red flag, caution, no diagnosis), said before the passages.
    """

    topic: str
    passages: List[Topic] = field(default_factory=list)
    notices: List[str] = field(default_factory=list)
    response: Optional[str] = None
    response_values: Dict[str, Any] = field(default_factory=dict)
    suggestions: List[Topic] = field(default_factory=list)

    def __post_init__(self) -> None:
        if bool(self.passages) == bool(self.response):
            raise ValueError("a Reply holds either passages of the guide or a response name, not both or neither")
        if self.notices and not self.passages:
            raise ValueError("safety notices are health information: they go with passages (and the disclaimer)")

    @property
    def is_health_answer(self) -> bool:
        """Passages of the guide are health information; they always get the disclaimer."""
        return bool(self.passages)


def send(
    dispatcher: CollectingDispatcher, tracker: Tracker, reply: Reply, policy: SafetyPolicy
) -> List[Dict[str, Any]]:
    """Utter the reply (health answers finished by the safety policy) and set the `topic` slot.

    Suggestions go out as buttons whose payload triggers the topic's intent, so pressing one answers it
    (the shell shows them as numbered choices, the widget and Telegram as buttons)."""
    events: List[Dict[str, Any]] = [SlotSet(TOPIC_SLOT, reply.topic)]
    buttons = [{"title": topic.label, "payload": f"/{topic.intent}"} for topic in reply.suggestions]
    if reply.is_health_answer:
        first = not tracker.get_slot(DISCLAIMER_SLOT)
        text = policy.finish_health_answer(
            [(topic.passage, topic.heading) for topic in reply.passages],
            first_in_conversation=first,
            notices=reply.notices,
        )
        dispatcher.utter_message(text=text, buttons=buttons)
        if first:
            events.append(SlotSet(DISCLAIMER_SLOT, True))
    else:
        dispatcher.utter_message(response=reply.response, buttons=buttons, **reply.response_values)
    return events
