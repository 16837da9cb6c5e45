"""Rasa's SQL tracker store (SQLite or PostgreSQL) without costs it pays on every message.

Profiled under load (py-spy, docs/benchmarks.md), Rasa 3.6's `SQLTrackerStore` spent a good part of the
Rasa server's CPU time per message on work it did not need:

- **Counting the stored events before each save.** `save` asks the database how many events of the
  conversation's latest session it holds (a count over a sub-query for the latest `session_started`) and
  writes the tracker's events after that many. But the tracker being saved was, in almost every case, read
  by `retrieve` a moment earlier, under the conversation's lock: the count is the number of events read.
  This store remembers that number on the tracker it returns and uses it for that tracker's next save.
  Any other tracker (a new one, a full tracker from `retrieve_full_tracker`, a copy, or the same tracker
  saved a second time) is saved as Rasa does, after Rasa's count query (built once as a statement: the
  ORM count cost about a millisecond, twice in a new conversation's first message).
- **A new SQLite connection per query.** SQLAlchemy 1.4 gives SQLite files a `NullPool`, which opens and
  closes the file for every session. A SQLite store here keeps a small pool of open connections instead
  (SQLAlchemy 2.0's default for SQLite files), and uses SQLite's write-ahead log, which commits with one
  append and one sync instead of a journal file created and deleted (commits stay as durable:
  `synchronous=FULL`). PostgreSQL keeps Rasa's settings.
- **ORM work around the SQL.** For every read Rasa builds an ORM query with a sub-query and reads the rows
  as ORM objects; for every save it adds one ORM object per event. SQLAlchemy's work cost more than the
  SQL. Here Rasa's query is built once as a statement with the sender id as a parameter, selecting only
  the `data` column, and the new events go in one multi-row INSERT with the same columns, in order.

For privacy and faults (issue 13, docs/privacy.md):

- **No parameters in error messages.** SQLAlchemy puts a failed statement's parameters (the sender id and
  the event's JSON, with the person's words) into the exception's message, and Rasa logs it. The engines
  here are made with `hide_parameters=True`.
- **Bounded and off the event loop.** Rasa runs its SQL in the server's event loop, so a slow or hung
  database froze every conversation of that server, and PostgreSQL calls had no timeout. Here every query
  runs in a small pool of threads and is waited for at most `STORE_TIMEOUT_S` (default 10 s, then the turn
  fails and the guard's polite reply goes out); PostgreSQL connections have `connect_timeout`, a server
  side `statement_timeout` and a pool timeout.
- **Erasure that erases**: `erase(sender_id)` deletes a conversation, `delete_older_than(timestamp)` every
  event stored before it (RETENTION_DAYS, channels/privacy.py). SQLite zeroes deleted content
  (`secure_delete`) and its write-ahead log is checkpointed and truncated afterwards, so the words are gone
  from the files, not only from the table. The SQLite file is readable by its owner only (0600).

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

import asyncio
import functools
import itertools
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Text, Tuple, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore as RasaSQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

# Attribute set on trackers returned by `retrieve`: how many of their events the database held when read.
STORED_EVENTS = "_events_in_store"
SQLITE_POOL_SIZE = 5
TIMEOUT_ENV = "STORE_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 10.0
PG_CONNECT_TIMEOUT_S = 5
FILE_MODE = 0o600
T = TypeVar("T")


class TrackerStoreTimeout(Exception):
    """A tracker-store call that took longer than STORE_TIMEOUT_S."""


def _write_ahead_log(connection: Any, _record: Any) -> None:
    """SQLite's write-ahead log: one append and one sync per commit instead of a rollback journal file
    created, synced and deleted. Commits are as durable as before (synchronous stays FULL). Deleted content
    is overwritten with zeros (secure_delete), so an erased conversation is not left in free pages."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def store_timeout() -> float:
    """STORE_TIMEOUT_S: how long one tracker-store call may take before the turn fails."""
    try:
        return max(0.1, float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S)))
    except ValueError:
        return DEFAULT_TIMEOUT_S


