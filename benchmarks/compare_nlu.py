"""Train NLU-only models from several configs and score each on the held-out examples.

    .venv/bin/python benchmarks/compare_nlu.py config.yml benchmarks/configs/spacy_diet.yml ...

Prints, per config: train time, model size, held-out intent accuracy and macro F1, the top confusions.
The figures chose the pipeline in config.yml (see README, "How the pipeline was chosen").
"""
from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.nlu_eval import load_examples, score  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
HELDOUT = PROJECT_ROOT / "tests" / "nlu_heldout"


def train(config: Path, out: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [str(Path(sys.executable).parent / "rasa"), "train", "nlu", "-c", str(config), "--nlu", "data/nlu",
         "--out", str(out), "--fixed-model-name", config.stem],
        cwd=PROJECT_ROOT, check=True, capture_output=True,
        env=dict(os.environ, RASA_MAX_CACHE_SIZE="0"),  # no cached components: honest train times
    )
    return time.monotonic() - started


async def predict(model: Path, texts):
    from rasa.core.agent import Agent

    logging.disable(logging.INFO)
    agent = Agent.load(str(model))
    return [(await agent.parse_message(text))["intent"]["name"] for text in texts]


def report(line: str) -> None:
    """The figures are this script's output: straight to stdout (Rasa reconfigures logging on import)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(configs) -> None:
    examples = load_examples(HELDOUT)
    texts, gold = [t for t, _ in examples], [i for _, i in examples]
    with tempfile.TemporaryDirectory() as tmp:
        for config in map(Path, configs):
            seconds = train(config, Path(tmp))
            model = Path(tmp) / f"{config.stem}.tar.gz"
            result = score(gold, asyncio.run(predict(model, texts)))
            report(
                f"{config.name:28s} train {seconds:5.1f}s  size {model.stat().st_size / 1e6:5.1f} MB  "
                f"held-out accuracy {result.accuracy:.3f}  macro F1 {result.macro_f1:.3f}  (n={result.n})"
            )
            for (g, p), count in result.confusions[:8]:
                report(f"    {g} -> {p}: {count}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["config.yml"])
