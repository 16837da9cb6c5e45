"""stores/sql_tracker_store.py writes exactly the rows Rasa's SQLTrackerStore writes, in the same order, for
the same conversations, while skipping the count query when it saves a tracker it has just read.

Each scenario is played against both stores on their own SQLite files; the rows (type, data) must be equal.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Callable, List, Tuple

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore as RasaSQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered

from stores.sql_tracker_store import STORED_EVENTS, SQLTrackerStore, TrackerStoreTimeout
from tests.conftest import PROJECT_ROOT

DOMAIN = Domain.load(PROJECT_ROOT / "domain.yml")
Rows = List[Tuple]
START = time.time() + 86400  # after any action_listen Rasa stamps with the clock when it creates a tracker


def turn(text: str, topic: str, offset: float) -> List[Event]:
    """One question and its answer, as the processor appends them, `offset` seconds after START."""
    timestamp = START + offset
    return [
        UserUttered(text, {"name": "ask_causes", "confidence": 0.9}, timestamp=timestamp),
        ActionExecuted("action_answer", timestamp=timestamp + 0.1),
        BotUttered(f"answer to {text}", timestamp=timestamp + 0.2),
        SlotSet("topic", topic, timestamp=timestamp + 0.3),
        ActionExecuted("action_listen", timestamp=timestamp + 0.4),
    ]


def rows(path: Path) -> Rows:
    """The stored events in order, every column but the id; the clock's timestamps of events Rasa makes
    itself (before START) are left out."""
    with sqlite3.connect(path) as connection:
        stored = connection.execute(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id"
        ).fetchall()
    return [
        (sender, type_name, timestamp if timestamp >= START else "clock", intent, action,
         json.dumps({k: v for k, v in json.loads(data).items() if k != "timestamp"}))
        for sender, type_name, timestamp, intent, action, data in stored
    ]


async def one_conversation(store: RasaSQLTrackerStore) -> None:
    """Messages, a save with nothing new, a second save of the same tracker, a new session."""
    tracker = await store.get_or_create_tracker("alice")  # new: created and saved
    for number in range(3):
        tracker = await store.retrieve("alice")
        for event in turn(f"question {number}", "causes", 1000.0 + number):
            tracker.update(event)
        await store.save(tracker)
    tracker = await store.retrieve("alice")
    await store.save(tracker)  # nothing new
    tracker = await store.retrieve("alice")
    for event in turn("question 3", "symptoms", 1010.0):
        tracker.update(event)
    await store.save(tracker)
    for event in turn("question 4", "symptoms", 1020.0):
        tracker.update(event)
    await store.save(tracker)  # the same tracker again, without reading it first
    tracker = await store.retrieve("alice")
    for event in [ActionExecuted("action_session_start", timestamp=START + 2000.0),
                  SessionStarted(timestamp=START + 2000.1), ActionExecuted("action_listen", timestamp=START + 2000.2),
                  *turn("question 5", "causes", 2001.0)]:
        tracker.update(event)
    await store.save(tracker)
    tracker = await store.retrieve("alice")  # the new session only
    for event in turn("question 6", "causes", 2010.0):
        tracker.update(event)
    await store.save(tracker)


async def interleaved_conversations(store: RasaSQLTrackerStore) -> None:
    for number in range(4):
        for sender in ("bob", "carol"):
            tracker = await store.get_or_create_tracker(sender)
            for event in turn(f"{sender} {number}", "causes", 3000.0 + number):
                tracker.update(event)
            await store.save(tracker)


async def full_tracker_saved(store: RasaSQLTrackerStore) -> None:
    """A full tracker (all sessions) is saved the way Rasa saves it, whatever that gives."""
    await one_conversation(store)
    tracker = await store.retrieve_full_tracker("alice")
    assert not hasattr(tracker, STORED_EVENTS)
    for event in turn("question 7", "causes", 4000.0):
        tracker.update(event)
    await store.save(tracker)


SCENARIOS: List[Callable] = [one_conversation, interleaved_conversations, full_tracker_saved]


def play(store_class: type, path: Path, scenario: Callable) -> Rows:
    store = store_class(domain=DOMAIN, host=f"sqlite:///{path}")
    asyncio.run(scenario(store))
    store.engine.dispose()
    return rows(path)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
def test_same_rows_as_rasa(tmp_path: Path, scenario: Callable) -> None:
    ours = play(SQLTrackerStore, tmp_path / "ours.db", scenario)
    rasa = play(RasaSQLTrackerStore, tmp_path / "rasa.db", scenario)
    assert ours == rasa
    assert len(ours) > 20


def test_every_event_once_in_order(tmp_path: Path) -> None:
    stored = play(SQLTrackerStore, tmp_path / "ours.db", one_conversation)
    texts = [row[-1] for row in stored if row[1] == "user"]
    assert [f"question {n}" in text for n, text in enumerate(texts)] == [True] * 7
    assert len(stored) == 1 + 7 * 5 + 3  # created with action_listen; 7 turns; a new session


def test_a_tracker_just_read_is_saved_with_one_insert_and_no_count_query(tmp_path: Path) -> None:
    store = SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{tmp_path / 'ours.db'}")
    statements: List[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *args: statements.append(statement))

    async def message() -> None:
        await store.get_or_create_tracker("dave")
        tracker = await store.retrieve("dave")
        statements.clear()
        for event in turn("hello", "causes", 5000.0):
            tracker.update(event)
        await store.save(tracker)
        assert not hasattr(tracker, STORED_EVENTS)

    asyncio.run(message())
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")  # one multi-row insert
    store.engine.dispose()


def test_sqlite_connections_are_pooled(tmp_path: Path) -> None:
    store = SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{tmp_path / 'ours.db'}")
    assert isinstance(store.engine.pool, sa.pool.QueuePool)
    assert store.sessionmaker.kw["bind"] is store.engine
    store.engine.dispose()


def test_sqlite_commits_stay_durable(tmp_path: Path) -> None:
    store = SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{tmp_path / 'ours.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.engine.dispose()


def test_reads_the_same_trackers_as_rasa(tmp_path: Path) -> None:
    """After a second session started: the latest session only, and all sessions, as Rasa reads them."""
    path = tmp_path / "conversation.db"
    play(SQLTrackerStore, path, one_conversation)

    async def read(store_class: type) -> Tuple[List[Event], List[Event], object]:
        store = store_class(domain=DOMAIN, host=f"sqlite:///{path}")
        latest, full = await store.retrieve("alice"), await store.retrieve_full_tracker("alice")
        missing = await store.retrieve("nobody")
        store.engine.dispose()
        return list(latest.events), list(full.events), missing

    ours, rasa = asyncio.run(read(SQLTrackerStore)), asyncio.run(read(RasaSQLTrackerStore))
    assert ours == rasa
    latest, full, missing = ours
    assert missing is None
    assert len(full) == len(rows(path))
    assert len(latest) == 2 + 2 * 5  # from session_started on: it, action_listen and two turns


# ------------------------------------------------------------------------------------------------------
# Privacy and faults (issue 13): what a failure shows, what erasure leaves, who can read the file, and a
# database that hangs.

SECRET_WORDS = "numbness in my left foot since the fall"


def stored_bytes(path: Path) -> bytes:
    """Everything on disk for a SQLite database: the file, its write-ahead log and its index."""
    return b"".join(candidate.read_bytes() for candidate in path.parent.glob(path.name + "*"))


async def save_one_turn(store: RasaSQLTrackerStore, sender: str = "patient", text: str = SECRET_WORDS) -> None:
    tracker = await store.get_or_create_tracker(sender)
    for event in turn(text, "red_flag", 6000.0):
        tracker.update(event)
    await store.save(tracker)


@pytest.mark.parametrize("store_class, hidden", [(SQLTrackerStore, True), (RasaSQLTrackerStore, False)],
                         ids=["project", "rasa"])
def test_database_errors_do_not_carry_the_message_in_their_parameters(tmp_path: Path, store_class: type,
                                                                       hidden: bool) -> None:
    """SQLAlchemy puts a failed statement's parameters into the error, which Rasa logs; not with ours."""
    store = store_class(domain=DOMAIN, host=f"sqlite:///{tmp_path / 'broken.db'}")

    async def fail() -> str:
        tracker = await store.get_or_create_tracker("patient")
        with sqlite3.connect(tmp_path / "broken.db") as connection:
            connection.execute("DROP TABLE events")
        for event in turn(SECRET_WORDS, "red_flag", 6000.0):
            tracker.update(event)
        with pytest.raises(sa.exc.OperationalError) as error:
            await store.save(tracker)
        return str(error.value)

    message = asyncio.run(fail())
    store.engine.dispose()
    assert (SECRET_WORDS not in message and "patient" not in message) is hidden, message
    assert ("parameters hidden" in message) is hidden


