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
in between). Use it from endpoints.yml:

    lock_store:
      type: stores.redis_lock_store.AtomicRedisLockStore
      url: <redis host>
      port: <redis port>
      password: <password>
      db: <number>
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Optional, Text, Tuple, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import WatchError

logger = logging.getLogger(__name__)

T = TypeVar("T")
# What a change does to a lock: the lock to store (None deletes it) and a result for the caller.
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's `RedisLockStore`, with every read-change-write of a lock done as one Redis transaction."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        """Rasa builds custom lock stores from the endpoints.yml section (`endpoint_config=`); the keys are
        those of `type: redis` (`url` is the host)."""
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

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
