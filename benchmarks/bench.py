"""Throughput and latency of the bot against Rasa's default config and the NLU floor, in one run.

    make bench      (or: .venv/bin/python benchmarks/bench.py [--messages 400] [--levels 1,8,32])

Systems, each behind a real Rasa server with the project's action server, on loopback:
  bot        this bot (config.yml), messages through the REST channel
  default    Rasa's default config (benchmarks/configs/rasa_default.yml, `rasa init`'s pipeline and
             policies) trained on the same data, same actions and server, through the REST channel
  default, Rasa's server
             the same model served as `rasa init` would: Rasa's own REST channel only and Rasa's own
             SQL tracker store, so without the project's server fixes (channels/speedups.py,
             stores/sql_tracker_store.py)
  nlu floor  `/model/parse` of this bot's model: NLU alone, no dialogue, no actions, no tracker store
For each concurrency level, `--messages` messages are sent by that many concurrent users, each asking
the held-out questions in turn and starting a new conversation every 10 messages, as people do. Printed:
messages per second and p50/p95 latency; the train time and the model size (trained afresh, Rasa's cache
off) and the Rasa server's resident memory after the run. Targets (docs/benchmarks.md): bot at least 4x
default's throughput at concurrency 8 and at least 0.7 of the NLU floor; sequential p95 at most 30 ms;
train time at most 2 minutes.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import aiohttp
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.nlu_eval import load_examples  # noqa: E402
from tests.servers import BotServer, loopback_address, running_bot  # noqa: E402

logger = logging.getLogger("bench")
CONVERSATION_LENGTH = 10
# A message the rate limits refused (channels/abuse.py) counts as an error, not as a fast answer.
SLOW_DOWN = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text())[
    "channels.rest.ValidatingRestInput"]["slow_down_reply"]
WARM_UP = 20


@dataclass
class Run:
    """Latencies of one system at one concurrency level."""

    seconds: float
    latencies: List[float] = field(default_factory=list)
    errors: int = 0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def questions() -> List[str]:
    """Real-looking user messages: the NLU held-out examples (never trained on)."""
    return [text for text, _ in load_examples(PROJECT_ROOT / "tests" / "nlu_heldout")]


async def load(server: BotServer, kind: str, concurrency: int, total: int, texts: List[str], tag: str) -> Run:
    """`concurrency` users send `total` messages in all, each waiting for its answer before the next. Each
    user connects from its own loopback address, as people do from their own devices (the REST channel
    limits each client address), and sends the REST channel's bearer token."""
    run = Run(seconds=0.0)
    counter = iter(range(total))
    headers = {"Authorization": f"Bearer {server.token}"}

    async def user(number: int) -> None:
        sent = 0
        session: Optional[aiohttp.ClientSession] = None
        try:
            for i in counter:
                text = texts[i % len(texts)]
                sender = f"bench-{tag}-{number}-{sent // CONVERSATION_LENGTH}"
                if sent % CONVERSATION_LENGTH == 0:  # a new person: a new conversation from a new address
                    if session is not None:
                        await session.close()
                    connector = aiohttp.TCPConnector(limit=1, local_addr=(loopback_address(sender), 0))
                    session = aiohttp.ClientSession(connector=connector, headers=headers,
                                                    timeout=aiohttp.ClientTimeout(total=120))
                if kind == "parse":
                    request = session.post(f"{server.url}/model/parse", json={"text": text})
                else:
                    request = session.post(f"{server.url}/webhooks/rest/webhook", json={"sender": sender, "message": text})
                started = time.perf_counter()
                async with request as response:
                    body = await response.json()
                elapsed = time.perf_counter() - started
                answered = response.status == 200 and body and (kind == "parse" or not any(
                    (message.get("text") or "").startswith(SLOW_DOWN) for message in body))
                if answered:
                    run.latencies.append(elapsed)
                else:
                    run.errors += 1
                sent += 1
        finally:
            if session is not None:
                await session.close()

    started = time.perf_counter()
    await asyncio.gather(*(user(n) for n in range(concurrency)))
    run.seconds = time.perf_counter() - started
    return run


