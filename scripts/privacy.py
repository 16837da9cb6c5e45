"""Staff tools for the stored conversations (docs/privacy.md): erase one now, or apply the retention period.

    make forget SENDER=<sender id>            one conversation, by its stored sender id
    make forget TELEGRAM_CHAT=<chat id>       a Telegram user's conversation (they can tell you their chat id)
    make forget WEB_SESSION=<session id>      a website visitor's (the id the widget keeps in the browser)
    make retention                            every event older than RETENTION_DAYS (default 30)

The conversation store is TRACKER_STORE_URL (as for the server). Telegram and web conversations are stored
under keyed hashes (channels/identity.py), so those need the server's PRIVACY_SECRET: taken from the
environment, or from the file scripts/run.sh keeps it in (`--secret-file`, default var/privacy-secret).
A message being answered at the very moment of `forget` may leave that one turn behind: run it again
after a few seconds to be sure (the person's own erasure, "delete my conversation", takes the lock).

Exit codes: 0 done, 2 bad arguments or settings.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

logger = logging.getLogger("privacy")


def open_store(url: str):
    """The project's SQL tracker store on TRACKER_STORE_URL (hidden SQL parameters, secure deletes)."""
    from stores.sql_tracker_store import SQLTrackerStore

    return SQLTrackerStore(host=url)


def secret_from(path: Path) -> None:
    """PRIVACY_SECRET from the environment, else from the server's secret file."""
    from channels.identity import MIN_SECRET_CHARS, SECRET_ENV

    if len(os.environ.get(SECRET_ENV, "").strip()) >= MIN_SECRET_CHARS:
        return
    if not path.is_file():
        raise SystemExit(f"{SECRET_ENV} is not set and {path} does not exist: it is needed for Telegram and web "
                         "conversations, whose stored ids are keyed hashes")
    os.environ[SECRET_ENV] = path.read_text().strip()


def sender_of(arguments: argparse.Namespace) -> str:
    from channels.identity import telegram_sender, web_sender

    if arguments.sender:
        return arguments.sender
    secret_from(arguments.secret_file)
    if arguments.telegram_chat is not None:
        return telegram_sender(arguments.telegram_chat)
    return web_sender(arguments.web_session.strip())


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", default=os.environ.get("TRACKER_STORE_URL", ""),
                        help="SQLAlchemy URL of the conversations (TRACKER_STORE_URL)")
    parser.add_argument("--secret-file", type=Path, default=PROJECT_ROOT / "var" / "privacy-secret")
    commands = parser.add_subparsers(dest="command", required=True)
    forget = commands.add_parser("forget", help="erase one conversation")
    who = forget.add_mutually_exclusive_group(required=True)
    who.add_argument("--sender", help="the stored sender id (REST senders, or as found in the store)")
    who.add_argument("--telegram-chat", type=int, help="a Telegram chat id")
    who.add_argument("--web-session", help="the widget's session id")
    retention = commands.add_parser("retention", help="delete every event older than RETENTION_DAYS")
    retention.add_argument("--days", type=int, help="instead of RETENTION_DAYS")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not arguments.store_url:
        logger.error("TRACKER_STORE_URL is not set (e.g. sqlite:///var/conversations.db)")
        return 2

    from channels.identity import log_id
    from channels.privacy import retention_days

    store = open_store(arguments.store_url)
    try:
        if arguments.command == "forget":
            sender = sender_of(arguments)
            deleted = asyncio.run(store.erase(sender))
            logger.info("Erased conversation %s: %d events deleted", log_id(sender), deleted)
            return 0
        days = arguments.days if arguments.days is not None else retention_days()
        if days < 1:
            logger.error("--days must be at least 1")
            return 2
        deleted = asyncio.run(store.delete_older_than(time.time() - days * 86400))
        logger.info("Retention: deleted %d events older than %d days", deleted, days)
        return 0
    finally:
        store.engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