def owner_only(path: Path) -> None:
    """Make the SQLite file and its write-ahead log and index (if present) readable by the owner only."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            os.chmod(candidate, FILE_MODE)
        except FileNotFoundError:
            pass


def postgresql_engine_kwargs(url: Any, timeout_s: float) -> Dict[str, Any]:
    """Rasa's PostgreSQL engine settings, with timeouts: connecting, each statement (server side) and
    waiting for a pooled connection."""
    from rasa.core.tracker_store import create_engine_kwargs

    kwargs = create_engine_kwargs(url)
    connect_args = dict(kwargs.get("connect_args") or {})
    options = " ".join(filter(None, [connect_args.get("options"), f"-c statement_timeout={int(timeout_s * 1000)}"]))
    connect_args.update(options=options, connect_timeout=PG_CONNECT_TIMEOUT_S)
    return {**kwargs, "connect_args": connect_args, "pool_timeout": timeout_s, "pool_pre_ping": True}


class SQLTrackerStore(RasaSQLTrackerStore):
    """Rasa's SQLTrackerStore: the same rows, with the stored-event count reused after a read, Rasa's query
    built once, one INSERT per save and, for SQLite, pooled connections (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._latest_session_events, self._all_events, self._latest_session_count = self._event_queries()
        self.timeout_s = store_timeout()
        self.sqlite_path: Optional[Path] = None
        url = self.engine.url
        self.engine.dispose()
        if self.engine.dialect.name == "sqlite" and url.database not in (None, "", ":memory:"):
            self.sqlite_path = Path(url.database)
            owner_only(self.sqlite_path)
            # `check_same_thread` off only lets a pooled connection be handed to whichever thread asks next,
            # one at a time.
            self.engine = sa.create_engine(
                url, poolclass=sa.pool.QueuePool, pool_size=SQLITE_POOL_SIZE, hide_parameters=True,
                connect_args={"check_same_thread": False},
            )
            sa.event.listen(self.engine, "connect", _write_ahead_log)
            sa.event.listen(self.engine, "connect", lambda *_: owner_only(self.sqlite_path))
            logger.debug("SQLite tracker store with a pool of %d connections", SQLITE_POOL_SIZE)
        elif self.engine.dialect.name == "postgresql":
            self.engine = sa.create_engine(url, hide_parameters=True, **postgresql_engine_kwargs(url, self.timeout_s))
        else:
            self.engine = sa.create_engine(url, hide_parameters=True)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        pool_size = getattr(self.engine.pool, "size", lambda: SQLITE_POOL_SIZE)()
        self._executor = ThreadPoolExecutor(max_workers=max(2, pool_size), thread_name_prefix="tracker-store")

    async def _in_thread(self, work: Callable[..., T], *args: Any) -> T:
        """Run blocking database work in the store's threads, waited for at most `timeout_s`."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._executor, functools.partial(work, *args)),
                                          timeout=self.timeout_s)
        except asyncio.TimeoutError:  # not asyncio's: callers (the guard) would take it for their own timeout
            raise TrackerStoreTimeout(f"the database did not answer within {self.timeout_s:.0f} s") from None

    def _event_queries(self) -> Tuple[Any, Any, Any]:
        """Rasa's `_event_query` (latest session; all sessions; the count of the latest session's rows, which
        Rasa's save runs first) as statements built once, selecting only the `data` column, with the sender
        id as a parameter: Rasa builds an ORM query with a sub-query for every read, which cost more than
        running it."""
        events = self.SQLEvent.__table__
        sender = sa.bindparam("sender_id")
        session_start = (
            sa.select(sa.func.max(events.c.timestamp).label("session_start"))
            .where(events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name)
            .subquery()
        )
        in_latest_session = (
            events.c.sender_id == sender,
            # events from the latest session start on, or all events if no session started yet
            sa.or_(events.c.timestamp >= session_start.c.session_start, session_start.c.session_start.is_(None)),
        )
        latest_session = sa.select(events.c.data).where(*in_latest_session).order_by(events.c.id)
        all_sessions = sa.select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id)
        latest_session_count = sa.select(sa.func.count()).select_from(events).where(*in_latest_session)
        return latest_session, all_sessions, latest_session_count

    async def _retrieve(
        self, sender_id: Text, fetch_events_from_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        """Rasa's `_retrieve`; a tracker of the latest session also notes how many rows it was read from.

        The rows are counted, not the tracker's events: Rasa drops rows it cannot read as events (old
        `topic` events), and its count query before a save counts rows."""
        query = self._all_events if fetch_events_from_all_sessions else self._latest_session_events
        rows = await self._in_thread(self._read_rows, query, sender_id)
        events = [json.loads(data) for data in rows]
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not fetch_events_from_all_sessions:
            setattr(tracker, STORED_EVENTS, len(rows))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save: the same rows, in one multi-row INSERT instead of one ORM object per event; a
        tracker just read by `retrieve` skips the count query once."""
        await self.stream_events(tracker)
        await self._in_thread(self._write_new_events, tracker)
        if hasattr(tracker, STORED_EVENTS):
            delattr(tracker, STORED_EVENTS)  # a second save of the same tracker counts again, as Rasa does

    def _read_rows(self, query: Any, sender_id: Text) -> list:
        with self.session_scope() as session:
            return session.execute(query, {"sender_id": sender_id}).scalars().all()

    def _write_new_events(self, tracker: DialogueStateTracker) -> None:
        with self.session_scope() as session:
            rows = [self._row(tracker.sender_id, event) for event in self._additional_events(session, tracker)]
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()

    async def has_conversation(self, sender_id: Text) -> bool:
        """Whether any event of the conversation is stored (one indexed row, not the whole tracker)."""
        events = self.SQLEvent.__table__
        query = sa.select(events.c.id).where(events.c.sender_id == sa.bindparam("sender_id")).limit(1)
        return bool(await self._in_thread(self._read_rows, query, sender_id))

    async def erase(self, sender_id: Text) -> int:
        """Delete every stored event of one conversation; the number of events deleted."""
        events = self.SQLEvent.__table__
        return await self._in_thread(self._delete, events.delete().where(events.c.sender_id == sender_id))

    async def delete_older_than(self, timestamp: float) -> int:
        """Delete every event stored before `timestamp` (retention); the number of events deleted."""
        events = self.SQLEvent.__table__
        return await self._in_thread(self._delete, events.delete().where(events.c.timestamp < timestamp))

    def _delete(self, statement: Any) -> int:
        with self.session_scope() as session:
            deleted = session.execute(statement).rowcount or 0
            session.commit()
        if self.sqlite_path is not None and deleted:
            with self.engine.connect() as connection:  # move the zeroed pages into the file, empty the log
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted

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
        """The tracker's events the database does not hold yet: after Rasa's count of the latest session's
        rows (with the statement built once), or, for a tracker just read by `retrieve`, after the rows read
        (no count query)."""
        stored: Optional[int] = getattr(tracker, STORED_EVENTS, None)
        if stored is None:
            stored = session.execute(self._latest_session_count, {"sender_id": tracker.sender_id}).scalar()
        return itertools.islice(tracker.events, stored, len(tracker.events))
