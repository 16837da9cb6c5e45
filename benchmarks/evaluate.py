"""Answer quality on two question sets, for the bot and two baselines, side by side.

    make evaluate        (or: .venv/bin/python benchmarks/evaluate.py [--systems bot,default,retrieval]
                                                                   [--sets heldout,real])

Question sets:
  heldout    tests/evaluation/*.yml: the project's own held-out questions (composed, never trained on)
  real       ../shared/eval/real_questions_dev.tsv: questions real people wrote (a development set: measure
             on it, never train on it); labels list every fair answer, separated by "|"

Systems, each asked every question in a fresh conversation:
  bot        this bot, through the REST channel; the topic is read from the HTTP API's tracker
  default    Rasa's default config (benchmarks/configs/rasa_default.yml, `rasa init`'s pipeline and
             policies) trained on the same data, with the same actions, through REST
  retrieval  retrieval over the guide's passages alone, no intents (in process)

An answer is right when its topic is one of the labels or a sub-topic of one (red_flag.today is a
red_flag). Printed per set and system: topic accuracy; out-of-scope kept out (questions the guide does not
cover that got no made-up answer); in-scope declined (questions the guide answers that got "not covered");
red flags caught and false alarms; the share of health answers that carry the disclaimer; accuracy for
messages under and over 200 characters; per-label accuracy and the most frequent confusions.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from actions.knowledge import Guide, PassageRetriever  # noqa: E402
from actions.safety import SafetyPolicy  # noqa: E402
from actions.understanding import Reader  # noqa: E402
from benchmarks.bench import default_config  # noqa: E402
from tests.servers import SLOW_DOWN_REPLY, loopback_address, running_bot  # noqa: E402

HELDOUT_DIR = PROJECT_ROOT / "tests" / "evaluation"
REAL_DEV_FILE = PROJECT_ROOT.parent / "shared" / "eval" / "real_questions_dev.tsv"
NON_HEALTH = ("smalltalk", "out_of_scope")
LONG_CHARS = 200


@dataclass(frozen=True)
class Question:
    text: str
    labels: Tuple[str, ...]

    @property
    def label(self) -> str:
        return "|".join(self.labels)


def load_heldout(folder: Path = HELDOUT_DIR) -> List[Question]:
    questions = []
    for path in sorted(folder.glob("*.yml")):
        for q in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]:
            questions.append(Question(q["text"], tuple(str(q["topic"]).split("|"))))
    return questions


def load_real(path: Path = REAL_DEV_FILE) -> List[Question]:
    """The real development questions (question<TAB>label, a header line first)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [Question(row[0], tuple(row[1].split("|"))) for row in rows[1:] if len(row) >= 2 and row[0].strip()]


SETS: Dict[str, Callable[[], List[Question]]] = {"heldout": load_heldout, "real": load_real}


def is_right(predicted: Optional[str], labels: Sequence[str]) -> bool:
    """Right when the topic is one of the labels or a sub-topic of one."""
    p = predicted or ""
    return any(p == label or p.startswith(label + ".") for label in labels)


@dataclass
class Prediction:
    question: Question
    topic: Optional[str]
    has_disclaimer: Optional[bool]

    @property
    def right(self) -> bool:
        return is_right(self.topic, self.question.labels)


def share(hits: int, total: int) -> Optional[float]:
    return hits / total if total else None


