"""The safety policy: how every health answer is finished (source line and disclaimer).

Wording lives in data/safety/policy.yml; this module is the one place that decides what is appended to a
health answer, so no answer path can word the disclaimer differently or forget it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from actions.knowledge import DATA_DIR, KnowledgeError, lemma_doc, lemma_matcher, load_lemmatizer, read_yaml

if TYPE_CHECKING:
    from spacy.language import Language

logger = logging.getLogger(__name__)

POLICY_FILE = DATA_DIR / "safety" / "policy.yml"


@dataclass(frozen=True)
class SafetyPolicy:
    """The wording of everything the safety policy adds to an answer (data/safety/policy.yml)."""

    full_disclaimer: str
    short_disclaimer: str
    source_line: str
    red_flag_text: str
    caution_text: str
    caution_names: Dict[str, str]
    caution_topics: Tuple[str, ...]
    no_diagnosis_text: str
    diagnosis_triggers: Tuple[str, ...]

    @classmethod
    def load(cls, policy_file: Path = POLICY_FILE) -> "SafetyPolicy":
        """Load and validate the policy's wording."""
        data = read_yaml(policy_file)
        if not isinstance(data, dict) or not isinstance(data.get("disclaimer"), dict):
            raise KnowledgeError(f"{policy_file}: expected a mapping under 'disclaimer'")
        caution = data.get("caution") if isinstance(data.get("caution"), dict) else {}
        no_diagnosis = data.get("no_diagnosis") if isinstance(data.get("no_diagnosis"), dict) else {}
        texts = {
            "full": data["disclaimer"].get("full"),
            "short": data["disclaimer"].get("short"),
            "source_line": data.get("source_line"),
            "red_flag": data.get("red_flag"),
            "caution.text": caution.get("text"),
            "no_diagnosis.text": no_diagnosis.get("text"),
        }
        for key, value in texts.items():
            if not isinstance(value, str) or not value.strip():
                raise KnowledgeError(f"{policy_file}: '{key}' is missing or empty")
        for key, placeholder in (("source_line", "{heading}"), ("red_flag", "{signs}"), ("caution.text", "{conditions}")):
            if placeholder not in texts[key]:
                raise KnowledgeError(f"{policy_file}: '{key}' must contain {placeholder}")
        names = caution.get("names")
        if not isinstance(names, dict) or not all(isinstance(v, str) and v for v in names.values()):
            raise KnowledgeError(f"{policy_file}: 'caution.names' must map each condition to its name")
        triggers = no_diagnosis.get("triggers")
        if not isinstance(triggers, list) or not all(isinstance(t, str) and t.strip() for t in triggers):
            raise KnowledgeError(f"{policy_file}: 'no_diagnosis.triggers' must be a list of phrases")

        def fold(text: str) -> str:
            return " ".join(text.split())

        return cls(
            full_disclaimer=fold(texts["full"]),
            short_disclaimer=fold(texts["short"]),
            source_line=texts["source_line"].strip(),
            red_flag_text=fold(texts["red_flag"]),
            caution_text=fold(texts["caution.text"]),
            caution_names={str(k): v for k, v in names.items()},
            caution_topics=tuple(str(t) for t in caution.get("topics") or ()),
            no_diagnosis_text=fold(texts["no_diagnosis.text"]),
            diagnosis_triggers=tuple(fold(t.lower()) for t in triggers),
        )

    def disclaimer(self, first_in_conversation: bool) -> str:
        """The full text on the first health answer of a conversation, the short one afterwards."""
        return self.full_disclaimer if first_in_conversation else self.short_disclaimer

    def red_flag_notice(self, descriptions: Sequence[str]) -> str:
        """The advice to seek care promptly, naming the signs that were found."""
        return self.red_flag_text.format(signs="; ".join(descriptions))

    def caution_notice(self, conditions: Iterable[str]) -> Optional[str]:
        """The caution for the conditions mentioned, or None if none of them needs one."""
        names = [self.caution_names[c] for c in dict.fromkeys(conditions) if c in self.caution_names]
        if not names:
            return None
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return self.caution_text.format(conditions=listed)

    def asks_for_diagnosis(self, text: Optional[str]) -> bool:
        """Whether the user asks the bot to tell them what they have (the bot cannot diagnose)."""
        folded = " " + " ".join((text or "").lower().replace("?", " ").split())
        return any(f" {trigger}" in folded for trigger in self.diagnosis_triggers)

    def finish_health_answer(
        self, parts: Iterable[tuple], first_in_conversation: bool, notices: Sequence[str] = ()
    ) -> str:
        """Safety notices first, then each (body, heading) part with its source line, then the disclaimer."""
        blocks = [notice.strip() for notice in notices]
        has_part = False
        for body, heading in parts:
            has_part = True
            blocks.append(body.strip())
            blocks.append(self.source_line.format(heading=heading))
        if not has_part:
            raise ValueError("a health answer needs at least one part")
        blocks.append(self.disclaimer(first_in_conversation))
        return "\n\n".join(blocks)


