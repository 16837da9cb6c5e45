"""Sweep the FallbackClassifier threshold on the held-out examples, for the trained model.

    .venv/bin/python benchmarks/sweep_fallback.py [models/plantar-bot.tar.gz]

For each threshold: overall accuracy (a fallback counts as an out-of-scope answer), the share of in-scope
questions wrongly sent to the fallback, and out-of-scope precision (of the messages answered as out of
scope, how many really were). The value in config.yml was chosen from this table (see README).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.nlu_eval import OUT_OF_SCOPE, load_examples  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = [0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5]


async def top_intents(model: Path, texts):
    from rasa.core.agent import Agent

    logging.disable(logging.INFO)
    agent = Agent.load(str(model))
    results = []
    for text in texts:
        ranking = [r for r in (await agent.parse_message(text))["intent_ranking"] if r["name"] != "nlu_fallback"]
        results.append((ranking[0]["name"], ranking[0]["confidence"]))
    return results


def main(model: Path) -> None:
    examples = load_examples(PROJECT_ROOT / "tests" / "nlu_heldout")
    tops = asyncio.run(top_intents(model, [t for t, _ in examples]))
    gold = [g for _, g in examples]
    sys.stdout.write("threshold  accuracy  in-scope sent to fallback  out-of-scope precision\n")
    for threshold in THRESHOLDS:
        predicted = [name if conf >= threshold else OUT_OF_SCOPE for name, conf in tops]
        accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
        in_scope = [(p, g) for p, g in zip(predicted, gold) if g != OUT_OF_SCOPE]
        lost = sum(p == OUT_OF_SCOPE for p, _ in in_scope) / len(in_scope)
        answered_oos = [(p, g) for p, g in zip(predicted, gold) if p == OUT_OF_SCOPE]
        precision = sum(g == OUT_OF_SCOPE for _, g in answered_oos) / max(len(answered_oos), 1)
        sys.stdout.write(f"{threshold:9.2f}  {accuracy:8.3f}  {lost:25.3f}  {precision:22.3f}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else PROJECT_ROOT / "models" / "plantar-bot.tar.gz"))