def test_erasing_a_conversation_removes_its_words_from_the_files(tmp_path: Path) -> None:
    path = tmp_path / "erase.db"
    store = SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{path}")

    async def scenario() -> int:
        await save_one_turn(store, "patient")
        await save_one_turn(store, "someone-else", "what is gua sha")
        assert SECRET_WORDS.encode() in stored_bytes(path)
        assert await store.has_conversation("patient")
        deleted = await store.erase("patient")
        assert not await store.has_conversation("patient") and await store.has_conversation("someone-else")
        return deleted

    assert asyncio.run(scenario()) > 5
    assert SECRET_WORDS.encode() not in stored_bytes(path)  # zeroed, and the log checkpointed
    assert b"what is gua sha" in stored_bytes(path)
    store.engine.dispose()


def test_retention_deletes_what_is_older_than_the_cutoff(tmp_path: Path) -> None:
    path = tmp_path / "retention.db"
    store = SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{path}")

    async def scenario() -> None:
        await save_one_turn(store, "old-conversation", "an old question")
        with sqlite3.connect(path) as connection:  # 40 days ago
            connection.execute("UPDATE events SET timestamp = timestamp - 86400 * 40 - 86400 "
                               "WHERE sender_id = 'old-conversation'")
        await save_one_turn(store, "recent-conversation", "a recent question")
        deleted = await store.delete_older_than(time.time() - 30 * 86400)
        assert deleted >= 5
        assert not await store.has_conversation("old-conversation")
        assert await store.has_conversation("recent-conversation")

    asyncio.run(scenario())
    assert b"an old question" not in stored_bytes(path) and b"a recent question" in stored_bytes(path)
    store.engine.dispose()


