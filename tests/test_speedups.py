"""The server fixes of channels/speedups.py give exactly Rasa's results and are installed once the project's
channels are imported: the cached action-response validation accepts and rejects what Rasa's own does, with
the same message; the remembered event classes are the ones Rasa's lookup finds."""
from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.utils.common import all_subclasses

import channels  # noqa: F401  (installs the speed-up)
from channels.speedups import (
    RASA_RESOLVE_EVENT_TYPE,
    RASA_VALIDATE_ACTION_RESULT,
    resolve_event_type,
    validate_action_result,
)

EVENT_TYPE_NAMES = sorted({cls.type_name for cls in all_subclasses(Event)})

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


def test_event_lookup_is_installed() -> None:
    assert Event.resolve_by_type("user") is UserUttered
    assert Event.__dict__["resolve_by_type"].__func__ is resolve_event_type


@pytest.mark.parametrize("type_name", EVENT_TYPE_NAMES)
def test_same_event_class_as_rasa_twice(type_name: str) -> None:
    expected = RASA_RESOLVE_EVENT_TYPE(type_name)
    assert resolve_event_type(type_name) is expected
    assert resolve_event_type(type_name) is expected  # the remembered answer


def test_unknown_event_names_fail_or_default_as_in_rasa() -> None:
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        resolve_event_type("no_such_event")
    assert resolve_event_type("no_such_event", UserUttered) is UserUttered
    with pytest.raises(ValueError):  # the default was not remembered for the name
        resolve_event_type("no_such_event")
    assert resolve_event_type("topic") is None  # Rasa's backwards compatibility for old TopicSet events


def test_events_read_back_as_rasa_reads_them() -> None:
    serialised = [
        {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet", "confidence": 1.0}}},
        {"event": "action", "name": "action_listen"},
        {"event": "slot", "name": "topic", "value": "causes"},
        {"event": "bot", "text": "hello"},
        {"event": "session_started"},
    ]
    events = [Event.from_parameters(data) for data in serialised]
    assert [type(event).__name__ for event in events] == [
        "UserUttered", "ActionExecuted", "SlotSet", "BotUttered", "SessionStarted"]
    assert [event.as_dict()["event"] for event in events] == [data["event"] for data in serialised]
