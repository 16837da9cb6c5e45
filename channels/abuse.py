"""Rate limits, so that one abusive client cannot take the bot down for everyone.

Three limits, checked before a message costs anything (no model, no database), each answered with the
polite `slow_down_reply` so that the person knows to send their message again (nothing is dropped in
silence):

- **per conversation**: a token bucket of `burst` messages, refilled at `per_minute`. People send two or
  three short lines in a row; nobody types twenty messages a minute for long.
- **per client address** (REST and the website; Telegram's updates all come from Telegram's servers): the
  same, with room for several people behind one address (a clinic's Wi-Fi). Behind a proxy the address is
  the proxy's `X-Forwarded-For` when Sanic is told to trust it (`SANIC_PROXIES_COUNT`, docs/deployment.md).
- **waiting messages per conversation**: at most `max_waiting` messages of one conversation wait for the
  one being answered. A waiting message polls the conversation's lock, so without a bound a flood of one
  conversation's messages made the lock store do work for every one of them.

The limits live in this process (per replica); nginx's `limit_req`/`limit_conn` (deploy/nginx.conf.template)
limits each client address across replicas before a request reaches any of them. Settings in
credentials.yml (`rate_limits`), wording `slow_down_reply`.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional

from rasa.core.channels.channel import UserMessage

from channels.guard import with_urgent_care
from channels.identity import log_id

logger = logging.getLogger(__name__)

ABUSE_DEFAULTS: Dict[str, Any] = {
    "slow_down_reply": "You're sending messages faster than I can read them. Please wait a moment, then send "
                       "your question again.",
    "rate_limits": {
        "per_conversation": {"burst": 20, "per_minute": 20},
        "per_address": {"burst": 30, "per_minute": 60},
        "max_waiting": 5,
        "remembered_keys": 20000,
    },
}
# A handler that also knows the client's address (None where there is no meaningful one, e.g. Telegram).
ClientHandler = Callable[..., Awaitable[None]]
LOG_EVERY = 100  # during a flood: the first refusal of each kind and every 100th after it


class TokenBuckets:
    """A token bucket per key: `burst` tokens, refilled at `per_minute`. The least recently used keys are
    forgotten beyond `max_keys` (memory stays bounded however many clients there are)."""

    def __init__(self, burst: float, per_minute: float, max_keys: int = 20000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate = float(burst), float(per_minute) / 60.0
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: "OrderedDict[str, list]" = OrderedDict()

    def take(self, key: str) -> bool:
        """Whether the key may send one more message now (and, if so, that message is counted)."""
        now = self.clock()
        tokens, updated = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[key] = [tokens - 1.0 if allowed else tokens, now]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed


@dataclass
class AbuseLimits:
    """The limits of one channel, and the messages of each conversation in progress."""

    conversations: TokenBuckets
    addresses: TokenBuckets
    max_waiting: int
    reply: str

    def __post_init__(self) -> None:
        self.in_progress: Dict[str, int] = {}
        self.refused: Dict[str, int] = {}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "AbuseLimits":
        limits = {**ABUSE_DEFAULTS["rate_limits"], **(settings.get("rate_limits") or {})}
        keys = int(limits["remembered_keys"])
        conversation, address = limits["per_conversation"], limits["per_address"]
        return cls(
            conversations=TokenBuckets(conversation["burst"], conversation["per_minute"], keys),
            addresses=TokenBuckets(address["burst"], address["per_minute"], keys),
            max_waiting=int(limits["max_waiting"]),
            reply=str(settings.get("slow_down_reply") or ABUSE_DEFAULTS["slow_down_reply"]),
        )

    def refusal(self, sender_id: str, client: Optional[str]) -> Optional[str]:
        """Which limit refuses this message now, or None (then it is counted against the limits)."""
        if self.in_progress.get(sender_id, 0) > self.max_waiting:  # one being answered + max_waiting waiting
            return "waiting messages"
        if client and not self.addresses.take(client):
            return "client address"
        if not self.conversations.take(sender_id):
            return "conversation"
        return None

    def note_refusal(self, kind: str, sender_id: str) -> None:
        count = self.refused[kind] = self.refused.get(kind, 0) + 1
        if count % LOG_EVERY == 1:
            logger.warning("Rate limit (%s) reached: asked conversation %s to slow down (%d refused so far)",
                           kind, log_id(sender_id), count)


def limited(handle: Callable[[UserMessage], Awaitable[None]], limits: AbuseLimits) -> ClientHandler:
    """`handle` behind the limits: a refused message gets the polite reply instead, ended with when to seek
    urgent care (the message itself is not read: a flood must not cost a triage per message)."""

    async def handle_within_limits(message: UserMessage, client: Optional[str] = None) -> None:
        sender = message.sender_id
        kind = limits.refusal(sender, client)
        if kind:
            limits.note_refusal(kind, sender)
            # The message is not read, so it ends with when to seek urgent care (issue 12, never lost).
            await message.output_channel.send_text_message(sender, with_urgent_care(limits.reply))
            return
        limits.in_progress[sender] = limits.in_progress.get(sender, 0) + 1
        try:
            await handle(message)
        finally:
            remaining = limits.in_progress.pop(sender) - 1
            if remaining:
                limits.in_progress[sender] = remaining

    return handle_within_limits
