"""Writing the report: an HTML page with its charts (PNG, matplotlib) and a CSV of the same figures.

The page's wording is insights/report.html; every value that goes into it, patients' questions above all,
is HTML-escaped, and CSV cells that a spreadsheet would run as a formula are quoted.
"""
from __future__ import annotations

import csv
import html
import logging
from datetime import datetime, timezone
from pathlib import Path
from string import Template
from typing import Callable, Dict, Iterable, List, Mapping, Sequence

from insights.figures import Figures, ordered_feedback

logger = logging.getLogger(__name__)

TEMPLATE = Path(__file__).with_name("report.html")
HTML_NAME, CSV_NAME = "insights.html", "insights.csv"
TOPICS_PNG, RED_FLAGS_PNG, FEEDBACK_PNG = "topics.png", "red_flags.png", "feedback.png"
LEVEL_COLOURS = {"emergency": "#8b0000", "today": "#e0641b", "soon": "#e8b923"}
# The topics chart's colours: (colour, legend) by the kind of answer.
KIND_COLOURS = {"guide": ("#3b6ea8", "a passage of the guide"), "gap": ("#e39b2d", "not covered, or asked for the clinic"),
                "red_flag": ("#c62828", "red flag"), "other": ("#7f7f7f", "smalltalk, or no answer")}