@dataclass
class Result:
    name: str
    predictions: List[Prediction] = field(default_factory=list)
    seconds: float = 0.0

    def accuracy(self, keep: Callable[[Prediction], bool] = lambda p: True) -> Optional[float]:
        chosen = [p for p in self.predictions if keep(p)]
        return share(sum(p.right for p in chosen), len(chosen))

    def oos_kept_out(self) -> Optional[float]:
        """Questions whose only fair answer is "not covered" that got it (no made-up answer)."""
        oos = [p for p in self.predictions if p.question.labels == ("out_of_scope",)]
        return share(sum(is_right(p.topic, ("out_of_scope",)) for p in oos), len(oos))  # .contact too

    def in_scope_declined(self) -> Optional[float]:
        """Questions the guide answers (out_of_scope not a fair answer) that got "not covered"."""
        ins = [p for p in self.predictions
               if "out_of_scope" not in p.question.labels and not is_right("red_flag", p.question.labels)
               and p.question.labels != ("smalltalk",)]
        return share(sum(is_right(p.topic, ("out_of_scope",)) for p in ins), len(ins))

    def red_flag_recall(self) -> Optional[float]:
        flags = [p for p in self.predictions if p.question.labels == ("red_flag",)]
        return share(sum(is_right(p.topic, ("red_flag",)) for p in flags), len(flags))

    def false_alarms(self) -> Optional[float]:
        others = [p for p in self.predictions if "red_flag" not in p.question.labels]
        return share(sum(is_right(p.topic, ("red_flag",)) for p in others), len(others))

    def disclaimer_share(self) -> Optional[float]:
        health = [p.has_disclaimer for p in self.predictions
                  if not is_right(p.topic, NON_HEALTH) and p.has_disclaimer is not None]
        return share(sum(health), len(health))


def ask_server(model: Path, name: str, questions: List[Question], policy: SafetyPolicy, workdir: Path) -> Result:
    result = Result(name)
    disclaimers = (policy.full_disclaimer, policy.short_disclaimer)
    with running_bot(model, workdir) as bot:
        started = time.monotonic()
        for i, question in enumerate(questions):
            sender = f"eval-{name}-{i}"
            # each question from a loopback address of its own, as each person has: one address asking 472
            # questions in a row is what the rate limits (channels/abuse.py) are there to slow down
            replies = bot.send(sender, question.text, source=loopback_address(sender))
            answer = "\n".join(m.get("text") or "" for m in replies)
            if SLOW_DOWN_REPLY in answer:  # a refused question would be scored as an answer: stop instead
                raise RuntimeError(f"question {i} was refused by the rate limits; the figures would be wrong")
            topic = bot.tracker(sender)["slots"].get("topic")
            result.predictions.append(Prediction(question, topic, any(d in answer for d in disclaimers)))
        result.seconds = time.monotonic() - started
    return result


def ask_retrieval(questions: List[Question]) -> Result:
    result = Result("retrieval")
    reader = Reader.load()
    retriever = PassageRetriever.load(Guide.load(), reader)
    started = time.monotonic()
    for question in questions:
        found = retriever.best(reader.read(question.text))
        result.predictions.append(Prediction(question, found[0].id if found else "out_of_scope", None))
    result.seconds = time.monotonic() - started
    return result


def train_baseline(out: Path, epochs: Optional[int] = None) -> Path:
    """Trains Rasa's default config on the project's data; `epochs` shortens every network's training (the
    full 100 epochs take over 90 minutes on 2 cores), and the printed report says so."""
    rasa = str(Path(sys.executable).parent / "rasa")
    subprocess.run(
        [rasa, "train", "--config", str(default_config(out, epochs)), "--out", str(out),
         "--fixed-model-name", "rasa-default"],
        cwd=PROJECT_ROOT, check=True, capture_output=True, env=dict(os.environ, RASA_MAX_CACHE_SIZE="0"),
    )
    return out / "rasa-default.tar.gz"


