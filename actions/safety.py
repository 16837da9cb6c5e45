"""The safety policy: triage of signs that need prompt care, and how every health answer is finished.

Wording lives in data/safety/policy.yml and the signs in data/safety/red_flags.yml; this module is the one
place that decides what is said before and after a health answer (red-flag advice, cautions, the
no-diagnosis notice, the persistent-pain line, source lines and the disclaimer), so no answer path can word
them differently or forget them. Triage reads the whole message (a sign in the middle of a long story
counts); the no-diagnosis check reads the question.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from actions.content import DATA_DIR, KnowledgeError, read_yaml, string_list
from actions.understanding import ParsedMessage, Reader, matches, overlaps_any

if TYPE_CHECKING:
    from spacy.tokens import Span

logger = logging.getLogger(__name__)

POLICY_FILE = DATA_DIR / "safety" / "policy.yml"
RED_FLAGS_FILE = DATA_DIR / "safety" / "red_flags.yml"
PERSISTENT_KEY = "persistent"
HISTORY_WHEN, HISTORY_RESOLVED = "history:when", "history:resolved"  # matcher keys of red_flags.yml's history
# matcher keys of a sign's phrases that are not the sign: `except`, `dismissed_by`, `ordinary_with` and
# `ordinary_unless`
NOT_SIGN_KEYS = ("|except", "|dismissed", "|ordinary", "|unless")
READ_NEGATED_KEYS = ("|except", "|dismissed", "|unless")  # of those, the ones read whether negated or not


def _fold(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class SafetyPolicy:
    """The wording of everything the safety policy adds to an answer (data/safety/policy.yml)."""

    full_disclaimer: str
    short_disclaimer: str
    source_line: str
    red_flag_texts: Mapping[str, str]
    urgent_care_sentence: str
    persistent_text: str
    persistent_phrases: Tuple[str, ...]
    caution_text: str
    caution_names: Dict[str, str]
    caution_topics: Tuple[str, ...]
    no_diagnosis_text: str
    diagnosis_triggers: Tuple[str, ...]
    diagnosis_not_triggers: Tuple[str, ...] = ()

    @classmethod
    def load(cls, policy_file: Path = POLICY_FILE) -> "SafetyPolicy":
        """Load and validate the policy's wording."""
        data = read_yaml(policy_file)
        if not isinstance(data, dict) or not isinstance(data.get("disclaimer"), dict):
            raise KnowledgeError(f"{policy_file}: expected a mapping under 'disclaimer'")
        if not isinstance(data.get("red_flag"), dict) or not data["red_flag"]:
            raise KnowledgeError(f"{policy_file}: 'red_flag' must map each urgency level to its wording")

        def section(name: str) -> dict:
            return data.get(name) if isinstance(data.get(name), dict) else {}

        caution, no_diagnosis, persistent = section("caution"), section("no_diagnosis"), section(PERSISTENT_KEY)
        texts = {
            "full": data["disclaimer"].get("full"),
            "short": data["disclaimer"].get("short"),
            "source_line": data.get("source_line"),
            "caution.text": caution.get("text"),
            "no_diagnosis.text": no_diagnosis.get("text"),
            "persistent.text": persistent.get("text"),
            "urgent_care_sentence": data.get("urgent_care_sentence"),
            **{f"red_flag.{level}": text for level, text in data["red_flag"].items()},
        }
        for key, value in texts.items():
            if not isinstance(value, str) or not value.strip():
                raise KnowledgeError(f"{policy_file}: '{key}' is missing or empty")
        placeholders = [("source_line", "{heading}"), ("caution.text", "{conditions}")]
        placeholders += [(f"red_flag.{level}", "{signs}") for level in data["red_flag"]]
        for key, placeholder in placeholders:
            if placeholder not in texts[key]:
                raise KnowledgeError(f"{policy_file}: '{key}' must contain {placeholder}")
        names = caution.get("names")
        if not isinstance(names, dict) or not all(isinstance(v, str) and v for v in names.values()):
            raise KnowledgeError(f"{policy_file}: 'caution.names' must map each condition to its name")
        return cls(
            full_disclaimer=_fold(texts["full"]),
            short_disclaimer=_fold(texts["short"]),
            source_line=texts["source_line"].strip(),
            red_flag_texts={str(level): _fold(text) for level, text in data["red_flag"].items()},
            urgent_care_sentence=_fold(texts["urgent_care_sentence"]),
            persistent_text=_fold(texts["persistent.text"]),
            persistent_phrases=string_list(persistent.get("phrases"), f"{policy_file}: persistent.phrases"),
            caution_text=_fold(texts["caution.text"]),
            caution_names={str(k): v for k, v in names.items()},
            caution_topics=tuple(str(t) for t in caution.get("topics") or ()),
            no_diagnosis_text=_fold(texts["no_diagnosis.text"]),
            diagnosis_triggers=tuple(_fold(t) for t in string_list(no_diagnosis.get("triggers"),
                                                                   f"{policy_file}: no_diagnosis.triggers")),
            diagnosis_not_triggers=tuple(_fold(t) for t in no_diagnosis.get("not_triggers") or ()),
        )

    def disclaimer(self, first_in_conversation: bool) -> str:
        """The full text on the first health answer of a conversation, the short one afterwards."""
        return self.full_disclaimer if first_in_conversation else self.short_disclaimer

    def red_flag_notice(self, level: str, descriptions: Sequence[str]) -> str:
        """The advice for this urgency level, naming the signs that were found."""
        return self.red_flag_texts[level].format(signs="; ".join(descriptions))

    def urgent_advice(self, result: "TriageResult") -> str:
        """The red-flag advice on its own, with the disclaimer, for a message the bot cannot otherwise
        answer (too long): the advice must not wait for a shorter question."""
        return "\n\n".join([self.red_flag_notice(result.level or "", result.descriptions), self.full_disclaimer])

    def with_urgent_care(self, reply: str) -> str:
        """A reply that carries no answer, ended with when to seek urgent care."""
        return f"{reply.rstrip()} {self.urgent_care_sentence}"

    def needs_caution(self, conditions: Iterable[str]) -> bool:
        """Whether one of the conditions mentioned is one the guide asks caution for (policy.yml caution.names)."""
        return any(condition in self.caution_names for condition in conditions)

    def caution_notice(self, conditions: Iterable[str]) -> Optional[str]:
        """The caution for the conditions mentioned, or None if none of them needs one."""
        names = [self.caution_names[c] for c in dict.fromkeys(conditions) if c in self.caution_names]
        if not names:
            return None
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        return self.caution_text.format(conditions=listed)

    def asks_for_diagnosis(self, message: ParsedMessage) -> bool:
        """Whether the question asks the bot to tell the person what they have (the bot cannot diagnose)."""
        folded = " " + " ".join(message.question_text.replace("?", " ").split()) + " "
        for phrase in self.diagnosis_not_triggers:
            folded = folded.replace(f" {phrase} ", " | ")
        return any(f" {trigger}" in folded for trigger in self.diagnosis_triggers)

    def finish_health_answer(
        self, parts: Iterable[tuple], first_in_conversation: bool, notices: Sequence[str] = (),
        afterwords: Sequence[str] = (),
    ) -> str:
        """Safety notices first, then each (body, heading) part with its source line, the policy's lines
        for after the answer (the persistent-pain advice), then the disclaimer."""
        blocks = [notice.strip() for notice in notices]
        has_part = False
        for body, heading in parts:
            has_part = True
            blocks.append(body.strip())
            blocks.append(self.source_line.format(heading=heading))
        if not has_part:
            raise ValueError("a health answer needs at least one part")
        blocks.extend(line.strip() for line in afterwords)
        blocks.append(self.disclaimer(first_in_conversation))
        return "\n\n".join(blocks)


