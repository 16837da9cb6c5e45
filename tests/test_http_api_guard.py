"""Unit tests of the HTTP API's body checks (channels/http_api.py); the server tests are in test_bad_input."""
from __future__ import annotations

import pytest

from channels.http_api import body_problem

ACTIONS = ["action_listen", "action_answer"]


@pytest.mark.parametrize(
    "path, raw, wrong",
    [
        ("/model/parse", b'{"text": "hi"}', False),
        ("/model/parse", b"{bad", True),
        ("/model/parse", b"", True),
        ("/model/parse", b'{"text": ""}', True),
        ("/model/parse", b'{"text": 3}', True),
        ("/conversations/a%2Fb/messages", b'{"text": "hi", "sender": "user"}', False),
        ("/conversations/x/messages", b'["hi"]', True),
        ("/conversations/x/execute", b'{"name": "action_answer"}', False),
        ("/conversations/x/execute", b'{"name": "action_rm_rf"}', True),
        ("/conversations/x/trigger_intent", b'{"name": "greet"}', False),
        ("/conversations/x/trigger_intent", b'{"name": null}', True),
        ("/webhooks/rest/webhook", b"{bad", False),  # channels check their own bodies
        ("/status", b"", False),
    ],
)
def test_body_problem(path: str, raw: bytes, wrong: bool) -> None:
    problem = body_problem(path, raw, actions=ACTIONS)
    assert bool(problem) is wrong, problem
