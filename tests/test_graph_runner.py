"""channels/graph_runner.py gives the trained model's parses and policy predictions exactly as Rasa's
DaskGraphRunner does, and the processor uses it once the project's channels are imported."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import pytest
import rasa.core.processor
from rasa.core.channels.channel import UserMessage
from rasa.engine import loader
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

import channels  # noqa: F401  (installs the runner in the processor)
from channels.graph_runner import SequentialGraphRunner
from tests.conftest import PROJECT_ROOT
from tests.nlu_eval import load_examples

TEXTS = [text for text, _ in load_examples(PROJECT_ROOT / "tests" / "nlu_heldout")][::6]
PARSE_KEYS = ("text", "intent", "intent_ranking", "entities")


@pytest.fixture(scope="module")
def runners(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    loaded = {}
    for runner_class in (DaskGraphRunner, SequentialGraphRunner):
        metadata, runner = loader.load_predict_graph_runner(
            tmp_path_factory.mktemp(runner_class.__name__), trained_model, LocalModelStorage, runner_class)
        loaded[runner_class.__name__] = runner
    loaded["metadata"] = metadata
    return loaded


def parse(runners: Dict[str, Any], name: str, text: str) -> Dict[str, Any]:
    target = runners["metadata"].nlu_target
    tracker = DialogueStateTracker("someone", [])
    out = runners[name].run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(text)], PLACEHOLDER_TRACKER: tracker},
                            targets=[target])
    parsed = out[target][0].as_dict()
    return {key: parsed.get(key) for key in PARSE_KEYS}


def predict(runners: Dict[str, Any], name: str, tracker: DialogueStateTracker) -> Any:
    target = runners["metadata"].core_target
    prediction = runners[name].run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[target])[target]
    return prediction.probabilities, prediction.policy_name, prediction.is_end_to_end_prediction


def test_the_processor_loads_models_with_it() -> None:
    assert rasa.core.processor.DaskGraphRunner is SequentialGraphRunner


def test_same_parses_as_dask(runners: Dict[str, Any]) -> None:
    assert len(TEXTS) > 40
    for text in TEXTS:
        ours = parse(runners, "SequentialGraphRunner", text)
        assert ours == parse(runners, "DaskGraphRunner", text)
        assert ours["intent"]["name"]


def test_same_predictions_as_dask(runners: Dict[str, Any]) -> None:
    """The answer after each question, then action_listen after the answer: the same probabilities."""
    best: List[int] = []
    for text in TEXTS:
        parse_data = parse(runners, "DaskGraphRunner", text)
        tracker = DialogueStateTracker.from_events(
            "someone", [ActionExecuted("action_listen"), UserUttered(text, parse_data["intent"], parse_data["entities"])])
        for _ in range(2):
            ours = predict(runners, "SequentialGraphRunner", tracker)
            assert ours == predict(runners, "DaskGraphRunner", tracker)
            best.append(ours[0].index(max(ours[0])))
            tracker.update(ActionExecuted("action_answer"))
    assert len(set(best)) >= 2  # the answer, then listening: not one action for everything


def test_an_input_named_like_a_node_is_refused(runners: Dict[str, Any]) -> None:
    node = runners["metadata"].nlu_target
    with pytest.raises(GraphRunError, match="clashes"):
        runners["SequentialGraphRunner"].run(inputs={"x": node}, targets=[node])
