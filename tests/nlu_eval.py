"""Score NLU predictions against labelled examples (used by the held-out test and the config comparison)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

import yaml

FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"


def load_examples(folder: Path) -> List[Tuple[str, str]]:
    """(text, intent) pairs from Rasa YAML NLU files in a folder."""
    pairs = []
    for path in sorted(folder.glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            if "intent" not in block:
                continue
            for line in block["examples"].splitlines():
                line = line.strip()
                if line.startswith("- "):
                    pairs.append((line[2:].strip(), block["intent"]))
    return pairs


@dataclass
class Scores:
    accuracy: float
    macro_f1: float
    n: int
    confusions: List[Tuple[Tuple[str, str], int]]


def score(gold: Iterable[str], predicted: Iterable[str]) -> Scores:
    """Accuracy and macro F1 over the gold labels; a fallback counts as an out-of-scope answer."""
    from sklearn.metrics import f1_score

    gold = list(gold)
    predicted = [OUT_OF_SCOPE if p == FALLBACK else p for p in predicted]
    correct = sum(g == p for g, p in zip(gold, predicted))
    labels = sorted(set(gold))
    macro_f1 = f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)
    confusions = Counter((g, p) for g, p in zip(gold, predicted) if g != p).most_common()
    return Scores(accuracy=correct / len(gold), macro_f1=float(macro_f1), n=len(gold), confusions=confusions)
