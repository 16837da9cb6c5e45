"""CPU time per message of the tracker store: Rasa's SQLTrackerStore against stores/sql_tracker_store.py.

    .venv/bin/python benchmarks/bench_tracker_store.py [--conversations 200] [--url sqlite]

Each message is what the Rasa server does with the store: read the conversation's tracker, add one turn's
events (the user's message, the answer, the topic slot, action_listen), save it. Conversations are 10
messages long, as in `make bench`. The two stores take turns message by message, each on its own database
file, so that a slower or faster moment of the machine falls on both alike. Printed: the median and the
mean time per message for reading and for saving, and the ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from rasa.core.tracker_store import SQLTrackerStore as RasaSQLTrackerStore  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered  # noqa: E402

import channels  # noqa: E402,F401  (the server fixes the Rasa server runs with, for both stores alike)
from stores.sql_tracker_store import SQLTrackerStore  # noqa: E402

logger = logging.getLogger("bench_tracker_store")
CONVERSATION_LENGTH = 10


async def one_message(store: RasaSQLTrackerStore, sender: str, number: int, times: Dict[str, List[float]]) -> None:
    started = time.perf_counter()
    tracker = await store.get_or_create_tracker(sender)
    read = time.perf_counter()
    now = time.time()
    for event in [
        UserUttered(f"question {number} about heel pain", {"name": "ask_causes", "confidence": 0.93},
                    parse_data={"intent": {"name": "ask_causes", "confidence": 0.93}, "entities": [],
                                "text": f"question {number} about heel pain"}, timestamp=now),
        ActionExecuted("action_answer_guide", timestamp=now + 0.001),
        BotUttered("An answer from the guide, with its disclaimer.", {"buttons": [{"title": "Symptoms",
                   "payload": "/ask_symptoms"}]}, timestamp=now + 0.002),
        SlotSet("topic", "causes", timestamp=now + 0.003),
        ActionExecuted("action_listen", timestamp=now + 0.004),
    ]:
        tracker.update(event)
    saving = time.perf_counter()
    await store.save(tracker)
    done = time.perf_counter()
    times["read"].append(read - started)
    times["save"].append(done - saving)


async def run(conversations: int, workdir: Path) -> Dict[str, Dict[str, List[float]]]:
    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    stores = {
        "Rasa's SQLTrackerStore": RasaSQLTrackerStore(domain=domain, host=f"sqlite:///{workdir / 'rasa.db'}"),
        "project's SQLTrackerStore": SQLTrackerStore(domain=domain, host=f"sqlite:///{workdir / 'ours.db'}"),
    }
    times = {name: {"read": [], "save": []} for name in stores}
    for conversation in range(conversations):
        for number in range(CONVERSATION_LENGTH):
            for name, store in stores.items():
                await one_message(store, f"user-{conversation}", number, times[name])
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=200)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        times = asyncio.run(run(args.conversations, Path(tmp)))
    write = sys.stdout.write
    write(f"\n{args.conversations * CONVERSATION_LENGTH} messages per store, SQLite; ms per message\n\n")
    write(f"{'store':28s} {'read p50':>9s} {'read mean':>10s} {'save p50':>9s} {'save mean':>10s} {'both mean':>10s}\n")
    means = {}
    for name, parts in times.items():
        read, save = parts["read"], parts["save"]
        means[name] = statistics.mean(read) + statistics.mean(save)
        write(f"{name:28s} {1000 * statistics.median(read):9.2f} {1000 * statistics.mean(read):10.2f} "
              f"{1000 * statistics.median(save):9.2f} {1000 * statistics.mean(save):10.2f} {1000 * means[name]:10.2f}\n")
    rasa, ours = means.values()
    write(f"\nthe project's store takes {ours / rasa:.2f} of Rasa's time per message\n")


if __name__ == "__main__":
    main()
