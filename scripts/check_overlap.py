"""Held-out sets must never hold a training example: print every held-out text (NLU held-out examples and
evaluation questions) that also appears in the training data, after lower-casing and dropping punctuation.
Exits 1 if there is any. tests/test_heldout_blind.py runs the same check.

    .venv/bin/python scripts/check_overlap.py
"""
from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import List, Tuple

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from tests.nlu_eval import load_examples  # noqa: E402

logger = logging.getLogger("check_overlap")


def normalised(text: str) -> str:
    return re.sub(r"\W+", " ", text.lower()).strip()


def held_out_texts() -> List[Tuple[str, str]]:
    """(text, where) for every NLU held-out example and every evaluation question."""
    texts = [(text, "tests/nlu_heldout") for text, _ in load_examples(PROJECT_ROOT / "tests" / "nlu_heldout")]
    for path in sorted((PROJECT_ROOT / "tests" / "evaluation").glob("*.yml")):
        where = str(path.relative_to(PROJECT_ROOT))
        texts += [(q["text"], where) for q in yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]]
    return texts


def overlaps() -> List[Tuple[str, str]]:
    """Held-out texts that are also training examples."""
    training = {normalised(text) for text, _ in load_examples(PROJECT_ROOT / "data" / "nlu")}
    return [(text, where) for text, where in held_out_texts() if normalised(text) in training]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    found = overlaps()
    for text, where in found:
        logger.info("%s: %r is also a training example", where, text)
    logger.info("%d held-out texts checked, %d also in the training data", len(held_out_texts()), len(found))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
