"""Reading the project's content files (data/): one place that turns every failure into an error that
names the file, so a malformed file stops the action server at start instead of failing on a patient."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


class KnowledgeError(ValueError):
    """A content file is missing or malformed; the message names the file and the problem."""


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning every failure into a KnowledgeError that names the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file not found") from None
    except OSError as error:
        raise KnowledgeError(f"{path}: cannot be read ({error})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KnowledgeError(f"{path}: is not valid YAML ({error})") from None


def string_list(value: Any, where: str) -> tuple:
    """A list of non-empty strings from a content file (YAML turns a bare `no` into False: quote it)."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise KnowledgeError(f"{where}: expected a non-empty list of non-empty strings (quote YAML words like \"no\")")
    return tuple(v.strip().lower() for v in value)
