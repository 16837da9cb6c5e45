"""The REST channel (`POST /webhooks/rest/webhook`) for integrations: authenticated, validated, and safe for
the conversations of the other channels.

Compared with Rasa 3.6's `RestInput`, whose route this replaces (its `GET /` health route is kept):

- **A bearer token.** Every message needs `Authorization: Bearer <token>`: `REST_TOKEN`, or the HTTP API's
  token `RASA_TOKEN` when `REST_TOKEN` is unset. Without either, every request is refused (401): an
  unauthenticated REST channel would let anyone write into, and read the answers of, any REST
  conversation. The public channels are the website (socket.io) and Telegram.
- **Its own namespace.** A conversation keeps the `sender` its caller gives (an integration, and
  `make evaluate`, find it with `GET /conversations/<sender>/tracker`), but a sender may not start with
  `telegram:` or `web:`, the prefixes of the conversations the other channels make (channels/identity.py).
  The body's `input_channel` is ignored (Rasa let a caller claim to be Telegram), and of its `metadata`
  only the keys listed in `metadata_keys` are kept (Rasa stored any JSON verbatim in the tracker).
- **Validation**: a body that is not a JSON object with a non-empty string `sender` (at most
  `max_sender_chars`) and a string `message` gets 400 saying what is wrong (Rasa answered an empty list, or
  filed a message without `sender` under one shared conversation called "default"). Bodies larger than
  SANIC_REQUEST_MAX_SIZE get 413 from Sanic.
- **A turn survives its client.** Rasa's route ran the turn in the request's task, so a client that
  disconnected mid-turn cancelled it (the message was lost, and Rasa logged its text). Here the turn runs
  on, is saved, and its answer stays in the conversation.

What every channel does with the message (rate limits, erasure, the guard, answers sent once saved) is
channels/privacy.py's. Rasa's `?stream=true` mode is not offered.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, Awaitable, Callable, Dict, Iterable, Optional, Text

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.abuse import ABUSE_DEFAULTS
from channels.guard import GUARD_DEFAULTS
from channels.hardening import bearer_token, token_matches
from channels.identity import RESERVED_PREFIXES, reserved_prefix
from channels.privacy import Conversations, message_pipeline

logger = logging.getLogger(__name__)

REST_TOKEN_ENV = "REST_TOKEN"
API_TOKEN_ENV = "RASA_TOKEN"
DEFAULTS: Dict[str, Any] = {**GUARD_DEFAULTS, **ABUSE_DEFAULTS, "max_sender_chars": 128,
                            "metadata_keys": [], "max_metadata_bytes": 2048, "privacy_notice": False}


def client_address(request: Request) -> str:
    """The client's address: the proxy's `X-Forwarded-For` if Sanic trusts it (SANIC_PROXIES_COUNT), else the
    peer's."""
    return request.remote_addr or request.ip or "unknown"


def bounded_metadata(metadata: Any, keys: Iterable[str], max_bytes: int) -> Dict[str, Any]:
    """Only the allowed keys of a metadata object, and nothing if their JSON is over `max_bytes`."""
    if not isinstance(metadata, dict):
        return {}
    kept = {key: metadata[key] for key in keys if key in metadata}
    try:
        size = len(json.dumps(kept).encode("utf-8"))
    except (TypeError, ValueError):
        return {}
    return kept if size <= max_bytes else {}


class ValidatingRestInput(RestInput):
    """REST channel (`/webhooks/rest/webhook`) with a bearer token, validation and its own sender namespace."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def __init__(self, settings: Optional[Dict[str, Any]] = None,
                 token: Optional[str] = None) -> None:
        self.settings = {**DEFAULTS, **(settings or {})}
        self.token = token if token is not None else (
            os.environ.get(REST_TOKEN_ENV, "").strip() or os.environ.get(API_TOKEN_ENV, "").strip())
        if not self.token:
            logger.error("Neither %s nor %s is set: the REST channel refuses every message (401)",
                         REST_TOKEN_ENV, API_TOKEN_ENV)
        self.conversations = Conversations()

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
        if reserved_prefix(sender):
            return (f"'sender' must not start with {' or '.join(repr(p) for p in RESERVED_PREFIXES)}: "
                    "those conversations belong to other channels.")
        if not isinstance(message, str):
            return "'message' must be a string."
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        handle = message_pipeline(on_new_message, self.settings, self.name(), self.conversations)
        blueprint = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        self.conversations.attach(blueprint)

        @blueprint.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @blueprint.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not token_matches(bearer_token(request), self.token):
                logger.info("Refused a REST request without the right bearer token")
                return response.json({"error": "A valid 'Authorization: Bearer <token>' header is required."},
                                     status=401, headers={"WWW-Authenticate": 'Bearer realm="rest"'})
            try:
                body = request.json
            except Exception:  # Sanic raises for a body that is not JSON
                body = None
            problem = self.problem(body)
            if problem:
                logger.info("Rejected a REST request: %s", problem)
                return response.json({"error": problem}, status=400)
            collector = CollectingOutputChannel()
            metadata = bounded_metadata(body.get("metadata"), self.settings["metadata_keys"],
                                        int(self.settings["max_metadata_bytes"]))
            message = UserMessage(body["message"], collector, body["sender"], input_channel=self.name(),
                                  metadata=metadata)
            turn = asyncio.ensure_future(handle(message, client=client_address(request)))
            try:
                await asyncio.shield(turn)
            except asyncio.CancelledError:  # the client went away; the turn goes on and is saved
                logger.info("A REST client disconnected before its answer; the turn completes without it")
                raise
            return response.json(collector.messages)

        return blueprint
