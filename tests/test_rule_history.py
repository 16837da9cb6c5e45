"""channels/speedups.py: RulePolicy reads only the last actions of a conversation, and predicts exactly what
Rasa's RulePolicy predicts from the whole history, at every turn of long conversations."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine import loader
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, BotUttered, Restarted,
                                     SessionStarted, SlotSet, UserUttered, UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker

import channels  # noqa: F401  (installs the speed-ups)
from channels import speedups
from channels.graph_runner import SequentialGraphRunner
from tests.conftest import PROJECT_ROOT
from tests.nlu_eval import load_examples

TEXTS = [text for text, _ in load_examples(PROJECT_ROOT / "tests" / "nlu_heldout")][::9]


@pytest.fixture(scope="module")
def graph(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Tuple[Any, Any]:
    metadata, runner = loader.load_predict_graph_runner(
        tmp_path_factory.mktemp("rules"), trained_model, LocalModelStorage, SequentialGraphRunner)
    return metadata, runner


def rule_policy(graph: Tuple[Any, Any]) -> RulePolicy:
    _, runner = graph
    policies = [node._component for node in runner._instantiated_nodes.values()
                if isinstance(getattr(node, "_component", None), RulePolicy)]
    assert len(policies) == 1
    return policies[0]


def prediction(graph: Tuple[Any, Any], tracker: DialogueStateTracker, rasas: bool) -> Tuple[Any, ...]:
    metadata, runner = graph
    RulePolicy._prediction_states = speedups.RASA_RULE_PREDICTION_STATES if rasas else speedups.rule_prediction_states
    try:
        result = runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[metadata.core_target])[metadata.core_target]
    finally:
        RulePolicy._prediction_states = speedups.rule_prediction_states
    return (result.probabilities, result.policy_name, result.hide_rule_turn, result.is_end_to_end_prediction,
            [{key: value for key, value in event.as_dict().items() if key != "timestamp"} for event in result.events])


def conversation(graph: Tuple[Any, Any], texts: List[str]) -> Iterator[DialogueStateTracker]:
    """A conversation of the held-out questions, one after another, as the processor runs it; yields the
    tracker before each prediction (after a question, then after the answer)."""
    metadata, runner = graph
    tracker = DialogueStateTracker.from_events(
        "someone", [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")])
    for number, text in enumerate(texts):
        parsed = runner.run(inputs={PLACEHOLDER_MESSAGE: [UserMessage(text)], PLACEHOLDER_TRACKER: tracker},
                            targets=[metadata.nlu_target])[metadata.nlu_target][0].as_dict()
        tracker.update(UserUttered(text, parsed["intent"], parsed.get("entities", [])))
        yield tracker
        tracker.update(ActionExecuted("action_answer"))
        tracker.update(SlotSet("topic", f"topic-{number % 5}"))
        tracker.update(BotUttered("an answer"))
        yield tracker
        tracker.update(ActionExecuted("action_listen"))
        if number == len(texts) // 2:
            tracker.update(Restarted())
            tracker.update(ActionExecuted("action_listen"))


def test_it_is_installed() -> None:
    assert RulePolicy._prediction_states is speedups.rule_prediction_states


def test_same_predictions_as_rasa_at_every_turn_of_a_long_conversation(graph: Tuple[Any, Any]) -> None:
    assert len(TEXTS) > 30
    best = set()
    for tracker in conversation(graph, TEXTS):
        ours = prediction(graph, tracker, rasas=False)
        assert ours == prediction(graph, tracker, rasas=True)
        best.add(ours[0].index(max(ours[0])))
    assert len(best) >= 2  # the answer, then listening


def test_late_in_a_conversation_only_the_last_actions_are_read(graph: Tuple[Any, Any]) -> None:
    policy = rule_policy(graph)
    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    *_, tracker = conversation(graph, TEXTS[:12])
    whole = speedups.RASA_RULE_PREDICTION_STATES(policy, tracker, domain)
    last = speedups.rule_prediction_states(policy, tracker, domain)
    # the first state read stands at the cut (no action before it), further back than any rule is long
    assert 0 < speedups.longest_rule(policy) < len(last) - 1
    assert len(last) < len(whole)
    assert last[1:] == whole[-(len(last) - 1):]


def test_a_longer_rule_reads_further_back(graph: Tuple[Any, Any]) -> None:
    policy = rule_policy(graph)
    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    *_, tracker = conversation(graph, TEXTS[:12])
    short = speedups.rule_prediction_states(policy, tracker, domain)
    policy.__dict__["_pf_longest_rule"] = speedups.longest_rule(policy) + 3
    try:
        longer = speedups.rule_prediction_states(policy, tracker, domain)
    finally:
        del policy.__dict__["_pf_longest_rule"]
    assert len(short) < len(longer) and longer[-(len(short) - 1):] == short[1:]


def test_where_an_earlier_event_can_matter_the_whole_history_is_read(graph: Tuple[Any, Any]) -> None:
    policy = rule_policy(graph)
    ours = Domain.load(PROJECT_ROOT / "domain.yml")
    *_, tracker = conversation(graph, TEXTS[:12])
    whole = speedups.RASA_RULE_PREDICTION_STATES(policy, tracker, ours)
    featurized = Domain.from_dict({**ours.as_dict(), "slots": {
        **ours.as_dict()["slots"], "seen": {"type": "bool", "influence_conversation": True,
                                           "mappings": [{"type": "custom"}]}}})
    assert len(speedups.rule_prediction_states(policy, tracker, featurized)) == len(
        speedups.RASA_RULE_PREDICTION_STATES(policy, tracker, featurized))
    in_a_loop = tracker.copy()
    in_a_loop.update(ActiveLoop("some_form"))
    assert len(speedups.rule_prediction_states(policy, in_a_loop, ours)) == len(
        speedups.RASA_RULE_PREDICTION_STATES(policy, in_a_loop, ours)) >= len(whole)


@pytest.mark.parametrize("undo", [ActionReverted(), ActiveLoop(None)])
def test_an_action_undone_or_a_loop_event_in_the_stretch_leaves_it_to_rasa(undo: Any) -> None:
    events = [ActionExecuted("action_listen")] + turn("greet") + [undo] + turn("help")
    assert speedups.recent_tracker(DialogueStateTracker.from_events("someone", events), 4) is None


def test_a_slot_that_influences_the_conversation_keeps_the_whole_history() -> None:
    ours = Domain.from_yaml("version: '3.1'\nslots:\n  topic:\n    type: text\n    influence_conversation: false\n"
                            "    mappings: [{type: custom}]\n")
    theirs = Domain.from_yaml("version: '3.1'\nslots:\n  seen:\n    type: bool\n    influence_conversation: true\n"
                              "    mappings: [{type: custom}]\n")
    assert not speedups.history_matters(ours)
    assert speedups.history_matters(theirs)


def turn(intent: str) -> List[Any]:
    return [UserUttered(intent, {"name": intent, "confidence": 1.0}), ActionExecuted("action_answer"),
            BotUttered("an answer"), ActionExecuted("action_listen")]


def test_the_events_read_are_the_end_of_rasas_applied_events() -> None:
    events = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    events += turn("greet") + [UserUtteranceReverted()] + turn("help")  # an undo, further back than is read
    for number in range(6):
        events += turn(f"ask_{number}")
    tracker = DialogueStateTracker.from_events("someone", events)
    recent = speedups.recent_tracker(tracker, 4)
    assert recent is not None and 0 < len(recent.events) < len(tracker.applied_events())
    assert list(recent.events) == tracker.applied_events()[-len(recent.events):]
    assert isinstance(recent.events[0], ActionExecuted) and recent.events[0].action_name == "action_listen"


def test_an_undo_in_the_stretch_read_leaves_the_whole_history_to_rasa() -> None:
    events = [ActionExecuted("action_listen")] + turn("greet") + turn("help") + [UserUtteranceReverted()]
    assert speedups.recent_tracker(DialogueStateTracker.from_events("someone", events), 4) is None


def test_a_session_start_ends_the_stretch_read_as_in_rasa() -> None:
    events = turn("greet") + [ActionExecuted("action_session_start"), SessionStarted(),
                              ActionExecuted("action_listen")] + turn("help")
    tracker = DialogueStateTracker.from_events("someone", events)
    assert list(speedups.recent_tracker(tracker, 4).events) == tracker.applied_events()