FEEDBACK_COLOURS = {"helpful": "#2e7d32", "not_helpful": "#c62828"}
CSV_COLUMNS = ("section", "item", "detail", "count", "share", "examples")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """An HTML table; cells are escaped unless they are already markup (`Markup`)."""
    head = "".join(f"<th scope=\"col\">{_esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            content = cell.html if isinstance(cell, Markup) else _esc(cell)
            cells.append(f"<td class=\"n\">{content}</td>" if i in numeric else f"<td>{content}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    if not body:
        return "<p><em>None in this period.</em></p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Markup:
    """Markup built here from escaped parts."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


def _examples(examples: Sequence[str]) -> Markup:
    return Markup("<ul class=\"examples\">" + "".join(f"<li>{_esc(e)}</li>" for e in examples) + "</ul>")


# -- charts ---------------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _empty_chart(path: Path, message: str) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(8, 1.6))
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=12)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def topics_chart(path: Path, figures: Figures, label: Callable[[str], str]) -> None:
    """Horizontal bars, the most asked topic on top, each bar with its count."""
    plt = _pyplot()
    rows = figures.topics.most_common()
    if not rows:
        return _empty_chart(path, "No messages in this period")
    from matplotlib.patches import Patch

    names = [f"{label(t)}  ({t})" if label(t) != t else t for t, _ in rows][::-1]
    counts = [n for _, n in rows][::-1]
    kinds = ["red_flag" if t.startswith("red_flag.") else "other" if t.startswith(("smalltalk", "none"))
             else "gap" if t.startswith("out_of_scope") else "guide" for t, _ in rows][::-1]
    figure, axes = plt.subplots(figsize=(9, 1.6 + 0.32 * len(rows)))
    bars = axes.barh(names, counts, color=[KIND_COLOURS[k][0] for k in kinds])
    axes.bar_label(bars, padding=3, fontsize=9)
    shown = [k for k in KIND_COLOURS if k in kinds]
    axes.legend(handles=[Patch(color=KIND_COLOURS[k][0], label=KIND_COLOURS[k][1]) for k in shown], frameon=False,
                fontsize=9, loc="lower right")
    axes.set_xlabel("messages")
    axes.set_title(f"Messages per topic, {figures.start} to {figures.end}")
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(axis="y", labelsize=9)
    axes.set_xlim(0, max(counts) * 1.12 + 1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def red_flags_chart(path: Path, figures: Figures) -> None:
    """Bars per week, stacked by level (emergency at the bottom)."""
    plt = _pyplot()
    weeks = sorted(figures.red_flags_by_week)
    if not weeks:
        return _empty_chart(path, "No weeks in this period")
    levels = list(figures.red_flags) or sorted({lv for w in weeks for lv in figures.red_flags_by_week[w]})
    figure, axes = plt.subplots(figsize=(max(6, 1.1 * len(weeks) + 2.5), 3.6))
    bottom = [0] * len(weeks)
    names = [f"week of\n{w:%d %b}" for w in weeks]
    for level in levels:
        values = [figures.red_flags_by_week[w].get(level, 0) for w in weeks]
        axes.bar(names, values, bottom=bottom, color=LEVEL_COLOURS.get(level, "#999999"),
                 label=f"{level} ({figures.red_flags.get(level, sum(values))})")
        bottom = [b + v for b, v in zip(bottom, values)]
    for x, total in enumerate(bottom):
        axes.text(x, total, str(total), ha="center", va="bottom", fontsize=9)
    axes.set_ylabel("red-flag messages")
    axes.set_ylim(0, max(bottom + [1]) * 1.25)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title("Red flags per week and level")
    axes.legend(frameon=False, fontsize=9)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def feedback_chart(path: Path, figures: Figures, label: Callable[[str], str]) -> None:
    """Horizontal bars per answer: helpful and not helpful side by side in one bar."""
    plt = _pyplot()
    rows = ordered_feedback(figures)[::-1]
    figure, axes = plt.subplots(figsize=(9, 1.8 + 0.34 * len(rows)))
    names = [label(t) for t, _, _ in rows]
    helpful, unhelpful = [h for _, h, _ in rows], [n for _, _, n in rows]
    axes.barh(names, helpful, color=FEEDBACK_COLOURS["helpful"], label="helpful")
    axes.barh(names, unhelpful, left=helpful, color=FEEDBACK_COLOURS["not_helpful"], label="not helpful")
    axes.set_xlabel("presses")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_title("Feedback per answer", pad=24)
    axes.legend(frameon=False, fontsize=9, ncol=2, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(axis="y", labelsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- the page and the CSV -------------------------------------------------------------------------------
def csv_rows(figures: Figures, label: Callable[[str], str]) -> List[Dict[str, object]]:
    """The report's figures as rows of (section, item, detail, count, share, examples)."""
    rows: List[Dict[str, object]] = []

    def add(section: str, item: object, detail: object, count: int, share: str = "", examples: str = "") -> None:
        rows.append(dict(zip(CSV_COLUMNS, (section, item, detail, count, share, examples))))

    for name, value in (("conversations", figures.conversations), ("messages", figures.messages),
                        ("typed", figures.typed), ("button presses", figures.pressed),
                        ("unanswered questions", figures.unanswered_total)):
        add("summary", name, f"{figures.start} to {figures.end} ({figures.timezone})", value)
    for rank, group in enumerate(figures.unanswered, start=1):
        add("unanswered_group", rank, group.label, group.count, _share(group.count, figures.unanswered_total),
            " | ".join(group.examples))
    total = sum(figures.topics.values())
    for topic, count in figures.topics.most_common():
        add("topic", topic, label(topic), count, _share(count, total))
    for level, count in figures.red_flags.items():
        add("red_flag", level, "", count)
    for week, counts in sorted(figures.red_flags_by_week.items()):
        for level, count in counts.items():
            add("red_flag_week", week.isoformat(), level, count)
    for topic, helpful, unhelpful in ordered_feedback(figures):
        add("feedback", topic, "helpful", helpful, _share(helpful, helpful + unhelpful))
        add("feedback", topic, "not_helpful", unhelpful, _share(unhelpful, helpful + unhelpful))
    for channel, (conversations, messages) in figures.channels.items():
        add("channel", channel, "conversations", conversations, _share(conversations, figures.conversations))
        add("channel", channel, "messages", messages, _share(messages, figures.messages))
    return rows


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text (a question starting with "=" is not run as a formula)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write_csv(path: Path, rows: Sequence[Mapping[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})


def page(figures: Figures, label: Callable[[str], str], dialect: str, more_groups: str) -> str:
    total_unanswered = figures.unanswered_total
    groups = [(rank, group.count, _share(group.count, total_unanswered), group.label, _examples(group.examples))
              for rank, group in enumerate(figures.unanswered, start=1)]
    unanswered = _table(("#", "questions", "share", "about", "examples"), groups, numeric=(0, 1, 2)) + more_groups
    total = sum(figures.topics.values())
    topics = _table(("topic", "id", "messages", "share"),
                    [(label(t), t, n, _share(n, total)) for t, n in figures.topics.most_common()], numeric=(2, 3))
    levels = list(figures.red_flags)
    red_flags = _table(("level", "messages"), [(label(f"red_flag.{lv}"), n) for lv, n in figures.red_flags.items()],
                       numeric=(1,))
    weeks = _table(("week of", *levels, "all"),
                   [(f"{w:%a %d %b %Y}", *(c.get(lv, 0) for lv in levels), sum(c.values()))
                    for w, c in sorted(figures.red_flags_by_week.items())], numeric=tuple(range(1, len(levels) + 2)))
    feedback_rows = [(label(t), t, h, n, _share(h, h + n)) for t, h, n in ordered_feedback(figures)]
    feedback = _table(("answer", "id", "helpful", "not helpful", "helpful share"), feedback_rows, numeric=(2, 3, 4))
    figure = ("<img src=\"feedback.png\" alt=\"Bar chart: helpful and not helpful presses per answer. The table "
              "below has the same figures.\">") if feedback_rows else ""
    channels = _table(("channel", "conversations", "messages"),
                      [(c, conv, msgs) for c, (conv, msgs) in figures.channels.items()], numeric=(1, 2))
    values = dict(
        start=figures.start, end=figures.end, timezone=figures.timezone, conversations=figures.conversations,
        messages=figures.messages, typed=figures.typed, pressed=figures.pressed, unanswered_total=total_unanswered,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), dialect=dialect,
    )
    markup = dict(unanswered_table=unanswered, topics_table=topics, red_flag_table=red_flags,
                  red_flag_week_table=weeks, feedback_figure=figure, feedback_table=feedback, channel_table=channels)
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        {**{k: _esc(v) for k, v in values.items()}, **markup})


def write(out: Path, figures: Figures, label: Callable[[str], str], dialect: str, shown_groups: int) -> Path:
    """The report in `out` (created): insights.html, insights.csv and the charts. The HTML page's path."""
    out.mkdir(parents=True, exist_ok=True)
    hidden = figures.unanswered[shown_groups:]
    more = ""
    if hidden:
        more = (f"<p>… and {sum(g.count for g in hidden)} more questions in {len(hidden)} smaller groups "
                f"(all in {CSV_NAME}).</p>")
    full = figures.unanswered
    rows = csv_rows(figures, label)
    figures.unanswered = full[:shown_groups]
    try:
        (out / HTML_NAME).write_text(page(figures, label, dialect, more), encoding="utf-8")
    finally:
        figures.unanswered = full
    write_csv(out / CSV_NAME, rows)
    topics_chart(out / TOPICS_PNG, figures, label)
    red_flags_chart(out / RED_FLAGS_PNG, figures)
    if figures.feedback:
        feedback_chart(out / FEEDBACK_PNG, figures, label)
    else:
        (out / FEEDBACK_PNG).unlink(missing_ok=True)
    logger.info("Wrote %s, %s and the charts to %s", HTML_NAME, CSV_NAME, out)
    return out / HTML_NAME
