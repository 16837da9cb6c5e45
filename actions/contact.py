"""Contact and handoff: the clinic's details, given when a person asks to reach the clinic and added where
the bot sends someone to a professional.

The bot cannot book or put anyone through to a person; what it can do is say, at the moment it matters,
whom to call and how: when asked ("can I talk to a person?", "how do I book?", "when are you open?"), after
the red-flag advice, and after the advice to have something looked at (pain that has lasted, a condition
that needs caution, a request for a diagnosis). The clinic's details are one file (data/clinic/clinic.yml,
or CLINIC_FILE); without it the wording stays general ("your doctor", "your local emergency number").
A malformed file stops the action server at start: a wrong phone number must never reach a patient.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlparse

from actions.content import DATA_DIR, KnowledgeError, read_yaml, string_list
from actions.replies import Reply
from actions.safety import POLICY_FILE
from actions.understanding import ParsedMessage, Reader, ReadingSettings, matches, overlaps_any

logger = logging.getLogger(__name__)

CLINIC_FILE_ENV = "CLINIC_FILE"
CLINIC_FILE = DATA_DIR / "clinic" / "clinic.yml"
CONTACT_FILE = DATA_DIR / "clinic" / "contact.yml"
CONTACT_INTENT = "contact_clinic"
# The contact reply's `topic`: a sub-topic of out_of_scope (the dot makes it one of topics.yml's ids), because
# the guide does not answer it; the bot gives the clinic's details instead.
CONTACT_TOPIC = "out_of_scope.contact"
CONTACT_KEY = "contact"
EXCEPT_KEY = "except"
PHONE = re.compile(r"\+?[0-9][0-9 ()./-]*[0-9]")
EMERGENCY_NUMBER = re.compile(r"[0-9]{2,6}")
RESPONSE_WITH_CLINIC = "utter_contact"
RESPONSE_WITHOUT_CLINIC = "utter_contact_no_clinic"
PLACEHOLDERS = ("clinic_name", "clinic_phone", "clinic_hours", "clinic_booking", "emergency_number")


def clinic_file(env: Mapping[str, str] = os.environ) -> Path:
    """Where the clinic's details are: CLINIC_FILE if set, else data/clinic/clinic.yml."""
    value = env.get(CLINIC_FILE_ENV, "").strip()
    return Path(value) if value else CLINIC_FILE


@dataclass(frozen=True)
class ClinicDetails:
    """The clinic's name, phone, booking link, opening hours and the country's emergency number."""

    name: str
    phone: str
    booking_url: str
    opening_hours: Tuple[str, ...]
    emergency_number: str

    @classmethod
    def load(cls, path: Path) -> Optional["ClinicDetails"]:
        """The details in `path`, or None when there is no such file (the bot then speaks generally)."""
        if not path.exists():
            return None
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise KnowledgeError(f"{path}: expected a mapping with name, phone, booking_url, opening_hours, "
                                 f"emergency_number")

        def text(key: str) -> str:
            value = data.get(key)
            if not isinstance(value, str) or not value.strip():
                raise KnowledgeError(f"{path}: '{key}' must be a non-empty text (quote numbers: \"999\")")
            return " ".join(value.split())

        name, phone, booking, emergency = text("name"), text("phone"), text("booking_url"), text("emergency_number")
        if not PHONE.fullmatch(phone) or sum(c.isdigit() for c in phone) < 3:
            raise KnowledgeError(f"{path}: 'phone' must be a phone number (digits, spaces, + ( ) - . /)")
        url = urlparse(booking)
        if url.scheme != "https" or not url.netloc:
            raise KnowledgeError(f"{path}: 'booking_url' must be an https:// link")
        if not EMERGENCY_NUMBER.fullmatch(emergency):
            raise KnowledgeError(f"{path}: 'emergency_number' must be the number to dial, digits only")
        hours = data.get("opening_hours")
        hours = [hours] if isinstance(hours, str) else hours
        return cls(name, phone, booking, tuple(" ".join(h.split()) for h in string_list_kept(hours, path)), emergency)

    def values(self) -> Dict[str, str]:
        """The placeholders of the contact wording (domain.yml, data/safety/policy.yml)."""
        return {"clinic_name": self.name, "clinic_phone": self.phone, "clinic_hours": "; ".join(self.opening_hours),
                "clinic_booking": self.booking_url, "emergency_number": self.emergency_number}


