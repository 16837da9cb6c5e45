"""A Redis lock store that is safe when several Rasa servers get the same conversation at the same time.

Rasa 3.6's `RedisLockStore` keeps each conversation's ticket lock as one JSON value and changes it by
reading it, changing it in Python and writing it back. Inside one server that is safe (nothing awaits in
between), but two replicas doing it at once overwrite each other's tickets: a message then either runs
alongside another one of the same conversation, or finds its lock deleted and fails with `LockError` (the
user gets no answer). Rasa's reviewers called this "far from atomic" when the ticket lock was added
(RasaHQ/rasa#3933); the fix, `ConcurrentRedisLockStore`, is Rasa Pro only. tests/test_scale_out.py shows
the lost tickets with Rasa's store and none with this one.

This store keeps Rasa's ticket-lock algorithm and data format and only makes each change of a lock one
optimistic Redis transaction (WATCH, read, MULTI, write, EXEC; retried when another server changed the lock
in between).

Waiting and faults (issue 13):

- a waiting message goes on as soon as it is its turn: at once when the message before it was on this
  server, within `poll_interval` (20 ms) when it was on another (stores/lock_store.py; Rasa checked once a
  second);
- Redis is called from a small pool of threads, each call bounded by `socket_timeout` (default 1 s; Rasa:
  10 s, in the event loop). A Redis that hangs (`kill -STOP`) no longer freezes every conversation of the
  replica;
- while Redis cannot be reached, a message takes this server's own lock for its conversation instead
  (`fallback_s` seconds after a failure, default 5, before Redis is tried again), so people are still
  answered. During that time two replicas could serve one conversation at once, as without a lock store;
  a ticket that could not be returned to Redis is returned once Redis answers again, so it does not hold
  up the conversation until it expires.

Use it from endpoints.yml:

    lock_store:
      type: stores.redis_lock_store.AtomicRedisLockStore
      url: <redis host>
      port: <redis port>
      password: <password>
      db: <number>
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Callable, List, Optional, Text, Tuple, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError, WatchError

from stores.lock_store import DEFAULT_POLL_INTERVAL_S, InMemoryLockStore, WakeUpLockStore

logger = logging.getLogger(__name__)

DEFAULT_SOCKET_TIMEOUT_S = 1.0
DEFAULT_FALLBACK_S = 5.0
REDIS_THREADS = 4

T = TypeVar("T")
# What a change does to a lock: the lock to store (None deletes it) and a result for the caller.
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]


class AtomicRedisLockStore(WakeUpLockStore, RedisLockStore):
    """Rasa's `RedisLockStore`, with every read-change-write of a lock done as one Redis transaction, waiting
    messages woken quickly, and Redis kept off the event loop with a local fallback (module docstring)."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        """Rasa builds custom lock stores from the endpoints.yml section (`endpoint_config=`); the keys are
        those of `type: redis` (`url` is the host), plus `poll_interval` and `fallback_s`."""
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        self.poll_interval = float(kwargs.pop("poll_interval", DEFAULT_POLL_INTERVAL_S))
        self.fallback_s = float(kwargs.pop("fallback_s", DEFAULT_FALLBACK_S))
        kwargs["socket_timeout"] = float(kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT_S))
        super().__init__(**kwargs)
        # Connecting is bounded like every other call (redis-py has no connect timeout unless given one).
        self.red.connection_pool.connection_kwargs["socket_connect_timeout"] = kwargs["socket_timeout"]
        self._threads = ThreadPoolExecutor(max_workers=REDIS_THREADS, thread_name_prefix="redis-lock")
        self._local = InMemoryLockStore()
        self._redis_down_until = 0.0
        self._unreturned: List[Tuple[Text, int]] = []

    async def _call(self, operation: Callable[..., T], *args: Any) -> T:
        """A Redis operation in the store's threads (its socket timeout bounds it); after a success, the
        tickets that could not be returned before are returned."""
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._threads, functools.partial(operation, *args))
        if self._unreturned:
            unreturned, self._unreturned = self._unreturned, []
            for number, (conversation_id, ticket) in enumerate(unreturned):
                try:
                    await loop.run_in_executor(self._threads, self.cleanup, conversation_id, ticket)
                except (RedisError, OSError):
                    self._unreturned.extend(unreturned[number:])
                    break
        return result

    def _note_redis_down(self, error: Exception) -> None:
        if time.monotonic() >= self._redis_down_until:
            logger.error("Redis lock store unreachable (%s): using this server's own locks for %.0f s",
                         type(error).__name__, self.fallback_s)
        self._redis_down_until = time.monotonic() + self.fallback_s

    async def _redis_lock(self, conversation_id: Text, lock_lifetime: float,
                          wait_time_in_seconds: Optional[float]) -> Optional[Tuple[int, TicketLock]]:
        """(ticket, lock) once it is this message's turn in Redis; None if Redis cannot be reached."""
        try:
            ticket = await self._call(self.issue_ticket, conversation_id, lock_lifetime)
        except (LockError, RedisError, OSError) as error:
            self._note_redis_down(error)
            return None
        try:
            return ticket, await self._acquire(conversation_id, ticket, wait_time_in_seconds or self.poll_interval)
        except (RedisError, OSError) as error:
            self._note_redis_down(error)
            self._unreturned.append((conversation_id, ticket))
            return None
        except BaseException:  # expired (LockError) or cancelled: the ticket goes back, as in Rasa's lock()
            await self._return_ticket(conversation_id, ticket)
            raise

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: Text,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: Optional[float] = None,
    ) -> AsyncGenerator[TicketLock, None]:
        """The conversation's lock in Redis, or this server's own while Redis cannot be reached."""
        acquired = None
        if time.monotonic() >= self._redis_down_until:
            acquired = await self._redis_lock(conversation_id, lock_lifetime, wait_time_in_seconds)
        if acquired is None:
            async with self._local.lock(conversation_id, lock_lifetime) as local_lock:
                yield local_lock
            return
        ticket, lock = acquired
        try:
            yield lock
        finally:
            await self._return_ticket(conversation_id, ticket)

    async def _return_ticket(self, conversation_id: Text, ticket: int) -> None:
        try:
            await self._call(self.cleanup, conversation_id, ticket)
        except (RedisError, OSError) as error:
            self._note_redis_down(error)
            self._unreturned.append((conversation_id, ticket))
        finally:
            self._wake_up(conversation_id)

    def _change(self, conversation_id: Text, change: Change[T]) -> T:
        """Apply `change` to the conversation's lock so that no other server's change is lost in between."""
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    stored = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(stored)) if stored else None
                    new_lock, result = change(lock)
                    pipe.multi()
                    if new_lock is None:
                        pipe.delete(key)
                    else:
                        pipe.set(key, new_lock.dumps())
                    pipe.execute()
                    return result
                except WatchError:
                    logger.debug("Lock of conversation '%s' changed meanwhile; trying again.", conversation_id)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Issue a ticket (creating the lock if needed) in one transaction: no two servers get the same one."""

        def issue(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, issue)
        except Exception as error:  # as Rasa's own store: any failure here is a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: Text) -> None:
        """Drop expired tickets without dropping a ticket another server has just issued."""

        def drop_expired(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        """Remove a served ticket, keeping the others."""

        def finish(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Remove a served ticket and delete the lock only if no ticket is left, in one transaction (Rasa's
        store checks and deletes in two steps, deleting tickets issued in between)."""

        def finish_and_delete_if_unused(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else None), None

        self._change(conversation_id, finish_and_delete_if_unused)
