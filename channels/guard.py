"""Never silence: a bounded wait for the bot, and a polite reply when it said nothing.

If the action server is down, Rasa logs the error and the user gets no answer at all; if it is slow, Rasa
waits up to five minutes. Each channel of the project passes Rasa's message handler through `guarded`, so
every message gets an answer within `reply_timeout` seconds: the bot's, or the polite `unavailable_reply`.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Text

from rasa.core.channels.channel import OutputChannel, UserMessage

logger = logging.getLogger(__name__)

GUARD_DEFAULTS: Dict[str, Any] = {
    "reply_timeout": 20,
    "unavailable_reply": "Sorry, I can't answer right now. Please try again in a few minutes.",
}


class CountingOutput(OutputChannel):
    """Passes everything to the real output channel and remembers whether anything was sent."""

    def __init__(self, inner: OutputChannel) -> None:
        self.inner = inner
        self.sent = 0

    @classmethod
    def name(cls) -> Text:
        return "counting"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        self.sent += 1
        await self.inner.send_response(recipient_id, message)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)


def guarded(
    on_new_message: Callable[[UserMessage], Awaitable[Any]], settings: Dict[str, Any]
) -> Callable[[UserMessage], Awaitable[None]]:
    """Rasa's handler, bounded in time, with the polite reply when the bot stayed silent."""
    timeout = float(settings["reply_timeout"])
    unavailable = str(settings["unavailable_reply"])

    async def handle(message: UserMessage) -> None:
        output = CountingOutput(message.output_channel)
        message.output_channel = output
        try:
            await asyncio.wait_for(on_new_message(message), timeout=timeout)
        except asyncio.TimeoutError:
            logger.error("No answer within %.0f s for sender %s", timeout, message.sender_id)
        except Exception:  # the user still gets an answer; the error is logged for us
            logger.exception("Handling a message failed for sender %s", message.sender_id)
        if not output.sent:
            logger.warning("The bot said nothing to sender %s; sending the unavailable reply", message.sender_id)
            await output.inner.send_text_message(message.sender_id, unavailable)

    return handle
