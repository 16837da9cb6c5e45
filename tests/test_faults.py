"""Faults: the action server down or slow, and a server restart. The user always gets an answer in
bounded time, and nothing is lost (channels/guard.py, SQL tracker store)."""
from __future__ import annotations

import http.server
import os
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import OUTPUT_DIR
from tests.servers import URGENT_CARE, free_port, running_bot, start_action_server, wait_until

pytestmark = pytest.mark.e2e

UNAVAILABLE = "can't answer right now"


def test_action_server_down_gets_a_polite_reply_then_recovers(trained_model: Path) -> None:
    port = free_port()
    workdir = OUTPUT_DIR / "faults-down"
    env = {"ACTION_ENDPOINT_URL": f"http://127.0.0.1:{port}/webhook"}
    with running_bot(trained_model, workdir, extra_env=env, with_action_server=False) as bot:
        started = time.monotonic()
        messages = bot.send("fault-down", "what causes plantar fasciitis")
        assert UNAVAILABLE in messages[0]["text"]
        assert messages[0]["text"].endswith(URGENT_CARE)  # no answer, but when to seek urgent care
        assert time.monotonic() - started < 20
        action = start_action_server(port, workdir / "late-action-server.log",
                                     dict(os.environ, ACTION_SERVER_TOKEN=bot.action_token))
        try:
            wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/health", timeout=2).ok,
                       action, "action server", workdir / "late-action-server.log")
            text = "\n".join(m["text"] for m in bot.send("fault-down", "what causes plantar fasciitis"))
            assert "From the guide:" in text
        finally:
            action.terminate()
            action.wait(timeout=20)


class SlowActionServer(http.server.BaseHTTPRequestHandler):
    """An action server that takes 30 s to answer."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        time.sleep(30)
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_slow_action_server_gets_a_polite_reply_within_the_timeout(trained_model: Path, tmp_path: Path) -> None:
    credentials = yaml.safe_load(Path("credentials.yml").read_text())
    credentials["channels.rest.ValidatingRestInput"]["reply_timeout"] = 3
    path = tmp_path / "credentials.yml"
    path.write_text(yaml.safe_dump(credentials))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowActionServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"ACTION_ENDPOINT_URL": f"http://127.0.0.1:{server.server_address[1]}/webhook"}
    try:
        with running_bot(trained_model, OUTPUT_DIR / "faults-slow", extra_env=env, credentials=path,
                         with_action_server=False) as bot:
            started = time.monotonic()
            messages = bot.send("fault-slow", "what causes plantar fasciitis", timeout=60)
            elapsed = time.monotonic() - started
            assert UNAVAILABLE in messages[0]["text"]
            assert elapsed < 10
    finally:
        server.shutdown()


def test_conversations_survive_a_restart(trained_model: Path) -> None:
    workdir = OUTPUT_DIR / "faults-restart"
    with running_bot(trained_model, workdir) as bot:
        bot.send("restart-user", "what is plantar fasciitis")
        before = [e for e in bot.tracker("restart-user")["events"] if e["event"] in ("user", "bot")]
    with running_bot(trained_model, workdir, fresh_store=False) as bot:
        after = [e for e in bot.tracker("restart-user")["events"] if e["event"] in ("user", "bot")]
        assert [e.get("text") for e in after] == [e.get("text") for e in before] and len(before) == 2
        text = "\n".join(m["text"] for m in bot.send("restart-user", "and the symptoms?"))
        assert text.rstrip().endswith("healthcare professional.")  # the short disclaimer: same conversation
