"""No patient's words and no raw sender id in any log line written while a message is handled.

The project's own log lines never name a message's text or a raw sender id (they use
`channels.identity.log_id`). Rasa, Sanic and SQLAlchemy are another matter: some of their lines quote the
text ("/ my toes went numb" fails to parse as an intent payload and is logged in full at WARNING), the sender
id ("Circuit breaker tripped ... for sender '...'"), or both inside an exception's message. Such lines are
written while the message is being handled, in the task that handles it.

So the channels mark what must not be logged (`redacting(text, sender id, chat id, ...)`, a context
variable, so it follows the message through every await and into tasks started from it), and a log record
factory, installed once for the whole process, replaces those strings in every record made inside that
context: in the message, its arguments and a formatted traceback. This is a safety net behind the project's
own discipline and Rasa's anonymisation hook (channels/hardening.py), not a replacement: lines logged in
other contexts are not covered, which is why tests/test_privacy_logs.py greps every log file.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from typing import Any, Iterator, Optional, Tuple

REDACTED = "<redacted>"
# Strings shorter than this are not redacted: "hi" would otherwise be cut out of every word that holds it,
# and such short texts say nothing about anyone's health.
MIN_REDACTED_CHARS = 3

_secrets: contextvars.ContextVar[Tuple[str, ...]] = contextvars.ContextVar("log_privacy_secrets", default=())
_previous_factory: Optional[Any] = None


def _variants(value: str) -> Tuple[str, ...]:
    """The forms a string takes in log lines: as is, lower-cased, JSON-escaped, Python's repr, and without
    a leading "/" (Rasa quotes a text it cannot parse as an intent payload without its slash)."""
    forms = set()
    for base in {value, value.lstrip("/").strip()}:
        forms |= {base, base.lower(), json.dumps(base)[1:-1], json.dumps(base, ensure_ascii=False)[1:-1],
                  repr(base)[1:-1]}
    return tuple(form for form in forms if len(form) >= MIN_REDACTED_CHARS)


@contextlib.contextmanager
def redacting(*values: Any) -> Iterator[None]:
    """Inside this block, log records of this task (and tasks it starts) never contain these values."""
    found = []
    for value in values:
        if value is None:
            continue
        text = str(value).strip()
        if len(text) >= MIN_REDACTED_CHARS:
            found.extend(_variants(text))
            found.extend(_variants(str(value)))
    # Longest first, so that a text is replaced whole before a shorter secret inside it.
    combined = tuple(sorted(set(_secrets.get()) | set(found), key=len, reverse=True))
    token = _secrets.set(combined)
    try:
        yield
    finally:
        _secrets.reset(token)


def redact(text: str, secrets: Tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_record(record: logging.LogRecord, secrets: Tuple[str, ...]) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: keep it as Rasa made it, minus the arguments
        message = str(record.msg)
    redacted = redact(message, secrets)
    if redacted != message:
        record.msg, record.args = redacted, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info), secrets)
    if record.stack_info:
        record.stack_info = redact(record.stack_info, secrets)


def _factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _previous_factory(*args, **kwargs)  # type: ignore[misc]
    secrets = _secrets.get()
    if secrets:
        _redact_record(record, secrets)
    return record


def capture_warnings() -> None:
    """Send Python warnings through logging (so through the redaction) instead of straight to stderr:
    Rasa reports a message it cannot parse as an intent payload ("/ my toes went numb") with
    `warnings.warn`, quoting it whole. Called when the server starts, not on import, so that importing the
    channels (tests, tools) leaves warnings alone."""
    logging.captureWarnings(True)


def install() -> None:
    """Make every log record of the process pass through the redaction (idempotent)."""
    global _previous_factory
    if logging.getLogRecordFactory() is _factory:
        return
    _previous_factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_factory)
