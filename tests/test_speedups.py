"""The server fixes of channels/speedups.py give Rasa's results and are installed once the project's
channels are imported: the cached action-response validation accepts and rejects what Rasa's own does, with
the same message; the remembered event classes are the ones Rasa's lookup finds; the kept session to the
action server sends what Rasa's own sends, over one connection, and is closed at stop; a call to the action
server carries Rasa's state with the current turn's events only (a deliberate change: the project's actions
read no earlier events, checked below). (RulePolicy's shorter read of the history: tests/test_rule_history.py.)"""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Tuple

import aiohttp
import pytest
import rasa.core.run
from aiohttp import web
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses
from rasa.utils.endpoints import EndpointConfig

import channels  # noqa: F401  (installs the speed-up)
from channels.speedups import (
    RASA_ACTION_CALL_FORMAT,
    RASA_ENDPOINT_SESSION,
    RASA_RESOLVE_EVENT_TYPE,
    RASA_VALIDATE_ACTION_RESULT,
    action_call_format,
    close_kept_sessions,
    close_resources,
    event_type_validators,
    kept_session,
    load_agent_on_start,
    resolve_event_type,
    surely_valid,
    validate_action_result,
)

from tests.conftest import PROJECT_ROOT

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
    {"events": [{"event": "slot", "name": "topic", "value": "causes", "timestamp": None},
                {"event": "bot", "text": "hi", "data": {"buttons": []}, "metadata": {}},
                {"event": "followup", "name": "action_listen"}, {"event": "restart"}],
     "responses": [{"text": "x", "buttons": [{"title": "t", "payload": "/p"}]}]},
    {"events": [{"event": "slot", "name": 3, "value": "x"}]},
    {"events": [{"event": "slot", "name": "topic", "value": "x", "timestamp": "yesterday"}]},
    {"events": [{"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet", "confidence": 1.0}}}]},
    {"events": [{"event": "user", "text": 5}]},
    {"events": [{"event": "followup"}]},
    {"events": [{"name": "topic"}]},
    {"events": [{"event": "slot", "name": "topic", "value": None}], "responses": "no"},
    {"events": ["not an object"]},
    [],
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


def test_each_event_is_checked_against_its_own_type_only() -> None:
    """The quick check knows each of Rasa's event types, finds typical responses valid by it, and finds
    nothing valid that Rasa's whole schema rejects."""
    assert event_type_validators() is not None
    assert surely_valid(RESULTS[8]) and surely_valid({})
    for result in RESULTS:
        if surely_valid(result):
            assert outcome(RASA_VALIDATE_ACTION_RESULT, result) is None


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


# -- the kept session to the action server ----------------------------------------------------------------

async def _requests_through(endpoint: EndpointConfig, count: int) -> List[Tuple[Any, Dict[str, Any]]]:
    """Send `count` requests through `endpoint` to a local server; each request's client address and
    what the server saw of it (headers, query)."""
    seen: List[Tuple[Any, Dict[str, Any]]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.transport.get_extra_info("peername"),
                     {"auth": request.headers.get("Authorization"), "x": request.headers.get("X-Test"),
                      "token": request.query.get("token"), "body": await request.json()}))
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        endpoint.url = f"http://127.0.0.1:{port}/webhook"
        for number in range(count):
            assert await endpoint.request(json={"n": number}, method="post") == {"events": [], "responses": []}
        await close_kept_sessions()
    finally:
        await runner.cleanup()
    return seen


def test_the_kept_session_is_installed() -> None:
    assert EndpointConfig.session is kept_session
    assert rasa.core.run.close_resources is close_resources


