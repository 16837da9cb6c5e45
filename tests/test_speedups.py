"""The cached action-response validation (channels/speedups.py) accepts and rejects exactly what Rasa's own
does, with the same message, and is installed once the project's channels are imported."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

import channels  # noqa: F401  (installs the speed-up)
from channels.speedups import RASA_VALIDATE_ACTION_RESULT, validate_action_result

RESULTS = [
    {"events": [{"event": "slot", "name": "topic", "value": "causes"}], "responses": [{"text": "hi"}]},
    {"events": [], "responses": []},
    {},
    {"events": [{"event": "slot", "name": "topic", "value": "x", "timestamp": None}]},
    {"events": "not a list"},
    {"events": [{"event": "no_such_event"}]},
    {"responses": ["not an object"]},
    {"events": [{"event": "slot"}]},
]


def outcome(validate, result: Dict[str, Any]) -> Optional[str]:
    try:
        validate(RemoteAction, result)  # Rasa's reads the schema from self (a static method)
        return None
    except ValidationError as error:
        return error.message


def test_the_speed_up_is_installed() -> None:
    assert RemoteAction._validate_action_result is validate_action_result


@pytest.mark.parametrize("result", RESULTS)
def test_same_verdict_and_message_as_rasa(result: Dict[str, Any]) -> None:
    assert outcome(validate_action_result, result) == outcome(RASA_VALIDATE_ACTION_RESULT, result)


def test_invalid_results_are_still_rejected() -> None:
    assert outcome(validate_action_result, {"events": "not a list"}) is not None
