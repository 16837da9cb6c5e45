"""Scale-out: two Rasa replicas share one PostgreSQL tracker store and one Redis lock store.

The stack is started once for this module by deploy/scale-out.sh (which installs PostgreSQL, Redis and nginx
from Debian when they are missing) on free loopback ports, and stopped afterwards even when a test fails.
One conversation is sent alternately to replica 1, replica 2 and nginx: its tracker must hold every message
and every answer once, in order, the same on both replicas and in PostgreSQL, and conversation state one
replica wrote (the disclaimer already shown, the topic "tell me more" goes on from) must be seen by the
other. Concurrent messages of the same conversations through nginx exercise the Redis lock.

Issue 13 on the same stack: nginx publishes only the channels and limits each client address; a message
waiting on one replica behind its conversation's message on the other goes on within a fraction of a
second; with Redis stopped (`kill -STOP`) for 10 s every message is still answered and conversations go on
after it resumes; kill -9 of a replica while 20 senders chat loses no answered message (PostgreSQL); and no
log of the stack holds a message's text or a raw sender id.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest
import requests
import yaml
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from stores.redis_lock_store import AtomicRedisLockStore
from tests.conftest import OUTPUT_DIR, PROJECT_ROOT
from tests.servers import SLOW_DOWN_REPLY, UNAVAILABLE_REPLY, bearer, fetch_tracker, free_port, send_rest, session_from

pytestmark = [pytest.mark.e2e, pytest.mark.scale_out]

SCRIPT = PROJECT_ROOT / "deploy" / "scale-out.sh"
RUNTIME = OUTPUT_DIR / "scale-out"
START_TIMEOUT_S = 900  # includes a first `apt-get install` of postgresql, redis-server and nginx

CREDENTIALS = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())
SLOW_DOWN = SLOW_DOWN_REPLY
_STACK_ENV: Dict[str, str] = {}  # the environment the stack was started with (for restart-replica)


def stack_env() -> Dict[str, str]:
    return dict(_STACK_ENV)
FULL_DISCLAIMER = yaml.safe_load((PROJECT_ROOT / "data" / "safety" / "policy.yml").read_text())["disclaimer"]["full"]
SUGGESTIONS = yaml.safe_load((PROJECT_ROOT / "data" / "guide" / "suggestions.yml").read_text())

# One conversation, and where each message goes: r1/r2 = a replica directly, lb = nginx (round-robin).
# "tell me more" goes to the other replica than the question before it, so it only works if that replica
# sees the topic the first one stored.
CONVERSATION: List[Tuple[str, str]] = [
    ("r1", "hello"),
    ("r2", "what is plantar fasciitis?"),
    ("r1", "what are the symptoms?"),
    ("r2", "tell me more"),
    ("lb", "how does massage help with heel pain?"),
    ("r1", "how do I massage my foot at home?"),
    ("r2", "what is fascia blasting?"),
    ("lb", "how long until massage works?"),
    ("r1", "is it safe to massage my foot?"),
    ("r2", "thanks"),
]
# Same-conversation messages at once, through nginx: 3 rounds of 4 conversations x 6 messages. With Rasa's
# own RedisLockStore this load left messages unanswered or trackers interleaved in 16 of 160 conversations
# here (docs/deployment.md); a round or two can pass by luck, three rarely do.
CONCURRENT_ROUNDS = 3
CONCURRENT_CONVERSATIONS = 4
CONCURRENT_MESSAGES = [
    "what causes plantar fasciitis?",
    "what are the symptoms?",
    "how do I massage my foot at home?",
    "what is myofascial release?",
    "what is fascia blasting?",
    "how long until massage works?",
]


def read_env_file(path: Path) -> Dict[str, str]:
    """KEY=value lines (values may be shell-quoted), as deploy/scale-out.sh writes stack.env."""
    settings = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            settings[key] = " ".join(shlex.split(value))
    return settings


@dataclass
class Stack:
    """The running stack, as described by its stack.env."""

    settings: Dict[str, str]

    @property
    def replicas(self) -> List[str]:
        return self.settings["RASA_URLS"].split()

    @property
    def nginx(self) -> str:
        return self.settings["NGINX_URL"]

    def url(self, route: str) -> str:
        return {"r1": self.replicas[0], "r2": self.replicas[1], "lb": self.nginx}[route]

    def send(self, base: str, sender: str, message: str, timeout: float = 60) -> List[Dict]:
        return send_rest(base, sender, message, timeout=timeout, token=self.settings["RASA_TOKEN"])

    def tracker(self, base: str, sender: str) -> Dict:
        return fetch_tracker(base, self.settings["RASA_TOKEN"], sender)

    def psql(self, sql: str, **variables: str) -> List[List[str]]:
        """Rows of a query, run by psql as the Rasa database user (password from the stack's pgpass)."""
        env = dict(os.environ, **{k: self.settings[k] for k in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSFILE")})
        args = ["psql", "-X", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
        for name, value in variables.items():
            args += ["-v", f"{name}={value}"]
        result = subprocess.run(args, input=sql, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return [line.split("\t") for line in result.stdout.splitlines() if line]

    def redis(self, *command: str) -> str:
        env = dict(os.environ, REDISCLI_AUTH=self.settings["REDISCLI_AUTH"])
        result = subprocess.run(
            ["redis-cli", "-h", self.settings["REDIS_HOST"], "-p", self.settings["REDIS_PORT"], *command],
            env=env, capture_output=True, text=True, timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


def distinct_free_ports(count: int) -> List[int]:
    ports: List[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def stack(trained_model: Path, figures: List[str]) -> Iterator[Stack]:
    pg, redis, action, rasa1, rasa2, nginx = distinct_free_ports(6)
    env = dict(
        os.environ,
        SCALE_OUT_DIR=str(RUNTIME), MODEL=str(trained_model),
        SCALE_OUT_PG_PORT=str(pg), SCALE_OUT_REDIS_PORT=str(redis), SCALE_OUT_ACTION_PORT=str(action),
        SCALE_OUT_RASA_PORTS=f"{rasa1} {rasa2}", SCALE_OUT_NGINX_PORT=str(nginx),
    )
    _STACK_ENV.clear()
    _STACK_ENV.update(env)
    # A fresh stack: no conversations or processes left from an earlier, interrupted run.
    subprocess.run([str(SCRIPT), "clean"], env=env, capture_output=True, text=True, timeout=300)
    started = time.monotonic()
    try:
        result = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True,
                                timeout=START_TIMEOUT_S)
        if result.returncode != 0:
            pytest.fail(f"deploy/scale-out.sh start failed ({result.returncode}):\n"
                        f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        figures.append(f"scale-out: stack up in {time.monotonic() - started:.0f} s "
                       f"(PostgreSQL, Redis, action server, 2 Rasa replicas, nginx; includes any apt install)")
        yield Stack(read_env_file(RUNTIME / "stack.env"))
    finally:
        stopping = time.monotonic()
        result = subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, text=True, timeout=300)
        figures.append(f"scale-out: stack stopped in {time.monotonic() - stopping:.0f} s (exit {result.returncode})")


def user_and_bot(events: List[Dict]) -> List[Tuple[str, str]]:
    return [(event["event"], event.get("text") or "") for event in events if event["event"] in ("user", "bot")]


def turns(events: List[Dict]) -> List[Tuple[str, List[str], List[str]]]:
    """(user message, bot texts, topic values set) for each user message of a tracker, in order."""
    result: List[Tuple[str, List[str], List[str]]] = []
    for event in events:
        if event["event"] == "user":
            result.append((event.get("text") or "", [], []))
        elif result and event["event"] == "bot":
            result[-1][1].append(event.get("text") or "")
        elif result and event["event"] == "slot" and event.get("name") == "topic":
            result[-1][2].append(event.get("value"))
    return result


def answered(replies: List[Dict]) -> bool:
    """The bot's answer: not its "can't answer right now", nor its rate limits' "please slow down"."""
    texts = [reply.get("text") for reply in replies]
    return bool(texts) and all(texts) and not any(t.startswith((UNAVAILABLE_REPLY, SLOW_DOWN)) for t in texts)


def test_one_conversation_alternating_between_replicas(stack: Stack, figures: List[str]) -> None:
    sender = f"scale-out-{uuid.uuid4().hex[:12]}"
    expected: List[Tuple[str, str]] = []
    for route, message in CONVERSATION:
        replies = stack.send(stack.url(route), sender, message)
        assert answered(replies), f"{message!r} via {route}: {replies}"
        expected.append(("user", message))
        expected += [("bot", reply["text"]) for reply in replies]

    trackers = {route: stack.tracker(stack.url(route), sender) for route in ("r1", "r2")}  # nginx: not published
    events = trackers["r1"]["events"]
    assert trackers["r2"]["events"] == events, "the two replicas see different conversations"

    # Every message and every answer once, in the order they were sent; one session.
    assert user_and_bot(events) == expected
    assert [e["event"] for e in events].count("session_started") == 1

    # State written by one replica is read by the other: the full disclaimer only once in the
    # conversation, and "tell me more" (on r2) goes on from the topic of the question before (on r1).
    health_answers = [text for kind, text in expected if kind == "bot" and "From the guide:" in text]
    assert len(health_answers) >= 5
    assert sum(FULL_DISCLAIMER in text for text in health_answers) == 1
    topics = {message: values[-1] for message, _, values in turns(events) if values}
    assert topics["tell me more"] == SUGGESTIONS["after"][topics["what are the symptoms?"]][0]

    # Both replicas served this conversation, and they are two processes.
    routes = Counter(route for route, _ in CONVERSATION)
    assert routes["r1"] >= 3 and routes["r2"] >= 3
    pids = {(RUNTIME / "run" / f"rasa-{n}.pid").read_text().strip() for n in (1, 2)}
    assert len(pids) == 2

    # The events are in PostgreSQL, once each, in order.
    rows = stack.psql(
        "SELECT type_name, data FROM events WHERE sender_id = :'sender' ORDER BY id;", sender=sender
    )
    stored = [(kind, json.loads(data).get("text") or "") for kind, data in rows if kind in ("user", "bot")]
    assert stored == expected
    figures.append(f"scale-out: one conversation, {len(CONVERSATION)} messages over 2 replicas and nginx, "
                   f"{len(rows)} events in PostgreSQL, identical on both replicas")


def test_concurrent_messages_through_nginx_are_serialised_by_the_redis_lock(stack: Stack, figures: List[str]) -> None:
    """Several messages of the same conversations at once, through nginx: both replicas take them, and the
    Redis lock makes each conversation handle one message at a time (no interleaved, lost or stuck turns).
    Each conversation comes from its own address; the replicas count their per-address limits by nginx's
    X-Forwarded-For, and would otherwise see all 72 messages from nginx's one address and refuse some."""
    access_log = RUNTIME / "logs" / "nginx-access.log"
    log_offset = access_log.stat().st_size
    set_calls_before = redis_calls(stack, "set")
    upstreams: Counter = Counter()
    messages = 0
    started = time.monotonic()
    for _ in range(CONCURRENT_ROUNDS):
        senders = [f"scale-out-concurrent-{uuid.uuid4().hex[:10]}" for _ in range(CONCURRENT_CONVERSATIONS)]
        jobs = [(sender, message) for message in CONCURRENT_MESSAGES for sender in senders]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            replies = list(pool.map(lambda job: stack.send(stack.nginx, *job), jobs))
        messages += len(jobs)

        unanswered = [(job, reply) for job, reply in zip(jobs, replies) if not answered(reply)]
        assert not unanswered, f"not answered: {unanswered}"
        sent = {job: [reply["text"] for reply in reply_list] for job, reply_list in zip(jobs, replies)}
        for sender in senders:
            events = stack.tracker(stack.replicas[0], sender)["events"]
            conversation = turns(events)
            # Each message once (in whatever order the lock let them in), each followed by its own answers.
            assert sorted(message for message, _, _ in conversation) == sorted(CONCURRENT_MESSAGES), sender
            for message, bot_texts, _ in conversation:
                assert bot_texts == sent[(sender, message)], f"{sender}: answers of {message!r} interleaved"
            assert stack.tracker(stack.replicas[1], sender)["events"] == events
    elapsed = time.monotonic() - started

    # nginx spread the messages over both replicas.
    for line in access_log.read_text()[log_offset:].splitlines():
        if "POST /webhooks/rest/webhook" in line:
            upstreams[re.search(r"upstream=(\S+)", line).group(1)] += 1
    assert sum(upstreams.values()) == messages
    assert set(upstreams) == {url.removeprefix("http://") for url in stack.replicas}, upstreams

    # The locks went through Redis (a ticket and a lock save per message at least).
    assert stack.settings["LOCK_STORE_TYPE"] != "in_memory"
    assert redis_calls(stack, "set") - set_calls_before >= messages
    figures.append(f"scale-out: {messages} messages, {CONCURRENT_ROUNDS} x {CONCURRENT_CONVERSATIONS} conversations x "
                   f"{len(CONCURRENT_MESSAGES)} at once through nginx, in {elapsed:.1f} s; per replica "
                   f"{sorted(upstreams.values())}; every tracker in order ({stack.settings['LOCK_STORE_TYPE']})")


def redis_calls(stack: Stack, command: str) -> int:
    """How many times Redis ran a command since it started (INFO commandstats)."""
    match = re.search(rf"cmdstat_{command}:calls=(\d+)", stack.redis("INFO", "commandstats"))
    return int(match.group(1)) if match else 0


def issue_tickets_concurrently(stack: Stack, make_store, clients: int = 8, tickets_each: int = 25) -> Tuple[int, int, int]:
    """`clients` lock stores (each its own Redis connection, like separate Rasa servers) issue tickets for
    one conversation at once: (tickets issued, distinct ticket numbers, tickets the lock still holds)."""
    conversation = f"scale-out-tickets-{uuid.uuid4().hex[:8]}"
    config = EndpointConfig(url=stack.settings["REDIS_HOST"], port=stack.settings["REDIS_PORT"],
                            password=stack.settings["REDISCLI_AUTH"], db=3)
    issued: List[int] = []

    def client() -> None:
        store = make_store(config)
        for _ in range(tickets_each):
            issued.append(store.issue_ticket(conversation, 60))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lock = make_store(config).get_lock(conversation)
    return len(issued), len(set(issued)), len(lock.tickets) if lock else 0


def test_tickets_issued_at_once_by_several_servers_are_all_kept(stack: Stack, figures: List[str]) -> None:
    """The project's lock store never loses a ticket (Rasa 3.6's RedisLockStore does, measured for the record)."""
    issued, distinct, kept = issue_tickets_concurrently(stack, lambda config: AtomicRedisLockStore(endpoint_config=config))
    assert issued == distinct == kept == 200
    stock = issue_tickets_concurrently(
        stack, lambda config: RedisLockStore(host=config.url, **config.kwargs)
    )
    figures.append(f"scale-out: 8 clients x 25 tickets for one conversation: AtomicRedisLockStore kept {kept}/200 "
                   f"distinct; Rasa's RedisLockStore kept {stock[2]}/{stock[0]} ({stock[1]} distinct numbers)")


def test_make_insights_reads_the_stacks_postgresql(stack: Stack, tmp_path: Path) -> None:
    """Issue 14: the clinic's report from PostgreSQL as from SQLite. It counts the conversations and messages
    this module sent (what psql counts in the same store), and names no sender."""
    import csv
    import sys

    settings = stack.settings
    url = f"postgresql://{settings['PGUSER']}@{settings['PGHOST']}:{settings['PGPORT']}/{settings['PGDATABASE']}"
    env = dict(os.environ, PGPASSFILE=settings["PGPASSFILE"], TF_CPP_MIN_LOG_LEVEL="2")  # libpq reads the password
    result = subprocess.run([sys.executable, "-m", "insights", "--url", url, "--out", str(tmp_path)], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with (tmp_path / "insights.csv").open(encoding="utf-8") as handle:
        summary = {row["item"]: int(row["count"]) for row in csv.DictReader(handle) if row["section"] == "summary"}
    [[conversations, messages]] = stack.psql(
        "SELECT count(DISTINCT sender_id), count(*) FROM events WHERE type_name = 'user';")
    assert (summary["conversations"], summary["messages"]) == (int(conversations), int(messages)) and int(messages) > 0
    assert "postgresql tracker store" in (tmp_path / "insights.html").read_text()
    senders = [row[0] for row in stack.psql("SELECT DISTINCT sender_id FROM events;")]
    report = (tmp_path / "insights.html").read_text() + (tmp_path / "insights.csv").read_text()
    assert not [s for s in senders if s in report]


# ---------------------------------------------------------------------------------------------------------
# Issue 13: what nginx publishes, waiting across replicas, Redis hanging, a replica killed, the logs.

MARKERS: List[str] = []  # distinctive texts sent below; the last test greps every log of the stack for them
SENDERS: List[str] = []


def marked(text: str) -> str:
    word = f"wombat{uuid.uuid4().hex[:10]}"
    MARKERS.append(word)
    return f"{text} {word}"


def new_sender(kind: str) -> str:
    sender = f"{kind}.{uuid.uuid4().hex[:10]}@clinic.example"
    SENDERS.append(sender)
    return sender


@pytest.mark.parametrize("path", ["/conversations/anyone/tracker", "/model/parse", "/status", "/version", "/",
                                  "/conversations/anyone/messages", "/model"])
def test_nginx_refuses_everything_but_the_channels(stack: Stack, path: str) -> None:
    """Rasa's HTTP API reads and changes every conversation: through nginx it is not there, token or not."""
    for method in ("GET", "POST", "PUT"):
        reply = requests.request(method, stack.nginx + path, headers=bearer(stack.settings["RASA_TOKEN"]),
                                 json={"text": "hi"}, timeout=30)
        assert reply.status_code == 404, (method, path, reply.status_code)


def test_nginx_publishes_the_channels(stack: Stack) -> None:
    assert requests.get(stack.nginx + "/webhooks/rest/", timeout=30).status_code == 200
    assert requests.get(stack.nginx + "/socket.io/?EIO=4&transport=polling", timeout=30).text.startswith("0{")
    unauthorised = requests.post(stack.nginx + "/webhooks/rest/webhook", json={"sender": "x", "message": "hi"},
                                 timeout=30)
    assert unauthorised.status_code == 401


def test_nginx_limits_each_client_address(stack: Stack) -> None:
    flooder = session_from("127.77.0.1")
    statuses = Counter()

    def hit(_: int) -> None:
        statuses[flooder.get(stack.nginx + "/webhooks/rest/", timeout=30).status_code] += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(hit, range(200)))
    assert statuses[429] >= 50 and statuses[200] >= 20, statuses
    assert session_from("127.78.0.1").get(stack.nginx + "/webhooks/rest/", timeout=30).status_code == 200


def test_a_message_waiting_on_one_replica_goes_on_soon_after_the_other_replica_answered(stack: Stack,
                                                                                       figures: List[str]) -> None:
    """Two messages of one conversation at once, one to each replica. Before: the waiting one checked the
    Redis lock once a second (answered about 1 s after the first). `make bench` measures the 100 ms target."""
    gaps = []
    for _ in range(4):
        sender = new_sender("queued")
        stack.send(stack.replicas[0], sender, "hi")
        finished: Dict[int, float] = {}

        def send(replica: int) -> None:
            stack.send(stack.replicas[replica], sender, ["what is gua sha?", "what is reflexology?"][replica])
            finished[replica] = time.monotonic()

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(send, [0, 1]))
        gaps.append(abs(finished[1] - finished[0]))
    figures.append(f"scale-out: queued message across replicas answered {1000 * min(gaps):.0f}-"
                   f"{1000 * max(gaps):.0f} ms after the one before it (4 tries)")
    assert sorted(gaps)[1] < 0.5, gaps


def redis_pid() -> int:
    return int((RUNTIME / "run" / "redis.pid").read_text().split()[0])


def test_with_redis_stopped_for_10_s_every_message_is_answered_and_conversations_go_on(stack: Stack,
                                                                                      figures: List[str]) -> None:
    """Before: every Redis call blocked the replica's event loop for up to 10 s (its socket timeout), so a
    hung Redis froze every conversation of every replica."""
    sender = new_sender("redis-stop")
    assert answered(stack.send(stack.nginx, sender, "what is plantar fasciitis?"))
    sent = ["what is plantar fasciitis?"]
    pid = redis_pid()
    latencies = []
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        n = 0
        while time.monotonic() - stopped < 10:
            route = [stack.replicas[0], stack.replicas[1], stack.nginx][n % 3]
            text = marked(["what are the symptoms?", "how do I massage my foot at home?", "what is gua sha?"][n % 3])
            started = time.monotonic()
            replies = stack.send(route, sender if n % 2 == 0 else new_sender("redis-stop-other"), text, timeout=30)
            latencies.append(time.monotonic() - started)
            assert answered(replies) and not any(r.get("text", "").startswith(SLOW_DOWN) for r in replies), (route, replies)
            if n % 2 == 0:
                sent.append(text)
            status = requests.get(route.rstrip("/") + "/webhooks/rest/", timeout=5)  # the loop is not frozen
            assert status.status_code == 200
            n += 1
            time.sleep(0.4)  # a person reads the answer (and stays within the per-conversation limit)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert n >= 5
    time.sleep(6)  # the replicas try Redis again after their fallback period (5 s)
    for text in ("what causes plantar fasciitis?", "tell me more"):
        assert answered(stack.send(stack.nginx, sender, text))
        sent.append(text)
    events = stack.tracker(stack.replicas[0], sender)["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == sent
    before = redis_calls(stack, "set")
    stack.send(stack.nginx, sender, "thanks")
    assert redis_calls(stack, "set") > before  # the locks are in Redis again
    figures.append(f"scale-out: Redis stopped 10 s: {n} messages answered meanwhile, slowest "
                   f"{max(latencies):.2f} s, median {sorted(latencies)[len(latencies) // 2]:.2f} s; the conversation "
                   f"went on after it resumed")


def test_no_answered_message_is_lost_when_a_replica_is_killed(stack: Stack, figures: List[str]) -> None:
    """kill -9 replica 1 while 20 senders chat with it; every answered message is in PostgreSQL once, in
    order; replica 1 is started again and serves."""
    senders = [new_sender(f"crash-{n}") for n in range(20)]
    answered_texts: Dict[str, List[str]] = {sender: [] for sender in senders}
    stop = threading.Event()

    def chat(sender: str) -> None:
        for i in range(200):
            if stop.is_set():
                return
            text = marked(f"what is gua sha ({i})")
            try:
                replies = stack.send(stack.replicas[0], sender, text, timeout=10)
            except requests.RequestException:
                return
            if answered(replies) and not any(r.get("text", "").startswith(SLOW_DOWN) for r in replies):
                answered_texts[sender].append(text)
            time.sleep(0.2)

    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        futures = [pool.submit(chat, sender) for sender in senders]
        time.sleep(4)
        pid = int((RUNTIME / "run" / "rasa-1.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
        stop.set()
        for future in futures:
            future.result(timeout=60)
    total = sum(map(len, answered_texts.values()))
    assert total >= 40
    extra = 0
    for sender in senders:
        rows = stack.psql("SELECT data FROM events WHERE sender_id = :'sender' AND type_name = 'user' ORDER BY id;",
                          sender=sender)
        stored = [json.loads(data)["text"] for (data,) in rows]
        assert stored[:len(answered_texts[sender])] == answered_texts[sender], sender
        assert len(stored) == len(set(stored)) and len(stored) - len(answered_texts[sender]) <= 1, sender
        extra += len(stored) - len(answered_texts[sender])
    restarted = subprocess.run([str(SCRIPT), "restart-replica", "1"], env=stack_env(), capture_output=True,
                               text=True, timeout=600)
    assert restarted.returncode == 0, restarted.stdout[-2000:] + restarted.stderr[-2000:]
    assert answered(stack.send(stack.replicas[0], new_sender("after-restart"), "what is reflexology?"))
    figures.append(f"scale-out: kill -9 of a replica (PostgreSQL): {total} answered messages of 20 senders all "
                   f"stored once, in order; {extra} in-flight also kept; the replica restarted and serves")


def test_no_log_of_the_stack_holds_a_message_text_or_a_raw_sender_id(stack: Stack) -> None:
    """Every log the stack writes (nginx, both replicas, the action server, Redis, PostgreSQL), after the
    tests above sent their marked texts from senders that look like e-mail addresses."""
    assert len(MARKERS) >= 20 and len(SENDERS) >= 20, "run with the tests above"
    logs = {path.name: path.read_text(errors="replace") for path in (RUNTIME / "logs").glob("*.log")}
    assert {"nginx-access.log", "rasa-1.log", "rasa-2.log", "action-server.log", "postgres.log"} <= set(logs)
    leaks = [(name, secret) for name, content in logs.items() for secret in MARKERS + SENDERS if secret in content]
    assert not leaks, leaks[:10]
    assert not re.search(r"127\.\d+\.\d+\.\d+", logs["nginx-access.log"].replace("upstream=127.0.0.1", ""))
