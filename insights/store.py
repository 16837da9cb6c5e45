"""Reading the tracker store for the report: each patient message of a period with the answer's topic.

The store is Rasa's SQL tracker store (SQLite or PostgreSQL, TRACKER_STORE_URL), whatever retention and
erasure left in it: one row per event, `data` holding the event as Rasa's JSON. Only SELECTs are run.
Each message's topic is the `topic` slot that the bot's answer set (actions/replies.py `send` sets it after
every message), the first slot event of that name after the message. Conversations are numbered in the
order they are met; their sender ids are read to keep a conversation's messages together and go no further.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

import sqlalchemy as sa

logger = logging.getLogger(__name__)

TOPIC_SLOT = "topic"
# An answer comes within seconds; a message near the end of the period is still paired with its answer.
ANSWER_MARGIN_S = 600.0

# Rasa 3.6's table (rasa.core.tracker_store.SQLTrackerStore.SQLEvent), defined here to read it without
# importing Rasa's server code; tests/test_insights.py checks it against Rasa's.
METADATA = sa.MetaData()
EVENTS = sa.Table(
    "events", METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255), nullable=False, index=True),
    sa.Column("type_name", sa.String(255), nullable=False),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)


@dataclass(frozen=True)
class Message:
    """One patient message: when, through which channel, what it said, how it was read, what was answered."""

    conversation: int
    time: datetime
    text: str
    intent: Optional[str]
    entities: Tuple[Tuple[str, str], ...]
    channel: str
    topic: Optional[str]

    @property
    def pressed(self) -> bool:
        """A button's payload ("/choose_topic{...}", "/helpful{...}"), not words a person typed."""
        return self.text.startswith("/")

    def entity(self, name: str) -> Optional[str]:
        return next((value for entity, value in self.entities if entity == name), None)


def _timestamp(moment: datetime) -> float:
    return moment.astimezone(timezone.utc).timestamp()


def _user_message(data: Dict[str, Any], conversation: int, stamp: float) -> Message:
    parse = data.get("parse_data") if isinstance(data.get("parse_data"), dict) else {}
    intent = parse.get("intent") if isinstance(parse.get("intent"), dict) else {}
    entities = tuple((str(e.get("entity")), str(e.get("value"))) for e in parse.get("entities") or ()
                     if isinstance(e, dict) and e.get("entity") is not None)
    return Message(conversation, datetime.fromtimestamp(stamp, timezone.utc), str(data.get("text") or ""),
                   intent.get("name"), entities, str(data.get("input_channel") or "unknown"), None)


def pair_topics(rows: Iterable[Tuple[str, str, float, Optional[str]]], start: float, end: float) -> List[Message]:
    """Messages from (sender id, type, timestamp, data) rows in the store's order: each user message in
    [start, end) with the topic of the first `topic` slot event after it, before the next message."""
    conversations: Dict[str, int] = {}
    pending: Dict[str, int] = {}
    messages: List[Message] = []
    for sender, type_name, stamp, raw in rows:
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            logger.warning("Skipped a stored event whose data is not JSON")
            continue
        if type_name == "user":
            pending.pop(sender, None)
            if stamp is None or not start <= stamp < end:
                continue
            number = conversations.setdefault(sender, len(conversations) + 1)
            messages.append(_user_message(data, number, stamp))
            pending[sender] = len(messages) - 1
        elif type_name == "slot" and data.get("name") == TOPIC_SLOT and sender in pending:
            index = pending.pop(sender)
            value = data.get("value")
            old = messages[index]
            messages[index] = Message(old.conversation, old.time, old.text, old.intent, old.entities, old.channel,
                                      str(value) if value is not None else None)
    return messages


def read_messages(url: str, start: datetime, end: datetime) -> List[Message]:
    """The messages of [start, end) in the tracker store at `url` (a SQLAlchemy URL), oldest first."""
    engine = sa.create_engine(url)
    try:
        query = (
            sa.select(EVENTS.c.sender_id, EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.data)
            .where(EVENTS.c.type_name.in_(("user", "slot")),
                   EVENTS.c.timestamp >= _timestamp(start),
                   EVENTS.c.timestamp < _timestamp(end) + ANSWER_MARGIN_S)
            .order_by(EVENTS.c.id)
        )
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table(EVENTS.name):
                logger.warning("The tracker store has no '%s' table yet: no conversations", EVENTS.name)
                return []
            rows = connection.execute(query).all()
    finally:
        engine.dispose()
    messages = pair_topics(((r.sender_id, r.type_name, r.timestamp, r.data) for r in rows),
                           _timestamp(start), _timestamp(end))
    by_conversation: Dict[int, int] = defaultdict(int)
    for message in messages:
        by_conversation[message.conversation] += 1
    logger.info("Read %d messages of %d conversations (%s)", len(messages), len(by_conversation),
                engine.dialect.name)
    return sorted(messages, key=lambda m: (m.time, m.conversation))
