"""Red-flag detection measured on a labelled set (tests/data/red_flags.yml, written without seeing the
patterns) and on the ordinary held-out questions: recall must be 100%, false alarms at most 5%."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.safety import RedFlagDetector
from tests.nlu_eval import load_examples

DATA = yaml.safe_load((Path(__file__).parent / "data" / "red_flags.yml").read_text(encoding="utf-8"))
HELDOUT_DIR = Path(__file__).parent / "nlu_heldout"
MAX_FALSE_ALARM_RATE = 0.05


@pytest.fixture(scope="module")
def detector() -> RedFlagDetector:
    return RedFlagDetector.load()


def test_the_set_is_large_enough() -> None:
    assert len(DATA["red_flags"]) + len(DATA["not_red_flags"]) >= 60
    signs = {case["sign"] for case in DATA["red_flags"]}
    assert signs == set(RedFlagDetector.load().signs)


def test_recall_on_true_red_flags_is_complete(detector: RedFlagDetector, figures) -> None:
    missed = [case for case in DATA["red_flags"] if not detector.detect(case["text"])]
    wrong_sign = [case for case in DATA["red_flags"] if detector.detect(case["text"]) and case["sign"] not in detector.detect(case["text"])]
    total = len(DATA["red_flags"])
    figures.append(f"Red flags: recall {(total - len(missed)) / total:.3f} on {total} true red flags "
                   f"({len(wrong_sign)} caught under another sign)")
    assert not missed, "missed: " + "; ".join(f"[{c['sign']}] {c['text']}" for c in missed)


def test_false_alarms_on_ordinary_and_negated_messages(detector: RedFlagDetector, figures) -> None:
    ordinary = [case["text"] for case in DATA["not_red_flags"]]
    heldout = [text for text, _ in load_examples(HELDOUT_DIR)]
    alarms = [text for text in ordinary + heldout if detector.detect(text)]
    rate = len(alarms) / len(ordinary + heldout)
    figures.append(f"Red flags: false alarms {len(alarms)}/{len(ordinary + heldout)} = {rate:.3f} "
                   f"(labelled negatives and the NLU held-out questions)")
    for text in alarms:
        figures.append(f"  false alarm: {text[:110]}")
    assert rate <= MAX_FALSE_ALARM_RATE
    negated = [text for text in ordinary if detector.detect(text)]
    assert len(negated) <= 0.05 * len(ordinary), negated
