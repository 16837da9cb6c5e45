"""The action server, with a shared token: `python -m actions --actions actions --port 5055`.

rasa-sdk 3.6 accepts action calls from anyone who can reach its port. When `ACTION_SERVER_TOKEN` is set,
this launcher makes every request except `/health` carry `Authorization: Bearer <token>` (endpoints.yml
sends it from the same variable), so only our Rasa server can run actions or read the list of them.
Everything else is rasa-sdk's own command line: the check is attached through its plugin hook.
"""
from __future__ import annotations

import hmac
import logging
import os
from typing import Optional

import pluggy
import rasa_sdk.__main__
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

TOKEN_VARIABLE = "ACTION_SERVER_TOKEN"
OPEN_PATHS = ("/health",)
hookimpl = pluggy.HookimplMarker("rasa_sdk")


def authorised(header: Optional[str], token: str) -> bool:
    """Whether an Authorization header carries the token (constant-time comparison)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class TokenCheck:
    """rasa-sdk plugin: refuses requests without the shared token with 401."""

    def __init__(self, token: str) -> None:
        self.token = token

    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        @app.middleware("request")
        async def check_token(request: Request) -> Optional[HTTPResponse]:
            if request.path in OPEN_PATHS or authorised(request.headers.get("authorization"), self.token):
                return None
            logger.warning("Refused an action-server request to %s without the right token", request.path)
            return response.json({"error": "A valid token is required."}, status=401)


def main() -> None:
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if token:
        plugin_manager().register(TokenCheck(token))
    else:
        logger.warning("%s is not set: the action server accepts calls from anyone who can reach it", TOKEN_VARIABLE)
    rasa_sdk.__main__.main()


if __name__ == "__main__":
    main()
