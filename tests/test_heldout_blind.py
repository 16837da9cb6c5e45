"""Held-out figures mean something only if no held-out text was trained on (scripts/check_overlap.py)."""
from __future__ import annotations

from scripts.check_overlap import held_out_texts, overlaps


def test_no_held_out_text_is_a_training_example() -> None:
    assert len(held_out_texts()) > 500
    assert overlaps() == []
