"""components/intent_classifier.py stores its model as plain arrays (no pickle, no skops) and loads it back
with the same predictions; a broken model file is a clear warning and a fallback for every message, not a
crash."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from actions.knowledge import load_nlu_examples
from actions.understanding import intent_model, model_arrays, model_from_arrays, quick_to_predict
from components.intent_classifier import MODEL_FILE, TfidfIntentClassifier
from tests.conftest import PROJECT_ROOT
from tests.nlu_eval import load_examples

HELDOUT = [text.lower() for text, _ in load_examples(PROJECT_ROOT / "tests" / "nlu_heldout")][::9]


@pytest.fixture(scope="module")
def examples() -> List[Tuple[str, str]]:
    """Every 20th training example: enough intents and words, quick to fit."""
    return [(text.lower(), intent) for text, intent in load_nlu_examples()][::20]


def test_the_stored_arrays_give_the_same_predictions(examples: List[Tuple[str, str]]) -> None:
    model = intent_model(c=30.0).fit([t for t, _ in examples], [i for _, i in examples])
    buffer = io.BytesIO()
    np.savez(buffer, **model_arrays(model))
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as stored:  # numbers and strings only
        loaded = model_from_arrays(stored, c=30.0)
    assert list(loaded.classes_) == list(model.classes_) and len(model.classes_) > 10
    assert (loaded.predict_proba(HELDOUT) == model.predict_proba(HELDOUT)).all()
    assert (quick_to_predict(loaded).predict_proba(HELDOUT) == quick_to_predict(model).predict_proba(HELDOUT)).all()


def test_arrays_that_do_not_fit_together_are_refused(examples: List[Tuple[str, str]]) -> None:
    model = intent_model(c=30.0).fit([t for t, _ in examples], [i for _, i in examples])
    arrays = model_arrays(model)
    with pytest.raises(ValueError):
        model_from_arrays({**arrays, "coef": arrays["coef"][:, :-1]}, c=30.0)
    with pytest.raises(ValueError):
        model_from_arrays({**arrays, "terms_0": np.concatenate([arrays["terms_0"][:1], arrays["terms_0"][:-1]])}, c=30.0)


def message(text: str, intent: str = "") -> Message:
    tokens = [Token(word, 0, lemma=word) for word in text.split()]
    data: dict = {TEXT: text, TOKENS_NAMES[TEXT]: tokens}
    if intent:
        data[INTENT] = intent
    return Message(data=data)


def trained(examples: List[Tuple[str, str]], tmp_path: Path) -> Tuple[Any, LocalModelStorage, Resource, Any]:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("intent_classifier")
    context = ExecutionContext(GraphSchema({}), "test")
    component = TfidfIntentClassifier.create({}, storage, resource, context)
    component.train(TrainingData([message(t, i) for t, i in examples]))
    return component, storage, resource, context


def ranking(component: Any, text: str) -> Any:
    return component.process([message(text)])[0].get("intent_ranking")


def test_the_component_loads_what_it_stored(examples: List[Tuple[str, str]], tmp_path: Path) -> None:
    component, storage, resource, context = trained(examples, tmp_path)
    with storage.read_from(resource) as model_dir:
        assert [p.name for p in model_dir.iterdir()] == [MODEL_FILE]
    loaded = TfidfIntentClassifier.load({}, storage, resource, context)
    for text in HELDOUT[:20]:
        assert ranking(loaded, text) == ranking(component, text)
        assert ranking(loaded, text)[0]["name"]


def test_a_broken_model_file_is_a_warning_and_a_fallback(examples: List[Tuple[str, str]], tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    _, storage, resource, context = trained(examples, tmp_path)
    with storage.read_from(resource) as model_dir:
        path = model_dir / MODEL_FILE
        path.write_bytes(path.read_bytes()[:2000])
    loaded = TfidfIntentClassifier.load({}, storage, resource, context)
    assert "No trained intent classifier could be loaded" in caplog.text
    assert loaded.process([message("what causes it")])[0].get(INTENT) is None  # left to the fallback
