"""NLU on the held-out examples (tests/nlu_heldout/, never trained on), through the running model."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.nlu_eval import load_examples, score

pytestmark = pytest.mark.e2e

HELDOUT_DIR = Path(__file__).parent / "nlu_heldout"
TRAIN_DIR = Path(__file__).parent.parent / "data" / "nlu"
MIN_ACCURACY = 0.90


def test_heldout_is_not_trained_on() -> None:
    heldout = {text.lower() for text, _ in load_examples(HELDOUT_DIR)}
    train = {text.lower() for text, _ in load_examples(TRAIN_DIR)}
    assert heldout, "no held-out examples"
    assert not heldout & train


def test_every_intent_has_enough_training_and_heldout_examples() -> None:
    from collections import Counter

    import yaml

    train = Counter(intent for _, intent in load_examples(TRAIN_DIR))
    heldout = Counter(intent for _, intent in load_examples(HELDOUT_DIR))
    domain = yaml.safe_load((TRAIN_DIR.parent.parent / "domain.yml").read_text())
    # buttons send these, nobody types them: choose_topic (suggestions), helpful / not_helpful (feedback)
    intents = [i for i in domain["intents"] if i not in ("choose_topic", "helpful", "not_helpful")]
    for intent in intents:
        assert train[intent] >= 20, f"{intent}: {train[intent]} training examples"
        assert heldout[intent] >= 5, f"{intent}: {heldout[intent]} held-out examples"


def test_heldout_intent_accuracy(bot, figures) -> None:
    examples = load_examples(HELDOUT_DIR)
    predicted = [bot.parse(text)["intent"]["name"] for text, _ in examples]
    result = score([intent for _, intent in examples], predicted)
    figures.append(
        f"NLU held-out: {result.n} examples, intent accuracy {result.accuracy:.3f}, macro F1 {result.macro_f1:.3f}"
    )
    for (gold, pred), count in result.confusions[:10]:
        figures.append(f"  confused {gold} -> {pred}: {count}")
    assert result.accuracy >= MIN_ACCURACY
