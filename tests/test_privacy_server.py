"""The bot as `make serve` runs it (scripts/run.sh serve), checked as a security engineer would (issue 13):

- files: var/ 0700, the conversations, the secret and the logs 0600;
- ports: the Rasa server and the action server listen on 127.0.0.1 only;
- the HTTP API's token is taken from the environment and accepted as a bearer header, and no process's
  command line holds a token or the privacy secret; `CORS_ORIGINS='... *'` is passed on as written, not
  expanded to file names;
- crash durability: kill -9 of the Rasa server while 20 senders chat; after the restart every message that
  got an answer is in its tracker, once, in order (SQLite);
- logs: distinctive texts and sender ids through every channel (REST, socket.io, Telegram against the fake
  Bot API) and every failure path (a "/..." text, too long, rate-limited, erased, a client hanging up, a
  Telegram send failing, a group chat, the database locked and missing its table, the action server
  down); then every file the project wrote is searched for them.

The server is started once for the module (and once more after the kill), on free loopback ports, in
tests/output/privacy-server/.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
import requests
import socketio
import yaml

from tests.conftest import OUTPUT_DIR, PROJECT_ROOT
from tests.fake_telegram import FakeTelegram, Updates
from tests.servers import (SLOW_DOWN_REPLY, UNAVAILABLE_REPLY, bearer, fetch_tracker, free_port, send_rest,
                           stop_process_group)

pytestmark = pytest.mark.e2e

WORKDIR = OUTPUT_DIR / "privacy-server"
VAR = WORKDIR / "var"
TELEGRAM_TOKEN = "515151:TEST-privacy-server-token"
TELEGRAM_SECRET = "privacy-server-secret-" + uuid.uuid4().hex
PRIVACY = yaml.safe_load((PROJECT_ROOT / "data" / "privacy" / "privacy.yml").read_text())
CREDENTIALS = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())
REST = CREDENTIALS["channels.rest.ValidatingRestInput"]
START_TIMEOUT_S = 300


def cmdline(pid: int) -> List[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def processes_with(*parts: str) -> List[int]:
    """Pids whose command line contains every part."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = " ".join(cmdline(int(entry.name)))
            if all(part in line for part in parts):
                found.append(int(entry.name))
    return found


def listening(port: int) -> List[str]:
    """The local addresses that listen on a TCP port (from /proc/net/tcp and tcp6)."""
    addresses = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # LISTEN
                if width == 8:
                    addresses.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
                else:
                    addresses.append("ipv6:" + address)
    return addresses


