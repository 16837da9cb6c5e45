"""Rasa's SQL tracker store (SQLite or PostgreSQL) without costs it pays on every message.

Profiled under load (py-spy, docs/benchmarks.md), Rasa 3.6's `SQLTrackerStore` spent a good part of the
Rasa server's CPU time per message on work it did not need:

- **Counting the stored events before each save.** `save` asks the database how many events of the
  conversation's latest session it holds (a count over a sub-query for the latest `session_started`) and
  writes the tracker's events after that many. But the tracker being saved was, in almost every case, read
  by `retrieve` a moment earlier, under the conversation's lock: the count is the number of events read.
  This store remembers that number on the tracker it returns and uses it for that tracker's next save.
  Any other tracker (a new one, a full tracker from `retrieve_full_tracker`, a copy, or the same tracker
  saved a second time) is saved exactly as Rasa does, with the count query.
- **A new SQLite connection per query.** SQLAlchemy 1.4 gives SQLite files a `NullPool`, which opens and
  closes the file for every session. A SQLite store here keeps a small pool of open connections instead
  (SQLAlchemy 2.0's default for SQLite files), and uses SQLite's write-ahead log, which commits with one
  append and one sync instead of a journal file created and deleted (commits stay as durable:
  `synchronous=FULL`). PostgreSQL keeps Rasa's settings.
- **An ORM object per row.** Rasa reads the events as ORM objects and writes each new event as one;
  SQLAlchemy's unit of work costs more than the SQL. Here the same query selects only the `data` column,
  and the new events go in one multi-row INSERT with the same columns, in the same order.

Everything else (table, rows, query, session logic, event broker) is Rasa's. Use it from endpoints.yml
with the same settings as `type: SQL`:

    tracker_store:
      type: stores.sql_tracker_store.SQLTrackerStore
      url: <SQLAlchemy URL, or a host with dialect/db/username/password as for type SQL>

Why the remembered count is safe: Rasa reads, changes and saves a conversation's tracker while holding that
conversation's lock (the processor for messages, the HTTP API for events it appends), and with several
servers the lock is shared (Redis), so no other writer adds events between the read and the save. Rasa's
own count-then-insert relies on the same lock.
"""
from __future__ import annotations

import itertools
import json
import logging
from typing import Any, Dict, Iterator, Optional, Text

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore as RasaSQLTrackerStore
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

# Attribute set on trackers returned by `retrieve`: how many of their events the database held when read.
STORED_EVENTS = "_events_in_store"
SQLITE_POOL_SIZE = 5


def _write_ahead_log(connection: Any, _record: Any) -> None:
    """SQLite's write-ahead log: one append and one sync per commit instead of a rollback journal file
    created, synced and deleted. Commits are as durable as before (synchronous stays FULL)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


class SQLTrackerStore(RasaSQLTrackerStore):
    """Rasa's SQLTrackerStore, reusing the stored-event count it read and SQLite connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            url = self.engine.url
            self.engine.dispose()
            # Rasa runs its SQL from the event loop's thread; `check_same_thread` off only lets a pooled
            # connection be handed to whichever thread asks next, one at a time.
            self.engine = sa.create_engine(
                url, poolclass=sa.pool.QueuePool, pool_size=SQLITE_POOL_SIZE,
                connect_args={"check_same_thread": False},
            )
            sa.event.listen(self.engine, "connect", _write_ahead_log)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
            logger.debug("SQLite tracker store with a pool of %d connections", SQLITE_POOL_SIZE)

    async def _retrieve(
        self, sender_id: Text, fetch_events_from_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        """Rasa's `_retrieve`; a tracker of the latest session also notes how many rows it was read from.

        The rows are counted, not the tracker's events: Rasa drops rows it cannot read as events (old
        `topic` events), and its count query before a save counts rows."""
        with self.session_scope() as session:
            # Rasa's query, selecting only the column it reads: no ORM object is built per row.
            rows = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=fetch_events_from_all_sessions
            ).with_entities(self.SQLEvent.data).all()
            events = [json.loads(data) for (data,) in rows]
        if not (self.domain and events):
            logger.debug("No tracker for sender id '%s' in the SQL store", sender_id)
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not fetch_events_from_all_sessions:
            setattr(tracker, STORED_EVENTS, len(rows))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save: the same rows, in one multi-row INSERT instead of one ORM object per event; a
        tracker just read by `retrieve` skips the count query once."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            rows = [self._row(tracker.sender_id, event) for event in self._additional_events(session, tracker)]
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        if hasattr(tracker, STORED_EVENTS):
            delattr(tracker, STORED_EVENTS)  # a second save of the same tracker counts again, as Rasa does
        logger.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)

    @staticmethod
    def _row(sender_id: Text, event: Event) -> Dict[Text, Any]:
        """An event's row, with the columns Rasa's save fills."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator:
        """The tracker's events the database does not hold yet."""
        stored: Optional[int] = getattr(tracker, STORED_EVENTS, None)
        if stored is None:
            return super()._additional_events(session, tracker)
        return itertools.islice(tracker.events, stored, len(tracker.events))
