"""A fix for the Rasa server's hottest spot, applied when the project's channels are loaded.

Rasa 3.6 checks every action-server response against its JSON schema with `jsonschema.validate`, which
first re-checks the (large) events schema itself against the JSON-Schema meta-schema on every call.
Profiled under load (py-spy, docs/benchmarks.md) that was about half of the Rasa server's CPU time per
message. The schema never changes, so it is checked once and one validator is reused; responses are
validated exactly as before, and invalid ones raise the same ValidationError with the same message.
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Dict, Text

import jsonschema
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

logger = logging.getLogger(__name__)
RASA_VALIDATE_ACTION_RESULT = RemoteAction._validate_action_result  # Rasa's own, kept for the tests


@functools.lru_cache(maxsize=1)
def action_response_validator() -> Any:
    """One validator for Rasa's action-response schema, the schema checked once."""
    schema = RemoteAction.action_response_format_spec()
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    """Rasa's RemoteAction._validate_action_result, with the validator built once."""
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


def apply() -> None:
    """Install the cached validation (idempotent)."""
    if RemoteAction._validate_action_result is not validate_action_result:
        RemoteAction._validate_action_result = validate_action_result
        logger.debug("Action-server responses are validated with a cached JSON-schema validator")