@dataclass(frozen=True)
class RedFlagSign:
    """One sign that needs prompt care: any single phrase, or one phrase from every group of a combination
    (the later groups within the combination's window of tokens of the first; `windows` holds one per
    combination, so a close combination and a loose one can be the same sign)."""

    id: str
    level: str
    description: str
    any_phrases: Tuple[str, ...]
    together: Tuple[Tuple[Tuple[str, ...], ...], ...]
    windows: Tuple[int, ...]
    except_phrases: Tuple[str, ...] = ()
    dismissed_by: Tuple[str, ...] = ()
    ordinary_with: Tuple[str, ...] = ()  # said in the same sentence, not negated, these make the sign ordinary
    ordinary_unless: Tuple[str, ...] = ()  # ... unless one of these is said there too (negated or not)


@dataclass(frozen=True)
class TriageResult:
    """What triage found in a message: the most urgent level (None when no sign needs prompt care), every
    sign found (most urgent first), and whether the pain has lasted long without getting better."""

    level: Optional[str]
    signs: Tuple[RedFlagSign, ...] = ()
    persistent: bool = False

    @property
    def urgent(self) -> bool:
        return self.level is not None

    @property
    def descriptions(self) -> List[str]:
        """What the signs found are, each said once (two signs may describe the same thing)."""
        return list(dict.fromkeys(sign.description for sign in self.signs))


