"""The report's figures, from the messages of a period (insights/store.py).

What the content owner needs to extend the guide and check the bot: the questions the guide could not
answer, grouped by similarity (a group is a gap in the guide; its size says how much it matters); which
topics are asked; red flags per level and per week; the feedback on each answer; the channels.
Nothing here keeps a sender id: conversations are numbers within the report, and only counted.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from actions.content import DATA_DIR, KnowledgeError, read_yaml
from insights.store import Message

SETTINGS_FILE = DATA_DIR / "clinic" / "insights.yml"
OUT_OF_SCOPE = "out_of_scope"
CONTACT = "out_of_scope.contact"
RED_FLAG = "red_flag"
FEEDBACK_INTENTS = ("helpful", "not_helpful")
RATED_ENTITY = "rated_topic"
NO_ANSWER = "none"
EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
PHONE = re.compile(r"\+?\d[\d ()./-]{5,}\d")


@dataclass(frozen=True)
class Settings:
    """data/clinic/insights.yml."""

    default_days: int
    timezone: str
    max_distance: float
    subject_weight: float
    examples_per_group: int
    max_groups: int
    example_chars: int
    extra_stop_words: Tuple[str, ...]
    masks: Mapping[str, str]
    labels: Mapping[str, str]

    @classmethod
    def load(cls, path: Path = SETTINGS_FILE) -> "Settings":
        data = read_yaml(path)
        unanswered = data.get("unanswered") if isinstance(data, dict) else None
        if not isinstance(unanswered, dict):
            raise KnowledgeError(f"{path}: expected a mapping under 'unanswered'")
        numbers = {"default_days": data.get("default_days"), "unanswered.examples_per_group":
                   unanswered.get("examples_per_group"), "unanswered.max_groups": unanswered.get("max_groups"),
                   "unanswered.example_chars": unanswered.get("example_chars")}
        for key, value in numbers.items():
            if not isinstance(value, int) or value < 1:
                raise KnowledgeError(f"{path}: '{key}' must be a whole number, at least 1")
        distance, weight = unanswered.get("max_distance"), unanswered.get("subject_weight")
        if not isinstance(distance, (int, float)) or not 0 < distance <= 1:
            raise KnowledgeError(f"{path}: 'unanswered.max_distance' must be a number above 0, at most 1")
        if not isinstance(weight, (int, float)) or weight < 0:
            raise KnowledgeError(f"{path}: 'unanswered.subject_weight' must be a number, at least 0")
        masks, labels = data.get("masks"), data.get("labels")
        if not isinstance(masks, dict) or not {"email", "phone"} <= set(masks) or not isinstance(labels, dict):
            raise KnowledgeError(f"{path}: needs 'masks' (email, phone) and 'labels'")
        return cls(data["default_days"], str(data.get("timezone") or "UTC"), float(distance), float(weight),
                   unanswered["examples_per_group"], unanswered["max_groups"], unanswered["example_chars"],
                   tuple(str(w).lower() for w in unanswered.get("extra_stop_words") or ()),
                   {str(k): str(v) for k, v in masks.items()}, {str(k): str(v) for k, v in labels.items()})


def masked(text: str, settings: Settings) -> str:
    """A patient's question as the report shows it: e-mail addresses and phone numbers replaced, one line,
    at most `example_chars` characters."""
    text = PHONE.sub(settings.masks["phone"], EMAIL.sub(settings.masks["email"], text))
    text = " ".join(text.split())
    return text if len(text) <= settings.example_chars else text[: settings.example_chars - 1].rstrip() + "…"


@dataclass
class Group:
    """Similar questions the guide could not answer: how many, what they are about, a few of them."""

    count: int
    label: str
    examples: List[str]
    subject: Optional[str] = None


class QuestionGrouper:
    """Groups questions by the words they share (TF-IDF over lemmas, average-linkage clustering on cosine
    distance), a subject of data/guide/scope.yml counting as `subject_weight` shared words."""

    def __init__(self, reader: Any, scope: Any, settings: Settings) -> None:
        self.reader, self.scope, self.settings = reader, scope, settings
        self.stop_words = set(reader.nlp.Defaults.stop_words) | set(settings.extra_stop_words)

    def _terms(self, text: str) -> Tuple[List[str], List[str]]:
        """(content lemmas, scope subjects) of a question."""
        message = self.reader.read(text)
        lemmas = [t.lemma_.lower() for t in message.doc
                  if t.is_alpha and len(t) > 1 and t.lower_ not in self.stop_words
                  and t.lemma_.lower() not in self.stop_words]
        return lemmas, self.scope.uncovered(message)

    def group(self, texts: Sequence[str]) -> List[Group]:
        """The groups, biggest first (ties: the one asked first), each with its most typical examples."""
        import numpy as np
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not texts:
            return []
        read = [self._terms(t) for t in texts]
        documents = [lemmas + [f"subject:{s}" for s in subjects] for lemmas, subjects in read]
        if len(texts) == 1 or not any(documents):
            labels, vectors = np.arange(len(texts)), None  # nothing to compare: each question on its own
        else:
            vectorizer = TfidfVectorizer(analyzer=lambda d: d, sublinear_tf=True, norm=None)
            matrix = vectorizer.fit_transform(documents).toarray()
            columns = vectorizer.get_feature_names_out()
            matrix[:, [i for i, c in enumerate(columns) if c.startswith("subject:")]] *= self.settings.subject_weight
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            vectors = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
            distances = np.clip(1.0 - vectors @ vectors.T, 0.0, 1.0)
            empty = norms.ravel() == 0
            distances[empty, :] = distances[:, empty] = 1.0  # nothing to compare: a group of its own
            np.fill_diagonal(distances, 0.0)
            tree = linkage(squareform(distances, checks=False), method="average")
            labels = fcluster(tree, t=self.settings.max_distance, criterion="distance")
        members: Dict[int, List[int]] = defaultdict(list)
        for index, label in enumerate(labels):
            members[int(label)].append(index)
        groups = []
        for indices in sorted(members.values(), key=lambda ix: (-len(ix), ix[0])):
            groups.append(self._describe(texts, read, indices, vectors))
        return groups

    def _describe(self, texts: Sequence[str], read: List[Tuple[List[str], List[str]]], indices: List[int],
                  vectors: Any) -> Group:
        import numpy as np

        subjects = Counter(s for i in indices for s in dict.fromkeys(read[i][1]))
        subject, named = subjects.most_common(1)[0] if subjects else (None, 0)
        subject = subject if named * 2 >= len(indices) else None
        words = Counter(w for i in indices for w in dict.fromkeys(read[i][0]))
        common = [w for w, n in words.most_common() if n >= 2 or len(indices) == 1][:3]
        label = (f"not covered: {subject}" if subject else ", ".join(common)) or "(no words to group by)"
        if vectors is not None and len(indices) > 1:
            centre = vectors[indices].mean(axis=0)
            order = sorted(indices, key=lambda i: (-float(np.dot(vectors[i], centre)), i))
        else:
            order = list(indices)
        examples: List[str] = []
        for i in order:
            shown = masked(texts[i], self.settings)
            if shown.lower() not in {e.lower() for e in examples}:
                examples.append(shown)
            if len(examples) == self.settings.examples_per_group:
                break
        return Group(len(indices), label, examples, subject)


def week_of(moment: datetime, zone: tzinfo) -> date:
    """The Monday of the moment's week, in the report's time zone."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