def string_list_kept(value: Any, path: Path) -> List[str]:
    """A non-empty list of non-empty strings, kept as written (content.string_list lower-cases)."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise KnowledgeError(f"{path}: 'opening_hours' must be a text or a non-empty list of texts")
    return list(value)


@dataclass(frozen=True)
class ContactLines:
    """The lines that say whom to contact inside health answers (data/safety/policy.yml: clinic_contact)."""

    red_flag: Mapping[str, str]
    see_professional: str

    @classmethod
    def load(cls, policy_file: Path = POLICY_FILE) -> "ContactLines":
        data = read_yaml(policy_file)
        block = data.get("clinic_contact") if isinstance(data, dict) else None
        if not isinstance(block, dict) or not isinstance(block.get("red_flag"), dict):
            raise KnowledgeError(f"{policy_file}: 'clinic_contact' needs 'red_flag' (one line per level) and "
                                 f"'see_professional'")
        lines = {f"red_flag.{level}": text for level, text in block["red_flag"].items()}
        lines["see_professional"] = block.get("see_professional")
        for key, value in lines.items():
            if not isinstance(value, str) or not value.strip():
                raise KnowledgeError(f"{policy_file}: 'clinic_contact.{key}' is missing or empty")
            try:
                value.format(**{p: "" for p in PLACEHOLDERS})
            except (KeyError, IndexError, ValueError) as error:
                raise KnowledgeError(f"{policy_file}: 'clinic_contact.{key}' has an unknown placeholder ({error}); "
                                     f"known: {', '.join(PLACEHOLDERS)}") from None
        red_flags = {str(level): " ".join(text.split()) for level, text in block["red_flag"].items()}
        return cls(red_flags, " ".join(lines["see_professional"].split()))


class Contact:
    """Whether a message asks to reach the clinic, the reply that answers it, and the lines that say whom to
    contact in health answers (none without the clinic's details: the policy's wording stands alone)."""

    def __init__(self, clinic: Optional[ClinicDetails], lines: ContactLines, matcher: Any, settings: ReadingSettings,
                 not_after: Sequence[str] = (), not_after_min_confidence: float = 0.0,
                 bare_phrase_max_sentences: int = 2) -> None:
        self.clinic, self.lines, self.matcher, self.not_after = clinic, lines, matcher, tuple(not_after)
        self.settings, self.not_after_min_confidence = settings, not_after_min_confidence
        self.bare_phrase_max_sentences = bare_phrase_max_sentences

    @classmethod
    def load(cls, reader: Reader, levels: Sequence[str], clinic_path: Optional[Path] = None,
             contact_file: Path = CONTACT_FILE, policy_file: Path = POLICY_FILE) -> "Contact":
        """Load the clinic's details (if any), the contact phrases and lines; every urgency level needs a line."""
        path = clinic_path or clinic_file()
        clinic = ClinicDetails.load(path)
        if clinic is None:
            logger.warning("No clinic details at %s: replies send people to their doctor and local emergency number",
                           path)
        else:
            logger.info("Clinic details loaded from %s", path)
        lines = ContactLines.load(policy_file)
        missing = [level for level in levels if level not in lines.red_flag]
        if missing:
            raise KnowledgeError(f"{policy_file}: clinic_contact.red_flag has no line for level(s) {', '.join(missing)}")
        data = read_yaml(contact_file)
        if not isinstance(data, dict):
            raise KnowledgeError(f"{contact_file}: expected a mapping with 'phrases'")
        phrases = string_list(data.get("phrases"), f"{contact_file}: phrases")
        not_after = string_list(data["not_after"], f"{contact_file}: not_after") if data.get("not_after") else ()
        bar = data.get("not_after_min_confidence", 0.0)
        if not isinstance(bar, (int, float)) or not 0 <= bar <= 1:
            raise KnowledgeError(f"{contact_file}: 'not_after_min_confidence' must be a number from 0 to 1")
        most = data.get("bare_phrase_max_sentences", 2)
        if not isinstance(most, int) or isinstance(most, bool) or most < 0:
            raise KnowledgeError(f"{contact_file}: 'bare_phrase_max_sentences' must be a whole number, 0 or more")
        patterns = {CONTACT_KEY: phrases}
        if data.get("except") is not None:
            patterns[EXCEPT_KEY] = string_list(data["except"], f"{contact_file}: except")
        return cls(clinic, lines, reader.matcher(patterns), reader.settings, not_after, float(bar), most)

    def asked_in(self, message: ParsedMessage) -> bool:
        """Whether the question asks to reach the clinic: a phrase in a sentence of the question that asks
        something, or anywhere in a short message when none does ("appointment please"). A short message
        is read whole as its question, so "I have an appointment next week. How long does it last?" is
        looked at sentence by sentence: only the second asks. A longer story that asks nothing is not read
        for phrases: "after a few of those appointments it got better" tells, it does not ask."""
        doc = message.doc
        sentences = list(doc.sents) if doc.has_annotation("SENT_START") else [doc[:]]
        asking = [] if message.asks_nothing else list(message.asking)  # as read once (actions/understanding.py)
        if not asking and len(sentences) > self.bare_phrase_max_sentences:
            return False
        spans = asking or list(message.question)
        found = matches(self.matcher, message)
        # a phrase inside one of the `except` phrases asks nothing of the clinic ("... at home between appointments?")
        excepted = [(start, end) for key, start, end in found if key == EXCEPT_KEY]
        return any(key == CONTACT_KEY and any(s.start <= start < s.end for s in spans)
                   and not overlaps_any(start, end, excepted)
                   for key, start, end in found)

    def wanted(self, intent: Optional[str], confidence: float, message: ParsedMessage) -> bool:
        """The contact intent, or a contact phrase in the question, unless the classifier is sure enough of
        a `not_after` intent ("am I talking to a real person?" is about the bot)."""
        if intent == CONTACT_INTENT:
            return True
        if intent in self.not_after and confidence >= self.not_after_min_confidence:
            return False
        return self.asked_in(message)

    def reply(self) -> Reply:
        """The clinic's details, or where to turn without them."""
        if self.clinic is None:
            return Reply(topic=CONTACT_TOPIC, response=RESPONSE_WITHOUT_CLINIC)
        return Reply(topic=CONTACT_TOPIC, response=RESPONSE_WITH_CLINIC, response_values=self.clinic.values())

    def after_red_flag(self, level: Optional[str]) -> List[str]:
        """The line after a red-flag notice of this level (none without the clinic's details)."""
        if self.clinic is None or level not in self.lines.red_flag:
            return []
        return [self.lines.red_flag[level].format(**self.clinic.values())]

    def after_referral(self) -> List[str]:
        """The line after advice to see a professional (none without the clinic's details)."""
        return [self.lines.see_professional.format(**self.clinic.values())] if self.clinic else []
