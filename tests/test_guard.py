"""The guard every channel passes messages through (channels/guard.py), as plain functions: a message is
never lost on someone who needs care."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from actions.safety import SafetyPolicy
from channels.guard import GUARD_DEFAULTS, TRIAGE_WINDOW_CHARS, guarded, urgent_advice, with_urgent_care

POLICY = SafetyPolicy.load()
LONG = "i work long shifts on my feet and the heel is sore first thing in the morning. " * 40


def run(text: Any, on_new_message=None) -> List[Dict[str, Any]]:
    async def answer(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "an answer")

    output = CollectingOutputChannel()
    handle = guarded(on_new_message or answer, dict(GUARD_DEFAULTS, reply_timeout=2))
    asyncio.run(handle(UserMessage(text, output, "someone")))
    return [m["text"] for m in output.messages]


def test_a_too_long_message_without_a_sign_gets_only_the_request_to_shorten_it() -> None:
    assert run(LONG) == [GUARD_DEFAULTS["too_long_reply"].format(limit=GUARD_DEFAULTS["max_message_chars"])]


def test_a_sign_anywhere_in_a_too_long_message_is_answered_before_the_refusal() -> None:
    for story in (LONG + "since yesterday my toes are numb and bluish.",
                  "since yesterday my toes are numb and bluish. " + LONG,
                  LONG * 3 + " i can't put any weight on it. " + LONG):  # far past one triage window
        texts = run(story)  # Rasa's output channels send each paragraph as a message of its own
        assert texts[0].startswith("⚠️") and "too long" in texts[-1], story[-80:]
        assert POLICY.full_disclaimer in texts[:-1]
    assert len(LONG * 3) > TRIAGE_WINDOW_CHARS


def test_an_empty_or_non_text_message_is_answered_with_when_to_seek_care() -> None:
    for text in (None, "", "   "):
        [reply] = run(text)
        assert reply.startswith("I didn't get a question") and reply.endswith(POLICY.urgent_care_sentence)


def test_when_the_bot_cannot_answer_the_reply_says_when_to_seek_urgent_care() -> None:
    async def silent(message: UserMessage) -> None:
        return None

    [reply] = run("what causes plantar fasciitis", silent)
    assert reply == with_urgent_care(GUARD_DEFAULTS["unavailable_reply"])
    assert reply.endswith(POLICY.urgent_care_sentence) and "can't answer right now" in reply


def test_urgent_advice_is_none_for_ordinary_or_empty_text() -> None:
    assert urgent_advice(LONG) is None
    assert urgent_advice("") is None and urgent_advice(None) is None
