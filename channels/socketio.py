"""Rasa's socketio channel (the website widget) with the never-silence guard of channels/guard.py."""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from channels.guard import GUARD_DEFAULTS, guarded


class GuardedSocketIOInput(SocketIOInput):
    """Same events and options as Rasa's SocketIOInput; every message gets an answer in bounded time."""

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
        return super().blueprint(guarded(on_new_message, settings))
