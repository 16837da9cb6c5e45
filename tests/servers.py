"""Start the action server and the Rasa server once for a test session, on free loopback ports.

As `make serve` does: the HTTP API's token in the environment (scripts/rasa_server.py), never on a command
line; requests carry it as `Authorization: Bearer`. Each conversation's REST messages come from its own
loopback address (127.x.y.z, derived from the sender), as people's messages come from their own devices,
so the per-address rate limit (channels/abuse.py) sees one client per conversation, not one for the
whole test run.
"""
from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional
from urllib.parse import quote

import requests
import yaml
from requests.adapters import HTTPAdapter

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 240
ACTION_LOGGING = PROJECT_ROOT / "deploy" / "action-server-logging.yml"
URGENT_CARE = " ".join(yaml.safe_load((PROJECT_ROOT / "data" / "safety" / "policy.yml").read_text())["urgent_care_sentence"].split())
_REST_SETTINGS = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())["channels.rest.ValidatingRestInput"]


def with_urgent_care(reply: str) -> str:
    """A reply that carries no answer as the person gets it: ended with when to seek urgent care."""
    return " ".join(reply.split() + [URGENT_CARE])


# The rate limits' and the "can't answer right now" replies as the person gets them (channels/abuse.py,
# channels/guard.py): the refused or failed message is not answered, so each ends with the urgent-care sentence.
SLOW_DOWN_REPLY = with_urgent_care(_REST_SETTINGS["slow_down_reply"])
UNAVAILABLE_REPLY = with_urgent_care(_REST_SETTINGS["unavailable_reply"])
_sessions: Dict[str, requests.Session] = {}
_sessions_lock = threading.Lock()


def stop_process_group(process: subprocess.Popen, timeout: float) -> None:
    """Stop a process started with start_new_session=True and everything it started (scripts/run.sh starts
    two servers): SIGTERM to its group, SIGKILL after `timeout` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SourceAddressAdapter(HTTPAdapter):
    """Connections from a given local address (any 127.x.y.z reaches a server on 127.0.0.1)."""

    def __init__(self, address: str, **kwargs) -> None:
        self.address = address
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def loopback_address(key: str) -> str:
    """A loopback address of its own for a key (a sender): 127.x.y.z, never 127.0.0.1."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return f"127.{1 + digest[0] % 250}.{digest[1]}.{1 + digest[2] % 250}"


def session_from(address: str) -> requests.Session:
    """A requests session whose connections come from `address`."""
    with _sessions_lock:
        session = _sessions.get(address)
        if session is None:
            session = requests.Session()
            session.mount("http://", SourceAddressAdapter(address))
            _sessions[address] = session
        return session


def bearer(token: str) -> Dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_rest(url: str, token: Optional[str], body, sender_key: str = "", timeout: float = 30,
              source: Optional[str] = None) -> requests.Response:
    """POST a body to the REST channel (with the bearer token unless None), from the sender's own address."""
    session = session_from(source or loopback_address(sender_key or str(body)))
    headers = bearer(token) if token is not None else {}
    if isinstance(body, (bytes, str)):
        return session.post(f"{url}/webhooks/rest/webhook", data=body, timeout=timeout,
                            headers={**headers, "Content-Type": "application/json"})
    return session.post(f"{url}/webhooks/rest/webhook", json=body, headers=headers, timeout=timeout)


def send_rest(url: str, sender: str, message: str, timeout: float = 30, token: Optional[str] = None,
              source: Optional[str] = None) -> List[Dict]:
    """Send a message through the REST channel of the Rasa server at `url`; the bot's messages."""
    response = post_rest(url, token, {"sender": sender, "message": message}, sender, timeout, source)
    response.raise_for_status()
    return response.json()


