"""Changes to Rasa 3.6's own behaviour for privacy and safety, applied when the project's channels are loaded.

Each replaces one piece of Rasa, says what and why, and keeps Rasa's behaviour otherwise:

- **The HTTP API's token in a header.** Rasa's `requires_auth` (rasa/server.py) accepts the token only as
  `?token=`, so it travels in URLs, which proxies, browsers and nginx's error log keep; and it compares it
  with `==`. Here `Authorization: Bearer <token>` is accepted too, and both are compared in constant time.
  Anything else (JWT, no token configured) goes to Rasa's own check. It is patched before Rasa builds its
  routes: the channels are imported (rasa/core/run.py, `create_http_input_channels`) before
  `server.create_app`.
- **No pretend saves.** Rasa wraps the tracker store in `FailSafeTrackerStore`, which, when the database
  fails, logs the error, reads an empty conversation and saves the turn in memory. The person is answered
  as if their conversation had been kept, and it is lost at the next message or restart (and a new,
  empty conversation restarts the disclaimer). Here a failed read or save raises: the turn fails, nothing
  is sent that was not saved (channels/privacy.py), and the person gets the polite "can't answer right
  now" of channels/guard.py, so they know to send it again.
- **Log records without message text or sender ids** while a message is handled (channels/log_privacy.py).
"""
from __future__ import annotations

import functools
import hmac
import logging
from inspect import isawaitable
from typing import Any, Callable, Optional, Text

import rasa.server
from rasa.core.tracker_store import FailSafeTrackerStore
from sanic.request import Request

from channels import log_privacy

logger = logging.getLogger(__name__)

RASA_REQUIRES_AUTH = rasa.server.requires_auth  # Rasa's own, used for everything but a matching token
BEARER = "bearer"


def bearer_token(request: Request) -> Optional[str]:
    """The token of an `Authorization: Bearer <token>` header, if the request has one."""
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == BEARER and value.strip() else None


def token_matches(offered: Optional[str], token: Optional[str]) -> bool:
    """Constant-time comparison; a missing token or offer never matches."""
    if not offered or not token:
        return False
    return hmac.compare_digest(offered.encode("utf-8"), token.encode("utf-8"))


def requires_auth(app: Any, token: Optional[Text] = None) -> Callable:
    """Rasa's `requires_auth`, also accepting the token as a bearer header, compared in constant time."""
    rasa_decorator = RASA_REQUIRES_AUTH(app, token)

    def decorator(f: Callable) -> Callable:
        rasa_checked = rasa_decorator(f)

        @functools.wraps(f)
        async def decorated(request: Request, *args: Any, **kwargs: Any) -> Any:
            if token is not None and (token_matches(bearer_token(request), token)
                                      or token_matches(request.args.get("token"), token)):
                result = f(request, *args, **kwargs)
                return await result if isawaitable(result) else result
            return await rasa_checked(request, *args, **kwargs)

        return decorated

    return decorator


async def _retrieve_or_raise(self: FailSafeTrackerStore, sender_id: Text) -> Any:
    """FailSafeTrackerStore.retrieve without the empty-conversation fallback."""
    return await self._tracker_store.retrieve(sender_id)


async def _retrieve_full_or_raise(self: FailSafeTrackerStore, sender_id: Text) -> Any:
    """FailSafeTrackerStore.retrieve_full_tracker without the empty-conversation fallback."""
    return await self._tracker_store.retrieve_full_tracker(sender_id)


async def _save_or_raise(self: FailSafeTrackerStore, tracker: Any) -> None:
    """FailSafeTrackerStore.save without the in-memory fallback."""
    await self._tracker_store.save(tracker)


def apply() -> None:
    """Install the changes (idempotent)."""
    log_privacy.install()
    if rasa.server.requires_auth is not requires_auth:
        rasa.server.requires_auth = requires_auth
        logger.debug("The HTTP API accepts its token as 'Authorization: Bearer'")
    if FailSafeTrackerStore.save is not _save_or_raise:
        FailSafeTrackerStore.retrieve = _retrieve_or_raise
        FailSafeTrackerStore.retrieve_full_tracker = _retrieve_full_or_raise
        FailSafeTrackerStore.save = _save_or_raise
        logger.debug("Tracker store failures fail the turn instead of falling back to memory")
