"""`make insights` (issue 14, point 1): the report read from the tracker store.

Unit tests build the store's rows by hand. The end-to-end test fills a fresh SQLite store through the
running bot (REST and socket.io, the clinic's example details), moves one conversation two weeks back in
the store, and checks the report's figures against what the bot's HTTP API said each answer's topic was.
The report it makes is kept in tests/output/insights/ (docs/insights.md shows one).
"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest

from insights.figures import QuestionGrouper, Settings, compute, masked
from insights.report import _cell
from insights.store import EVENTS, Message, pair_topics, read_messages
from tests.conftest import OUTPUT_DIR, PROJECT_ROOT

UTC = timezone.utc
SETTINGS = Settings.load()
LEVELS = ("emergency", "today", "soon")


@pytest.fixture(scope="module")
def grouper(reader) -> QuestionGrouper:
    from actions.knowledge import Scope

    return QuestionGrouper(reader, Scope.load(reader), SETTINGS)


# ------------------------------------------------------------------------------------- the store
def test_the_events_table_is_rasas() -> None:
    from rasa.core.tracker_store import SQLTrackerStore

    rasa = SQLTrackerStore.SQLEvent.__table__
    assert EVENTS.name == rasa.name
    assert [(c.name, str(c.type)) for c in EVENTS.columns] == [(c.name, str(c.type)) for c in rasa.columns]


def user(text: str, intent: str = "x", entities: Tuple = (), channel: str = "rest") -> str:
    return json.dumps({"event": "user", "text": text, "input_channel": channel,
                       "parse_data": {"intent": {"name": intent}, "entities": [{"entity": e, "value": v} for e, v in entities]}})


def slot(value: Optional[str], name: str = "topic") -> str:
    return json.dumps({"event": "slot", "name": name, "value": value})


def test_each_message_gets_the_topic_its_answer_set_and_conversations_are_numbers() -> None:
    rows = [
        ("alice@example.com", "user", 5.0, user("before the period")),
        ("alice@example.com", "slot", 5.1, slot("causes")),
        ("alice@example.com", "user", 10.0, user("what causes it")),
        ("bob", "user", 10.5, user("hi", "greet", channel="socketio")),
        ("alice@example.com", "slot", 10.6, slot(True, "disclaimer_shown")),
        ("alice@example.com", "slot", 10.7, slot("causes")),
        ("bob", "slot", 10.8, slot("smalltalk")),
        ("bob", "slot", 10.9, slot("overview")),  # not the first topic after the message: not its answer
        ("alice@example.com", "user", 11.0, user("and then?")),  # never answered (the action server was down)
        ("alice@example.com", "user", 12.0, user("/helpful", "helpful", (("rated_topic", "causes"),))),
        ("alice@example.com", "slot", 12.1, slot("smalltalk.feedback")),
        ("bob", "user", 30.0, user("after the period")),
        ("bob", "slot", 30.1, slot("what_is")),
        ("bob", "slot", 31.0, "not json"),
    ]
    messages = pair_topics(rows, start=10.0, end=20.0)
    assert [(m.conversation, m.text, m.topic, m.channel) for m in messages] == [
        (1, "what causes it", "causes", "rest"), (2, "hi", "smalltalk", "socketio"), (1, "and then?", None, "rest"),
        (1, "/helpful", "smalltalk.feedback", "rest")]
    assert messages[-1].pressed and messages[-1].entity("rated_topic") == "causes"
    assert "alice" not in repr(messages)


def test_the_store_is_read_with_sql_for_the_period(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    EVENTS.metadata.create_all(engine)
    day = datetime(2026, 11, 10, 12, tzinfo=UTC).timestamp()
    with engine.begin() as connection:
        for n, (stamp, type_name, data) in enumerate([(day - 86400, "user", user("the day before")),
                                                      (day, "user", user("on the day")), (day + 1, "slot", slot("what_is")),
                                                      (day + 86400, "user", user("the day after"))]):
            connection.execute(EVENTS.insert(), dict(sender_id="s", type_name=type_name, timestamp=stamp, data=data))
    messages = read_messages(url, datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
    assert [(m.text, m.topic) for m in messages] == [("on the day", "what_is")]
    assert read_messages(f"sqlite:///{tmp_path / 'empty.db'}", datetime(2026, 1, 1, tzinfo=UTC),
                         datetime(2027, 1, 1, tzinfo=UTC)) == []


# ------------------------------------------------------------------------------------- the figures
INJECTIONS = ["should i have a cortisone injection for my heel", "how painful is a steroid injection in the heel",
              "is a prp injection better than cortisone", "how many cortisone shots can i have in a year"]
SHOES = ["which brand of trainers should i buy for pf", "what are the best running shoes for plantar fasciitis",
         "do you recommend hoka or brooks for heel pain"]
OTHERS = ["my knee hurts when i run, what should i do", "what's the weather like today"]


def test_similar_questions_are_grouped_biggest_first(grouper: QuestionGrouper) -> None:
    questions = [SHOES[0], INJECTIONS[0], OTHERS[0], INJECTIONS[1], SHOES[1], INJECTIONS[2], OTHERS[1], SHOES[2],
                 INJECTIONS[3]]
    groups = grouper.group(questions)
    assert [g.count for g in groups] == [4, 3, 1, 1]
    assert sum(g.count for g in groups) == len(questions)
    injections, shoes = groups[0], groups[1]
    assert injections.subject and injections.subject.startswith("injections")
    assert injections.label.startswith("not covered: injections")
    assert len(injections.examples) == SETTINGS.examples_per_group and set(injections.examples) <= set(INJECTIONS)
    assert set(shoes.examples) <= set(SHOES)


def test_one_question_and_questions_without_words_to_group_by(grouper: QuestionGrouper) -> None:
    assert [g.count for g in grouper.group(["hello?"])] == [1]
    assert [g.count for g in grouper.group(["ok", "???", "hmm"])] == [1, 1, 1]
    assert grouper.group([]) == []


def test_examples_mask_e_mail_addresses_and_phone_numbers_and_are_cut() -> None:
    shown = masked("mail me at jane.doe@example.com or ring 07700 900123, thanks", SETTINGS)
    assert shown == "mail me at [e-mail] or ring [number], thanks"
    assert len(masked("why " * 200, SETTINGS)) == SETTINGS.example_chars
    assert masked("is 2 x 10 min enough?", SETTINGS) == "is 2 x 10 min enough?"


def message(conversation: int, day: int, topic: Optional[str], text: str = "q", intent: str = "x",
            rated: Optional[str] = None, channel: str = "rest") -> Message:
    entities = (("rated_topic", rated),) if rated else ()
    return Message(conversation, datetime(2026, 11, day, 9, tzinfo=UTC), text, intent, entities, channel, topic)


def test_feedback_counts_a_patients_last_press_per_answer_and_only_real_answers(grouper: QuestionGrouper) -> None:
    from zoneinfo import ZoneInfo

    messages = [
        message(1, 2, "causes"), message(1, 2, "smalltalk.feedback", "/not_helpful", "not_helpful", "causes"),
        message(1, 2, "smalltalk.feedback", "/helpful", "helpful", "causes"),  # changed their mind
        message(2, 3, "causes", channel="socketio"),
        message(2, 3, "smalltalk.feedback", "/not_helpful", "not_helpful", "causes", channel="socketio"),
        message(2, 3, "smalltalk.feedback", "/helpful", "helpful", "no_such_topic", channel="socketio"),
        message(3, 16, "red_flag.today"), message(3, 16, "red_flag.emergency"), message(4, 17, "red_flag.today"),
    ]
    figures = compute(messages, date(2026, 11, 1), date(2026, 11, 30), ZoneInfo("UTC"), "UTC", LEVELS,
                      ["causes", "red_flag.today"], grouper)
    assert figures.feedback == {"causes": {"helpful": 1, "not_helpful": 1}}
    assert figures.topics == Counter({"causes": 2, "red_flag.today": 2, "red_flag.emergency": 1})
    assert figures.red_flags == {"emergency": 1, "today": 2, "soon": 0}
    weeks = figures.red_flags_by_week
    assert min(weeks) == date(2026, 10, 26) and max(weeks) == date(2026, 11, 30)  # every week of November
    assert weeks[date(2026, 11, 16)] == {"emergency": 1, "today": 2, "soon": 0}
    assert sum(sum(w.values()) for w in weeks.values()) == 3
    assert figures.channels == {"rest": (3, 6), "socketio": (1, 3)}
    assert (figures.conversations, figures.messages, figures.pressed) == (4, 9, 4)


def test_csv_cells_a_spreadsheet_would_run_are_quoted() -> None:
    assert _cell("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert _cell("-1 is that bad") == "'-1 is that bad"
    assert _cell("what is it") == "what is it" and _cell(3) == 3


# ------------------------------------------------------------------------------------- through the bot
OUT = OUTPUT_DIR / "insights"
EXAMPLE_CLINIC = PROJECT_ROOT / "data" / "clinic" / "clinic.example.yml"
RUN = os.urandom(3).hex()  # sender ids of this run, looked for in the report (they must not be there)
HTML_QUESTION = "<script>alert(1)</script> does insurance pay for massage?"
EMAIL_QUESTION = "my physio jane.doe@example.com said shockwave might help, does it work?"
CONVERSATIONS: Dict[str, List[str]] = {
    "a": ["hello", "what causes plantar fasciitis?", "@helpful", INJECTIONS[0], SHOES[0], "can i talk to a person please"],
    "b": ["how do i massage my foot at home?", "@not_helpful", "@helpful", INJECTIONS[1], SHOES[1], HTML_QUESTION],
    "c": ["how do i massage my foot at home?", "@not_helpful", INJECTIONS[2], OTHERS[0],
          "my heel is red, hot and swollen since yesterday and i have a fever"],
    "d": ["the heel pain is getting worse every week even though i stopped running a month ago", SHOES[2],
          EMAIL_QUESTION, "@choose"],
    # moved two weeks back in the store after the run
    "old": ["i jumped off a wall and heard a loud pop in my heel, now i can't walk on it", INJECTIONS[3],
            "what's the weather like today"],
}
SOCKETIO_QUESTIONS = ["hi there", "what is gua sha"]
SHIFT_S = 14 * 86400


@pytest.fixture(scope="module")
def filled_store(trained_model: Path) -> Iterator[Dict]:
    """Conversations through the bot; what the HTTP API said each message's topic was."""
    from tests.servers import running_bot

    said: List[Tuple[str, str, Optional[str], bool]] = []  # (conversation, text, topic, is a feedback press)
    replies: Dict[str, List[str]] = {}
    with running_bot(trained_model, OUT, extra_env={"CLINIC_FILE": str(EXAMPLE_CLINIC)}) as bot:
        for name, texts in CONVERSATIONS.items():
            sender = f"insights-{name}-{RUN}"
            buttons: List[Dict] = []
            for text in texts:
                if text.startswith("@"):  # press one of the previous answer's buttons
                    wanted = {"@helpful": "/helpful", "@not_helpful": "/not_helpful", "@choose": "/choose_topic"}[text]
                    text = next(b["payload"] for b in buttons if b["payload"].startswith(wanted))
                answer = bot.send(sender, text)
                new_buttons = [b for m in answer for b in m.get("buttons", [])]
                buttons = new_buttons or buttons  # the thanks has none; the answer's stay on the screen
                replies.setdefault(name, []).append("\n".join(m.get("text", "") for m in answer))
                pressed_feedback = text.startswith(("/helpful", "/not_helpful"))
                said.append((name, text, bot.tracker(sender)["slots"]["topic"], pressed_feedback))
        socketio_said = socketio_conversation(bot.url, SOCKETIO_QUESTIONS)
    database = OUT / "conversations.db"
    with sqlite3.connect(database) as connection:
        moved = connection.execute("UPDATE events SET timestamp = timestamp - ? WHERE sender_id = ?",
                                   (SHIFT_S, f"insights-old-{RUN}")).rowcount
    assert moved > 0
    yield {"said": said, "replies": replies, "socketio": socketio_said, "url": f"sqlite:///{database}"}


