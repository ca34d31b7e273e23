"""``benchmarking participants …``: manage the opt-in registry; and the demo's sample participants.

``enroll``, ``settings``, ``withdraw``, ``list`` (a table: NCES id, name, state, shares,
enrolment date) and ``budget`` (the privacy loss a district's data has used, per year and
category, against PRIVACY_BUDGET_PER_DISTRICT). Unknown districts and categories are refused
with a message and exit status 2; every change is written to ``privacy_audit_log`` (actor:
``--actor``, ``BENCHMARKING_ACTOR`` or the OS user). The help texts are plain text: argparse
prints them as written.
"""

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchmarking_assets.core.catalog import CATEGORIES, parse_categories
from benchmarking_assets.core.catalog import PRIVATE_BY_NAME as METRICS
from benchmarking_assets.store import participation
from benchmarking_assets.store.warehouse import WarehouseStore

DEMO_PARTICIPANTS = 60


PARTICIPANTS_DESCRIPTION = """\
Manage the districts that take part in benchmarking. A participant chooses which categories of
its private platform data it shares (academic, engagement, ai_tutor, operational) and sees
private peer comparisons only for those. Every change is written to the audit log with who
made it (--actor, else BENCHMARKING_ACTOR, else your user name)."""

PARTICIPANTS_EPILOG = """\
Examples:
  benchmarking participants enroll 0601234 --share engagement,ai_tutor
  benchmarking participants settings 0601234 --share engagement
  benchmarking participants withdraw 0601234
  benchmarking participants list
  benchmarking participants budget 0601234 --year 2021

A district id is the 7-digit NCES LEA id (a leading zero may be left out). An unknown
district or category is refused with a message and exit status 2, and nothing changes."""


def add_participants_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "participants",
        help="enroll, change, withdraw or list participating districts",
        description=PARTICIPANTS_DESCRIPTION,
        epilog=PARTICIPANTS_EPILOG,
        formatter_class=raw,
    )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="the warehouse (default: DATABASE_URL, else sqlite:///data/warehouse.sqlite)",
    )
    parser.add_argument(
        "--actor", default=None, metavar="NAME", help="who is making the change, for the audit log"
    )
    sub = parser.add_subparsers(dest="participants_command", required=True, metavar="ACTION")
    share_help = f"comma-separated data categories to share: {', '.join(CATEGORIES)}"
    district = "the district's 7-digit NCES LEA id, e.g. 0601234"
    enroll = sub.add_parser(
        "enroll",
        help="enroll a district, choosing the categories it shares",
        description="Enroll a district that is in the warehouse, sharing the given categories.",
    )
    enroll.add_argument("leaid", metavar="LEAID", help=district)
    enroll.add_argument("--share", required=True, metavar="CATEGORIES", help=share_help)
    settings = sub.add_parser(
        "settings",
        help="change the categories a district shares",
        description="Replace the categories an enrolled district shares. Categories it stops "
        "sharing are purged at once (submissions and everything derived from them).",
    )
    settings.add_argument("leaid", metavar="LEAID", help=district)
    settings.add_argument("--share", required=True, metavar="CATEGORIES", help=share_help)
    withdraw = sub.add_parser(
        "withdraw",
        help="withdraw a district and purge its private data",
        description="Withdraw a district: its registry row, submissions, every private "
        "statistic computed with them, its privacy budget charges and its reports are deleted; "
        "the audit log keeps the history.",
    )
    withdraw.add_argument("leaid", metavar="LEAID", help=district)
    sub.add_parser(
        "list",
        help="list the enrolled districts as a table",
        description="List the enrolled districts: NCES id, name, state, shared categories "
        "and enrolment date, one per line under a header.",
    )
    budget = sub.add_parser(
        "budget",
        help="show the privacy budget a district's data has used, per year and category",
        description="Show the privacy loss (epsilon) charged to an enrolled district's data, "
        "per year and data category, with what is left of PRIVACY_BUDGET_PER_DISTRICT. Only "
        "the district's own spend is shown; a metric whose next release would exceed the "
        "budget is not released again.",
    )
    budget.add_argument("leaid", metavar="LEAID", help=district)
    budget.add_argument(
        "--year", type=int, default=None, metavar="YEAR", help="one year (default: every year)"
    )
    return parser


def run_participants(args: argparse.Namespace) -> int:
    store = WarehouseStore(args.database_url or _configured_database_url())
    store.migrate()
    command = args.participants_command
    try:
        if command == "list":
            _print_list(store)
            return 0
        if command == "budget":
            _print_budget(store, args.leaid, args.year)
            return 0
        if command == "withdraw":
            years = participation.withdraw(store, args.leaid, args.actor)
            print(f"withdrew {args.leaid}: its submissions and derived private data are purged")
            if years:
                print(f"re-materialize the cohorts of {', '.join(map(str, years))} to republish")
            return 0
        shares = parse_categories(args.share)
        if command == "enroll":
            participation.enroll(store, args.leaid, shares, args.actor)
            print(f"enrolled {args.leaid}, sharing {', '.join(shares)}")
        else:
            years = participation.update_settings(store, args.leaid, shares, args.actor)
            print(f"{args.leaid} now shares {', '.join(shares)}")
            if years:
                print(f"purged stopped categories; re-materialize {', '.join(map(str, years))}")
        return 0
    except ValueError as exc:  # ParticipationError and unknown categories
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _configured_database_url() -> str:
    """DATABASE_URL as the code location's warehouse resource resolves it."""
    from benchmarking_assets.defs.resources import resolved_resources

    return resolved_resources()["warehouse"].database_url


