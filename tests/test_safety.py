"""The safety policy's wording and how it finishes a health answer."""
from __future__ import annotations

from pathlib import Path

import pytest

from actions.knowledge import KnowledgeError
from actions.safety import SafetyPolicy


@pytest.fixture(scope="module")
def policy() -> SafetyPolicy:
    return SafetyPolicy.load()


def test_full_disclaimer_says_educational_not_advice_and_consult(policy: SafetyPolicy) -> None:
    text = policy.disclaimer(first_in_conversation=True).lower()
    assert "educational" in text and "not medical advice" in text
    assert "doctor" in text and "healthcare professional" in text


def test_short_disclaimer_still_says_not_advice_and_consult(policy: SafetyPolicy) -> None:
    text = policy.disclaimer(first_in_conversation=False).lower()
    assert "not medical advice" in text and "healthcare professional" in text
    assert text != policy.disclaimer(first_in_conversation=True).lower()


def test_health_answer_has_body_source_then_disclaimer(policy: SafetyPolicy) -> None:
    text = policy.finish_health_answer([("Passage one.", "Heading A"), ("Passage two.", "Heading B")], True)
    blocks = text.split("\n\n")
    assert blocks == [
        "Passage one.", "From the guide: Heading A", "Passage two.", "From the guide: Heading B",
        policy.full_disclaimer,
    ]


def test_health_answer_needs_a_part(policy: SafetyPolicy) -> None:
    with pytest.raises(ValueError):
        policy.finish_health_answer([], True)


def test_policy_file_problems_are_named(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text("disclaimer:\n  full: x\nsource_line: 'From {heading}'\n")
    with pytest.raises(KnowledgeError, match=r"policy\.yml: 'short' is missing or empty"):
        SafetyPolicy.load(path)
    path.write_text("disclaimer:\n  full: x\n  short: y\nsource_line: 'From the guide'\n")
    with pytest.raises(KnowledgeError, match=r"must contain \{heading\}"):
        SafetyPolicy.load(path)
