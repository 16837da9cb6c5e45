"""Abuse resistance and waiting messages (issue 13), measured: part of `make bench`, alone `make bench-privacy`.

    .venv/bin/python benchmarks/bench_privacy.py [--trials 20] [--skip-replicas]

1. **Queued message.** Two messages sent at once in one conversation, through the REST channel: how long
   after the first answer the second one comes (target: within 100 ms). Before: Rasa's own lock stores
   (`in_memory` on one server, `redis` on two replicas), whose waiting message checks the lock once a
   second. After: the project's (stores/lock_store.py, stores/redis_lock_store.py). On one server, and on
   the two replicas of deploy/scale-out.sh with the messages sent one to each replica.
2. **Flood.** 10 people chat normally (tests/test_flood.py: 12 messages each, 1 s to read each answer)
   while one client (one address, its own process) sends 500 messages as fast as it can over 16
   connections, each to a new conversation, or all to one: the normal messages' p95 latency against a
   quiet run (target: within 2x). With the rate limits of credentials.yml, and without them (limits raised
   out of reach) for comparison.

Everything runs on loopback, bounded in count and time. Figures vary from run to run on a shared machine by
10 to 20%; run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.servers import free_port, running_bot, send_rest  # noqa: E402
from tests.test_flood import (  # noqa: E402
    FLOOD_CONNECTIONS, FLOOD_MESSAGES, NORMAL_MESSAGES, NORMAL_USERS, THINK_S, normal_users,
    normal_users_through_a_flood, p95,
)

logger = logging.getLogger("bench_privacy")
MODEL = Path(os.environ.get("MODEL", PROJECT_ROOT / "models" / "plantar-bot.tar.gz"))
SCRIPT = PROJECT_ROOT / "deploy" / "scale-out.sh"
RASA_IN_MEMORY = "in_memory"
RASA_REDIS = "redis"
OURS_IN_MEMORY = "stores.lock_store.InMemoryLockStore"
OURS_REDIS = "stores.redis_lock_store.AtomicRedisLockStore"


def percentile(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def queued_gaps(send: Callable[[int, str, str], None], trials: int) -> List[float]:
    """For each trial, a new conversation gets one message, then two at once (`send(route, sender, text)`
    with routes 0 and 1): the time between their answers."""
    gaps = []
    for trial in range(trials):
        sender = f"bench-queued-{uuid.uuid4().hex[:10]}"
        send(0, sender, "hi")
        finished: Dict[int, float] = {}

        def one(route: int) -> None:
            send(route, sender, ["what is gua sha?", "what is reflexology?"][route])
            finished[route] = time.perf_counter()

        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, [0, 1]))
        gaps.append(abs(finished[1] - finished[0]))
        time.sleep(0.1)
    return gaps


def one_server_queued(lock_store: str, trials: int, workdir: Path) -> List[float]:
    with running_bot(MODEL, workdir, extra_env={"LOCK_STORE_TYPE": lock_store}) as bot:
        return queued_gaps(lambda _route, sender, text: bot.send(sender, text), trials)


def replicas_queued(lock_store: str, trials: int, runtime: Path) -> List[float]:
    """deploy/scale-out.sh with this lock store; the two messages go one to each replica."""
    ports = []
    while len(ports) < 6:
        port = free_port()
        if port not in ports:
            ports.append(port)
    env = dict(os.environ, SCALE_OUT_DIR=str(runtime), MODEL=str(MODEL), SCALE_OUT_LOCK_STORE=lock_store,
               SCALE_OUT_PG_PORT=str(ports[0]), SCALE_OUT_REDIS_PORT=str(ports[1]),
               SCALE_OUT_ACTION_PORT=str(ports[2]), SCALE_OUT_RASA_PORTS=f"{ports[3]} {ports[4]}",
               SCALE_OUT_NGINX_PORT=str(ports[5]))
    subprocess.run([str(SCRIPT), "clean"], env=env, capture_output=True, timeout=300)
    started = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=900)
    if started.returncode != 0:
        raise RuntimeError(f"scale-out.sh start failed:\n{started.stderr[-3000:]}")
    try:
        settings = dict(line.split("=", 1) for line in (runtime / "stack.env").read_text().splitlines()
                        if "=" in line and not line.startswith("#"))
        replicas = settings["RASA_URLS"].strip('"').split()
        token = settings["RASA_TOKEN"]
        return queued_gaps(lambda route, sender, text: send_rest(replicas[route], sender, text, 60, token=token),
                           trials)
    finally:
        subprocess.run([str(SCRIPT), "clean"], env=env, capture_output=True, timeout=300)


def flood_run(workdir: Path, credentials: Path, one_conversation: bool = False) -> Dict:
    """One server: a warm-up, a quiet run of the normal users, then the same with the flood. The p95 of the
    normal messages: quiet, over the whole flooded run, and of those sent while the flood ran."""
    with running_bot(MODEL, workdir, credentials=credentials) as bot:
        normal_users(bot, "warm-up")
        quiet = normal_users(bot, "quiet")
        flooded, outcome = normal_users_through_a_flood(bot, "flooded", one_conversation)
    window = [e for sent, e in flooded.latencies if outcome["started"] - 0.5 <= sent <= outcome["ended"] + 0.5]
    return dict(outcome, quiet=p95([e for _, e in quiet.latencies]), whole=p95([e for _, e in flooded.latencies]),
                during=p95(window) if window else float("nan"), normal_during=len(window),
                unanswered=len(quiet.unanswered) + len(flooded.unanswered))


def without_limits(path: Path) -> Path:
    """credentials.yml with the rate limits raised out of reach."""
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())
    for name, settings in credentials.items():
        if isinstance(settings, dict) and "rate_limits" in settings:
            settings["rate_limits"] = {"per_conversation": {"burst": 10 ** 6, "per_minute": 10 ** 6},
                                       "per_address": {"burst": 10 ** 6, "per_minute": 10 ** 6},
                                       "max_waiting": 10 ** 6}
    path.write_text(yaml.safe_dump(credentials, sort_keys=False))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20, help="queued-message trials per setting")
    parser.add_argument("--skip-replicas", action="store_true", help="no scale-out stack (no PostgreSQL/Redis/nginx)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = sys.stdout.write
    rows: List[Tuple[str, List[float]]] = []
    with tempfile.TemporaryDirectory(prefix="bench-privacy-") as tmp:
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o711)  # PostgreSQL of the scale-out stack runs as user postgres and must pass
        for name, store in (("one server, Rasa's in_memory (before)", RASA_IN_MEMORY),
                            ("one server, project's (after)", OURS_IN_MEMORY)):
            logger.info("Queued messages: %s", name)
            rows.append((name, one_server_queued(store, args.trials, tmp_path / f"queued-{store}")))
        if not args.skip_replicas:
            for name, store in (("2 replicas, Rasa's redis (before)", RASA_REDIS),
                                ("2 replicas, project's (after)", OURS_REDIS)):
                logger.info("Queued messages: %s", name)
                rows.append((name, replicas_queued(store, args.trials, tmp_path / f"stack-{store}")))
        floods = []
        no_limits = without_limits(tmp_path / "no-limits.yml")
        for name, credentials, one in (
                ("limits, new conversations", PROJECT_ROOT / "credentials.yml", False),
                ("limits, one conversation", PROJECT_ROOT / "credentials.yml", True),
                ("no limits, new conversations", no_limits, False)):
            logger.info("Flood: %s", name)
            floods.append((name, flood_run(tmp_path / f"flood-{len(floods)}", credentials, one)))

    out(f"\nQueued message: time from the first answer to the second, two messages sent at once in one "
        f"conversation ({args.trials} trials; ms)\n\n")
    out(f"{'':40s}{'p50':>8s}{'p95':>8s}{'max':>8s}   target 100 ms\n")
    for name, gaps in rows:
        worst = percentile(gaps, 95) * 1000
        out(f"{name:40s}{percentile(gaps, 50) * 1000:8.0f}{worst:8.0f}{max(gaps) * 1000:8.0f}   "
            f"{'meets' if worst <= 100 else 'misses'}\n")
    out(f"\nFlood: {NORMAL_USERS} people chatting ({NORMAL_MESSAGES} messages each, {THINK_S:.0f} s to read each answer) "
        f"while one client sends {FLOOD_MESSAGES} messages as fast as it can ({FLOOD_CONNECTIONS} connections, one "
        f"address); p95 of the people's messages (ms): quiet run, the whole run with the flood, and the messages "
        f"sent while the flood lasted\n\n")
    out(f"{'':30s}{'quiet':>7s}{'whole':>7s}{'during':>8s}{'ratio':>7s}{'flood s':>9s}  "
        f"{'flooder answered/slowed/silent':>31s}  target 2x\n")
    for name, result in floods:
        ratio = result["during"] / result["quiet"]
        counts = f"{result['answered']:.0f}/{result['slowed']:.0f}/{result['silent']:.0f}"
        note = f"  ({result['unanswered']} normal messages unanswered)" if result["unanswered"] else ""
        out(f"{name:30s}{result['quiet'] * 1000:7.0f}{result['whole'] * 1000:7.0f}{result['during'] * 1000:8.0f}"
            f"{ratio:7.2f}{result['ended'] - result['started']:9.1f}  {counts:>31s}  "
            f"{'meets' if ratio <= 2 else 'misses'}{note}\n")
    out("\n")


if __name__ == "__main__":
    main()
