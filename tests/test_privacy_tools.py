"""Staff's erasure (`make forget`, scripts/privacy.py) and the retention period (`make retention`, and the
server's daily `PrivacyJobs`), on a SQLite store made here."""
from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import List

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from channels.identity import telegram_sender, web_sender
from channels.privacy import PrivacyJobs
from stores.sql_tracker_store import SQLTrackerStore
from tests.conftest import PROJECT_ROOT

DOMAIN = Domain.load(PROJECT_ROOT / "domain.yml")
SECRET = "tools-test-secret-" + "0" * 32


def make_store(path: Path) -> SQLTrackerStore:
    return SQLTrackerStore(domain=DOMAIN, host=f"sqlite:///{path}")


def add_message(store: SQLTrackerStore, sender: str, text: str, age_days: float = 0.0) -> None:
    async def add() -> None:
        tracker = await store.get_or_create_tracker(sender)
        tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}, timestamp=time.time() - age_days * 86400))
        await store.save(tracker)

    asyncio.run(add())


def senders(path: Path) -> List[str]:
    with sqlite3.connect(path) as connection:
        return sorted({row[0] for row in connection.execute("SELECT sender_id FROM events")})


def make(*arguments: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *arguments], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_make_forget_erases_one_conversation_by_sender_telegram_chat_or_web_session(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"
    store = make_store(path)
    odd_sender = 'x"; touch ' + str(tmp_path / "pwned") + '; echo "'  # what a careless copy-paste could hold
    session = "0123456789abcdef01234567deadbeef"
    for sender in (odd_sender, "keep-me", telegram_sender(4711, SECRET.encode()), web_sender(session, SECRET.encode())):
        add_message(store, sender, "my heel hurts")
    store.engine.dispose()
    env = dict(os.environ, TRACKER_STORE_URL=f"sqlite:///{path}", PRIVACY_SECRET=SECRET)
    for arguments in ([f"SENDER={odd_sender}"], ["TELEGRAM_CHAT=4711"], [f"WEB_SESSION={session}"]):
        result = make("forget", *arguments, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Erased conversation c-" in result.stderr and "events deleted" in result.stderr
    assert senders(path) == ["keep-me"]
    assert not (tmp_path / "pwned").exists()  # the value went to the script, never into a shell command
    assert make("forget", env=env).returncode != 0  # no one named: a usage message, nothing erased


def test_make_retention_deletes_only_what_is_older_than_retention_days(tmp_path: Path) -> None:
    path = tmp_path / "conversations.db"
    store = make_store(path)
    add_message(store, "old", "asked 10 days ago", age_days=10)
    add_message(store, "recent", "asked 2 days ago", age_days=2)
    store.engine.dispose()
    env = dict(os.environ, TRACKER_STORE_URL=f"sqlite:///{path}", RETENTION_DAYS="7")
    result = make("retention", env=env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(path) as connection:
        texts = [row[0] for row in connection.execute("SELECT data FROM events WHERE type_name = 'user'")]
    assert not [t for t in texts if "10 days ago" in t] and [t for t in texts if "2 days ago" in t]


def test_the_servers_daily_job_applies_retention_days(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RETENTION_DAYS", "5")
    store = make_store(tmp_path / "conversations.db")
    add_message(store, "old", "asked 6 days ago", age_days=6)
    add_message(store, "recent", "asked today")
    jobs = PrivacyJobs({"retention_interval_hours": 24})
    jobs.conversations.store = lambda: store  # what the running server's agent would give it
    deleted = asyncio.run(jobs.delete_expired())
    assert deleted == 1
    assert asyncio.run(store.has_conversation("recent"))
    store.engine.dispose()
