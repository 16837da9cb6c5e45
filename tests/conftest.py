"""Shared fixtures: rasa-sdk trackers and dispatchers for action tests, paths to the trained model."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MODEL_PATH = Path(os.environ.get("MODEL", PROJECT_ROOT / "models" / "plantar-bot.tar.gz"))
if not MODEL_PATH.is_absolute():
    MODEL_PATH = PROJECT_ROOT / MODEL_PATH


def make_tracker(
    intent: Optional[str],
    text: str = "",
    slots: Optional[Dict[str, Any]] = None,
    entities: Optional[List[Dict[str, Any]]] = None,
    confidence: float = 0.95,
    ranking: Optional[List[Tuple[str, float]]] = None,
) -> Tracker:
    """A tracker whose latest user message has this intent (and `ranking`, the classifier's other
    intents, after it), as the Rasa server would send it."""
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": confidence} if intent else {},
        "entities": entities or [],
    }
    if ranking is not None:
        latest["intent_ranking"] = [{"name": intent, "confidence": confidence}] * bool(intent) + [
            {"name": name, "confidence": p} for name, p in ranking]
    return Tracker(
        sender_id="test-user",
        slots=slots or {},
        latest_message=latest,
        events=[{"event": "user", "text": text, "parse_data": latest}],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture(scope="session")
def trained_model() -> Path:
    """The model `make test` trains; tests that need it fail with a clear message when it is missing."""
    if not MODEL_PATH.exists():
        pytest.fail(f"No trained model at {MODEL_PATH}: run `make test` (it trains first) or `make train`.")
    return MODEL_PATH


OUTPUT_DIR = PROJECT_ROOT / "tests" / "output"


@pytest.fixture(scope="session")
def bot(trained_model: Path):
    """The action server and the Rasa server, started once for the whole test session."""
    from tests.servers import running_bot

    with running_bot(trained_model, OUTPUT_DIR / "e2e") as server:
        yield server


_FIGURES: List[str] = []


@pytest.fixture(scope="session")
def figures() -> List[str]:
    """Measured figures (accuracy, ...) that the run prints at the end, pass or fail."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if _FIGURES:
        terminalreporter.section("measured")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def reader():
    """The action server's message reader (the project's spaCy pipeline), loaded once."""
    from actions.understanding import Reader

    return Reader.load()