def fetch_tracker(url: str, token: str, sender: str) -> Dict:
    """A conversation's tracker from the HTTP API of the Rasa server at `url`."""
    # ':' and '@' stay as they are: Sanic does not decode %3A or %40 in a path (Telegram/web ids are 'telegram:...')
    response = requests.get(f"{url}/conversations/{quote(sender, safe=':@')}/tracker", headers=bearer(token),
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
    privacy_secret: str = ""
    workdir: Optional[Path] = None

    def send(self, sender: str, message: str, timeout: float = 30, source: Optional[str] = None) -> List[Dict]:
        """Send a message through the REST channel and return the bot's messages."""
        return send_rest(self.url, sender, message, timeout, token=self.token, source=source)

    def tracker(self, sender: str) -> Dict:
        """The conversation's tracker from the HTTP API."""
        return fetch_tracker(self.url, self.token, sender)

    def web_tracker(self, session_id: str) -> Dict:
        """The tracker of a website (socket.io) session: stored under a keyed hash of the session id."""
        from channels.identity import web_sender

        return self.tracker(web_sender(session_id, self.privacy_secret.encode()))

    def telegram_tracker(self, chat_id: int) -> Dict:
        """The tracker of a Telegram chat: stored under a keyed hash of the chat id."""
        from channels.identity import telegram_sender

        return self.tracker(telegram_sender(chat_id, self.privacy_secret.encode()))

    def parse(self, text: str) -> Dict:
        """NLU only: the model's parse of a text."""
        response = requests.post(f"{self.url}/model/parse", headers=bearer(self.token), json={"text": text},
                                 timeout=30)
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


def start_action_server(port: int, log: Path, env: Optional[Dict[str, str]] = None,
                        log_mode: str = "w") -> subprocess.Popen:
    """The project's action server on a port (not waited for).

    The request-size limit is for the public Rasa server only: the action server receives whole trackers,
    which outgrow it in long conversations (as scripts/run.sh does)."""
    env = {k: v for k, v in (env or os.environ).items() if k != "SANIC_REQUEST_MAX_SIZE"}
    env.setdefault("SANIC_HOST", "127.0.0.1")
    return subprocess.Popen(
        [str(BIN / "python"), "-m", "actions", "--actions", "actions", "--port", str(port),
         "--logging-config_file", str(ACTION_LOGGING)],
        cwd=PROJECT_ROOT, env=env, stdout=log.open(log_mode), stderr=subprocess.STDOUT,
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
    log_mode = "w" if fresh_store else "a"  # a restart keeps the earlier run's log
    if fresh_store:
        (workdir / "conversations.db").unlink(missing_ok=True)  # start with no conversations
    action_port, rasa_port = free_port(), free_port()
    token = "test-token-" + os.urandom(8).hex()
    action_token = "action-token-" + os.urandom(8).hex()
    privacy_secret = (extra_env or {}).get("PRIVACY_SECRET") or "test-privacy-secret-" + os.urandom(16).hex()
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
        RASA_TOKEN=token,
        PRIVACY_SECRET=privacy_secret,
        SANIC_REQUEST_MAX_SIZE="65536",
        # one server: in-memory conversation locks (endpoints.yml needs every REDIS_* set, even unused)
        LOCK_STORE_TYPE="stores.lock_store.InMemoryLockStore", REDIS_HOST="localhost", REDIS_PORT="6379",
        REDIS_PASSWORD="", REDIS_DB="1",
        # no clinic's details (issue 14) unless a test gives some: a developer's data/clinic/clinic.yml stays out
        CLINIC_FILE=str(workdir / "no-clinic.yml"),
    )
    env.pop("REST_TOKEN", None)
    if cors is not None:
        env["CORS_ORIGINS"] = " ".join(cors)
    env.update(extra_env or {})
    processes: List[subprocess.Popen] = []
    try:
        action_log = workdir / "action-server.log"
        action = start_action_server(action_port, action_log, env, log_mode) if with_action_server else None
        if action:
            processes.append(action)
        rasa_log = workdir / "rasa-server.log"
        rasa = subprocess.Popen(
            [str(BIN / "python"), str(PROJECT_ROOT / "scripts" / "rasa_server.py"), "run", "--model", str(model),
             "--endpoints", str(endpoints), "--credentials", str(credentials), "--enable-api",
             "--interface", "127.0.0.1", "--port", str(rasa_port), *(["--cors", *cors] if cors else [])],
            cwd=PROJECT_ROOT, env=env, stdout=rasa_log.open(log_mode), stderr=subprocess.STDOUT,
        )
        processes.append(rasa)
        action_url = f"http://127.0.0.1:{action_port}"
        if action:
            wait_until(lambda: requests.get(f"{action_url}/health", timeout=2).ok, action, "action server", action_log)
        url = f"http://127.0.0.1:{rasa_port}"
        wait_until(
            # ?token= as well as the header: a server without the project's channels (benchmarks/bench.py's
            # baseline, Rasa's own REST channel) does not have the header patch of channels/hardening.py.
            lambda: requests.get(f"{url}/status", headers=bearer(token), params={"token": token},
                                 timeout=2).json().get("model_file"),
            rasa, "Rasa server", rasa_log,
        )
        yield BotServer(url=url, token=token, action_url=action_url, action_token=env["ACTION_SERVER_TOKEN"],
                        rasa_pid=rasa.pid, privacy_secret=env["PRIVACY_SECRET"], workdir=workdir)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