RED_FLAGS_FILE = DATA_DIR / "safety" / "red_flags.yml"


@dataclass(frozen=True)
class RedFlagSign:
    """One sign that needs prompt care: any single phrase, or one phrase from every group of a combination."""

    id: str
    description: str
    any_phrases: Tuple[str, ...]
    together: Tuple[Tuple[Tuple[str, ...], ...], ...]


class RedFlagDetector:
    """Finds signs that need prompt medical care in a message, wherever in the message they stand.

    Phrases come from data/safety/red_flags.yml and are matched on lemmas, so "my toes went numb" and
    "numbness in my toes" are both caught; a phrase negated in its own clause ("no numbness, just heel
    pain") is not.
    """

    def __init__(self, signs: Sequence[RedFlagSign], negation_words: Set[str], window: int,
                 clause_breaks: Set[str], nlp: Optional["Language"] = None) -> None:
        self.signs = {sign.id: sign for sign in signs}
        self.negation_words = negation_words
        self.window = window
        self.clause_breaks = clause_breaks
        self.nlp = nlp or load_lemmatizer()
        phrases: Dict[str, Iterable[str]] = {}
        for sign in signs:
            phrases[f"{sign.id}|any"] = sign.any_phrases
            for c, groups in enumerate(sign.together):
                for g, group in enumerate(groups):
                    phrases[f"{sign.id}|together|{c}|{g}"] = group
        self.matcher = lemma_matcher(self.nlp, phrases)

    @classmethod
    def load(cls, path: Path = RED_FLAGS_FILE, nlp: Optional["Language"] = None) -> "RedFlagDetector":
        """Load and validate the signs."""
        data = read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("signs"), dict) or not data["signs"]:
            raise KnowledgeError(f"{path}: expected a non-empty mapping under 'signs'")
        negation = data.get("negation") or {}
        words = negation.get("words") or ()
        if not all(isinstance(w, str) for w in words):
            raise KnowledgeError(f"{path}: negation.words must all be strings (quote YAML words like \"no\")")
        signs = []
        for sign_id, entry in data["signs"].items():
            if not isinstance(entry, dict) or not entry.get("description"):
                raise KnowledgeError(f"{path}: sign '{sign_id}' needs a description")
            any_phrases = tuple(str(p) for p in entry.get("any") or ())
            together = tuple(
                tuple(tuple(str(p) for p in group) for group in combination)
                for combination in entry.get("together") or ()
            )
            if not any_phrases and not together:
                raise KnowledgeError(f"{path}: sign '{sign_id}' has no phrases ('any' or 'together')")
            if any(len(c) < 2 or not all(c) for c in together):
                raise KnowledgeError(f"{path}: sign '{sign_id}': each 'together' entry needs two or more non-empty groups")
            signs.append(RedFlagSign(sign_id, str(entry["description"]), any_phrases, together))
        return cls(
            signs,
            negation_words={str(w).lower() for w in negation.get("words") or ()},
            window=int(negation.get("window", 4)),
            clause_breaks={str(w).lower() for w in negation.get("clause_breaks") or ()},
            nlp=nlp,
        )

    def _negated(self, doc, start: int) -> bool:
        """Whether a negation word stands shortly before `start` in the same clause."""
        for i in range(start - 1, max(start - 1 - self.window, -1), -1):
            token = doc[i]
            if token.lower_ in self.clause_breaks:
                return False
            if token.lower_ in self.negation_words or token.lemma_.lower() in self.negation_words:
                return True
        return False

    def detect(self, text: Optional[str]) -> List[str]:
        """The ids of the signs in the message, in the order of data/safety/red_flags.yml."""
        if not text or not text.strip():
            return []
        doc = lemma_doc(self.nlp, text)
        found: Set[str] = set()
        for match_id, start, _end in self.matcher(doc):
            if not self._negated(doc, start):
                found.add(self.nlp.vocab.strings[match_id])
        hits = []
        for sign in self.signs.values():
            if f"{sign.id}|any" in found or any(
                all(f"{sign.id}|together|{c}|{g}" in found for g in range(len(groups)))
                for c, groups in enumerate(sign.together)
            ):
                hits.append(sign.id)
        return hits
