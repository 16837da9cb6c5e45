"""Fixes for the Rasa server's hottest spots, applied when the project's channels are loaded.

Each was found by profiling the Rasa server under load (py-spy, docs/benchmarks.md); each gives exactly
Rasa's results, only without repeating work whose answer never changes.

- Rasa 3.6 checks every action-server response against its JSON schema with `jsonschema.validate`, which
  first re-checks the (large) events schema itself against the JSON-Schema meta-schema on every call: about
  half of the server's CPU time per message. The schema is now checked once and one validator is reused;
  invalid responses raise the same ValidationError with the same message. Each event is then checked
  against the one alternative of the schema's `oneOf` that names its `event` type, instead of against
  all 23 (0.8 ms a message); a response this check does not find valid goes through the whole schema, so
  the verdicts and messages stay Rasa's.
- `Event.resolve_by_type` finds an event's class by walking all subclasses of `Event` (with an
  `inspect.isabstract` check each) for every event it reads: each tracker load from the tracker store and
  each action response. That was 8% of the CPU time per message. Classes found are now remembered by
  type name; a name not seen yet still goes through Rasa's own lookup (so unknown names fail as before).
- The processor runs its prediction graphs with `channels.graph_runner.SequentialGraphRunner` instead of
  dask's scheduler (see that module).
- `EndpointConfig.request` (every call to the action server) opens a new aiohttp session, with a new
  connection pool and TCP connection, and closes them again after the one request. The session is now
  kept (one per endpoint and event loop, built with Rasa's headers, auth and timeout) and its connection
  reused: 4-5 ms less per message at concurrency 1 (docs/benchmarks.md). Idle connections are dropped
  after `KEEP_ALIVE_S`, below Sanic's 5 s on the action server, so the client never reuses one the server
  is closing. The kept sessions are closed with Rasa's own resources when the server stops.
- `RulePolicy` turns the whole conversation into states (replaying every event) three times a message,
  although a rule can only match the last few: `_get_possible_keys` counts every rule applicable once it
  is further back than the rule is long. So a message late in a conversation cost more than an early one
  (1.75 against 0.9 ms a prediction at the 10th message). The policy now reads the events of the last
  `longest rule + 2` actions only, walking back from the end, as Rasa's `_trim_tracker_by_max_history`
  cuts a tracker for AugmentedMemoizationPolicy (which itself reads the whole history first). The same rules
  match. Only where no state can depend on an event before the cut: the domain has no forms and no slot
  that influences the conversation, and no undo or loop event stands in the stretch read; otherwise the
  whole history, as Rasa does.
- `RemoteAction` sends the action server the whole conversation (`current_state(EventVerbosity.ALL)`)
  with every call, so the JSON both ways grew with each message (0.06 ms to write at the 1st message,
  0.55 ms at the 10th, and as much to read on the other side). The project's one action reads the latest
  message and the slots, which the state holds apart from its events. The call now carries the events of
  the current turn only (from the `action_listen` before the latest user message on): the same state
  otherwise, a constant cost, and less of what a patient wrote earlier sent over the wire. A tracker
  without a user message yet sends its whole history, as Rasa does.
- Once the model is loaded (Rasa's `load_agent_on_start`), the server holds about 530,000 objects
  (TensorFlow, spaCy, the model), and every full garbage collection scans them all: 300-380 ms during which
  the server answers no one (measured with gc.callbacks). Python runs one rarely once the server is up (none
  in 1,200 sequential messages; nine while the model loads), but a server that runs for days meets them. The
  objects loaded by then are frozen out of the collector's scans (`gc.freeze`, after one collection), so a
  full collection then takes a few milliseconds; what is made later is collected as before.
"""
from __future__ import annotations

import asyncio
import copy
import functools
import gc
import logging
from typing import Any, Dict, List, Optional, Text, Tuple, Type

import aiohttp
import jsonschema
import rasa.core.processor
import rasa.core.run
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig
from rasa.core.actions.action import RemoteAction
from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.constants import DOCS_BASE_URL
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, Event, Restarted, SessionStarted,
                                     UserUttered, UserUtteranceReverted)

from channels.graph_runner import SequentialGraphRunner

logger = logging.getLogger(__name__)
RASA_VALIDATE_ACTION_RESULT = RemoteAction._validate_action_result  # Rasa's own, kept for the tests
RASA_RESOLVE_EVENT_TYPE = Event.resolve_by_type  # Rasa's own, used for names not seen yet
RASA_ENDPOINT_SESSION = EndpointConfig.session  # Rasa's own: a new session for every request
RASA_CLOSE_RESOURCES = rasa.core.run.close_resources
RASA_LOAD_AGENT_ON_START = rasa.core.run.load_agent_on_start  # Rasa's own: loads the model at start
RASA_ACTION_CALL_FORMAT = RemoteAction._action_call_format  # Rasa's own: the whole history in every call
RASA_RULE_PREDICTION_STATES = RulePolicy._prediction_states  # Rasa's own: states of the whole history
# Actions kept beyond the longest rule: the first state after the cut has no action before it (it reads as a
# conversation start) and the next may lack its user message; rules never look further back than their length.
RULE_STATES_MARGIN = 2
KEEP_ALIVE_S = 2.0  # below Sanic's KEEP_ALIVE_TIMEOUT (5 s), which the action server (rasa-sdk) uses
_event_classes: Dict[Text, Type[Event]] = {}
_kept_sessions: Dict[Tuple[int, int], aiohttp.ClientSession] = {}


