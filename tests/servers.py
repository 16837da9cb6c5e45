"""Start the action server and the Rasa server once for a test session, on free loopback ports."""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional
from urllib.parse import quote

import requests

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send_rest(url: str, sender: str, message: str, timeout: float = 30) -> List[Dict]:
    """Send a message through the REST channel of the Rasa server at `url`; the bot's messages."""
    response = requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message},
                             timeout=timeout)
    response.raise_for_status()
    return response.json()


def fetch_tracker(url: str, token: str, sender: str) -> Dict:
    """A conversation's tracker from the HTTP API of the Rasa server at `url`."""
    response = requests.get(f"{url}/conversations/{quote(sender, safe='')}/tracker", params={"token": token},
                            timeout=30)
    response.raise_for_status()
    return response.json()


@dataclass
class BotServer:
    """A running Rasa server (REST channel + HTTP API) with its action server."""

    url: str
    token: str
    action_url: str
    action_token: str
    rasa_pid: int = 0

    def send(self, sender: str, message: str, timeout: float = 30) -> List[Dict]:
        """Send a message through the REST channel and return the bot's messages."""
        return send_rest(self.url, sender, message, timeout)

    def tracker(self, sender: str) -> Dict:
        """The conversation's tracker from the HTTP API."""
        return fetch_tracker(self.url, self.token, sender)

    def parse(self, text: str) -> Dict:
        """NLU only: the model's parse of a text."""
        response = requests.post(f"{self.url}/model/parse", params={"token": self.token}, json={"text": text}, timeout=30)
        response.raise_for_status()
        return response.json()


def wait_until(check, process: subprocess.Popen, what: str, log: Path, timeout: float = STARTUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}; log {log}:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not start within {timeout:.0f}s; log {log}:\n{log.read_text()[-3000:]}")


def start_action_server(port: int, log: Path, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """The project's action server on a port (not waited for).

    The request-size limit is for the public Rasa server only: the action server receives whole trackers,
    which outgrow it in long conversations (as scripts/run.sh does)."""
    env = {k: v for k, v in (env or os.environ).items() if k != "SANIC_REQUEST_MAX_SIZE"}
    env.setdefault("SANIC_HOST", "127.0.0.1")
    return subprocess.Popen(
        [str(BIN / "python"), "-m", "actions", "--actions", "actions", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )


@contextmanager
def running_bot(
    model: Path,
    workdir: Path,
    extra_env: Optional[Dict[str, str]] = None,
    credentials: Path = PROJECT_ROOT / "credentials.yml",
    endpoints: Path = PROJECT_ROOT / "endpoints.yml",
    with_action_server: bool = True,
    fresh_store: bool = True,
    cors: Optional[List[str]] = None,
) -> Iterator[BotServer]:
    """Run the Rasa server (and the action server) with a SQLite tracker store under workdir; stop them
    afterwards. `extra_env` overrides settings (e.g. ACTION_ENDPOINT_URL to a server that is down).
    `cors`: browser origins allowed to call the server, as `make serve` does with CORS_ORIGINS (`--cors`
    for the HTTP routes, CORS_ORIGINS for the socket.io endpoint); None: no --cors, as before."""
    workdir.mkdir(parents=True, exist_ok=True)
    if fresh_store:
        (workdir / "conversations.db").unlink(missing_ok=True)  # start with no conversations
    action_port, rasa_port = free_port(), free_port()
    token = "test-token-" + os.urandom(8).hex()
    action_token = "action-token-" + os.urandom(8).hex()
    # A developer's real Telegram settings never reach a test server (it would call the real Bot API);
    # the Telegram tests pass their fake's settings in extra_env.
    env = dict(
        {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")},
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        TRACKER_STORE_URL=f"sqlite:///{workdir / 'conversations.db'}",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        RASA_TELEMETRY_ENABLED="false",
        ACTION_SERVER_TOKEN=action_token,
        SANIC_REQUEST_MAX_SIZE="65536",
        # one server: in-memory conversation locks (endpoints.yml needs every REDIS_* set, even unused)
        LOCK_STORE_TYPE="in_memory", REDIS_HOST="localhost", REDIS_PORT="6379", REDIS_PASSWORD="", REDIS_DB="1",
        # no clinic's details (issue 14) unless a test gives some: a developer's data/clinic/clinic.yml stays out
        CLINIC_FILE=str(workdir / "no-clinic.yml"),
    )
    if cors is not None:
        env["CORS_ORIGINS"] = " ".join(cors)
    env.update(extra_env or {})
    processes: List[subprocess.Popen] = []
    try:
        action_log = workdir / "action-server.log"
        action = start_action_server(action_port, action_log, env) if with_action_server else None
        if action:
            processes.append(action)
        rasa_log = workdir / "rasa-server.log"
        rasa = subprocess.Popen(
            [str(BIN / "rasa"), "run", "--model", str(model), "--endpoints", str(endpoints),
             "--credentials", str(credentials), "--enable-api", "--auth-token", token,
             "--interface", "127.0.0.1", "--port", str(rasa_port), *(["--cors", *cors] if cors else [])],
            cwd=PROJECT_ROOT, env=env, stdout=rasa_log.open("w"), stderr=subprocess.STDOUT,
        )
        processes.append(rasa)
        action_url = f"http://127.0.0.1:{action_port}"
        if action:
            wait_until(lambda: requests.get(f"{action_url}/health", timeout=2).ok, action, "action server", action_log)
        url = f"http://127.0.0.1:{rasa_port}"
        wait_until(
            lambda: requests.get(f"{url}/status", params={"token": token}, timeout=2).json().get("model_file"),
            rasa, "Rasa server", rasa_log,
        )
        yield BotServer(url=url, token=token, action_url=action_url, action_token=env["ACTION_SERVER_TOKEN"],
                        rasa_pid=rasa.pid)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
