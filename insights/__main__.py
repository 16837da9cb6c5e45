"""`make insights` (python -m insights): the report for a period, from the tracker store the bot uses.

    python -m insights [--from 2026-11-01] [--to 2026-11-30] [--url sqlite:///var/conversations.db] [--out DIR]

Without --from / --to: the last `default_days` days (data/clinic/insights.yml), today included. The store
is TRACKER_STORE_URL unless --url is given. The report goes to reports/insights-<from>-to-<to>/ unless --out
is given: insights.html, its charts, insights.csv. It quotes patients' questions: keep it within the clinic
(reports/ is not committed).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import List, Optional, Sequence, Tuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actions.content import PROJECT_ROOT, KnowledgeError

logger = logging.getLogger("insights")

REPORTS_DIR = PROJECT_ROOT / "reports"


def day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date as YYYY-MM-DD: {text!r}") from None


def parse_args(argv: Sequence[str]) -> Tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(prog="make insights", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="start", type=day, help="first day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=day, help="last day, included (YYYY-MM-DD)")
    parser.add_argument("--url", default=os.environ.get("TRACKER_STORE_URL"),
                        help="the tracker store's SQLAlchemy URL (default: TRACKER_STORE_URL)")
    parser.add_argument("--out", type=Path, help="the report's folder")
    parser.add_argument("--timezone", help="time zone of the dates (default: data/clinic/insights.yml)")
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("no tracker store: set TRACKER_STORE_URL or give --url")
    return parser, args


def period(parser: argparse.ArgumentParser, args: argparse.Namespace, today: date, days: int) -> Tuple[date, date]:
    """The first and last day: as given, else `days` days ending today (or starting on --from)."""
    end = args.end or (today if not args.start else min(today, args.start + timedelta(days=days - 1)))
    start = args.start or end - timedelta(days=days - 1)
    if start > end:
        parser.error(f"--from {start} is after --to {end}")
    return start, end


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    for noisy in ("matplotlib", "PIL", "tensorflow", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from insights.figures import Settings

    try:
        settings = Settings.load()
    except KnowledgeError as error:
        logger.error("%s", error)
        return 2
    parser, args = parse_args(sys.argv[1:] if argv is None else argv)
    zone_name = args.timezone or settings.timezone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.error("Unknown time zone %r (an IANA name such as Europe/London)", zone_name)
        return 2
    start, end = period(parser, args, datetime.now(zone).date(), settings.default_days)
    from insights.run import make_report

    out = args.out or REPORTS_DIR / f"insights-{start}-to-{end}"
    try:
        path = make_report(args.url, start, end, out, zone, zone_name, settings)
    except KnowledgeError as error:
        logger.error("%s", error)
        return 2
    except Exception as error:  # the store cannot be read: say so without its URL (it may hold a password)
        logger.error("Could not make the report: %s", type(error).__name__)
        logger.debug("Details", exc_info=True)
        return 1
    logger.info("Report: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
