"""One report: read the period's messages, compute the figures, write the page, charts and CSV."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from actions.knowledge import Guide, Scope
from actions.safety import SafetyPolicy, Triage
from actions.understanding import Reader
from insights.figures import OUT_OF_SCOPE, RED_FLAG, QuestionGrouper, Settings, compute
from insights.report import write
from insights.store import read_messages


def labeller(guide: Guide, settings: Settings) -> Callable[[str], str]:
    """A topic id's name in the report: the guide's label, the settings' name, or the id itself."""
    def label(topic_id: str) -> str:
        topic = guide.find(topic_id)
        return topic.label if topic else settings.labels.get(topic_id, topic_id)
    return label


def make_report(url: str, start: date, end: date, out: Path, zone: tzinfo, zone_name: str,
                settings: Settings) -> Path:
    """The report of [start, end] (whole days in `zone`) from the store at `url`, written to `out`."""
    begin = datetime.combine(start, time.min, zone)
    finish = datetime.combine(end + timedelta(days=1), time.min, zone)
    messages = read_messages(url, begin, finish)
    reader = Reader.load()
    guide = Guide.load()
    levels = Triage.load(reader, policy=SafetyPolicy.load()).levels
    answer_topics = [*guide.topics, OUT_OF_SCOPE, *(f"{RED_FLAG}.{level}" for level in levels)]
    grouper = QuestionGrouper(reader, Scope.load(reader), settings)
    figures = compute(messages, start, end, zone, zone_name, levels, answer_topics, grouper)
    dialect = sa.engine.make_url(url).get_backend_name()
    return write(out, figures, labeller(guide, settings), dialect, settings.max_groups)