def resident_mb(pid: int) -> float:
    """Resident memory of a process and its children (Rasa's server is one process)."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kb / 1024


def train(config: Path, out: Path, name: str) -> Tuple[Path, float]:
    """Train a model afresh (Rasa's cache off, so nothing is reused) and time it."""
    started = time.monotonic()
    subprocess.run(
        [str(Path(sys.executable).parent / "rasa"), "train", "--config", str(config), "--out", str(out),
         "--fixed-model-name", name],
        cwd=PROJECT_ROOT, check=True, capture_output=True,
        env=dict(os.environ, RASA_MAX_CACHE_SIZE="0", TF_CPP_MIN_LOG_LEVEL="2"),
    )
    return out / f"{name}.tar.gz", time.monotonic() - started


def default_config(out: Path, epochs: Optional[int]) -> Path:
    """Rasa's default config, or a copy of it with every `epochs` set to `epochs` (a quicker train of the same
    network, for throughput and latency: training the default on this data takes over 90 minutes on 2 cores)."""
    config = PROJECT_ROOT / "benchmarks" / "configs" / "rasa_default.yml"
    if not epochs:
        return config
    data = yaml.safe_load(config.read_text())
    for part in data["pipeline"] + data["policies"]:
        if "epochs" in part:
            part["epochs"] = epochs
    copy = out / f"rasa_default_{epochs}_epochs.yml"
    copy.write_text(yaml.safe_dump(data, sort_keys=False))
    return copy


def measure(
    model: Path, kinds: List[str], levels: List[int], total: int, workdir: Path, **server_options: Path
) -> Tuple[Dict, float]:
    """Runs for each kind (rest, parse) and level against one server; and its memory afterwards.
    `server_options`: other credentials or endpoints files for the server."""
    texts = questions()
    results: Dict[Tuple[str, int], Run] = {}
    with running_bot(model, workdir, **server_options) as server:
        for kind in kinds:
            asyncio.run(load(server, kind, 1, WARM_UP, texts, f"warm-{kind}"))
            for level in levels:
                results[(kind, level)] = asyncio.run(load(server, kind, level, total, texts, f"{kind}-{level}"))
                logger.info("%s %s c=%d: %.1f msg/s", model.name, kind, level, results[(kind, level)].throughput)
        memory = resident_mb(server.rasa_pid)
    return results, memory


def rasa_own_endpoints() -> str:
    """The project's endpoints.yml with Rasa's own SQL tracker store in place of the project's."""
    endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())
    endpoints["tracker_store"]["type"] = "SQL"
    return yaml.safe_dump(endpoints, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400, help="messages per system and concurrency level")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels")
    parser.add_argument("--default-model", type=Path, help="a Rasa-default model already trained on the same data "
                        "(its train time is then not measured)")
    parser.add_argument("--default-epochs", type=int, help="train the Rasa-default baseline with this many epochs "
                        "instead of 100 (throughput only: the network and its features are the same, so the cost "
                        "of an answer is too; its answers are not; the train time printed is then not Rasa's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    levels = [int(level) for level in args.levels.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp)
        logger.info("Training both models afresh ...")
        bot_model, bot_train = train(PROJECT_ROOT / "config.yml", out, "bot")
        if args.default_model:
            default_model, default_train = args.default_model, float("nan")
        else:
            default_model, default_train = train(default_config(out, args.default_epochs), out, "default")
        bot, bot_memory = measure(bot_model, ["rest", "parse"], levels, args.messages, out / "bot")
        default, default_memory = measure(default_model, ["rest"], levels, args.messages, out / "default")
        plain_credentials = out / "rasa-rest-only.yml"
        plain_credentials.write_text("rest: {}\n")
        plain_endpoints = out / "rasa-sql-store.yml"
        plain_endpoints.write_text(rasa_own_endpoints())
        plain, _ = measure(default_model, ["rest"], levels, args.messages, out / "plain",
                           credentials=plain_credentials, endpoints=plain_endpoints)
        sizes = {name: path.stat().st_size / 1e6 for name, path in (("bot", bot_model), ("default", default_model))}

    columns = [("bot", bot, "rest"), ("default", default, "rest"), ("default, Rasa's server", plain, "rest"),
               ("nlu floor", bot, "parse")]
    write = sys.stdout.write
    write(f"\n{args.messages} messages per system and level; latency in ms\n\n")
    write(f"{'concurrency':>11s}" + "".join(f"{name:>26s}" for name, _, _ in columns) + "\n")
    write(f"{'':>11s}" + "".join(f"{'msg/s   p50    p95  err':>26s}" for _ in columns) + "\n")
    for level in levels:
        cells = []
        for _, results, kind in columns:
            run = results[(kind, level)]
            cells.append(f"{run.throughput:8.1f} {run.percentile(50):6.1f} {run.percentile(95):6.1f} {run.errors:4d}")
        write(f"{level:>11d}" + "".join(f"{cell:>26s}" for cell in cells) + "\n")
    write("\n")
    write(f"train time           bot {bot_train:6.1f} s   default {default_train:6.1f} s\n")
    write(f"model size           bot {sizes['bot']:6.1f} MB  default {sizes['default']:6.1f} MB\n")
    write(f"server memory (RSS)  bot {bot_memory:6.0f} MB  default {default_memory:6.0f} MB\n\n")
    eight = 8 if 8 in levels else levels[-1]
    ratio_default = bot[("rest", eight)].throughput / default[("rest", eight)].throughput
    ratio_plain = bot[("rest", eight)].throughput / plain[("rest", eight)].throughput
    ratio_floor = bot[("rest", eight)].throughput / bot[("parse", eight)].throughput
    p95 = bot[("rest", levels[0])].percentile(95)
    checks = [
        (f"bot / default throughput at concurrency {eight}", f"{ratio_default:.2f}x", ratio_default >= 4),
        (f"bot / default on Rasa's server at concurrency {eight}", f"{ratio_plain:.2f}x", ratio_plain >= 4),
        (f"bot / NLU floor throughput at concurrency {eight}", f"{ratio_floor:.2f}", ratio_floor >= 0.7),
        (f"bot p95 at concurrency {levels[0]}", f"{p95:.1f} ms", p95 <= 30),
        ("bot train time", f"{bot_train:.0f} s", bot_train <= 120),
    ]
    for name, value, met in checks:
        write(f"{name:48s} {value:>10s}  {'meets target' if met else 'MISSES target'}\n")


if __name__ == "__main__":
    main()
