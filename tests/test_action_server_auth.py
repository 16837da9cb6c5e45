"""The action server answers only the Rasa server: calls without the shared token get 401
(actions/__main__.py). That the Rasa server's own calls carry it is shown by every end-to-end answer."""
from __future__ import annotations

import pytest
import requests

from actions.__main__ import authorised

ACTION_CALL = {"next_action": "action_answer", "sender_id": "intruder", "tracker": {"sender_id": "intruder"}}


@pytest.mark.parametrize(
    "header, expected",
    [
        ("Bearer s3cret", True),
        ("bearer s3cret", True),
        ("Bearer wrong", False),
        ("Bearer ", False),
        ("s3cret", False),
        ("Basic s3cret", False),
        (None, False),
    ],
)
def test_authorised_needs_the_bearer_token(header, expected: bool) -> None:
    assert authorised(header, "s3cret") is expected


@pytest.mark.e2e
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}], ids=["no token", "wrong token"])
def test_action_calls_without_the_token_are_refused(bot, headers) -> None:
    assert requests.post(f"{bot.action_url}/webhook", json=ACTION_CALL, headers=headers, timeout=10).status_code == 401
    assert requests.get(f"{bot.action_url}/actions", headers=headers, timeout=10).status_code == 401


@pytest.mark.e2e
def test_health_is_open_and_the_token_lets_the_caller_in(bot) -> None:
    assert requests.get(f"{bot.action_url}/health", timeout=10).ok
    listed = requests.get(f"{bot.action_url}/actions", headers={"Authorization": f"Bearer {bot.action_token}"}, timeout=10)
    assert listed.status_code == 200 and {"name": "action_answer"} in listed.json()