@dataclass
class Figures:
    """Everything the report shows."""

    start: date
    end: date  # the last day, included
    timezone: str
    conversations: int = 0
    messages: int = 0
    typed: int = 0
    pressed: int = 0
    topics: Counter = field(default_factory=Counter)
    unanswered_total: int = 0
    unanswered: List[Group] = field(default_factory=list)
    red_flags: Dict[str, int] = field(default_factory=dict)
    red_flags_by_week: Dict[date, Dict[str, int]] = field(default_factory=dict)
    feedback: Dict[str, Dict[str, int]] = field(default_factory=dict)
    channels: Dict[str, Tuple[int, int]] = field(default_factory=dict)


def compute(messages: Sequence[Message], start: date, end: date, zone: tzinfo, zone_name: str, levels: Sequence[str],
            answer_topics: Iterable[str], grouper: QuestionGrouper) -> Figures:
    """The figures of these messages (already limited to the period)."""
    figures = Figures(start, end, zone_name)
    known_answers = set(answer_topics)
    figures.conversations = len({m.conversation for m in messages})
    figures.messages = len(messages)
    figures.pressed = sum(m.pressed for m in messages)
    figures.typed = figures.messages - figures.pressed
    ratings: Dict[Tuple[int, str], str] = {}
    for message in messages:
        if message.intent in FEEDBACK_INTENTS:
            rated = message.entity(RATED_ENTITY)
            if rated in known_answers:  # a press of the bot's own button; a hand-typed one is not counted
                ratings[(message.conversation, rated)] = message.intent  # a change of mind replaces
            continue
        figures.topics[message.topic or NO_ANSWER] += 1
    for (_, rated), rating in ratings.items():
        counts = figures.feedback.setdefault(rated, {r: 0 for r in FEEDBACK_INTENTS})
        counts[rating] += 1
    unanswered = [m.text for m in messages if m.topic == OUT_OF_SCOPE and not m.pressed]
    figures.unanswered_total = len(unanswered)
    figures.unanswered = grouper.group(unanswered)
    figures.red_flags = {level: figures.topics.get(f"{RED_FLAG}.{level}", 0) for level in levels}
    first, last = week_of(datetime.combine(start, datetime.min.time(), zone), zone), \
        week_of(datetime.combine(end, datetime.min.time(), zone), zone)
    week = first
    while week <= last:  # every week of the period, also those without a red flag
        figures.red_flags_by_week[week] = {level: 0 for level in levels}
        week += timedelta(days=7)
    for message in messages:
        if message.topic and message.topic.startswith(RED_FLAG + "."):
            level = message.topic.split(".", 1)[1]
            weekly = figures.red_flags_by_week.setdefault(week_of(message.time, zone), {lv: 0 for lv in levels})
            weekly[level] = weekly.get(level, 0) + 1
    conversations: Dict[str, set] = defaultdict(set)
    counted: Counter = Counter()
    first_channel: Dict[int, str] = {}
    for message in messages:
        first_channel.setdefault(message.conversation, message.channel)
        counted[message.channel] += 1
    for conversation, channel in first_channel.items():
        conversations[channel].add(conversation)
    figures.channels = {channel: (len(conversations[channel]), counted[channel])
                        for channel in sorted(counted, key=lambda c: (-counted[c], c))}
    return figures


def ordered_feedback(figures: Figures) -> List[Tuple[str, int, int]]:
    """(topic, helpful, not helpful) per answer, the most "not helpful" first."""
    rows = [(t, c["helpful"], c["not_helpful"]) for t, c in figures.feedback.items()]
    return sorted(rows, key=lambda r: (-r[2], -(r[1] + r[2]), r[0]))
