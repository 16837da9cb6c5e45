"""Rasa's REST channel with input validation, so bad requests get a clear answer instead of silence.

Rasa's own RestInput answers an empty or non-string message with an empty list (the user sees nothing),
files a request without `sender` under one shared conversation called "default", and passes control
characters through. This channel keeps Rasa's handler and puts a check in front of it:

- the body must be a JSON object with a non-empty string `sender` (at most `max_sender_chars`) and a
  string `message`; otherwise 400 with a message saying what is wrong.
The request body size is limited by Sanic itself (SANIC_REQUEST_MAX_SIZE, see the Makefile): 413.
What every channel does with the text (empty or too long: a polite reply; control characters removed; an
answer within `reply_timeout` seconds) is channels/guard.py's.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import GUARD_DEFAULTS, guarded

logger = logging.getLogger(__name__)

DEFAULTS: Dict[str, Any] = {**GUARD_DEFAULTS, "max_sender_chars": 128}


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
            return None

        return blueprint
