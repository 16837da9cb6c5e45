"""Scale-out: two Rasa replicas share one PostgreSQL tracker store and one Redis lock store.

The stack is started once for this module by deploy/scale-out.sh (which installs PostgreSQL, Redis and nginx
from Debian when they are missing) on free loopback ports, and stopped afterwards even when a test fails.
One conversation is sent alternately to replica 1, replica 2 and nginx: its tracker must hold every message
and every answer once, in order, the same on both replicas and in PostgreSQL, and conversation state one
replica wrote (the disclaimer already shown, the topic "tell me more" goes on from) must be seen by the
other. Concurrent messages of the same conversations through nginx exercise the Redis lock.
"""
from __future__ import annotations

import json
import os
import re
import shlex
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
import yaml
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from stores.redis_lock_store import AtomicRedisLockStore
from tests.conftest import OUTPUT_DIR, PROJECT_ROOT
from tests.servers import fetch_tracker, free_port, send_rest

pytestmark = [pytest.mark.e2e, pytest.mark.scale_out]

SCRIPT = PROJECT_ROOT / "deploy" / "scale-out.sh"
RUNTIME = OUTPUT_DIR / "scale-out"
START_TIMEOUT_S = 900  # includes a first `apt-get install` of postgresql, redis-server and nginx

CREDENTIALS = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())
UNAVAILABLE_REPLY = CREDENTIALS["channels.rest.ValidatingRestInput"]["unavailable_reply"]
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

    def send(self, base: str, sender: str, message: str) -> List[Dict]:
        return send_rest(base, sender, message, timeout=60)

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
    texts = [reply.get("text") for reply in replies]
    return bool(texts) and all(texts) and not any(t.startswith(UNAVAILABLE_REPLY) for t in texts)


def test_one_conversation_alternating_between_replicas(stack: Stack, figures: List[str]) -> None:
    sender = f"scale-out-{uuid.uuid4().hex[:12]}"
    expected: List[Tuple[str, str]] = []
    for route, message in CONVERSATION:
        replies = stack.send(stack.url(route), sender, message)
        assert answered(replies), f"{message!r} via {route}: {replies}"
        expected.append(("user", message))
        expected += [("bot", reply["text"]) for reply in replies]

    trackers = {route: stack.tracker(stack.url(route), sender) for route in ("r1", "r2", "lb")}
    events = trackers["r1"]["events"]
    assert trackers["r2"]["events"] == events, "the two replicas see different conversations"
    assert trackers["lb"]["events"] == events

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
    Redis lock makes each conversation handle one message at a time (no interleaved, lost or stuck turns)."""
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
