"""Rasa's socketio channel (the website widget) with the never-silence guard of channels/guard.py,
socket.io limited to the configured browser origins, and session persistence that works.

Why session_request is replaced: python-socketio 5.x (5.18 here) made ``AsyncServer.enter_room`` a
coroutine, and Rasa 3.6 calls it without ``await``. With ``session_persistence: true`` the visitor's socket
then never joins its session's room, and since the bot answers to that room, no answer reaches the widget
at all (only a "coroutine was never awaited" warning in the log). The replacement awaits it.

Why the origin check is here: Rasa 3.6 creates its socket.io server with ``cors_allowed_origins=[]``,
which turns python-engineio's Origin check off (so that Sanic-CORS, configured by ``rasa run --cors``,
is the only one writing CORS headers). Sanic-CORS only adds headers; it refuses nothing, and browsers
apply no CORS to WebSockets. So without this check any web page could open a socket.io connection to the
bot and talk to it as its visitors. The allowed origins are the same setting as ``--cors``:
``CORS_ORIGINS`` (space separated, see scripts/run.sh), so the page's origin is configured once.
"""
from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any, Awaitable, Callable, Dict, FrozenSet, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from socketio import AsyncServer

from channels.guard import GUARD_DEFAULTS, guarded

logger = logging.getLogger(__name__)

CORS_ORIGINS_ENV = "CORS_ORIGINS"
# Same default as the Makefile and scripts/run.sh: the page served by `make web`.
DEFAULT_CORS_ORIGINS = "http://localhost:8080"
ANY_ORIGIN = "*"
# A session id the widget sends back must look like one: the channel's own are 32 hex digits. Others get a
# new id (so a new conversation) instead of becoming a tracker's key.
MAX_SESSION_ID_CHARS = 128


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


class GuardedSocketIOInput(SocketIOInput):
    """Same events and options as Rasa's SocketIOInput; every message gets an answer in bounded time,
    and only pages of the configured origins may connect."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        credentials = credentials or {}
        channel = super().from_credentials(
            {k: v for k, v in credentials.items() if k not in GUARD_DEFAULTS}
        )
        channel.guard_settings = {**GUARD_DEFAULTS, **{k: credentials[k] for k in GUARD_DEFAULTS if k in credentials}}
        return channel

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        settings = getattr(self, "guard_settings", GUARD_DEFAULTS)
        handle = guarded(on_new_message, settings)
        socketio_blueprint = super().blueprint(handle)
        self._replace_session_request(socketio_blueprint.ctx.sio)
        self._replace_user_message(socketio_blueprint.ctx.sio, handle)
        self._limit_origins(socketio_blueprint, allowed_origins())
        return socketio_blueprint

    def _replace_session_request(self, sio: AsyncServer) -> None:
        """Rasa's session_request handler, with `enter_room` awaited and the session id checked."""

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not (isinstance(session_id, str) and 0 < len(session_id) <= MAX_SESSION_ID_CHARS):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            logger.debug("socket.io client %s is in session %s", sid, session_id)

    def _replace_user_message(self, sio: AsyncServer, handle: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Rasa's user-message handler, tolerant of what a client may send, so no message is lost.

        Rasa's raises (and the visitor hears nothing) when the event's data is not an object or its
        metadata is a string that is not JSON, and it drops a message without a session id in silence.
        Here a bare string is the message, bad metadata is ignored, and a message without a usable session
        id is answered in the socket's own conversation. The text itself is checked by the guard."""

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: Text, data: Any) -> None:
            if isinstance(data, str):
                data = {"message": data}
            elif not isinstance(data, dict):
                data = {}
            session_id = data.get("session_id")
            usable = isinstance(session_id, str) and 0 < len(session_id) <= MAX_SESSION_ID_CHARS
            if self.session_persistence and not usable:
                logger.warning("socket.io message without a usable session id; answering socket %s directly", sid)
            sender_id = session_id if self.session_persistence and usable else sid
            metadata = data.get(self.metadata_key)
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = None
            text = data.get("message")
            output = SocketIOOutput(sio, self.bot_message_evt)
            # UserMessage strips its text, so anything but a string becomes "" (the guard's empty reply)
            await handle(UserMessage(text if isinstance(text, str) else "", output, sender_id,
                                     input_channel=self.name(), metadata=metadata if isinstance(metadata, dict) else {}))

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