def write(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def figure(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def report(set_name: str, results: List[Result], questions: List[Question]) -> None:
    n_long = sum(len(q.text) > LONG_CHARS for q in questions)
    write(f"== {set_name}: {len(questions)} questions ({n_long} longer than {LONG_CHARS} characters)")
    write()
    write(f"{'':32s}" + "".join(f"{r.name:>12s}" for r in results))
    rows: List[Tuple[str, Callable[[Result], str]]] = [
        ("topic accuracy", lambda r: figure(r.accuracy())),
        ("out-of-scope kept out", lambda r: figure(r.oos_kept_out())),
        ("in-scope declined", lambda r: figure(r.in_scope_declined())),
        ("red flags caught", lambda r: figure(r.red_flag_recall())),
        ("false red-flag alarms", lambda r: figure(r.false_alarms())),
        ("health answers w/ disclaimer", lambda r: figure(r.disclaimer_share())),
        (f"accuracy, <= {LONG_CHARS} characters", lambda r: figure(r.accuracy(lambda p: len(p.question.text) <= LONG_CHARS))),
        (f"accuracy, > {LONG_CHARS} characters", lambda r: figure(r.accuracy(lambda p: len(p.question.text) > LONG_CHARS))),
        ("seconds for all questions", lambda r: f"{r.seconds:.1f}"),
    ]
    for title, value in rows:
        write(f"{title:32s}" + "".join(f"{value(r):>12s}" for r in results))
    write()
    write("per-label accuracy")
    for label in sorted({q.label for q in questions}):
        cells = []
        for r in results:
            ours = [p for p in r.predictions if p.question.label == label]
            cells.append(f"{sum(p.right for p in ours)}/{len(ours)}")
        write(f"  {label[:60]:60s}" + "".join(f"{c:>12s}" for c in cells))
    for r in results[:1]:
        write()
        write(f"wrong answers ({r.name}): [label -> answered] question")
        for p in r.predictions:
            if not p.right:
                write(f"  [{p.question.label} -> {p.topic}] {p.question.text[:160]}")
    for r in results:
        confusions = Counter((p.question.label, p.topic) for p in r.predictions if not p.right)
        write()
        write(f"most frequent confusions ({r.name}): label -> answered")
        for (label, topic), count in confusions.most_common(12):
            write(f"  {label} -> {topic}: {count}")
    write()


def main(
    systems: List[str], set_names: List[str], default_model: Optional[Path] = None, default_epochs: Optional[int] = None
) -> None:
    question_sets = {}
    for name in set_names:
        try:
            question_sets[name] = SETS[name]()
        except FileNotFoundError as error:
            write(f"Skipping the {name} set: {error}")
    everything = [q for qs in question_sets.values() for q in qs]
    policy = SafetyPolicy.load()
    model = PROJECT_ROOT / "models" / "plantar-bot.tar.gz"
    results: List[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        if "bot" in systems:
            results.append(ask_server(model, "bot", everything, policy, Path(tmp) / "bot"))
        if "default" in systems:
            if default_model:
                write(f"Rasa-default baseline: {default_model} (trained on the same data, not retrained)")
                baseline = default_model
            else:
                epochs = f", {default_epochs} epochs instead of 100" if default_epochs else ""
                write(f"Training the Rasa-default baseline on the same data{epochs} ...")
                started = time.monotonic()
                baseline = train_baseline(Path(tmp), default_epochs)
                write(f"  trained in {time.monotonic() - started:.0f} s")
            results.append(ask_server(baseline, "default", everything, policy, Path(tmp) / "default"))
        if "retrieval" in systems:
            results.append(ask_retrieval(everything))
    for name, questions in question_sets.items():
        wanted = set(map(id, questions))
        per_set = [Result(r.name, [p for p in r.predictions if id(p.question) in wanted],
                          r.seconds * len(questions) / max(len(everything), 1)) for r in results]
        report(name, per_set, questions)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Answer quality on the held-out and the real development questions.")
    parser.add_argument("--systems", default="bot,default,retrieval", help="comma-separated: bot,default,retrieval")
    parser.add_argument("--sets", default="heldout,real", help="comma-separated: heldout,real")
    parser.add_argument("--default-model", type=Path, help="a Rasa-default model already trained on the same data "
                        "(training it takes the longest part of a run)")
    parser.add_argument("--default-epochs", type=int, help="train the Rasa-default baseline with this many epochs "
                        "instead of 100 (the same network, trained for less time: say so where you report it)")
    arguments = parser.parse_args()
    main(arguments.systems.split(","), arguments.sets.split(","), arguments.default_model, arguments.default_epochs)
