"""The ``benchmarking`` command: ``demo`` builds the whole asset graph, ``participants``
manages the opt-in registry. Help texts are plain text (argparse prints them as written)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from benchmarking_assets.cli.participants import add_participants_parser, run_participants

DESCRIPTION = """\
Peer benchmarks for US school districts: public Education Data Portal data plus the private
platform metrics of participating districts, turned into privacy-safe peer comparisons and
PDF, Excel and CSV reports.

  benchmarking demo           build everything end to end (offline sample by default)
  benchmarking participants   enroll, change, withdraw or list participating districts

Run "benchmarking COMMAND --help" for the details of a command."""

DEMO_DESCRIPTION = """\
Build the whole pipeline in one go, as Dagster runs you can inspect in the UI afterwards:
raw district history for every state x year, state and district benchmarks, sixty sample
participants with their private submissions, peer cohorts and private (differentially
private) statistics, a PDF/XLSX/CSV report per participant for the newest year, and the
retention purge."""

DEMO_EPILOG = """\
What it writes, and where (set the variable to change it):
  warehouse      DATABASE_URL            default sqlite:///data/warehouse.sqlite
  Dagster runs   DAGSTER_HOME            default data/dagster_home
  sample files   SUBMISSIONS_INBOX_DIR   default data/inbox (the participants' submissions)
  reports        REPORTS_DIR             default data/reports/YEAR/LEAID/
                 benchmark_report_LEAID_YEAR.pdf, .xlsx, .csv (long) and _wide.csv
"data" is BENCHMARKING_DATA_DIR, default ./data under the current directory. The data
source is EDUCATION_DATA_SOURCE: "sample" (default, offline) or "api" (the live Education
Data Portal). Running it again recomputes the same partitions in place.

How long it takes, on an otherwise idle two-core machine with the offline sample: about 65
seconds for all 51 states x 2010-2021, about a minute for a few states (--states CA,TX,NY
--years 2014-2021: 50-60 seconds); a busy machine takes longer. With
EDUCATION_DATA_SOURCE=api it is bound by the API: expect many minutes for the whole
country. It prints each stage as it goes and ends with the paths of the warehouse and of
every report.

Examples:
  benchmarking demo
  benchmarking demo --states CA,TX --years 2015-2021
  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test benchmarking demo -v"""


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="benchmarking", description=DESCRIPTION, formatter_class=raw
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="build the whole pipeline, by default from the offline sample (about a minute)",
        description=DEMO_DESCRIPTION,
        epilog=DEMO_EPILOG,
        formatter_class=raw,
    )
    demo.add_argument(
        "--states",
        metavar="CODES",
        help="comma-separated state codes, e.g. CA,TX (default: all 50 states and DC)",
    )
    demo.add_argument(
        "--years",
        metavar="YEARS",
        help="a range such as 2015-2021, or a list such as 2019,2020,2021 (a contiguous "
        "range; default: every year the source has)",
    )
    demo.add_argument(
        "-v", "--verbose", action="store_true", help="also show Dagster's own log lines"
    )
    add_participants_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from benchmarking_assets.defs.settings import SettingError

    try:
        return _run(args)
    except SettingError as exc:  # a mistyped setting: its name and rule, not a traceback
        print(f"benchmarking: configuration error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "participants":
        try:
            return run_participants(args)
        except BrokenPipeError:  # `benchmarking participants list | head`: not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0

    if args.command == "demo":
        from benchmarking_assets.cli import demo as demo_command
        from benchmarking_assets.defs.resources import resolved_resources

        source = resolved_resources()["education_data"]
        years = demo_command.parse_years(args.years, source.available_years())
        states = demo_command.parse_states(args.states)
        return demo_command.run_demo(states, years, verbose=args.verbose)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