def socketio_conversation(url: str, questions: List[str]) -> List[str]:
    """The widget's channel: one conversation, one message after the other, each answered before the next."""
    import socketio

    said: List[dict] = []
    confirmed: List[str] = []
    client = socketio.Client(reconnection=False)
    client.on("bot_uttered", said.append)
    client.on("session_confirm", confirmed.append)
    client.connect(url, transports=["polling"], wait_timeout=10)
    try:
        client.emit("session_request", {"session_id": None})
        deadline = time.monotonic() + 10
        while not confirmed and time.monotonic() < deadline:
            time.sleep(0.05)
        for question in questions:
            before = len(said)
            client.emit("user_uttered", {"message": question, "session_id": confirmed[0]})
            deadline = time.monotonic() + 30
            while len(said) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
    finally:
        client.disconnect()
    return [m.get("text", "") for m in said]


def make_insights(url: str, start: date, end: date, out: Path, with_make: bool = False) -> Tuple[Dict, str, str]:
    """`python -m insights`, or `make insights` (FROM, TO, OUT; the store from TRACKER_STORE_URL): the CSV's
    rows by section, the HTML page, the log."""
    if with_make:
        command = ["make", "--no-print-directory", "insights", f"FROM={start}", f"TO={end}", f"OUT={out}",
                   f"VENV={Path(sys.executable).parent.parent}"]
    else:
        command = [sys.executable, "-m", "insights", "--url", url, "--from", start.isoformat(),
                   "--to", end.isoformat(), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
                            env=dict(env, TF_CPP_MIN_LOG_LEVEL="2", TRACKER_STORE_URL=url))
    assert result.returncode == 0, result.stderr[-3000:]
    sections: Dict[str, List[Dict]] = {}
    with (out / "insights.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            sections.setdefault(row["section"], []).append(row)
    return sections, (out / "insights.html").read_text(encoding="utf-8"), result.stderr


def counts(rows: List[Dict], key: str = "item") -> Dict[str, int]:
    return {row[key]: int(row["count"]) for row in rows}


@pytest.mark.e2e
def test_the_bot_answered_the_scripted_conversations_as_designed(filled_store: Dict) -> None:
    """The figures below are about the report only if the bot answered as the conversations were written."""
    topics = {text: topic for _, text, topic, _ in filled_store["said"]}
    for question in [*INJECTIONS, *SHOES, *OTHERS, HTML_QUESTION, EMAIL_QUESTION]:
        assert topics[question] == "out_of_scope", (question, topics[question])
    assert topics["can i talk to a person please"] == "out_of_scope.contact"
    assert [topic for _, _, topic, _ in filled_store["said"] if (topic or "").startswith("red_flag")] == [
        "red_flag.today", "red_flag.soon", "red_flag.emergency"]
    # the clinic's details where they belong (data/clinic/clinic.example.yml)
    contact = filled_store["replies"]["a"][-1]
    assert "020 7946 0123" in contact and "https://example.org/book" in contact
    assert "The emergency number is 999." in filled_store["replies"]["old"][0]


@pytest.mark.e2e
def test_the_report_of_three_weeks_has_the_figures_of_the_conversations(filled_store: Dict, figures) -> None:
    today = datetime.now(UTC).date()
    out = OUT / "report"
    sections, page, log = make_insights(filled_store["url"], today - timedelta(days=20), today, out)
    said = filled_store["said"]
    rest_messages = len(said)

    # conversations and channels: four REST conversations and the old one, one socket.io conversation
    channels = {(r["item"], r["detail"]): int(r["count"]) for r in sections["channel"]}
    assert channels == {("rest", "conversations"): len(CONVERSATIONS), ("rest", "messages"): rest_messages,
                        ("socketio", "conversations"): 1, ("socketio", "messages"): len(SOCKETIO_QUESTIONS)}
    summary = counts(sections["summary"])
    assert summary["conversations"] == len(CONVERSATIONS) + 1
    assert summary["messages"] == rest_messages + len(SOCKETIO_QUESTIONS)
    assert summary["button presses"] == sum(text.startswith("/") for _, text, _, _ in said)

    # topics: each message by the topic the bot's HTTP API gave for its answer (feedback presses apart)
    expected = Counter(topic for _, _, topic, feedback in said if not feedback)
    expected.update(["smalltalk", "techniques.gua_sha"])  # the socket.io conversation
    assert counts(sections["topic"]) == dict(expected)
    assert list(counts(sections["topic"]).values()) == sorted(expected.values(), reverse=True)

    # the questions the guide could not answer, grouped: injections (4) and shoe buying (3) first
    unanswered = [text for _, text, topic, _ in said if topic == "out_of_scope"]
    assert summary["unanswered questions"] == len(unanswered) == 11
    groups = sections["unanswered_group"]
    assert sum(int(g["count"]) for g in groups) == len(unanswered)
    assert [int(g["count"]) for g in groups[:2]] == [4, 3]
    assert groups[0]["detail"].startswith("not covered: injections")
    assert set(groups[0]["examples"].split(" | ")) <= set(INJECTIONS)
    assert set(groups[1]["examples"].split(" | ")) <= set(SHOES)
    assert [int(g["count"]) for g in groups] == sorted((int(g["count"]) for g in groups), reverse=True)

    # red flags per level and per week: the emergency two weeks ago, today and soon this week
    assert counts(sections["red_flag"]) == {"emergency": 1, "today": 1, "soon": 1}
    weekly = {(r["item"], r["detail"]): int(r["count"]) for r in sections["red_flag_week"] if int(r["count"])}
    now, then = datetime.now(UTC), datetime.now(UTC) - timedelta(seconds=SHIFT_S)
    monday = lambda moment: (moment.date() - timedelta(days=moment.weekday())).isoformat()  # noqa: E731
    assert weekly == {(monday(then), "emergency"): 1, (monday(now), "today"): 1, (monday(now), "soon"): 1}
    assert len({r["item"] for r in sections["red_flag_week"]}) in (3, 4)  # every week of the 21 days

    # feedback per answer: a's helpful, b's change of mind to helpful, c's not helpful
    feedback = {(r["item"], r["detail"]): int(r["count"]) for r in sections["feedback"]}
    assert feedback == {("causes", "helpful"): 1, ("causes", "not_helpful"): 0,
                        ("home_massage", "helpful"): 1, ("home_massage", "not_helpful"): 1}

    # the page: escaped, masked, no sender id, its pictures beside it
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "jane.doe@example.com" not in page and "[e-mail]" in page
    everything = page + (out / "insights.csv").read_text() + log
    assert RUN not in everything and "insights-a" not in everything
    for picture in ("topics.png", "red_flags.png", "feedback.png"):
        assert f'src="{picture}"' in page
        data = (out / picture).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, picture
    figures.append(f"insights: {summary['conversations']} conversations, {summary['messages']} messages, "
                   f"{len(groups)} groups of {len(unanswered)} unanswered questions; report in {out}")


@pytest.mark.e2e
def test_the_report_of_this_week_leaves_the_older_conversation_out(filled_store: Dict) -> None:
    today = datetime.now(UTC).date()
    sections, page, _ = make_insights(filled_store["url"], today - timedelta(days=6), today, OUT / "report-week",
                                      with_make=True)
    summary = counts(sections["summary"])
    assert summary["conversations"] == len(CONVERSATIONS)  # the old one is two weeks back
    assert counts(sections["red_flag"]) == {"emergency": 0, "today": 1, "soon": 1}
    assert summary["unanswered questions"] == 11 - 2  # its injection and weather questions are out
    assert "weather" not in page


@pytest.mark.e2e
def test_a_bad_period_or_store_gets_a_clear_error(filled_store: Dict, tmp_path: Path) -> None:
    run = lambda *args: subprocess.run([sys.executable, "-m", "insights", *args], cwd=PROJECT_ROOT,  # noqa: E731
                                       capture_output=True, text=True, timeout=300)
    backwards = run("--url", filled_store["url"], "--from", "2026-11-30", "--to", "2026-11-01")
    assert backwards.returncode == 2 and "is after" in backwards.stderr
    assert run("--url", filled_store["url"], "--from", "30/11/2026").returncode == 2
    secret = "postgresql://clinic:s3cret-pw@127.0.0.1:1/none"
    unreachable = run("--url", secret, "--out", str(tmp_path / "r"))
    assert unreachable.returncode == 1 and "s3cret-pw" not in unreachable.stderr
    assert "Could not make the report" in unreachable.stderr


def test_the_period_defaults_to_the_last_days_and_must_run_forwards() -> None:
    from insights.__main__ import parse_args, period

    today = date(2026, 12, 1)
    parser, args = parse_args(["--url", "sqlite://"])
    assert period(parser, args, today, 30) == (date(2026, 11, 2), today)
    parser, args = parse_args(["--url", "sqlite://", "--from", "2026-10-01"])
    assert period(parser, args, today, 30) == (date(2026, 10, 1), date(2026, 10, 30))
    parser, args = parse_args(["--url", "sqlite://", "--to", "2026-06-30"])
    assert period(parser, args, today, 7) == (date(2026, 6, 24), date(2026, 6, 30))
    parser, args = parse_args(["--url", "sqlite://", "--from", "2026-12-02", "--to", "2026-12-01"])
    with pytest.raises(SystemExit):
        period(parser, args, today, 30)