@functools.lru_cache(maxsize=1)
def action_response_validator() -> Any:
    """One validator for Rasa's action-response schema, the schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


@functools.lru_cache(maxsize=1)
def event_type_validators() -> Optional[Tuple[Any, Dict[Text, Any]]]:
    """(a validator of the response with any event object accepted, a validator per event type), when each
    alternative of the events' `oneOf` names an `event` constant of its own (so that an event can match
    no alternative but its own); else None."""
    schema = RemoteAction.action_response_format_spec()
    items = schema.get("properties", {}).get("events", {}).get("items", {})
    alternatives = items.get("oneOf") or []
    types = [a.get("properties", {}).get("event", {}).get("const") for a in alternatives]
    if not alternatives or None in types or len(set(types)) != len(types):
        return None
    common = {key: value for key, value in items.items() if key != "oneOf"}
    outer = copy.deepcopy(schema)
    outer["properties"]["events"]["items"] = common
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(outer), {t: validator_class({"allOf": [common, a]}) for t, a in zip(types, alternatives)}


def surely_valid(result: Any) -> bool:
    """Whether the response is valid by the per-event-type check (False: not known, check it whole)."""
    validators = event_type_validators()
    if validators is None:
        return False
    outer, by_type = validators
    if not outer.is_valid(result):
        return False
    for event in result.get("events") or ():
        validator = by_type.get(event.get("event"))
        if validator is None or not validator.is_valid(event):
            return False
    return True


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """Rasa's RemoteAction._validate_action_result, with the validators built once."""
    if surely_valid(result):
        return True
    error = jsonschema.exceptions.best_match(action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def resolve_event_type(type_name: Text, default: Optional[Type[Event]] = None) -> Optional[Type[Event]]:
    """Rasa's Event.resolve_by_type, remembering the classes it found."""
    event_class = _event_classes.get(type_name)
    if event_class is None:
        event_class = RASA_RESOLVE_EVENT_TYPE(type_name, default)
        if event_class is not None and getattr(event_class, "type_name", None) == type_name:
            _event_classes[type_name] = event_class  # found, not a fallback to `default`
    return event_class


class _KeptSession:
    """`async with` over a kept session, which leaves it open (Rasa's `request` closes its own)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *_exc: Any) -> None:
        return None


def kept_session(self: EndpointConfig) -> _KeptSession:
    """Rasa's EndpointConfig.session (the same headers, auth and timeout), kept for the endpoint's next
    requests on this event loop."""
    key = (id(asyncio.get_running_loop()), id(self))
    session = _kept_sessions.get(key)
    if session is None or session.closed:
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        session = aiohttp.ClientSession(
            headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_S),
        )
        _kept_sessions[key] = session
    return _KeptSession(session)


async def close_kept_sessions() -> None:
    """Close the sessions kept on the running event loop."""
    loop_id = id(asyncio.get_running_loop())
    for key in [key for key in _kept_sessions if key[0] == loop_id]:
        await _kept_sessions.pop(key).close()


async def load_agent_on_start(*args: Any, **kwargs: Any) -> Any:
    """Rasa's load_agent_on_start, then what is loaded frozen out of the garbage collector's full scans."""
    agent = await RASA_LOAD_AGENT_ON_START(*args, **kwargs)
    gc.collect()
    gc.freeze()
    logger.debug("%d objects loaded at start are left out of garbage collection scans", gc.get_freeze_count())
    return agent


async def close_resources(app: Any, loop: Any) -> None:
    """Rasa's close_resources (at server stop), then the kept sessions."""
    try:
        await RASA_CLOSE_RESOURCES(app, loop)
    finally:
        await close_kept_sessions()


def longest_rule(policy: RulePolicy) -> int:
    """The number of states in the policy's longest rule (0 if it has none), computed once per policy."""
    cached = policy.__dict__.get("_pf_longest_rule")
    if cached is None:
        keys = [key for part in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH) for key in policy.lookup.get(part, {})]
        cached = max((len(policy._rule_key_to_state(key)) for key in keys), default=0)
        policy.__dict__["_pf_longest_rule"] = cached
    return cached


def history_matters(domain: Domain) -> bool:
    """Whether a state can depend on an event long before it: a form, or a slot that influences the
    conversation."""
    return bool(domain.form_names) or any(slot.influence_conversation for slot in domain.slots)


