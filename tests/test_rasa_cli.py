"""Rasa's own checks: the training data validates, and the test stories pass."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OUTPUT_DIR, PROJECT_ROOT

pytestmark = pytest.mark.rasa_cli

RASA = str(Path(sys.executable).parent / "rasa")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", RASA_TELEMETRY_ENABLED="false")


def run_rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RASA, *args], cwd=PROJECT_ROOT, env=ENV, capture_output=True, text=True, timeout=600)


def test_training_data_validates_without_warnings() -> None:
    result = run_rasa("data", "validate", "--fail-on-warnings")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


def test_conversation_stories_pass(trained_model: Path) -> None:
    out = OUTPUT_DIR / "core"
    result = run_rasa(
        "test", "core", "--model", str(trained_model), "--stories", "tests/stories",
        "--out", str(out), "--fail-on-prediction-errors",
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
