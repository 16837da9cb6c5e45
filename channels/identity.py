"""Who a conversation belongs to: sender ids namespaced by channel, pseudonyms, server-issued web sessions.

Rasa keys every conversation by a sender id that the channel chooses. Before, every channel shared one
namespace and the caller chose the id: a REST caller could post as a Telegram user (whose chat id is no
secret) and a socket.io client could ask for any session id. Now:

- **REST** keeps the `sender` its (authenticated) caller gives, so an integration finds its conversation with
  `GET /conversations/<sender>/tracker`; it may not start with a reserved prefix (`telegram:`, `web:`).
- **Telegram** conversations are `telegram:<keyed hash of the chat id>`: the database never holds a chat id,
  and nobody without the server's secret can tell which chat a conversation is.
- **Web** (socket.io) sessions are issued by the server: 24 random hex digits and 8 of an HMAC over them, so
  the server recognises its own ids (a made-up id gets a fresh session). The conversation is
  `web:<keyed hash of the session id>`, so whoever can read the database or the tracker API cannot use
  what they read to join a visitor's live session.

The secret (`PRIVACY_SECRET`, at least 32 characters) must be the same on every replica and stay the same
across restarts (scripts/run.sh keeps one in var/, deploy/scale-out.sh in its secrets/). Without it the
server makes one up for this process only and says so: pseudonyms and web sessions then change at restart.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import re
import secrets
from typing import Mapping, Optional, Tuple

logger = logging.getLogger(__name__)

SECRET_ENV = "PRIVACY_SECRET"
MIN_SECRET_CHARS = 32
TELEGRAM_PREFIX = "telegram:"
WEB_PREFIX = "web:"
# Sender-id prefixes of the channels whose ids are made by the server; REST senders may not use them.
RESERVED_PREFIXES: Tuple[str, ...] = (TELEGRAM_PREFIX, WEB_PREFIX)
PSEUDONYM_HEX = 32  # 128 bits of the HMAC: no collisions among any realistic number of people
LOG_ID_HEX = 12  # short, for correlating log lines of one conversation; not the stored id
SESSION_RANDOM_HEX = 24  # 96 random bits
SESSION_TAG_HEX = 8
SESSION_FORMAT = re.compile(rf"^[0-9a-f]{{{SESSION_RANDOM_HEX + SESSION_TAG_HEX}}}$")


@functools.lru_cache(maxsize=1)
def _process_secret() -> bytes:
    logger.warning("%s is not set (or shorter than %d characters): pseudonyms and web sessions are valid for "
                   "this server process only and change when it restarts", SECRET_ENV, MIN_SECRET_CHARS)
    return secrets.token_bytes(32)


def server_secret(env: Mapping[str, str] = os.environ) -> bytes:
    """The key of every pseudonym and session tag (PRIVACY_SECRET)."""
    value = env.get(SECRET_ENV, "").strip()
    if len(value) >= MIN_SECRET_CHARS:
        return value.encode("utf-8")
    return _process_secret()


def _mac(purpose: str, value: str, secret: Optional[bytes] = None) -> str:
    key = secret if secret is not None else server_secret()
    return hmac.new(key, f"{purpose}\x00{value}".encode("utf-8"), hashlib.sha256).hexdigest()


def telegram_sender(chat_id: int, secret: Optional[bytes] = None) -> str:
    """The stored sender id of a Telegram chat: a keyed hash, never the chat id itself."""
    return TELEGRAM_PREFIX + _mac("telegram", str(chat_id), secret)[:PSEUDONYM_HEX]


def new_web_session(secret: Optional[bytes] = None) -> str:
    """A session id for the widget: random, with a tag that shows this server issued it."""
    random_part = secrets.token_hex(SESSION_RANDOM_HEX // 2)
    return random_part + _mac("web-session", random_part, secret)[:SESSION_TAG_HEX]


def is_issued_web_session(session_id: object, secret: Optional[bytes] = None) -> bool:
    """Whether a session id a client sent back was issued by this server (constant-time check)."""
    if not isinstance(session_id, str) or not SESSION_FORMAT.match(session_id):
        return False
    random_part, tag = session_id[:SESSION_RANDOM_HEX], session_id[SESSION_RANDOM_HEX:]
    return hmac.compare_digest(tag, _mac("web-session", random_part, secret)[:SESSION_TAG_HEX])


def web_sender(session_id: str, secret: Optional[bytes] = None) -> str:
    """The stored sender id of a web session: a keyed hash of the session id the widget holds."""
    return WEB_PREFIX + _mac("web", session_id, secret)[:PSEUDONYM_HEX]


def log_id(sender_id: object) -> str:
    """What log lines say instead of a sender id: a short keyed hash (the same conversation, the same id)."""
    return "c-" + _mac("log", str(sender_id))[:LOG_ID_HEX]


def reserved_prefix(sender_id: str) -> Optional[str]:
    """The reserved prefix a client-chosen sender id starts with (case-insensitive), if any."""
    lowered = sender_id.strip().lower()
    return next((prefix for prefix in RESERVED_PREFIXES if lowered.startswith(prefix)), None)