def test_the_database_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "modes.db"
    store = SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{path}")
    asyncio.run(save_one_turn(store))
    modes = {candidate.name: candidate.stat().st_mode & 0o777 for candidate in tmp_path.glob("modes.db*")}
    store.engine.dispose()
    assert "modes.db" in modes and "modes.db-wal" in modes
    assert set(modes.values()) == {0o600}, modes


def test_a_hung_database_fails_the_call_in_bounded_time_without_blocking_the_server(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    """Another writer holds the database: the save waits at most STORE_TIMEOUT_S, and the event loop keeps
    running meanwhile (Rasa ran its SQL in the loop: every conversation of the server waited)."""
    monkeypatch.setenv("STORE_TIMEOUT_S", "1")
    path = tmp_path / "hung.db"
    store = SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{path}")
    asyncio.run(store.get_or_create_tracker("patient"))
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # holds the write lock

    async def scenario() -> Tuple[float, int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        started = time.monotonic()
        with pytest.raises(TrackerStoreTimeout):
            await save_one_turn(store)
        elapsed = time.monotonic() - started
        ticker.cancel()
        return elapsed, ticks

    try:
        elapsed, ticks = asyncio.run(scenario())
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.engine.dispose()
    assert 0.9 <= elapsed < 3, elapsed
    assert ticks >= 10  # the loop went on while the save waited
