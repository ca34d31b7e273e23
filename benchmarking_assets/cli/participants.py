"""``benchmarking participants …``: manage the opt-in registry; and the demo's sample participants.

    benchmarking participants enroll LEAID --share engagement,ai_tutor
    benchmarking participants settings LEAID --share engagement
    benchmarking participants withdraw LEAID
    benchmarking participants list
    benchmarking participants budget LEAID [--year YEAR]

Unknown districts and categories are refused with a message and exit status 2; every change
is written to ``privacy_audit_log`` (actor: ``--actor``, ``BENCHMARKING_ACTOR`` or the OS user).
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


def add_participants_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("participants", help="manage benchmarking participants")
    parser.add_argument("--database-url", default=None, help="default: DATABASE_URL")
    parser.add_argument("--actor", default=None, help="who is making the change (audit log)")
    sub = parser.add_subparsers(dest="participants_command", required=True)
    share_help = f"comma-separated data categories: {', '.join(CATEGORIES)}"
    enroll = sub.add_parser("enroll", help="enroll a district, opting in to categories")
    enroll.add_argument("leaid")
    enroll.add_argument("--share", required=True, help=share_help)
    settings = sub.add_parser("settings", help="change the categories a district shares")
    settings.add_argument("leaid")
    settings.add_argument("--share", required=True, help=share_help)
    withdraw = sub.add_parser("withdraw", help="withdraw a district and purge its private data")
    withdraw.add_argument("leaid")
    sub.add_parser("list", help="list the enrolled districts")
    budget = sub.add_parser(
        "budget", help="show the privacy budget (ε) a district's data has used, per year/category"
    )
    budget.add_argument("leaid")
    budget.add_argument("--year", type=int, default=None, help="one year (default: all)")
    return parser


def run_participants(args: argparse.Namespace) -> int:
    store = WarehouseStore(args.database_url or _configured_database_url())
    store.migrate()
    command = args.participants_command
    try:
        if command == "list":
            _print_list(participation.list_participants(store))
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


def _print_list(frame: pl.DataFrame) -> None:
    if frame.height == 0:
        print("no participants")
        return
    for row in frame.iter_rows(named=True):
        shares = ",".join(sorted(participation.shares_of(row))) or "-"
        print(f"{row['leaid']}  {shares:<40}  enrolled {row['enrolled_at']}")


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