class Served:
    """scripts/run.sh serve in WORKDIR, with Telegram pointing at a fake Bot API."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.rasa_port, self.action_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.rasa_port}"
        self.token = "serve-token-" + uuid.uuid4().hex
        self.action_token = "action-token-" + uuid.uuid4().hex
        self.process: Optional[subprocess.Popen] = None
        self.env = dict(
            {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PRIVACY_", "REST_"))},
            VAR_DIR=str(VAR), RASA_PORT=str(self.rasa_port), ACTION_PORT=str(self.action_port),
            RASA_TOKEN=self.token, ACTION_SERVER_TOKEN=self.action_token,
            TRACKER_STORE_URL=f"sqlite:///{VAR / 'conversations.db'}",
            LOCK_STORE_TYPE="stores.lock_store.InMemoryLockStore", REDIS_HOST="localhost", REDIS_PORT="6379",
            REDIS_PASSWORD="", REDIS_DB="1", ACTION_ENDPOINT_URL=f"http://127.0.0.1:{self.action_port}/webhook",
            CORS_ORIGINS="http://localhost:8080 *", SANIC_REQUEST_MAX_SIZE="65536", TF_CPP_MIN_LOG_LEVEL="2",
            SQLALCHEMY_SILENCE_UBER_WARNING="1", RASA_TELEMETRY_ENABLED="false", STORE_TIMEOUT_S="2",
            TELEGRAM_TOKEN=TELEGRAM_TOKEN, TELEGRAM_SECRET_TOKEN=TELEGRAM_SECRET, TELEGRAM_API_URL=fake.url,
            TELEGRAM_WEBHOOK_URL="https://bot.example.test/webhooks/telegram/webhook",
            MODEL=str(PROJECT_ROOT / "models" / "plantar-bot.tar.gz"),
        )

    def start(self) -> None:
        output = (WORKDIR / "serve-output.log").open("a")
        self.process = subprocess.Popen([str(PROJECT_ROOT / "scripts" / "run.sh"), "serve"], cwd=PROJECT_ROOT,
                                        env=self.env, stdout=output, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (WORKDIR / "serve-output.log").read_text()[-3000:]
            try:
                if requests.get(f"{self.url}/status", headers=bearer(self.token), timeout=2).json().get("model_file"):
                    return
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.5)
        raise AssertionError("scripts/run.sh serve did not come up")

    @property
    def rasa_pid(self) -> int:
        [pid] = processes_with("rasa_server.py", "run", f"--port {self.rasa_port}")
        return pid

    @property
    def action_pid(self) -> int:
        [pid] = processes_with("-m actions", f"--port {self.action_port}")
        return pid

    def stop(self) -> None:
        if self.process:
            stop_process_group(self.process, timeout=30)

    def send(self, sender: str, message: str, timeout: float = 30) -> List[Dict]:
        return send_rest(self.url, sender, message, timeout, token=self.token)

    def tracker(self, sender: str) -> Dict:
        return fetch_tracker(self.url, self.token, sender)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TELEGRAM_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def served(trained_model: Path, fake: FakeTelegram) -> Iterator[Served]:
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    server = Served(fake)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------ files, ports
def test_var_and_everything_in_it_are_readable_by_the_owner_only(served: Served) -> None:
    served.send("files-check", "what is plantar fasciitis?")
    assert VAR.stat().st_mode & 0o777 == 0o700
    files = {path.name: path.stat().st_mode & 0o777 for path in VAR.iterdir()}
    for expected in ("conversations.db", "conversations.db-wal", "rasa-server.log", "action-server.log",
                     "privacy-secret"):
        assert expected in files, files
    assert set(files.values()) == {0o600}, files


def test_both_servers_listen_on_loopback_only(served: Served) -> None:
    assert listening(served.rasa_port) == ["127.0.0.1"]
    assert listening(served.action_port) == ["127.0.0.1"]


def test_no_command_line_holds_a_token_or_the_privacy_secret(served: Served) -> None:
    secret = (VAR / "privacy-secret").read_text().strip()
    ours = [served.rasa_pid, served.action_pid, served.process.pid]
    everyone = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    for pid in everyone:
        line = " ".join(cmdline(pid))
        assert served.token not in line and served.action_token not in line and secret not in line, (pid, line[:200])
    assert "--auth-token" not in " ".join(cmdline(served.rasa_pid))
    assert all(cmdline(pid) for pid in ours)


def test_the_api_token_works_as_a_bearer_header(served: Served) -> None:
    assert requests.get(f"{served.url}/status", headers=bearer(served.token), timeout=10).status_code == 200
    assert requests.get(f"{served.url}/status", timeout=10).status_code == 401
    assert requests.get(f"{served.url}/status", headers=bearer("not-it"), timeout=10).status_code == 401


def test_cors_origins_are_passed_on_as_written_not_expanded(served: Served) -> None:
    """run.sh used ${CORS_ORIGINS} unquoted: '*' became the names of the files in the project."""
    arguments = cmdline(served.rasa_pid)
    cors = arguments[arguments.index("--cors") + 1:]
    assert cors[:2] == ["http://localhost:8080", "*"]
    assert not {"Makefile", "README.md", "pytest.ini", "domain.yml"} & set(arguments)


# ------------------------------------------------------------------------------------- crash durability
def test_every_answered_message_survives_a_kill_9(served: Served, figures: List[str]) -> None:
    """20 senders chat; the Rasa server is killed with SIGKILL mid-way and started again. Every message that
    got an answer must be in its tracker, once, in order; one that was in flight may or may not be."""
    senders = [f"crash-{n}-{uuid.uuid4().hex[:6]}" for n in range(20)]
    answered: Dict[str, List[str]] = {sender: [] for sender in senders}
    refused: Dict[str, List[str]] = {sender: [] for sender in senders}  # "slow down", "can't answer right now"
    stop = threading.Event()

    def chat(sender: str) -> None:
        for i in range(200):
            if stop.is_set():
                return
            text = f"what is gua sha ({i})"
            try:
                replies = send_rest(served.url, sender, text, timeout=10, token=served.token)
            except requests.RequestException:
                return  # the server is gone
            # "slow down" and "can't answer right now" (e.g. the database did not answer in time on a busy
            # machine) are not answers: such a turn may or may not have been saved
            if {SLOW_DOWN_REPLY, UNAVAILABLE_REPLY} & {r.get("text") for r in replies}:
                refused[sender].append(text)
            elif replies and all(reply.get("text") for reply in replies):
                answered[sender].append(text)
            time.sleep(0.2)

    pool = ThreadPoolExecutor(max_workers=len(senders))
    futures = [pool.submit(chat, sender) for sender in senders]
    time.sleep(4)
    os.kill(served.rasa_pid, signal.SIGKILL)
    stop.set()
    for future in futures:
        future.result(timeout=60)
    pool.shutdown()
    served.process.wait(timeout=60)  # run.sh exits with its Rasa server, and stops the action server
    total = sum(map(len, answered.values()))
    assert total >= 40, "too few messages answered before the kill for the test to mean anything"

    served.start()
    extra = 0
    for sender in senders:
        stored = [e["text"] for e in served.tracker(sender)["events"] if e["event"] == "user"]
        kept = [text for text in stored if text not in refused[sender]]
        assert kept[:len(answered[sender])] == answered[sender], sender  # all answered, in order
        assert len(stored) == len(set(stored)), sender  # each once
        assert len(kept) - len(answered[sender]) <= 1, sender  # at most the one in flight
        extra += len(kept) - len(answered[sender])
    refusals = sum(map(len, refused.values()))
    figures.append(f"crash (kill -9, SQLite): {total} answered messages of 20 senders all in their trackers after "
                   f"the restart, once, in order; {extra} in-flight messages also kept; {refusals} refused "
                   "(slow down / can't answer right now) not counted")


# -------------------------------------------------------------------------------------- logs, every path
def marker(kind: str) -> str:
    """A distinctive text: a search for it cannot meet anything but the message itself."""
    return f"{kind} quokka{uuid.uuid4().hex[:10]}"


def test_no_log_holds_a_message_text_or_a_raw_sender_id(served: Served, fake: FakeTelegram) -> None:
    texts: List[str] = []
    ids: List[str] = []

    def remember(text: str) -> str:
        texts.append(text)
        return text

    # REST: an answer, "/..." text Rasa cannot parse as a payload, too long, an erasure, rate-limited.
    rest_sender = f"jane.doe.{uuid.uuid4().hex[:8]}@example.org"
    ids.append(rest_sender)
    served.send(rest_sender, remember("my toes went numb after I fell " + marker("rest")))
    served.send(rest_sender, remember("/ my toes went numb after I fell " + marker("slash")))
    served.send(rest_sender, remember("/ask_unknown_intent" + marker("payload").replace(" ", "_")))
    served.send(rest_sender, remember(("my heel hurts " + marker("long") + " ") * 150))
    served.send(rest_sender, "delete my conversation")
    flood_sender = f"flood.{uuid.uuid4().hex[:8]}@example.org"
    ids.append(flood_sender)
    for n in range(REST["rate_limits"]["per_conversation"]["burst"] + 3):
        served.send(flood_sender, remember(f"slow me down {n} " + marker("flood")))
    # REST: a client hanging up mid-turn.
    hangup = f"hangup-{uuid.uuid4().hex[:8]}"
    ids.append(hangup)
    body = json.dumps({"sender": hangup, "message": remember("my heel is swollen and hot " + marker("hangup"))})
    request = (f"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {served.token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
    with socket.create_connection(("127.0.0.1", served.rasa_port)) as connection:
        connection.sendall(request)
    time.sleep(1)

    # socket.io (the widget): a question, a made-up session id, erasure by the control.
    said: List[dict] = []
    confirmed: List[str] = []
    client = socketio.Client(reconnection=False)
    client.on("bot_uttered", said.append)
    client.on("session_confirm", confirmed.append)
    client.connect(served.url, transports=["polling"], wait_timeout=10)
    made_up = "visitor-" + uuid.uuid4().hex
    ids.append(made_up)
    client.emit("session_request", {"session_id": made_up})
    deadline = time.monotonic() + 10
    while not confirmed and time.monotonic() < deadline:
        time.sleep(0.05)
    ids.append(confirmed[0])
    client.emit("user_uttered", {"message": remember("I have diabetes and a wound on my foot " + marker("web"))})
    deadline = time.monotonic() + 20
    while len(said) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    client.disconnect()
    requests.post(f"{served.url}/webhooks/socketio/forget", data=json.dumps({"session_id": confirmed[0]}),
                  timeout=30).raise_for_status()

    # Telegram: a question whose answer first fails to send (429, a dropped connection, then 403), a
    # group, /forget, a sticker.
    updates = Updates(start=900_000)
    chat = 4_242_424_242
    ids.append(str(chat))

    def post_update(update: dict) -> None:
        reply = requests.post(f"{served.url}/webhooks/telegram/webhook", json=update, timeout=60,
                              headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
        assert reply.status_code == 200

    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    fake.fail_next("sendMessage", 0, "dropped")
    post_update(updates.text(chat, remember("pain at night in my heel " + marker("telegram"))))
    fake.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    post_update(updates.text(chat, remember("can't put weight on my foot " + marker("blocked"))))
    group = updates.text(-100_777, remember("in the group: my arch hurts " + marker("group")))
    group["message"]["chat"] = {"id": -100_777, "type": "group", "title": "Heel pain support"}
    post_update(group)
    post_update(updates.sticker(chat))
    post_update(updates.text(chat, "/forget"))
    assert fake.wait_for(lambda: len(fake.calls_to("sendMessage", chat_id=chat)) >= 5, timeout=30)

    # Failure paths of the database: locked for longer than STORE_TIMEOUT_S, then missing its table.
    db_sender = f"db-{uuid.uuid4().hex[:8]}"
    ids.append(db_sender)
    blocker = sqlite3.connect(VAR / "conversations.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        locked = served.send(db_sender, remember("the database is locked " + marker("locked")))
    finally:
        blocker.execute("ROLLBACK")
    blocker.execute("ALTER TABLE events RENAME TO events_elsewhere")
    try:
        missing = served.send(db_sender, remember("the table is missing " + marker("missing")))
    finally:
        blocker.execute("ALTER TABLE events_elsewhere RENAME TO events")
        blocker.close()
    unavailable = UNAVAILABLE_REPLY
    assert [r["text"] for r in locked] == [unavailable] and [r["text"] for r in missing] == [unavailable]

    # The action server down.
    os.kill(served.action_pid, signal.SIGTERM)
    time.sleep(2)
    down = served.send(f"down-{uuid.uuid4().hex[:6]}", remember("my foot is blue " + marker("down")))
    assert [r["text"] for r in down] == [unavailable]

    # Every file the project wrote (var/ and what run.sh printed) holds none of it.
    time.sleep(1)
    logs = {path: path.read_text(errors="replace") for path in [*VAR.glob("*.log"), WORKDIR / "serve-output.log"]}
    everything = "\n".join(logs.values())
    # The paths were taken: these lines are there (without the words).
    for evidence in ("Rate limit (conversation) reached", "Erased conversation", "Erased web conversation",
                     "retrying sendMessage", "Could not deliver a message", "private-chats-only",
                     "Handling a message failed", "disconnected before its answer", "parameters hidden"):
        assert evidence in everything, evidence
    from channels.identity import telegram_sender, web_sender

    secret = (VAR / "privacy-secret").read_text().strip().encode()
    ids += [telegram_sender(chat, secret), web_sender(confirmed[0], secret)]
    leaks = []
    for path, content in logs.items():
        for text in texts:
            for fragment in re.findall(r"quokka[0-9a-f]{10}", text):
                if fragment in content:
                    leaks.append((path.name, fragment))
        for sender in ids:
            if sender in content:
                leaks.append((path.name, sender))
    assert not leaks, leaks
