#!/usr/bin/env python3
"""Serve the website with the chat widget (web/) on localhost, next to `make serve`.

Only the page's own files are served, by name: index.html, chat.js, a11y.js, chat.css, config.json, the
widget's prebuilt bundle (web/node_modules/rasa-webchat/lib/index.js as vendor/rasa-webchat.js) and the
accessibility checker axe-core (vendor/axe.min.js, which the page itself does not load), never the rest
of node_modules. With --bot-url (or BOT_URL) the bot's address in config.json is replaced as it is
served, so the page can point at a bot on any port without editing the file.

The page's origin (http://localhost:WEB_PORT) must be one of the bot's CORS_ORIGINS; the default port,
8080, is the default CORS_ORIGINS. Standard library only. Usage:
    python3 scripts/serve_web.py [--host 127.0.0.1] [--port 8080] [--bot-url http://localhost:5005]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict, Optional, Tuple
from urllib.parse import urlsplit

logger = logging.getLogger("serve_web")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
BUNDLE = Path("node_modules") / "rasa-webchat" / "lib" / "index.js"
CONFIG = "config.json"
AXE = Path("node_modules") / "axe-core" / "axe.min.js"
AXE_URL = "/vendor/axe.min.js"

# URL path -> (file under web/, content type). Anything else is 404.
FILES: Dict[str, Tuple[Path, str]] = {
    "/": (Path("index.html"), "text/html; charset=utf-8"),
    "/index.html": (Path("index.html"), "text/html; charset=utf-8"),
    "/privacy.js": (Path("privacy.js"), "text/javascript; charset=utf-8"),
    "/chat.js": (Path("chat.js"), "text/javascript; charset=utf-8"),
    "/chat.css": (Path("chat.css"), "text/css; charset=utf-8"),
    "/" + CONFIG: (Path(CONFIG), "application/json"),
    "/vendor/rasa-webchat.js": (BUNDLE, "text/javascript; charset=utf-8"),
    "/a11y.js": (Path("a11y.js"), "text/javascript; charset=utf-8"),
    # The accessibility checker (a development dependency): the page does not load it; the browser test
    # (or a developer, from the console) adds it to the page to audit it.
    AXE_URL: (AXE, "text/javascript; charset=utf-8"),
}


def websocket_origin(http_origin: str) -> str:
    """ws(s)://host for an http(s)://host origin: socket.io upgrades to a WebSocket on the same host."""
    return "ws" + http_origin[len("http"):] if http_origin.startswith("http") else http_origin


def content_security_policy(bot_url: str) -> str:
    """Scripts only from this server, connections only to it and to the bot.

    Defence in depth against script injection: even if some text were ever rendered as HTML, no inline
    script or event handler would run. rasa-webchat adds <style> elements, hence 'unsafe-inline' styles."""
    parts = urlsplit(bot_url)
    bot_origin = f"{parts.scheme}://{parts.netloc}"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        f"connect-src 'self' {bot_origin} {websocket_origin(bot_origin)}",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
    ])


class WebHandler(BaseHTTPRequestHandler):
    """GET/HEAD of the files in FILES; config.json with the bot's URL of this server's settings."""

    server_version = "plantar-bot-web"

    def __init__(self, *args, web_dir: Path, bot_url: Optional[str], **kwargs) -> None:
        self.web_dir = web_dir
        self.bot_url = bot_url
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        logger.info("%s %s", self.address_string(), format % args)

    def _body(self, relative: Path) -> bytes:
        body = (self.web_dir / relative).read_bytes()
        if relative.name == CONFIG and relative.parent == Path(".") and self.bot_url:
            settings = json.loads(body)
            settings["socketUrl"] = self.bot_url
            body = json.dumps(settings, indent=2).encode()
        return body

    def _configured_bot_url(self) -> str:
        if self.bot_url:
            return self.bot_url
        return json.loads((self.web_dir / CONFIG).read_text())["socketUrl"]

    def do_GET(self, head_only: bool = False) -> None:
        path = urlsplit(self.path).path
        entry = FILES.get(path)
        if entry is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        relative, content_type = entry
        try:
            body = self._body(relative)
        except FileNotFoundError:
            hint = " (run: cd web && npm ci)" if relative in (BUNDLE, AXE) else ""
            logger.error("missing %s%s", self.web_dir / relative, hint)
            self.send_error(HTTPStatus.NOT_FOUND, f"{relative} is missing{hint}")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store" if relative.name == CONFIG else "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", content_security_policy(self._configured_bot_url()))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET(head_only=True)


def make_server(host: str, port: int, bot_url: Optional[str], web_dir: Path = WEB_DIR) -> ThreadingHTTPServer:
    """The HTTP server (not yet serving); port 0 picks a free port."""
    handler = partial(WebHandler, web_dir=web_dir, bot_url=bot_url)
    return ThreadingHTTPServer((host, port), handler)


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"),
                        help="interface to listen on (WEB_HOST; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", "8080")),
                        help="port (WEB_PORT; default 8080, the default CORS_ORIGINS of the bot)")
    parser.add_argument("--bot-url", default=os.environ.get("BOT_URL") or None,
                        help="the bot's socket.io URL (BOT_URL; default: socketUrl of web/config.json)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not (WEB_DIR / BUNDLE).exists():
        logger.warning("%s is missing: run `cd web && npm ci` (make web does)", WEB_DIR / BUNDLE)
    server = make_server(args.host, args.port, args.bot_url)
    host, port = server.server_address[:2]
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    logger.info("Serving web/ on http://%s:%d (bot: %s). Open that address; the bot's CORS_ORIGINS must "
                "include it.", shown, port, args.bot_url or json.loads((WEB_DIR / CONFIG).read_text())["socketUrl"])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
