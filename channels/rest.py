"""Rasa's REST channel with input validation, so bad requests get a clear answer instead of silence.

Rasa's own RestInput answers an empty or non-string message with an empty list (the user sees nothing),
files a request without `sender` under one shared conversation called "default", and passes control
characters through. This channel keeps Rasa's handler and puts a check in front of it:

- the body must be a JSON object with a non-empty string `sender` (at most `max_sender_chars`) and a
  string `message`; otherwise 400 with a message saying what is wrong;
- an empty or whitespace-only message, or one longer than `max_message_chars`, gets a polite reply
  from the bot (200), worded in credentials.yml;
- control characters (other than new lines and tabs) are removed from the message.
The request body size is limited by Sanic itself (SANIC_REQUEST_MAX_SIZE, see the Makefile): 413.
Every message gets an answer within `reply_timeout` seconds (channels/guard.py).
"""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import GUARD_DEFAULTS, guarded

logger = logging.getLogger(__name__)

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
DEFAULTS: Dict[str, Any] = {
    **GUARD_DEFAULTS,
    "max_message_chars": 2000,
    "max_sender_chars": 128,
    "empty_message_reply": "I didn't get a question there. Please type what you'd like to know about plantar fasciitis or its massage treatment.",
    "too_long_reply": "Sorry, that message is too long for me. Please ask your question in a few sentences (at most {limit} characters).",
}


def clean_text(text: str) -> str:
    """The message without control characters, which no chat user means to send."""
    return CONTROL_CHARACTERS.sub("", text)


class ValidatingRestInput(RestInput):
    """REST channel (`/webhooks/rest/webhook`) that validates each request before Rasa handles it."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def __init__(self, settings: Optional[Dict[str, Any]] = None) -> None:
        self.settings = {**DEFAULTS, **(settings or {})}

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ValidatingRestInput":
        return cls(credentials)

    def _extract_message(self, req: Request) -> Optional[Text]:
        return clean_text(req.json.get("message"))

    def problem(self, body: Any) -> Optional[str]:
        """What is wrong with a request body, or None if the bot can handle it."""
        if not isinstance(body, dict):
            return "The body must be a JSON object with 'sender' and 'message'."
        sender, message = body.get("sender"), body.get("message")
        if not isinstance(sender, str) or not sender.strip():
            return "'sender' must be a non-empty string that identifies the conversation."
        if len(sender) > self.settings["max_sender_chars"]:
            return f"'sender' must be at most {self.settings['max_sender_chars']} characters."
        if not isinstance(message, str):
            return "'message' must be a string."
        return None

    def polite_reply(self, sender: str, message: str) -> Optional[HTTPResponse]:
        """The bot's own answer to a message it should not process (empty, too long)."""
        limit = self.settings["max_message_chars"]
        if not clean_text(message).strip():
            text = self.settings["empty_message_reply"]
        elif len(message) > limit:
            text = self.settings["too_long_reply"].format(limit=limit)
        else:
            return None
        return response.json([{"recipient_id": sender, "text": text}])

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        blueprint = super().blueprint(guarded(on_new_message, self.settings))

        @blueprint.middleware("request")
        async def validate(request: Request) -> Optional[HTTPResponse]:
            if request.method != "POST" or not request.path.endswith("/webhook"):
                return None
            try:
                body = request.json
            except Exception:  # Sanic raises for a body that is not JSON
                body = None
            problem = self.problem(body)
            if problem:
                logger.info("Rejected a REST request: %s", problem)
                return response.json({"error": problem}, status=400)
            return self.polite_reply(body["sender"], body["message"])

        return blueprint