def recent_tracker(tracker: DialogueStateTracker, actions: int) -> Optional[DialogueStateTracker]:
    """A tracker of the applied events from the `action_listen` with more than `actions` actions after it
    (or from the latest restart or session start, if that is nearer), read from the end; None where an undo
    or loop event stands in that stretch (Rasa's `applied_events` would then rewrite it)."""
    tail: List[Event] = []
    count = 0
    for event in reversed(tracker.events):
        if isinstance(event, (Restarted, SessionStarted)):
            break
        if isinstance(event, (ActionReverted, UserUtteranceReverted, ActiveLoop)):
            return None
        tail.append(event)
        if isinstance(event, ActionExecuted):
            count += 1
            if count > actions and event.action_name == ACTION_LISTEN_NAME:
                break
    recent = tracker.init_copy()
    for event in reversed(tail):
        recent.update(event)
    return recent


def rule_prediction_states(
    self: RulePolicy,
    tracker: DialogueStateTracker,
    domain: Domain,
    use_text_for_last_user_input: bool = False,
    rule_only_data: Optional[Dict[Text, Any]] = None,
) -> List[Dict[Text, Any]]:
    """Rasa's Policy._prediction_states for RulePolicy, on the last actions only where that is exact."""
    if not (tracker.active_loop_name or history_matters(domain)):
        tracker = recent_tracker(tracker, longest_rule(self) + RULE_STATES_MARGIN) or tracker
    return RASA_RULE_PREDICTION_STATES(self, tracker, domain, use_text_for_last_user_input, rule_only_data)


def current_turn(tracker: DialogueStateTracker) -> Optional[List[Event]]:
    """The events from the `action_listen` before the latest user message on; None without a user message.
    Read from the end, so the cost does not grow with the conversation."""
    turn: List[Event] = []
    walk = reversed(tracker.events)
    for event in walk:
        turn.append(event)
        if isinstance(event, UserUttered):
            before = next(walk, None)
            if isinstance(before, ActionExecuted) and before.action_name == ACTION_LISTEN_NAME:
                turn.append(before)
            return turn[::-1]
    return None


class _CurrentTurnOnly:
    """The tracker as Rasa's `_action_call_format` reads it, its state holding the current turn's events."""

    def __init__(self, tracker: DialogueStateTracker, events: List[Event]) -> None:
        self._tracker = tracker
        self._events = events

    def current_state(self, event_verbosity: EventVerbosity = EventVerbosity.NONE) -> Dict[Text, Any]:
        """Rasa's state without events (Rasa's call asks for all of them), then the current turn's."""
        state = self._tracker.current_state(EventVerbosity.NONE)
        state["events"] = [event.as_dict() for event in self._events]
        return state

    def __getattr__(self, name: Text) -> Any:
        return getattr(self._tracker, name)


def action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> Dict[Text, Any]:
    """Rasa's RemoteAction._action_call_format, with the events of the current turn only."""
    events = current_turn(tracker)
    if events is None:
        return RASA_ACTION_CALL_FORMAT(self, tracker, domain)
    return RASA_ACTION_CALL_FORMAT(self, _CurrentTurnOnly(tracker, events), domain)  # type: ignore[arg-type]


def apply() -> None:
    """Install the fixes (idempotent)."""
    if RemoteAction._validate_action_result is not validate_action_result:
        RemoteAction._validate_action_result = validate_action_result
        logger.debug("Action-server responses are validated with a cached JSON-schema validator")
    if Event.__dict__["resolve_by_type"].__func__ is not resolve_event_type:
        Event.resolve_by_type = staticmethod(resolve_event_type)
        logger.debug("Event classes are looked up by type name once")
    if rasa.core.processor.DaskGraphRunner is DaskGraphRunner:
        # The name the processor loads models with (MessageProcessor._load_model); training keeps dask.
        rasa.core.processor.DaskGraphRunner = SequentialGraphRunner
        logger.debug("Prediction graphs run without dask's scheduler")
    if EndpointConfig.session is not kept_session:
        EndpointConfig.session = kept_session
        # run.serve_application looks the listener up when it registers it, after the channels are loaded
        rasa.core.run.close_resources = close_resources
        logger.debug("Endpoint sessions (the action server's) are kept between requests")
    if RulePolicy._prediction_states is not rule_prediction_states:
        RulePolicy._prediction_states = rule_prediction_states
        logger.debug("RulePolicy reads the last actions of a conversation, not the whole history")
    if rasa.core.run.load_agent_on_start is not load_agent_on_start:
        # looked up by run.serve_application when it registers the listener, after the channels are loaded
        rasa.core.run.load_agent_on_start = load_agent_on_start
        logger.debug("What the server loads at start is frozen out of garbage collection scans")
    if RemoteAction._action_call_format is not action_call_format:
        RemoteAction._action_call_format = action_call_format
        logger.debug("The action server is sent the current turn's events, not the whole conversation")

