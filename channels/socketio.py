"""Rasa's socketio channel (the website widget), with sessions issued by the server, a socket that speaks
only for its own session, socket.io limited to the configured browser origins, and session persistence
that works.

**Sessions and identity.** Rasa's channel used whatever `session_id` a client asked for in
`session_request`, put the socket in that session's room (so it received that session's answers), and
filed each `user_uttered` under the `session_id` named in its data, not the socket's. Anyone who knew or
guessed a visitor's session id could read and write their conversation. Here:

- `session_request` keeps a session id only if this server issued it (channels/identity.py); anything else
  gets a new one. The socket joins the room of that session's conversation, `web:<keyed hash of the id>`,
  and remembers it in its socket.io session;
- `user_uttered` always goes to the socket's own conversation; a `session_id` in its data is ignored;
- `POST /webhooks/socketio/forget` with `{"session_id": ...}` erases that session's conversation (the
  widget's "Delete my conversation" control, web/privacy.js). Holding the session id is what proves it is
  yours, as for the socket itself.

**Size.** socket.io accepted events up to 1 MB (python-engineio's default); here `max_payload_bytes`
(16 KB: a 2,000-character message of emoji is 8 KB). Of the metadata only `metadata_keys` are kept
(rasa-webchat sends `customData`, `{}` from web/chat.js), within `max_metadata_bytes`.

**Why session_request is replaced** (also): python-socketio 5.x (5.18 here) made ``AsyncServer.enter_room``
a coroutine, and Rasa 3.6 calls it without ``await``, so the socket never joined its session's room and no
answer reached the widget at all. The replacement awaits it.

**Why the origin check is here:** Rasa 3.6 creates its socket.io server with ``cors_allowed_origins=[]``,
which turns python-engineio's Origin check off (so that Sanic-CORS, configured by ``rasa run --cors``, is
the only one writing CORS headers). Sanic-CORS only adds headers; it refuses nothing, and browsers apply no
CORS to WebSockets. So without this check any web page could open a socket.io connection to the bot and
talk to it as its visitors. The allowed origins are the same setting as ``--cors``: ``CORS_ORIGINS``
(space separated, see scripts/run.sh), so the page's origin is configured once.

What every channel does with a message (rate limits, erasure, the guard, answers sent once saved, the
privacy notice) is channels/privacy.py's.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from channels.abuse import ABUSE_DEFAULTS, TokenBuckets
from channels.guard import GUARD_DEFAULTS
from channels.identity import is_issued_web_session, log_id, new_web_session, web_sender
from channels.log_privacy import redacting
from channels.privacy import Conversations, PrivacyTexts, message_pipeline
from channels.rest import bounded_metadata

logger = logging.getLogger(__name__)

CORS_ORIGINS_ENV = "CORS_ORIGINS"
# Same default as the Makefile and scripts/run.sh: the page served by `make web`.
DEFAULT_CORS_ORIGINS = "http://localhost:8080"
ANY_ORIGIN = "*"
CHANNEL_DEFAULTS: Dict[str, Any] = {
    **GUARD_DEFAULTS, **ABUSE_DEFAULTS, "privacy_notice": True,
    "max_payload_bytes": 16384, "metadata_keys": [], "max_metadata_bytes": 2048,
    "widget_metadata_key": "customData",
}
# Settings of this project's; the rest of the credentials go to Rasa's SocketIOInput.
OWN_SETTINGS = frozenset(CHANNEL_DEFAULTS)


def allowed_origins(setting: Optional[str] = None) -> FrozenSet[str]:
    """The browser origins that may use the socket.io endpoint, from CORS_ORIGINS (space separated).

    Origins are compared exactly as browsers send them (scheme://host[:port], no trailing slash)."""
    value = os.environ.get(CORS_ORIGINS_ENV, DEFAULT_CORS_ORIGINS) if setting is None else setting
    origins = frozenset(origin.strip().rstrip("/") for origin in value.split() if origin.strip())
    if ANY_ORIGIN in origins:
        logger.warning("%s contains '*': any web page may talk to the bot over socket.io", CORS_ORIGINS_ENV)
    return origins


def origin_allowed(origin: Optional[str], origins: FrozenSet[str]) -> bool:
    """Requests without an Origin header are not from a browser page (e.g. a server-side socket.io
    client) and are not subject to CORS; a browser always sends Origin for socket.io's requests."""
    if not origin:
        return True
    return ANY_ORIGIN in origins or origin.rstrip("/") in origins


def request_address(request: Optional[Request]) -> Optional[str]:
    """The client's address of a Sanic request (the proxy's X-Forwarded-For if Sanic trusts it)."""
    if request is None:
        return None
    return request.remote_addr or request.ip or None


class GuardedSocketIOInput(SocketIOInput):
    """Same events and options as Rasa's SocketIOInput; sessions issued by the server, every message
    answered in bounded time, and only pages of the configured origins may connect."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        channel = super().from_credentials({k: v for k, v in credentials.items() if k not in OWN_SETTINGS})
        channel.guard_settings = {**CHANNEL_DEFAULTS,
                                  **{k: credentials[k] for k in OWN_SETTINGS if k in credentials}}
        return channel

    @property
    def settings(self) -> Dict[str, Any]:
        return getattr(self, "guard_settings", CHANNEL_DEFAULTS)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        self.conversations = Conversations()
        self.texts = PrivacyTexts.load()
        handle = message_pipeline(on_new_message, self.settings, self.name(), self.conversations, self.texts)
        socketio_blueprint = super().blueprint(handle)
        sio = socketio_blueprint.ctx.sio
        sio.eio.max_http_buffer_size = int(self.settings["max_payload_bytes"])
        self.conversations.attach(socketio_blueprint)
        origins = allowed_origins()
        self._remember_client_address(sio)
        self._replace_session_request(sio)
        self._replace_user_message(sio, handle)
        self._add_forget_route(socketio_blueprint, origins)
        self._limit_origins(socketio_blueprint, origins)
        return socketio_blueprint

    @property
    def _namespace(self) -> str:
        return self.namespace or "/"

    def _remember_client_address(self, sio: AsyncServer) -> None:
        """Rasa's connect handler, and the client's address kept in the socket's session (for the rate
        limits; python-engineio's Sanic driver reports every client as 127.0.0.1)."""
        rasa_connect = sio.handlers[self._namespace]["connect"]

        @sio.on("connect", namespace=self.namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            allowed = await rasa_connect(sid, environ, auth)
            if allowed is not False:
                await sio.save_session(sid, {"client": request_address(environ.get("sanic.request"))},
                                       namespace=self.namespace)
            return allowed

    async def _start_session(self, sio: AsyncServer, sid: Text, asked: Any) -> Dict[str, Any]:
        """The socket's session: the one it asked for if this server issued it, else a new one."""
        session_id = asked if self.session_persistence and is_issued_web_session(asked) else new_web_session()
        session = await sio.get_session(sid, namespace=self.namespace)
        previous = session.get("sender")
        sender = web_sender(session_id)
        if previous and previous != sender:
            await sio.leave_room(sid, previous, namespace=self.namespace)
        session.update(session_id=session_id, sender=sender)
        await sio.save_session(sid, session, namespace=self.namespace)
        await sio.enter_room(sid, sender, namespace=self.namespace)
        await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
        return session

    def _replace_session_request(self, sio: AsyncServer) -> None:
        """Rasa's session_request handler, with `enter_room` awaited and the session id issued here."""

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            asked = data.get("session_id") if isinstance(data, dict) else None
            session = await self._start_session(sio, sid, asked)
            if asked and asked != session["session_id"]:
                logger.info("socket.io client asked for a session this server did not issue; gave it a new one")

    def _replace_user_message(self, sio: AsyncServer, handle: Callable[..., Awaitable[Any]]) -> None:
        """Rasa's user-message handler, posting only into the socket's own session, tolerant of what a client
        may send, so no message is lost.

        Rasa's raises (and the visitor hears nothing) when the event's data is not an object or its
        metadata is a string that is not JSON, and it drops a message without a session id in silence.
        Here a bare string is the message, bad metadata is ignored, and a socket that never asked for a
        session gets one. The text itself is checked by the guard."""

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            if isinstance(data, str):
                data = {"message": data}
            elif not isinstance(data, dict):
                data = {}
            session = await sio.get_session(sid, namespace=self.namespace)
            if not session.get("sender"):
                session = await self._start_session(sio, sid, None)
            metadata = data.get(self.settings["widget_metadata_key"], data.get(self.metadata_key))
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = None
            metadata = bounded_metadata(metadata, self.settings["metadata_keys"],
                                        int(self.settings["max_metadata_bytes"]))
            text = data.get("message")
            output = SocketIOOutput(sio, self.bot_message_evt)
            # UserMessage strips its text, so anything but a string becomes "" (the guard's empty reply)
            message = UserMessage(text if isinstance(text, str) else "", output, session["sender"],
                                  input_channel=self.name(), metadata=metadata)
            with redacting(session["session_id"]):
                await handle(message, client=session.get("client"))

    def _add_forget_route(self, blueprint: Blueprint, origins: FrozenSet[str]) -> None:
        """`POST /webhooks/socketio/forget {"session_id": ...}`: erase that web session's conversation."""
        per_address = {**ABUSE_DEFAULTS["rate_limits"], **(self.settings.get("rate_limits") or {})}["per_address"]
        limits = TokenBuckets(per_address["burst"], per_address["per_minute"])

        @blueprint.route("/forget", methods=["POST"])
        async def forget(request: Request) -> HTTPResponse:
            if not origin_allowed(request.headers.get("origin"), origins):
                return response.json({"error": "origin not allowed"}, status=403)
            if not limits.take(request_address(request) or "unknown"):
                return response.json({"erased": False, "message": self.settings["slow_down_reply"]}, status=429)
            try:
                session_id = json.loads(request.body or b"{}").get("session_id")
            except (ValueError, AttributeError):
                session_id = None
            if not is_issued_web_session(session_id):
                return response.json({"erased": False, "message": "That is not a session of this chat."},
                                     status=400)
            sender = web_sender(session_id)
            with redacting(session_id, sender):
                try:
                    deleted = await self.conversations.erase(sender)
                except Exception:
                    logger.exception("Erasing web conversation %s failed", log_id(sender))
                    return response.json({"erased": False, "message": self.texts.failed}, status=503)
            logger.info("Erased web conversation %s on its owner's request (%d events)", log_id(sender), deleted)
            return response.json({"erased": True, "message": self.texts.done})

    @staticmethod
    def _limit_origins(socketio_blueprint: Blueprint, origins: FrozenSet[str]) -> None:
        """Refuse engine.io requests (polling and the WebSocket handshake) from other origins with 403.

        The route is added when the blueprint is registered (SocketBlueprint.register -> sio.attach), and
        it takes `eio.handle_request` then, so wrapping it here covers every request."""
        eio = socketio_blueprint.ctx.sio.eio
        handle_request = eio.handle_request
        logger.info("socket.io accepts browser pages from: %s", " ".join(sorted(origins)) or "(none)")

        async def handle_allowed_request(request: Request, *args: Any, **kwargs: Any) -> Any:
            sent = request.headers.getall("origin", [])
            origin = next((value for value in sent if not origin_allowed(value, origins)), None)
            if origin:
                logger.warning("socket.io request from origin %s refused (not in %s)", origin, CORS_ORIGINS_ENV)
                return response.json({"error": f"origin {origin} is not allowed"}, status=403)
            return await handle_request(request, *args, **kwargs)

        eio.handle_request = handle_allowed_request
