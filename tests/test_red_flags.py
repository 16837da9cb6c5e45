"""Triage measured on a labelled set (tests/data/red_flags.yml, written without seeing the patterns) and on
the ordinary held-out questions: every red flag caught, no false alarm on the labelled set, at most 3% on
the held-out questions. The figures, per level and per kind, are printed at the end of the run."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from actions.safety import SafetyPolicy, Triage
from actions.understanding import Reader
from tests.nlu_eval import load_examples

DATA = yaml.safe_load((Path(__file__).parent / "data" / "red_flags.yml").read_text(encoding="utf-8"))
HELDOUT_DIR = Path(__file__).parent / "nlu_heldout"
MAX_HELDOUT_FALSE_ALARM_RATE = 0.03
LEVELS = ("emergency", "today", "soon")


@pytest.fixture(scope="module")
def triage(reader: Reader) -> Triage:
    return Triage.load(reader, policy=SafetyPolicy.load())


def test_the_set_is_large_and_covers_every_level_and_kind() -> None:
    levels = Counter(case["level"] for case in DATA["red_flags"])
    kinds = Counter(case["kind"] for case in DATA["not_red_flags"])
    assert all(levels[level] >= 30 for level in LEVELS), levels
    assert all(kinds[kind] >= 20 for kind in ("ordinary", "negated", "hypothetical", "persistent_stable")), kinds
    assert sum(len(case["text"]) > 200 for case in DATA["red_flags"]) >= 60


def test_recall_on_true_red_flags_is_complete(triage: Triage, reader: Reader, figures) -> None:
    missed, same_level = [], Counter()
    for case in DATA["red_flags"]:
        result = triage.assess(reader.read(case["text"]))
        if not result.urgent:
            missed.append(case)
        elif result.level == case["level"]:
            same_level[case["level"]] += 1
    total = Counter(case["level"] for case in DATA["red_flags"])
    caught = total - Counter(case["level"] for case in missed)
    figures.append(f"Red flags: recall {sum(caught.values()) / len(DATA['red_flags']):.3f} on "
                   f"{len(DATA['red_flags'])} true red flags; per level " +
                   ", ".join(f"{level} {caught[level]}/{total[level]} (same level {same_level[level]})"
                             for level in LEVELS))
    assert not missed, "missed: " + "; ".join(f"[{c['level']}] {c['text'][:120]}" for c in missed)


def test_no_false_alarm_on_ordinary_negated_hypothetical_or_stable_messages(triage: Triage, reader: Reader,
                                                                             figures) -> None:
    alarms = [case for case in DATA["not_red_flags"] if triage.assess(reader.read(case["text"])).urgent]
    kinds = Counter(case["kind"] for case in DATA["not_red_flags"])
    figures.append(f"Red flags: false alarms {len(alarms)}/{len(DATA['not_red_flags'])} labelled negatives (" +
                   ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) + ")")
    assert not alarms, "false alarms: " + "; ".join(f"[{c['kind']}] {c['text'][:120]}" for c in alarms)


def test_few_false_alarms_on_the_held_out_questions(triage: Triage, reader: Reader, figures) -> None:
    heldout = [text for text, _ in load_examples(HELDOUT_DIR)]
    alarms = [text for text in heldout if triage.assess(reader.read(text)).urgent]
    rate = len(alarms) / len(heldout)
    figures.append(f"Red flags: false alarms {len(alarms)}/{len(heldout)} = {rate:.3f} on the NLU held-out questions")
    for text in alarms:
        figures.append(f"  false alarm: {text[:110]}")
    assert rate <= MAX_HELDOUT_FALSE_ALARM_RATE
