"""Replies and the one function that sends them.

Every action builds a `Reply` and hands it to `send`. `send` is the single place where a health answer is
finished by the safety policy (source lines and disclaimer) and where the `topic` slot is set, so no answer
path can skip either. It is also where every health answer gets its feedback buttons (actions/feedback.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import Topic
from actions.safety import SafetyPolicy

if TYPE_CHECKING:
    from actions.feedback import Feedback

TOPIC_SLOT = "topic"
DISCLAIMER_SLOT = "disclaimer_shown"
SMALLTALK = "smalltalk"
OUT_OF_SCOPE = "out_of_scope"
RED_FLAG = "red_flag"


@dataclass
class Reply:
    """What to answer: passages of the guide (health information) or a domain response (anything else).

    `notices` are the safety policy's words (red flag, caution, no diagnosis), said first; `preface` is the
    bot's own lead-in to the passages ("The guide doesn't cover X. What it does say about Y:");
    `afterwords` are the policy's lines after the passages (see a professional about long-lasting pain).
    `did_you_mean` is the other likely reading of the question, offered as the first button.
    """

    topic: str
    passages: List[Topic] = field(default_factory=list)
    notices: List[str] = field(default_factory=list)
    preface: Optional[str] = None
    afterwords: List[str] = field(default_factory=list)
    response: Optional[str] = None
    response_values: Dict[str, Any] = field(default_factory=dict)
    suggestions: List[Topic] = field(default_factory=list)
    did_you_mean: Optional[Topic] = None

    def __post_init__(self) -> None:
        if bool(self.passages) == bool(self.response):
            raise ValueError("a Reply holds either passages of the guide or a response name, not both or neither")
        if (self.notices or self.preface or self.afterwords) and not self.passages:
            raise ValueError("notices and lines around passages are health information: they go with passages")

    @property
    def is_health_answer(self) -> bool:
        """Passages of the guide are health information; they always get the disclaimer."""
        return bool(self.passages)


def buttons(reply: Reply, did_you_mean_title: str) -> List[Dict[str, str]]:
    """The reply's buttons: the other reading of the question first, then the follow-up suggestions.

    Each button's payload asks for its topic (`Topic.payload`), so pressing one answers it (the shell shows
    them as numbered choices, the widget and Telegram as buttons)."""
    shown = []
    if reply.did_you_mean:
        shown.append({"title": did_you_mean_title.format(label=reply.did_you_mean.label),
                      "payload": reply.did_you_mean.payload})
    seen = {reply.did_you_mean.id} if reply.did_you_mean else set()
    for topic in reply.suggestions:
        if topic.id not in seen:
            shown.append({"title": topic.label, "payload": topic.payload})
            seen.add(topic.id)
    return shown


def send(
    dispatcher: CollectingDispatcher, tracker: Tracker, reply: Reply, policy: SafetyPolicy,
    did_you_mean_title: str = "Did you mean: {label}?", feedback: Optional["Feedback"] = None,
) -> List[Dict[str, Any]]:
    """Utter the reply (health answers finished by the safety policy, then the feedback buttons after the
    suggestions) and set the `topic` slot."""
    events: List[Dict[str, Any]] = [SlotSet(TOPIC_SLOT, reply.topic)]
    shown = buttons(reply, did_you_mean_title)
    if reply.is_health_answer and feedback is not None:
        shown += feedback.buttons(reply.topic)
    if reply.is_health_answer:
        first = not tracker.get_slot(DISCLAIMER_SLOT)
        notices = reply.notices + ([reply.preface] if reply.preface else [])
        text = policy.finish_health_answer(
            [(topic.passage, topic.heading) for topic in reply.passages],
            first_in_conversation=first,
            notices=notices,
            afterwords=reply.afterwords,
        )
        dispatcher.utter_message(text=text, buttons=shown)
        if first:
            events.append(SlotSet(DISCLAIMER_SLOT, True))
    else:
        dispatcher.utter_message(response=reply.response, buttons=shown, **reply.response_values)
    return events
