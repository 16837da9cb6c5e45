"""The safety policy: how every health answer is finished (source line and disclaimer).

Wording lives in data/safety/policy.yml; this module is the one place that decides what is appended to a
health answer, so no answer path can word the disclaimer differently or forget it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from actions.knowledge import DATA_DIR, KnowledgeError, read_yaml

logger = logging.getLogger(__name__)

POLICY_FILE = DATA_DIR / "safety" / "policy.yml"


@dataclass(frozen=True)
class SafetyPolicy:
    """The disclaimer texts and the source-line template."""

    full_disclaimer: str
    short_disclaimer: str
    source_line: str

    @classmethod
    def load(cls, policy_file: Path = POLICY_FILE) -> "SafetyPolicy":
        """Load and validate the policy's wording."""
        data = read_yaml(policy_file)
        if not isinstance(data, dict) or not isinstance(data.get("disclaimer"), dict):
            raise KnowledgeError(f"{policy_file}: expected a mapping under 'disclaimer'")
        texts = {key: data["disclaimer"].get(key) for key in ("full", "short")}
        texts["source_line"] = data.get("source_line")
        for key, value in texts.items():
            if not isinstance(value, str) or not value.strip():
                raise KnowledgeError(f"{policy_file}: '{key}' is missing or empty")
        if "{heading}" not in texts["source_line"]:
            raise KnowledgeError(f"{policy_file}: 'source_line' must contain {{heading}}")
        return cls(
            full_disclaimer=" ".join(texts["full"].split()),
            short_disclaimer=" ".join(texts["short"].split()),
            source_line=texts["source_line"].strip(),
        )

    def disclaimer(self, first_in_conversation: bool) -> str:
        """The full text on the first health answer of a conversation, the short one afterwards."""
        return self.full_disclaimer if first_in_conversation else self.short_disclaimer

    def finish_health_answer(self, parts: Iterable[tuple], first_in_conversation: bool) -> str:
        """Join (body, heading) parts, each followed by its source line, and end with the disclaimer."""
        blocks = []
        for body, heading in parts:
            blocks.append(body.strip())
            blocks.append(self.source_line.format(heading=heading))
        if not blocks:
            raise ValueError("a health answer needs at least one part")
        blocks.append(self.disclaimer(first_in_conversation))
        return "\n\n".join(blocks)