@dataclass(frozen=True)
class Hypothetical:
    """How triage tells a sign asked about from a sign reported (data/safety/red_flags.yml: hypothetical)."""

    question_cues: Tuple[str, ...]
    cues: Tuple[str, ...]
    not_cues: Tuple[str, ...]
    question_starts: FrozenSet[str]
    person_words: FrozenSet[str]
    suspicion_cues: Tuple[str, ...] = ()

    @classmethod
    def load(cls, data: Mapping[str, Any], path: Path) -> "Hypothetical":
        entry = data.get("hypothetical") if isinstance(data.get("hypothetical"), dict) else {}
        where = f"{path}: hypothetical"
        return cls(string_list(entry.get("question_cues"), f"{where}.question_cues"),
                   string_list(entry.get("cues"), f"{where}.cues"),
                   string_list(entry.get("not_cues"), f"{where}.not_cues"),
                   frozenset(string_list(entry.get("question_starts"), f"{where}.question_starts")),
                   frozenset(string_list(entry.get("person_words"), f"{where}.person_words")),
                   string_list(entry.get("suspicion_cues"), f"{where}.suspicion_cues"))


@dataclass(frozen=True)
class History:
    """How triage tells a sign of the past, now over, from one of now (data/safety/red_flags.yml: history)."""

    when: Tuple[str, ...]
    resolved: Tuple[str, ...]
    year_numbers: bool

    @classmethod
    def load(cls, data: Mapping[str, Any], path: Path) -> "History":
        entry = data.get("history")
        if not isinstance(entry, dict):
            raise KnowledgeError(f"{path}: expected a mapping under 'history'")
        if not isinstance(entry.get("year_numbers"), bool):
            raise KnowledgeError(f"{path}: history.year_numbers must be true or false")
        return cls(string_list(entry.get("when"), f"{path}: history.when"),
                   string_list(entry.get("resolved"), f"{path}: history.resolved"), entry["year_numbers"])

    @staticmethod
    def is_year(token: Any) -> bool:
        """A four-digit year from 1900 to 2100 ("in 2019")."""
        return len(token.text) == 4 and token.text.isdigit() and 1900 <= int(token.text) <= 2100


