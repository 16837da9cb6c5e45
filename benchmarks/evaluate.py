"""Answer quality on the held-out evaluation questions (tests/evaluation/), against two baselines.

    make evaluate        (or: .venv/bin/python benchmarks/evaluate.py [--systems bot,default,retrieval])

Systems, each asked every question in a fresh conversation:
  bot        this bot, through the REST channel; the topic is read from the HTTP API's tracker
  default    Rasa's default config (benchmarks/configs/rasa_default.yml, `rasa init`'s pipeline and
             policies) trained on the same data, with the same actions, through REST
  retrieval  retrieval over the guide's passages alone, no intents (in process)

An answer is right when its topic is the label or a sub-topic of it. Printed per system: topic accuracy,
out-of-scope kept out (questions the guide does not cover that got no made-up answer), out-of-scope
precision (answers "not covered" that were right to be), the share of health answers that carry the
disclaimer, per-topic accuracy and the most frequent confusions.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actions.knowledge import Guide, PassageRetriever  # noqa: E402
from actions.safety import SafetyPolicy  # noqa: E402
from tests.servers import running_bot  # noqa: E402

QUESTIONS_DIR = PROJECT_ROOT / "tests" / "evaluation"
NON_HEALTH = ("smalltalk", "out_of_scope")


def load_questions() -> List[Tuple[str, str]]:
    questions = []
    for path in sorted(QUESTIONS_DIR.glob("*.yml")):
        questions += [(q["text"], q["topic"]) for q in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]]
    return questions


def is_right(predicted: Optional[str], label: str) -> bool:
    return predicted == label or (predicted or "").startswith(label + ".")


@dataclass
class Result:
    name: str
    predictions: List[Tuple[str, str, Optional[str], Optional[bool]]] = field(default_factory=list)
    seconds: float = 0.0

    def accuracy(self) -> float:
        return sum(is_right(p, label) for _, label, p, _ in self.predictions) / len(self.predictions)

    def oos_kept_out(self) -> float:
        oos = [p for _, label, p, _ in self.predictions if label == "out_of_scope"]
        return sum(p == "out_of_scope" for p in oos) / len(oos)

    def oos_precision(self) -> float:
        said_oos = [label for _, label, p, _ in self.predictions if p == "out_of_scope"]
        return sum(label == "out_of_scope" for label in said_oos) / max(len(said_oos), 1)

    def disclaimer_share(self) -> Optional[float]:
        health = [d for _, _, p, d in self.predictions if p not in NON_HEALTH and d is not None]
        return sum(health) / len(health) if health else None


def ask_server(model: Path, name: str, questions, policy: SafetyPolicy, workdir: Path) -> Result:
    result = Result(name)
    disclaimers = (policy.full_disclaimer, policy.short_disclaimer)
    with running_bot(model, workdir) as bot:
        started = time.monotonic()
        for i, (text, label) in enumerate(questions):
            sender = f"eval-{name}-{i}"
            answer = "\n".join(m.get("text") or "" for m in bot.send(sender, text))
            topic = bot.tracker(sender)["slots"].get("topic")
            result.predictions.append((text, label, topic, any(d in answer for d in disclaimers)))
        result.seconds = time.monotonic() - started
    return result


def ask_retrieval(questions) -> Result:
    result = Result("retrieval")
    retriever = PassageRetriever.load(Guide.load())
    started = time.monotonic()
    for text, label in questions:
        found = retriever.best(text)
        result.predictions.append((text, label, found[0].id if found else "out_of_scope", None))
    result.seconds = time.monotonic() - started
    return result


def train_baseline(out: Path) -> Path:
    rasa = str(Path(sys.executable).parent / "rasa")
    subprocess.run(
        [rasa, "train", "--config", "benchmarks/configs/rasa_default.yml", "--out", str(out),
         "--fixed-model-name", "rasa-default"],
        cwd=PROJECT_ROOT, check=True, capture_output=True, env=dict(os.environ, RASA_MAX_CACHE_SIZE="0"),
    )
    return out / "rasa-default.tar.gz"


def write(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def report(results: List[Result], questions) -> None:
    labels = sorted({label for _, label in questions})
    n_long = sum(len(text) > 70 for text, _ in questions)
    write(f"{len(questions)} held-out questions ({n_long} longer than 70 characters), {len(labels)} labels")
    write()
    write(f"{'':32s}" + "".join(f"{r.name:>12s}" for r in results))
    rows = [
        ("topic accuracy", lambda r: f"{r.accuracy():.3f}"),
        ("out-of-scope kept out", lambda r: f"{r.oos_kept_out():.3f}"),
        ("out-of-scope precision", lambda r: f"{r.oos_precision():.3f}"),
        ("health answers w/ disclaimer", lambda r: "n/a" if r.disclaimer_share() is None else f"{r.disclaimer_share():.3f}"),
        ("seconds for all questions", lambda r: f"{r.seconds:.1f}"),
    ]
    for title, value in rows:
        write(f"{title:32s}" + "".join(f"{value(r):>12s}" for r in results))
    write()
    write("per-topic accuracy")
    for label in labels:
        cells = []
        for r in results:
            ours = [p for _, l, p, _ in r.predictions if l == label]
            cells.append(f"{sum(is_right(p, label) for p in ours)}/{len(ours)}")
        write(f"  {label:30s}" + "".join(f"{c:>12s}" for c in cells))
    for r in results[:1]:
        write()
        write(f"wrong answers ({r.name}): [label -> answered] question")
        for text, label, p, _ in r.predictions:
            if not is_right(p, label):
                write(f"  [{label} -> {p}] {text}")
    for r in results:
        confusions = Counter((label, p) for _, label, p, _ in r.predictions if not is_right(p, label))
        write()
        write(f"most frequent confusions ({r.name}): label -> answered")
        for (label, p), count in confusions.most_common(12):
            write(f"  {label} -> {p}: {count}")


def main(systems: List[str]) -> None:
    questions = load_questions()
    policy = SafetyPolicy.load()
    model = PROJECT_ROOT / "models" / "plantar-bot.tar.gz"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        if "bot" in systems:
            results.append(ask_server(model, "bot", questions, policy, Path(tmp) / "bot"))
        if "default" in systems:
            write("Training the Rasa-default baseline on the same data ...")
            started = time.monotonic()
            baseline = train_baseline(Path(tmp))
            write(f"  trained in {time.monotonic() - started:.0f} s")
            results.append(ask_server(baseline, "default", questions, policy, Path(tmp) / "default"))
        if "retrieval" in systems:
            results.append(ask_retrieval(questions))
    report(results, questions)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Answer quality on the held-out evaluation questions.")
    parser.add_argument("--systems", default="bot,default,retrieval", help="comma-separated: bot,default,retrieval")
    main(parser.parse_args().systems.split(","))
