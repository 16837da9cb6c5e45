"""Never silence: what every channel does with a message before and after Rasa handles it.

Each channel of the project (REST, socketio, Telegram) passes Rasa's message handler through `guarded`:
- the text is checked first, the same way in every channel: control characters (other than new lines and
  tabs) are removed; a text that is not a string, is empty or whitespace, gets `empty_message_reply`, and
  one longer than `max_message_chars` gets `too_long_reply`, without bothering the model;
- then Rasa handles it within `reply_timeout` seconds. If the action server is down, Rasa logs the error and
  would send nothing; if it is slow, Rasa would wait five minutes. Either way the user gets the polite
  `unavailable_reply` instead.
A message is never lost on someone who needs care: a text refused as too long is triaged first (the whole
text, by the safety policy's own triage, actions/safety.py) and a sign that needs prompt care is answered
with its advice before the request to shorten the question; the unavailable reply ends with when to seek
urgent care (data/safety/policy.yml).
The wording is set per channel in credentials.yml; these are the defaults.
"""
from __future__ import annotations

import asyncio
import logging
import re
from functools import lru_cache
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Text, Tuple

from rasa.core.channels.channel import OutputChannel, UserMessage

from channels.identity import log_id

logger = logging.getLogger(__name__)

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
GUARD_DEFAULTS: Dict[str, Any] = {
    "reply_timeout": 20,
    "unavailable_reply": "Sorry, I can't answer right now. Please try again in a few minutes.",
    "max_message_chars": 2000,
    "empty_message_reply": "I didn't get a question there. Please type what you'd like to know about plantar fasciitis or its massage treatment.",
    "too_long_reply": "Sorry, that message is too long for me. Please ask your question in a few sentences (at most {limit} characters).",
}


def clean_text(text: str) -> str:
    """The message without control characters, which no chat user means to send."""
    return CONTROL_CHARACTERS.sub("", text)


def text_problem_reply(text: Any, settings: Mapping[str, Any]) -> Optional[str]:
    """The channel's own polite reply to a text the bot should not process (none, empty, too long)."""
    if not isinstance(text, str) or not clean_text(text).strip():
        return str(settings["empty_message_reply"])
    limit = int(settings["max_message_chars"])
    if len(text) > limit:
        return str(settings["too_long_reply"]).format(limit=limit)
    return None


# Triage reads a message in windows of this many characters (the reader's bound), overlapping so that a
# sign is never cut in two.
TRIAGE_WINDOW_CHARS = 5000
TRIAGE_OVERLAP_CHARS = 300


@lru_cache(maxsize=1)
def safety_policy() -> Tuple[Any, Any, Any]:
    """The action server's reader, triage and policy, loaded once in the Rasa server's process."""
    from actions.safety import SafetyPolicy, Triage
    from actions.understanding import Reader

    reader, policy = Reader.load(), SafetyPolicy.load()
    return reader, Triage.load(reader, policy=policy), policy


def urgent_advice(text: Any) -> Optional[str]:
    """The red-flag advice for a text the bot will not answer otherwise, or None if it shows no sign."""
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        reader, triage, policy = safety_policy()
        step = TRIAGE_WINDOW_CHARS - TRIAGE_OVERLAP_CHARS
        results = [triage.assess(reader.read(text[start:start + TRIAGE_WINDOW_CHARS]))
                   for start in range(0, len(text), step)]
    except Exception:  # the refusal still goes out; the safety data is checked at the action server's start
        logger.exception("Could not triage a message the bot refuses")
        return None
    urgent = [r for r in results if r.urgent]
    if not urgent:
        return None
    most = min(urgent, key=lambda r: triage.levels.index(r.level))
    logger.info("Red flag, level %s, in a message refused as too long", most.level)
    return policy.urgent_advice(most)


def with_urgent_care(reply: str) -> str:
    """A reply that carries no answer, ended with when to seek urgent care (the reply alone if the policy
    cannot be read)."""
    try:
        return safety_policy()[2].with_urgent_care(reply)
    except Exception:
        logger.exception("Could not read the urgent-care sentence")
        return reply


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
    unavailable = with_urgent_care(str(settings["unavailable_reply"]))

    async def handle(message: UserMessage) -> None:
        problem = text_problem_reply(message.text, settings)
        if problem:
            logger.info("Answered a message of conversation %s that the bot should not process", log_id(message.sender_id))
            advice = urgent_advice(message.text)
            if advice:
                await message.output_channel.send_text_message(message.sender_id, advice)
            elif not isinstance(message.text, str) or not message.text.strip():
                problem = with_urgent_care(problem)  # no text, no answer: still say when to seek care
            await message.output_channel.send_text_message(message.sender_id, problem)
            return
        message.text = clean_text(message.text)
        output = CountingOutput(message.output_channel)
        message.output_channel = output
        try:
            await asyncio.wait_for(on_new_message(message), timeout=timeout)
        except asyncio.TimeoutError:
            logger.error("No answer within %.0f s for conversation %s", timeout, log_id(message.sender_id))
        except Exception:  # the user still gets an answer; the error is logged for us
            logger.exception("Handling a message failed for conversation %s", log_id(message.sender_id))
        if not output.sent:
            logger.warning("The bot said nothing to conversation %s; sending the unavailable reply", log_id(message.sender_id))
            await output.inner.send_text_message(message.sender_id, unavailable)

    return handle
