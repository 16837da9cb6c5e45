"""A fake Telegram Bot API on 127.0.0.1 for tests: records every call and answers like Telegram.

`POST|GET /bot<token>/<method>` with JSON, form or query parameters; answers `{"ok": true, "result": ...}`
or `{"ok": false, "error_code": ..., "description": ...}` as the real API does. It checks what Telegram
checks and the bot could get wrong: the token (401), sendMessage's chat_id and text of 1-4096 UTF-16 units,
inline keyboards with callback_data of 1-64 bytes, setWebhook's HTTPS URL and secret_token characters, and
getUpdates refused (409) while a webhook is set. getUpdates long-polls a queue the test fills, and an
update counts as confirmed once getUpdates is called with a higher offset.
"""
from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

SECRET_CHARS = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


class FakeTelegram:
    """The fake server; use as a context manager. `calls` is the log of every API call, in order."""

    def __init__(self, token: str, username: str = "plantar_test_bot", port: int = 0) -> None:
        self.port = port
        self.token = token
        self.username = username
        self.bot_id = int(token.split(":")[0])
        self.calls: List[Dict[str, Any]] = []
        self.webhook: Dict[str, Any] = {}
        self.pending: List[Dict[str, Any]] = []
        self.confirmed_below = 0
        self.failures: Dict[str, List[ApiError]] = {}
        self.condition = threading.Condition()
        self.message_ids = itertools.count(1)
        self.started = time.time()
        self.server: Optional[ThreadingHTTPServer] = None

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> "FakeTelegram":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                fake.handle(self)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:  # quiet: the call log says it all
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        with self.condition:
            self.condition.notify_all()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- what tests use ---------------------------------------------------------------------------------
    def queue_update(self, update: Dict[str, Any]) -> None:
        """An update for getUpdates to return (long polling)."""
        with self.condition:
            self.pending.append(update)
            self.condition.notify_all()

    def fail_next(self, method: str, code: int, description: str, retry_after: Optional[int] = None) -> None:
        """The next call of `method` fails like Telegram would (e.g. 429 with retry_after); code 0: the
        connection is dropped without an answer, as a network failure would."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        with self.condition:
            self.failures.setdefault(method, []).append(ApiError(code, description, parameters))

    def calls_to(self, method: str, **params: Any) -> List[Dict[str, Any]]:
        """Successful and failed calls of a method whose parameters include `params`."""
        with self.condition:
            return [call for call in self.calls if call["method"] == method
                    and all(call["params"].get(key) == value for key, value in params.items())]

    def wait_for(self, check: Callable[[], Any], timeout: float = 30) -> Any:
        """Waits until `check()` is truthy (re-checked on every call the fake receives) and returns it."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                result = check()
                if result or time.monotonic() >= deadline:
                    return result
                self.condition.wait(timeout=min(0.5, max(0.0, deadline - time.monotonic())))

    def save_log(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.condition:
            path.write_text(json.dumps(self.calls, indent=2, ensure_ascii=False) + "\n")

    # -- the API ------------------------------------------------------------------------------------------
    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", parts.path)
        params: Dict[str, Any] = dict(parse_qsl(parts.query))
        status, body = 200, None
        method = match.group(2) if match else parts.path
        try:
            length = int(request.headers.get("Content-Length") or 0)
            raw = request.rfile.read(length) if length else b""
            kind = (request.headers.get("Content-Type") or "").split(";")[0].strip()
            if raw and kind == "application/json":
                params.update(json.loads(raw))
            elif raw and kind == "application/x-www-form-urlencoded":
                params.update(parse_qsl(raw.decode()))
            if parts.path == "/_fake/updates" and request.command == "POST":  # for trying polling by hand
                update = json.loads(raw)
                self.queue_update(update)
                method, result = "_fake/updates", update
            elif not match:
                raise ApiError(404, "Not Found")
            else:
                if match.group(1) != self.token:
                    raise ApiError(401, "Unauthorized")
                with self.condition:
                    queued = self.failures.get(method)
                    if queued:
                        raise queued.pop(0)
                result = self.dispatch(method, params)
            body = {"ok": True, "result": result}
        except ApiError as error:
            if error.code == 0:  # a network failure: no answer at all
                with self.condition:
                    self.calls.append({"t": round(time.time() - self.started, 3), "method": method, "params": params,
                                       "status": 0, "ok": False, "description": "connection dropped"})
                    self.condition.notify_all()
                request.close_connection = True
                request.connection.shutdown(2)
                return
            status = error.code
            body = {"ok": False, "error_code": error.code, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
        except ValueError as error:
            status, body = 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {error}"}
        logger.info("%s %s -> %s", method, json.dumps(params, ensure_ascii=False)[:300], status)
        with self.condition:
            self.calls.append({"t": round(time.time() - self.started, 3), "method": method, "params": params,
                               "status": status, "ok": body["ok"],
                               **({} if body["ok"] else {"description": body["description"]})})
            self.condition.notify_all()
        data = json.dumps(body).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def dispatch(self, method: str, params: Dict[str, Any]) -> Any:
        handler = {
            "getMe": self.get_me, "setWebhook": self.set_webhook, "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info, "getUpdates": self.get_updates,
            "sendMessage": self.send_message, "answerCallbackQuery": self.answer_callback_query,
        }.get(method)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return handler(params)

    def get_me(self, _params: Dict[str, Any]) -> Dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Plantar Test", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    def set_webhook(self, params: Dict[str, Any]) -> bool:
        url = str(params.get("url", ""))
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not SECRET_CHARS.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        with self.condition:
            self.webhook = {"url": url, "secret_token": secret,
                            "allowed_updates": params.get("allowed_updates")} if url else {}
        return True

    def delete_webhook(self, params: Dict[str, Any]) -> bool:
        with self.condition:
            self.webhook = {}
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                self.pending.clear()
        return True

    def get_webhook_info(self, _params: Dict[str, Any]) -> Dict[str, Any]:
        with self.condition:
            return {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                    "pending_update_count": len(self.pending)}

    def get_updates(self, params: Dict[str, Any]) -> List[Dict[str, Any]]:
        offset, limit = int(params.get("offset", 0) or 0), int(params.get("limit", 100) or 100)
        timeout = min(float(params.get("timeout", 0) or 0), 50)
        deadline = time.monotonic() + timeout
        with self.condition:
            if self.webhook:
                raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                    "use deleteWebhook to delete the webhook first")
            if offset:  # updates below the offset are confirmed and forgotten
                self.confirmed_below = max(self.confirmed_below, offset)
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
            while not self.pending and time.monotonic() < deadline:
                self.condition.wait(timeout=deadline - time.monotonic())
            return list(self.pending[:limit])

    def send_message(self, params: Dict[str, Any]) -> Dict[str, Any]:
        chat_id, text = params.get("chat_id"), params.get("text")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        if markup is not None:
            self.check_keyboard(markup)
        return {"message_id": next(self.message_ids), "date": int(time.time()),
                "chat": {"id": int(chat_id), "type": "private"},
                "from": {"id": self.bot_id, "is_bot": True, "first_name": "Plantar Test", "username": self.username},
                "text": text, **({"reply_markup": markup} if markup else {})}

    @staticmethod
    def check_keyboard(markup: Any) -> None:
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardMarkup expected")
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def answer_callback_query(self, params: Dict[str, Any]) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True


class Updates:
    """Updates shaped like Telegram's, with increasing update_ids (as Telegram numbers them)."""

    def __init__(self, start: int = 500_000) -> None:
        self.ids = itertools.count(start)
        self.message_ids = itertools.count(1)

    @staticmethod
    def user(chat_id: int) -> Dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": "Test", "language_code": "en"}

    def message(self, chat_id: int, field: str = "message", **content: Any) -> Dict[str, Any]:
        message = {"message_id": next(self.message_ids), "from": self.user(chat_id),
                   "chat": {"id": chat_id, "first_name": "Test", "type": "private"}, "date": int(time.time()),
                   **content}
        if field == "edited_message":
            message["edit_date"] = int(time.time())
        return {"update_id": next(self.ids), field: message}

    def text(self, chat_id: int, text: str) -> Dict[str, Any]:
        content: Dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
        return self.message(chat_id, **content)

    def edited(self, chat_id: int, text: str) -> Dict[str, Any]:
        return self.message(chat_id, field="edited_message", text=text)

    def sticker(self, chat_id: int) -> Dict[str, Any]:
        return self.message(chat_id, sticker={"file_id": "CAACAgIAAx", "file_unique_id": "AgAD", "type": "regular",
                                              "width": 512, "height": 512, "is_animated": False,
                                              "is_video": False, "emoji": "\U0001F44D"})

    def photo(self, chat_id: int, caption: Optional[str] = None) -> Dict[str, Any]:
        sizes = [{"file_id": f"AgACAgQAAx{n}", "file_unique_id": f"AQAD{n}", "width": w, "height": w,
                  "file_size": w * 40} for n, w in enumerate((90, 320, 800))]
        return self.message(chat_id, photo=sizes, **({"caption": caption} if caption else {}))

    def voice(self, chat_id: int) -> Dict[str, Any]:
        return self.message(chat_id, voice={"file_id": "AwACAgQAAx", "file_unique_id": "AgADvo", "duration": 3,
                                            "mime_type": "audio/ogg", "file_size": 9000})

    def document(self, chat_id: int) -> Dict[str, Any]:
        return self.message(chat_id, document={"file_id": "BQACAgQAAx", "file_unique_id": "AgADdo",
                                               "file_name": "x-ray.pdf", "mime_type": "application/pdf"})

    def location(self, chat_id: int) -> Dict[str, Any]:
        return self.message(chat_id, location={"latitude": 52.52, "longitude": 13.405})

    def callback(self, chat_id: int, data: str, query_id: Optional[str] = None) -> Dict[str, Any]:
        bot_message = {"message_id": next(self.message_ids), "date": int(time.time()),
                       "chat": {"id": chat_id, "first_name": "Test", "type": "private"},
                       "from": {"id": 1, "is_bot": True, "first_name": "Plantar Test"}, "text": "…"}
        update_id = next(self.ids)
        return {"update_id": update_id,
                "callback_query": {"id": query_id or f"cbq-{update_id}", "from": self.user(chat_id),
                                   "message": bot_message, "chat_instance": f"ci-{chat_id}", "data": data}}

    def member_update(self, chat_id: int) -> Dict[str, Any]:
        """A my_chat_member update (the user blocked the bot): nothing to answer."""
        return {"update_id": next(self.ids), "my_chat_member": {
            "chat": {"id": chat_id, "type": "private"}, "from": self.user(chat_id), "date": int(time.time()),
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "P"}},
            "new_chat_member": {"status": "kicked", "until_date": 0,
                                "user": {"id": 1, "is_bot": True, "first_name": "P"}}}}


if __name__ == "__main__":  # pragma: no cover - a manual tool
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", default="123456:TEST-token")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--log", type=Path, help="write the call log here on Ctrl-C")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    fake = FakeTelegram(arguments.token, port=arguments.port).__enter__()
    logger.info("Fake Telegram Bot API at %s (token %s); queue an update for getUpdates with "
                "curl -d @update.json -H 'Content-Type: application/json' %s/_fake/updates",
                fake.url, arguments.token, fake.url)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        if arguments.log:
            fake.save_log(arguments.log)