class Triage:
    """Finds signs that need prompt medical care in a message, wherever in the message they stand, and
    grades them (emergency / today / soon, data/safety/red_flags.yml).

    Phrases are matched on lemmas, so "my toes went numb" and "numbness in my toes" are both caught. A
    phrase negated in its own clause ("no numbness, just heel pain") does not count, nor one a hypothetical
    question asks about ("what if my foot goes numb?", "is tingling ever a sign of ...?"), nor one inside a
    sign's `except` phrase ("almost fell", "a wrist fracture")."""

    def __init__(self, signs: Sequence[RedFlagSign], levels: Sequence[str], hypothetical: "Hypothetical",
                 reader: Reader, persistent_phrases: Sequence[str] = (), history: Optional[History] = None) -> None:
        self.signs = {sign.id: sign for sign in signs}
        self.history = history
        self.levels = tuple(levels)
        self.question_starts = hypothetical.question_starts
        self.person_words = hypothetical.person_words
        phrases: Dict[str, Iterable[str]] = {}
        for sign in signs:
            phrases[f"{sign.id}|any"] = sign.any_phrases
            for c, groups in enumerate(sign.together):
                for g, group in enumerate(groups):
                    phrases[f"{sign.id}|together|{c}|{g}"] = group
            if sign.except_phrases:
                phrases[f"{sign.id}|except"] = sign.except_phrases
            if sign.dismissed_by:
                phrases[f"{sign.id}|dismissed"] = sign.dismissed_by
            if sign.ordinary_with:
                phrases[f"{sign.id}|ordinary"] = sign.ordinary_with
            if sign.ordinary_unless:
                phrases[f"{sign.id}|unless"] = sign.ordinary_unless
        if persistent_phrases:
            phrases[PERSISTENT_KEY] = persistent_phrases
        if history:
            phrases[HISTORY_WHEN], phrases[HISTORY_RESOLVED] = history.when, history.resolved
        self.matcher = reader.matcher(phrases)
        self.hypothetical = reader.matcher({"question_cue": hypothetical.question_cues, "cue": hypothetical.cues,
                                            "not_cue": hypothetical.not_cues,
                                            "suspicion": hypothetical.suspicion_cues})

    @classmethod
    def load(cls, reader: Reader, path: Path = RED_FLAGS_FILE, policy: Optional[SafetyPolicy] = None) -> "Triage":
        """Load and validate the signs (and the persistent-pain phrases of the policy)."""
        data = read_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("signs"), dict) or not data["signs"]:
            raise KnowledgeError(f"{path}: expected a non-empty mapping under 'signs'")
        levels = string_list(data.get("levels"), f"{path}: levels")
        default_window = data.get("together_window", 8)
        signs = []
        for sign_id, entry in data["signs"].items():
            if not isinstance(entry, dict) or not entry.get("description"):
                raise KnowledgeError(f"{path}: sign '{sign_id}' needs a description")
            if entry.get("level") not in levels:
                raise KnowledgeError(f"{path}: sign '{sign_id}' needs a level, one of {', '.join(levels)}")
            any_phrases = tuple(str(p) for p in entry.get("any") or ())
            sign_window = entry.get("window", default_window)
            together, windows = [], []
            for combination in entry.get("together") or ():
                # a list of groups (the sign's window), or {window: N, groups: [...]} for a window of its own
                groups, window = ((combination.get("groups"), combination.get("window", sign_window))
                                  if isinstance(combination, dict) else (combination, sign_window))
                if not isinstance(groups, list) or len(groups) < 2 or not all(groups):
                    raise KnowledgeError(
                        f"{path}: sign '{sign_id}': each 'together' entry needs two or more non-empty groups")
                if not isinstance(window, int) or window < 1:
                    raise KnowledgeError(f"{path}: sign '{sign_id}': 'window' must be a whole number of tokens")
                together.append(tuple(tuple(str(p) for p in group) for group in groups))
                windows.append(window)
            if not any_phrases and not together:
                raise KnowledgeError(f"{path}: sign '{sign_id}' has no phrases ('any' or 'together')")
            signs.append(RedFlagSign(
                str(sign_id), entry["level"], str(entry["description"]), any_phrases, tuple(together),
                tuple(windows), tuple(str(p) for p in entry.get("except") or ()),
                tuple(str(p) for p in entry.get("dismissed_by") or ()),
                tuple(str(p) for p in entry.get("ordinary_with") or ()),
                tuple(str(p) for p in entry.get("ordinary_unless") or ()),
            ))
        return cls(signs, levels, Hypothetical.load(data, path), reader, policy.persistent_phrases if policy else (),
                   History.load(data, path))

    @staticmethod
    def _sentence(message: ParsedMessage, token: int) -> "Span":
        return message.doc[token].sent if message.doc.has_annotation("SENT_START") else message.doc[:]

    def _asked_about(self, message: ParsedMessage, found: List[Tuple[str, int, int]]) -> List[Tuple[int, int]]:
        """(start, end) token ranges whose signs are asked about, not reported: from a cue to the end of
        its sentence, and whole questions that speak of no one in particular (`found`: the cues' matches)."""
        not_cues = [(start, end) for key, start, end in found if key == "not_cue"]
        ranges = []
        for key, start, end in found:
            if key in ("not_cue", "suspicion") or any(s <= start < e or start <= s < end for s, e in not_cues):
                continue
            sentence = self._sentence(message, start)
            if key == "cue" or any(token.text == "?" for token in sentence):
                ranges.append((start, sentence.end))
        for sentence in (message.doc.sents if message.doc.has_annotation("SENT_START") else [message.doc[:]]):
            words = [token.lower_ for token in sentence if not token.is_space]
            if words and words[0] in self.question_starts and "?" in words and not set(words) & self.person_words:
                ranges.append((sentence.start, sentence.end))
        return ranges

    def _suspected(self, message: ParsedMessage, found: List[Tuple[str, int, int]]) -> List[Tuple[int, int]]:
        """(start, end) token ranges of a suspicion, from its cue to the end of the sentence ("the physio is
        worried it might be a stress fracture"): a suspected sign counts, unless the message denies it later."""
        return [(start, self._sentence(message, start).end) for key, start, _ in found if key == "suspicion"]

    def _found(self, message: ParsedMessage) -> Dict[str, List[int]]:
        """key -> token positions of the phrases found that count: not negated, not asked about, not inside
        one of the sign's `except` phrases, not dismissed later in the sentence ("...but didn't hurt myself"),
        not a suspicion that the message denies later ("worried it might be a fracture ... said no fracture")."""
        cues = matches(self.hypothetical, message)
        asked = self._asked_about(message, cues)
        # An except, dismissing or `ordinary_unless` phrase counts even when negated: "can't bend it as far as
        # the other one" excepts "can't bend", and a negation must not let the sign it excepts through.
        every = matches(self.matcher, message)
        spans = [(key, start, end) for key, start, end in every
                 if key.endswith(READ_NEGATED_KEYS) or start not in message.negated]
        denied: Dict[str, List[int]] = {}
        for key, start, _ in every:
            if start in message.negated and "|" in key and not key.endswith(NOT_SIGN_KEYS):
                denied.setdefault(key.split("|", 1)[0], []).append(start)
        suspected = self._suspected(message, cues)
        excepted: Dict[str, List[Tuple[int, int]]] = {}
        dismissed: Dict[str, List[int]] = {}
        ordinary: Dict[str, Set[int]] = {}  # sign -> the starts of the sentences that make it ordinary
        for key, start, end in spans:
            sign = key.split("|", 1)[0]
            if key.endswith("|except"):
                excepted.setdefault(sign, []).append((start, end))
            elif key.endswith("|dismissed"):
                dismissed.setdefault(sign, []).append(start)
            elif key.endswith("|ordinary"):
                ordinary.setdefault(sign, set()).add(self._sentence(message, start).start)
        for key, start, _ in spans:
            if key.endswith("|unless"):
                ordinary.get(key.split("|", 1)[0], set()).discard(self._sentence(message, start).start)
        past, resolved = self._history(message, spans)
        found: Dict[str, List[int]] = {}
        for key, start, end in spans:
            sign = key.split("|", 1)[0]
            if key in (HISTORY_WHEN, HISTORY_RESOLVED):
                continue
            if key.endswith(NOT_SIGN_KEYS) or any(s <= start < e for s, e in asked):
                continue
            if overlaps_any(start, end, excepted.get(sign, ())):
                continue
            if (any(s <= start < e for s, e in suspected)
                    and any(later > start for later in denied.get(sign, ()))):
                continue
            sentence = self._sentence(message, start)
            if any(start < d < sentence.end for d in dismissed.get(sign, ())) or sentence.start in ordinary.get(sign, ()):
                continue
            if sentence.start in past and any(start < r < sentence.end for r in resolved):
                continue
            found.setdefault(key, []).append(start)
        return found

    def _history(self, message: ParsedMessage, spans: List[Tuple[str, int, int]]) -> Tuple[FrozenSet[int], List[int]]:
        """(the starts of the sentences that name a past time, where the `resolved` phrases stand), from the
        phrases the one matcher found."""
        if self.history is None:
            return frozenset(), []
        past = {self._sentence(message, start).start for key, start, _ in spans if key == HISTORY_WHEN}
        if self.history.year_numbers:
            past |= {self._sentence(message, token.i).start for token in message.doc if History.is_year(token)}
        return frozenset(past), [start for key, start, _ in spans if key == HISTORY_RESOLVED]

    def assess(self, message: ParsedMessage) -> TriageResult:
        """The urgency of the signs in the whole message."""
        found = self._found(message)
        hits = [sign for sign in self.signs.values()
                if f"{sign.id}|any" in found or any(self._together(found, sign, c) for c in range(len(sign.together)))]
        hits.sort(key=lambda sign: self.levels.index(sign.level))
        return TriageResult(hits[0].level if hits else None, tuple(hits), PERSISTENT_KEY in found)

    @staticmethod
    def _together(found: Dict[str, List[int]], sign: RedFlagSign, c: int) -> bool:
        groups = [found.get(f"{sign.id}|together|{c}|{g}", []) for g in range(len(sign.together[c]))]
        if not all(groups):
            return False
        window = sign.windows[c]
        return any(all(any(abs(p - first) <= window for p in group) for group in groups[1:])
                   for first in groups[0])