def test_what_is_loaded_at_start_is_frozen_out_of_garbage_collection(monkeypatch) -> None:
    """Rasa's loader runs with its arguments and its agent is returned; the objects alive then are frozen."""
    import gc

    import channels.speedups as speedups

    calls = []

    async def rasa_loader(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return "the agent"

    monkeypatch.setattr(speedups, "RASA_LOAD_AGENT_ON_START", rasa_loader)
    assert rasa.core.run.load_agent_on_start is load_agent_on_start
    gc.unfreeze()
    try:
        assert asyncio.run(load_agent_on_start("model.tar.gz", None, None, app="app", loop="loop")) == "the agent"
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    assert calls == [(("model.tar.gz", None, None), {"app": "app", "loop": "loop"})]


def test_requests_reuse_one_connection_with_rasas_headers_and_token() -> None:
    endpoint = EndpointConfig("http://unused", token="secret", headers={"X-Test": "yes"},
                              basic_auth={"username": "u", "password": "p"})
    seen = asyncio.run(_requests_through(endpoint, 3))
    assert len({address for address, _ in seen}) == 1  # one TCP connection for the three requests
    expected_auth = aiohttp.BasicAuth("u", "p").encode()
    assert [what for _, what in seen] == [
        {"auth": expected_auth, "x": "yes", "token": "secret", "body": {"n": n}} for n in range(3)]


def test_rasas_own_session_opens_a_connection_per_request() -> None:
    """The cost the kept session removes (and proof that the test above can tell the two apart)."""
    endpoint = EndpointConfig("http://unused")
    EndpointConfig.session = RASA_ENDPOINT_SESSION
    try:
        seen = asyncio.run(_requests_through(endpoint, 3))
    finally:
        EndpointConfig.session = kept_session
    assert len({address for address, _ in seen}) == 3


def test_kept_sessions_are_closed_at_stop() -> None:
    async def scenario() -> Tuple[bool, bool]:
        session = kept_session(EndpointConfig("http://127.0.0.1:9/webhook")).session
        await close_kept_sessions()
        fresh = kept_session(EndpointConfig("http://127.0.0.1:9/webhook")).session
        await close_resources(type("App", (), {"ctx": object()})(), asyncio.get_running_loop())
        return session.closed, fresh.closed

    assert asyncio.run(scenario()) == (True, True)


def conversation(turns: int) -> DialogueStateTracker:
    events: List[Event] = [ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")]
    for number in range(turns):
        events += [UserUttered(f"question {number}", {"name": "ask_relief", "confidence": 0.9}, input_channel="rest"),
                   ActionExecuted("action_answer"), SlotSet("topic", f"topic-{number}"), BotUttered(f"answer {number}"),
                   ActionExecuted("action_listen")]
    events += [UserUttered("the last question", {"name": "ask_causes", "confidence": 0.8}, input_channel="rest")]
    return DialogueStateTracker.from_events("someone", events)


def test_the_action_call_is_installed() -> None:
    assert RemoteAction._action_call_format is action_call_format


def test_the_action_call_carries_rasas_state_with_the_current_turn_only() -> None:
    action = RemoteAction("action_answer", EndpointConfig("http://127.0.0.1:1/webhook"))
    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    tracker = conversation(6)
    ours, rasas = action_call_format(action, tracker, domain), RASA_ACTION_CALL_FORMAT(action, tracker, domain)
    assert {key: value for key, value in ours.items() if key != "tracker"} == \
        {key: value for key, value in rasas.items() if key != "tracker"}
    events = ours["tracker"].pop("events")
    assert [event["event"] for event in events] == ["action", "user"]
    assert events == rasas["tracker"].pop("events")[-2:]
    assert ours["tracker"] == rasas["tracker"]  # the slots, the latest message, its channel: all Rasa's
    assert ours["tracker"]["latest_message"]["text"] == "the last question"
    assert ours["tracker"]["slots"]["topic"] == "topic-5"
    assert "question 0" not in str(ours)  # an earlier message is not sent again


def test_a_tracker_without_a_user_message_is_sent_whole() -> None:
    action = RemoteAction("action_answer", EndpointConfig("http://127.0.0.1:1/webhook"))
    domain = Domain.load(PROJECT_ROOT / "domain.yml")
    tracker = DialogueStateTracker.from_events("someone", [ActionExecuted("action_session_start"), SessionStarted()])
    assert action_call_format(action, tracker, domain) == RASA_ACTION_CALL_FORMAT(action, tracker, domain)


def test_the_projects_actions_read_no_earlier_events() -> None:
    """What makes sending the current turn only safe: no action reads the tracker's event history."""
    sources = {path.name: path.read_text() for path in (PROJECT_ROOT / "actions").glob("*.py")}
    assert len(sources) > 5
    for name, source in sources.items():
        for reader in ("tracker.events", "get_last_event_for", "events_after_latest_restart", "applied_events"):
            assert reader not in source, f"actions/{name} reads {reader}: send it the whole tracker again"
