"""The ``benchmarking`` command: ``demo`` builds the whole asset graph, ``participants``
manages the opt-in registry."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from benchmarking_assets.cli.participants import add_participants_parser, run_participants


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarking", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the whole asset graph on the configured source")
    demo.add_argument("--states", help="comma-separated state codes (default: all 51)")
    demo.add_argument("--years", help="e.g. 2015-2021 (default: every year the source has)")
    demo.add_argument("-v", "--verbose", action="store_true", help="show Dagster's INFO logs")
    add_participants_parser(sub)
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
