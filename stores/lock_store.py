"""Conversation locks that let a waiting message go as soon as the one before it is done.

Rasa 3.6's `LockStore.lock` serves one conversation's messages one at a time with a ticket lock, and a
message that finds another ahead of it checks again only after `wait_time_in_seconds`, one second. Two
messages sent at once in one conversation (people on Telegram often send two or three short lines in a
row) were answered 30 ms and 1,035 ms after they were sent.

`WakeUpLockStore.lock` keeps Rasa's tickets and order, and:

- wakes the next waiting message of the conversation on this server the moment the ticket before it is
  finished (an asyncio event per conversation), so on one server it goes on at once;
- otherwise checks the store every `poll_interval` seconds (default 0.02), which is what lets a message
  waiting on one replica go on soon after another replica finished (Redis, stores/redis_lock_store.py);
- drops expired tickets (Rasa's `update_lock`) about once a second, as Rasa did, not at every check.

The number of messages that may wait per conversation is bounded by the channels (channels/abuse.py), so
checking more often cannot multiply into a flood of lock-store calls.

`InMemoryLockStore` is Rasa's in-memory store with this `lock`, for one server:

    lock_store:
      type: stores.lock_store.InMemoryLockStore
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Callable, Dict, Optional, Text, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore as RasaInMemoryLockStore, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_POLL_INTERVAL_S = 0.02
EXPIRY_CHECK_S = 1.0


class WakeUpLockStore(LockStore):
    """Rasa's ticket lock, with waiting messages woken at once on this server and polled quickly otherwise.

    Subclasses may override `_call` to run the (blocking) store operations elsewhere, e.g. in a thread."""

    poll_interval: float = DEFAULT_POLL_INTERVAL_S

    def _wake_up_events(self) -> Dict[Text, asyncio.Event]:
        if not hasattr(self, "_events"):
            self._events: Dict[Text, asyncio.Event] = {}
        return self._events

    async def _call(self, operation: Callable[..., T], *args: Any) -> T:
        """Run one store operation (issue_ticket, get_lock, ...)."""
        return operation(*args)

    def _wake_up(self, conversation_id: Text) -> None:
        event = self._wake_up_events().pop(conversation_id, None)
        if event is not None:
            event.set()

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: Text,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: Optional[float] = None,
    ) -> AsyncGenerator[TicketLock, None]:
        """Acquire the conversation's lock (see Rasa's `LockStore.lock`); `wait_time_in_seconds` is the
        longest wait between two checks (default `poll_interval`)."""
        ticket = await self._call(self.issue_ticket, conversation_id, lock_lifetime)
        try:
            yield await self._acquire(conversation_id, ticket, wait_time_in_seconds or self.poll_interval)
        finally:
            try:
                await self._call(self.cleanup, conversation_id, ticket)
            finally:
                self._wake_up(conversation_id)

    async def _acquire(self, conversation_id: Text, ticket: int, poll_interval: float) -> TicketLock:
        expiry_checked = time.monotonic()
        while True:
            # The event is taken before the check, so a ticket finished during the check still wakes us.
            event = self._wake_up_events().setdefault(conversation_id, asyncio.Event())
            lock = await self._call(self.get_lock, conversation_id)
            if not lock:  # expired or deleted: as Rasa, the message cannot be served
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(ticket):
                return lock
            try:
                await asyncio.wait_for(event.wait(), timeout=poll_interval)
            except asyncio.TimeoutError:
                pass
            if time.monotonic() - expiry_checked >= EXPIRY_CHECK_S:
                expiry_checked = time.monotonic()
                await self._call(self.update_lock, conversation_id)


class InMemoryLockStore(WakeUpLockStore, RasaInMemoryLockStore):
    """Rasa's in-memory lock store (one server), with waiting messages woken as soon as it is their turn."""

    poll_interval = EXPIRY_CHECK_S  # nobody else changes these locks: a wake-up always comes

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None) -> None:
        """Rasa builds lock stores named by class path with the endpoints.yml section; it has no settings."""
        super().__init__()
