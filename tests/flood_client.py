"""The flooding client of tests/test_flood.py and benchmarks/bench_privacy.py, run as a process of its own.

    python -m tests.flood_client URL TOKEN [--messages 500] [--connections 16] [--address 127.66.0.1]
                                           [--one-conversation]

Sends `--messages` REST messages as fast as it can over `--connections` connections from one loopback
address, each to a new conversation (or all to one), and prints one JSON line: how many got an answer, how
many the polite slow-down reply, how many nothing (none should), and when it started and ended
(time.monotonic(), comparable with the parent's on the same machine). A separate process with an asyncio
client, so that its work does not slow down, through the GIL, the normal users the parent measures.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Dict

import aiohttp

from tests.servers import SLOW_DOWN_REPLY

SLOW_DOWN = SLOW_DOWN_REPLY


async def flood(url: str, token: str, messages: int, connections: int, address: str,
                one_conversation: bool) -> Dict[str, float]:
    outcome: Dict[str, float] = {"answered": 0, "slowed": 0, "silent": 0}
    counter = iter(range(messages))
    connector = aiohttp.TCPConnector(limit=connections, local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector, headers={"Authorization": f"Bearer {token}"},
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def worker() -> None:
            for n in counter:
                sender = "flooder" if one_conversation else f"flooder-{n}"
                try:
                    async with session.post(f"{url}/webhooks/rest/webhook",
                                            json={"sender": sender, "message": "what causes heel pain"}) as reply:
                        body = await reply.json() if reply.status == 200 else []
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                    body = []
                texts = [message.get("text") for message in body]
                key = "silent" if not texts or not all(texts) else "slowed" if texts == [SLOW_DOWN] else "answered"
                outcome[key] += 1

        outcome["started"] = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        outcome["ended"] = time.monotonic()
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--address", default="127.66.0.1")
    parser.add_argument("--one-conversation", action="store_true")
    arguments = parser.parse_args()
    outcome = asyncio.run(flood(arguments.url, arguments.token, arguments.messages, arguments.connections,
                                arguments.address, arguments.one_conversation))
    sys.stdout.write(json.dumps(outcome) + "\n")


if __name__ == "__main__":
    main()
