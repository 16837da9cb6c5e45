"""Clear 4xx answers from Rasa's HTTP API for bad request bodies, instead of 500.

Rasa 3.6's HTTP API answers `/model/parse` with a body that is not JSON, has no `text`, a non-string or an
empty `text` with 500 "An unexpected error occurred", and so does `/conversations/<id>/messages` for a
non-string `text` and `/execute` for an unknown action. A 500 says "our fault" and hides what to fix.

This is not a chat channel: listed in credentials.yml, its blueprint attaches two app-wide middlewares when
the server starts. The request side notes what is wrong with the body of an HTTP-API call; the response
side turns a 5xx into 400 with that reason. The size of a body is limited by Sanic (SANIC_REQUEST_MAX_SIZE). Rasa's own checks stay first, so a call without the token is
still refused with 401 whatever its body, and well-formed calls are untouched.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Awaitable, Callable, Collection, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

TEXT_ENDPOINTS = re.compile(r"^/model/parse$|^/conversations/.+/messages$")
NAME_ENDPOINTS = re.compile(r"^/conversations/.+/(execute|trigger_intent)$")


def body_problem(path: str, raw: bytes, actions: Optional[Collection[str]] = None) -> Optional[str]:
    """What is wrong with the body of an HTTP-API call, or None if Rasa can handle it. `actions` are the
    domain's action names, when known: `/execute` with any other name fails inside Rasa."""
    if not (TEXT_ENDPOINTS.match(path) or NAME_ENDPOINTS.match(path)):
        return None
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        return "The body must be valid JSON."
    if not isinstance(body, dict):
        return "The body must be a JSON object."
    if NAME_ENDPOINTS.match(path):
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            return "'name' must be a non-empty string."
        if path.endswith("/execute") and actions is not None and name not in actions:
            return f"There is no action called {name!r}."
        return None
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        return "'text' must be a non-empty string."
    return None


class HttpApiGuard(InputChannel):
    """Attaches the body checks to the whole Rasa app (the HTTP API's routes are the app's, not a channel's)."""

    @classmethod
    def name(cls) -> Text:
        return "http_api_guard"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "HttpApiGuard":
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("http_api_guard", __name__)

        async def note_problem(request: Request) -> None:
            agent = getattr(request.app.ctx, "agent", None)
            actions = agent.domain.action_names_or_texts if agent and agent.domain else None
            request.ctx.body_problem = body_problem(request.path, request.body, actions)

        async def explain_server_error(request: Request, reply: HTTPResponse) -> Optional[HTTPResponse]:
            problem = getattr(request.ctx, "body_problem", None)
            # /model/parse changes nothing, so a bad body is refused even where Rasa's parse did not fail
            # (the project's classifier parses an empty text; Rasa's own failed on it with 500).
            parsed_anyway = request.path == "/model/parse" and 200 <= reply.status < 300
            if problem and (reply.status >= 500 or parsed_anyway):
                logger.info("HTTP API call to %s had a bad body: %s", request.path, problem)
                return response.json({"status": "failure", "reason": "BadRequest", "message": problem, "code": 400},
                                     status=400)
            return None

        @blueprint.listener("before_server_start")
        async def attach(app: Sanic, _loop: Any) -> None:
            app.register_middleware(note_problem, "request")
            app.register_middleware(explain_server_error, "response")

        return blueprint