def _configured_budget() -> float:
    """PRIVACY_BUDGET_PER_DISTRICT as the code location's privacy resource validates it."""
    from benchmarking_assets.defs.resources import resolved_resources

    return resolved_resources()["privacy"].policy().budget


def _print_budget(store: WarehouseStore, leaid: str, year: int | None) -> None:
    leaid = participation.normalize_leaid(leaid)
    if leaid not in set(participation.list_participants(store)["leaid"]):
        raise participation.ParticipationError(f"district {leaid} is not enrolled")
    limit = _configured_budget()
    spent = participation.budget_spent(store, leaid, year)
    print(f"privacy budget of {leaid}: ε per year and category, limit {limit:g} "
          "(PRIVACY_BUDGET_PER_DISTRICT)")  # fmt: skip
    if spent.height == 0:
        print("nothing spent yet" + (f" in {year}" if year else ""))
        return
    print(f"{'year':<6}{'category':<14}{'used':>8}{'left':>8}{'draws':>7}")
    for r in spent.iter_rows(named=True):
        left = max(limit - r["epsilon_spent"], 0.0)
        print(f"{r['year']:<6}{r['category']:<14}{r['epsilon_spent']:>8.2f}{left:>8.2f}"
              f"{r['draws']:>7}")  # fmt: skip


LIST_COLUMNS = ("NCES ID", "District", "State", "Shares", "Enrolled")
NAME_WIDTH = 40


def _print_list(store: WarehouseStore) -> None:
    """The registry as a table: header, then one district per line (names from the newest
    year of ``district_data_history``)."""
    frame = participation.participant_directory(store)
    if frame.height == 0:
        print("no participants")
        return
    rows = []
    for row in frame.iter_rows(named=True):
        name = row["lea_name"] or "(no name in the data)"
        if len(name) > NAME_WIDTH:
            name = name[: NAME_WIDTH - 3] + "..."
        shares = ", ".join(c for c in CATEGORIES if c in participation.shares_of(row)) or "-"
        rows.append((row["leaid"], name, row["state_code"] or "-", shares, row["enrolled_at"][:10]))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(LIST_COLUMNS)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*LIST_COLUMNS).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*r).rstrip())
    print(f"{len(rows)} participant{'s' if len(rows) != 1 else ''}")


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) from the parts (the demo's stand-in for randomness)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def demo_participants(
    store: WarehouseStore, year_range: Sequence[int], inbox_dir: str | Path
) -> list[Path]:
    """Enroll sample participants and drop their sample submissions in the inbox.

    Picks :data:`DEMO_PARTICIPANTS` districts of the newest year deterministically (the
    smallest SHA-256 of their leaid), 36 from the state with the most districts and the rest
    nationally, so that private cohorts reach k = 10 within a region. Every one shares
    engagement; ai_tutor, operational and academic are shared by about 3/4, 2/3 and 1/2.
    Writes one CSV per year (the last three of ``year_range``) and one JSON file. Idempotent:
    districts already enrolled are left as they are. Returns the files written.
    """
    years = sorted(year_range)[-3:]
    newest = years[-1]
    districts = store.read_df(
        "SELECT leaid, state_code FROM district_data_history WHERE year = :y",
        {"y": newest},
        schema={"leaid": pl.String(), "state_code": pl.String()},
    ).with_columns(
        rank=pl.col("leaid").map_elements(lambda x: _unit("demo", x), return_dtype=pl.Float64)
    )
    if districts.height < DEMO_PARTICIPANTS:
        raise ValueError(f"only {districts.height} districts in {newest}; load more states")
    top_state = (
        districts.group_by("state_code").len().sort("len", "state_code", descending=[True, False])
    )
    home = (
        districts.filter(pl.col("state_code") == top_state["state_code"][0]).sort("rank").head(36)
    )
    rest = districts.join(home, on="leaid", how="anti").sort("rank")
    chosen = pl.concat([home, rest.head(DEMO_PARTICIPANTS - home.height)])["leaid"].sort()
    enrolled = set(participation.list_participants(store)["leaid"])
    shares: dict[str, tuple[str, ...]] = {}
    for i, leaid in enumerate(chosen):
        cats = ["engagement"]
        cats += ["ai_tutor"] if i % 4 else []
        cats += ["operational"] if i % 3 else []
        cats += ["academic"] if i % 2 else []
        shares[leaid] = tuple(c for c in CATEGORIES if c in cats)
        if leaid not in enrolled:
            participation.enroll(store, leaid, shares[leaid], actor="demo")
    inbox = Path(inbox_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    written = []
    for year in years:
        rows = [
            (leaid, year, m.category, m.name, _demo_value(leaid, year, m.name))
            for leaid in chosen
            for m in METRICS.values()
            if m.category in shares[leaid]
        ]
        frame = pl.DataFrame(
            rows, schema=["leaid", "year", "category", "metric", "value"], orient="row"
        )
        if year == years[-1]:
            path = inbox / f"demo_submissions_{year}.json"
            frame.write_json(path)
        else:
            path = inbox / f"demo_submissions_{year}.csv"
            frame.write_csv(path)
        written.append(path)
    return written


def _demo_value(leaid: str, year: int, metric: str) -> float:
    m = METRICS[metric]
    base = _unit(leaid, metric)  # the district's level, stable over years
    drift = (_unit(leaid, metric, year) - 0.5) * 0.1
    share = min(max(0.15 + 0.7 * base + drift, 0.0), 1.0)
    return round(m.lower + share * (m.upper - m.lower), 2)
