"""Answer feedback: "helpful / not helpful" under every health answer, and the reply to a press.

A press is a button payload, `/helpful{"rated_topic": "causes.footwear"}`, so the conversation keeps it as
a user message with that intent and entity: no free text, nothing to classify, and the tracker store holds
what `make insights` counts. The answer is a short thanks; "not helpful" also offers the clinic's contact
(or the person's doctor, without the clinic's details).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from actions.content import DATA_DIR, KnowledgeError, read_yaml
from actions.contact import ClinicDetails
from actions.replies import Reply

FEEDBACK_FILE = DATA_DIR / "clinic" / "feedback.yml"
HELPFUL, NOT_HELPFUL = "helpful", "not_helpful"
RATINGS = (HELPFUL, NOT_HELPFUL)
RATED_ENTITY = "rated_topic"
# The feedback reply's `topic`: a sub-topic of smalltalk (topics.yml lists smalltalk), like thanks.
FEEDBACK_TOPIC = "smalltalk.feedback"
# Telegram's limit for a button's callback_data.
MAX_PAYLOAD_BYTES = 64


def payload(rating: str, topic_id: str) -> str:
    """What a feedback button sends: the rating as intent, the rated answer's topic as entity."""
    return f"/{rating}" + json.dumps({RATED_ENTITY: topic_id}, separators=(",", ":"))


@dataclass(frozen=True)
class Feedback:
    """The feedback buttons' titles (data/clinic/feedback.yml) and the replies to a press."""

    titles: Dict[str, str]
    clinic: Optional[ClinicDetails] = None

    @classmethod
    def load(cls, answer_topics: Iterable[str], clinic: Optional[ClinicDetails] = None,
             path: Path = FEEDBACK_FILE) -> "Feedback":
        """Load the titles and check that every answer's buttons fit in a Telegram button."""
        data = read_yaml(path)
        buttons = data.get("buttons") if isinstance(data, dict) else None
        if not isinstance(buttons, dict):
            raise KnowledgeError(f"{path}: expected a mapping under 'buttons' ({', '.join(RATINGS)})")
        titles = {}
        for rating in RATINGS:
            title = buttons.get(rating)
            if not isinstance(title, str) or not title.strip():
                raise KnowledgeError(f"{path}: 'buttons.{rating}' is missing or empty")
            titles[rating] = title.strip()
        too_long = [t for t in answer_topics if len(payload(NOT_HELPFUL, t).encode("utf-8")) > MAX_PAYLOAD_BYTES]
        if too_long:
            raise KnowledgeError(f"{path}: the feedback buttons of topic(s) {', '.join(too_long)} would exceed "
                                 f"{MAX_PAYLOAD_BYTES} bytes (Telegram's limit): shorten the topic ids")
        return cls(titles, clinic)

    def buttons(self, topic_id: str) -> List[Dict[str, str]]:
        """The two buttons under an answer about this topic."""
        return [{"title": self.titles[rating], "payload": payload(rating, topic_id)} for rating in RATINGS]

    def reply(self, rating: str) -> Reply:
        """The thanks for a press; "not helpful" adds whom to contact."""
        if rating == HELPFUL:
            return Reply(topic=FEEDBACK_TOPIC, response="utter_feedback_helpful")
        if self.clinic is None:
            return Reply(topic=FEEDBACK_TOPIC, response="utter_feedback_not_helpful_no_clinic")
        return Reply(topic=FEEDBACK_TOPIC, response="utter_feedback_not_helpful", response_values=self.clinic.values())
