"""The participation registry: opt-in per data category, settings, withdrawal (docs/privacy.md).

* ``enroll`` refuses a district that is not in ``district_data_history`` or is already
  enrolled, and unknown categories (``catalog.parse_categories``). A district that withdrew
  before gets its earlier privacy spend back on its budget (from the withdrawal's audit entry):
  leaving and re-joining does not reset what its data has already cost.
* ``update_settings`` replaces the shared categories. Categories no longer shared count as a
  withdrawal *for those categories*: their submissions, every stored draw and published DP row
  whose inputs included them, and the district's report files (which print its values) go.
* ``withdraw`` deletes everything of the district outside the audit log: registry row,
  submissions, its private-benchmark and percentile rows, every stored draw and published DP
  row whose inputs included its values (other members' rows of those draws too), its budget
  charges (their totals are recorded in the audit entry), its report rows, insights and
  files, and any recorded pipeline failure naming it. The next run republishes the others'
  statistics without it (new draws, charged). The ledger keeps its rows: they hold n, ε and the
  scale, never a leaid or a value.

Every change runs under the participation lock (``WarehouseStore.participation_lock``), taken
before anything is read, so it wins every race with a writer of derived data: a writer that
took the lock first has committed before the deletes run, and they see its rows; a writer that
comes second sees the change. The audit entry is written in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from benchmarking_assets.core.catalog import CATEGORIES
from benchmarking_assets.core.ids import require_leaid
from benchmarking_assets.core.releases import CHARGE_SCHEMA
from benchmarking_assets.store.audit import audit_write
from benchmarking_assets.store.audit import read_log as audit_read_log
from benchmarking_assets.store.warehouse import WarehouseStore, utc_now

PARTICIPANT_SCHEMA: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    **{f"shares_{c}": pl.Int32() for c in CATEGORIES},
    "enrolled_at": pl.String(),
    "updated_at": pl.String(),
}


class ParticipationError(ValueError):
    """A refused participation change; the message says why and what to do."""


def normalize_leaid(text: str) -> str:
    try:
        return require_leaid(text)
    except ValueError as exc:
        raise ParticipationError(str(exc)) from None


def participant_row(leaid: str, shares: Iterable[str], enrolled_at: str, now: str) -> pl.DataFrame:
    chosen = set(shares)
    row: dict[str, Any] = {"leaid": leaid, "enrolled_at": enrolled_at, "updated_at": now}
    row.update({f"shares_{c}": int(c in chosen) for c in CATEGORIES})
    return pl.DataFrame([row], schema=PARTICIPANT_SCHEMA)


def shares_of(row: dict[str, Any]) -> frozenset[str]:
    return frozenset(c for c in CATEGORIES if row[f"shares_{c}"])


def list_participants(store: WarehouseStore, conn: Connection | None = None) -> pl.DataFrame:
    return store.read_table(
        "benchmark_participants", PARTICIPANT_SCHEMA, order_by=("leaid",), conn=conn
    )


def participant_directory(store: WarehouseStore) -> pl.DataFrame:
    """The registry with each district's name and state from its newest year of
    ``district_data_history`` (for listings), ordered by leaid."""
    schema = {**PARTICIPANT_SCHEMA, "lea_name": pl.String(), "state_code": pl.String()}
    shares = ", ".join(f"p.shares_{c}" for c in CATEGORIES)
    return store.read_df(
        f"SELECT p.leaid, {shares}, p.enrolled_at, p.updated_at, h.lea_name, h.state_code "
        "FROM benchmark_participants p LEFT JOIN district_data_history h ON h.leaid = p.leaid "
        "AND h.year = (SELECT MAX(year) FROM district_data_history x WHERE x.leaid = p.leaid) "
        "ORDER BY p.leaid",
        schema=schema,
    )


def active_shares(
    store: WarehouseStore, conn: Connection | None = None
) -> dict[str, frozenset[str]]:
    rows = list_participants(store, conn).iter_rows(named=True)
    return {r["leaid"]: shares_of(r) for r in rows}


def budget_spent(store: WarehouseStore, leaid: str, year: int | None = None) -> pl.DataFrame:
    """``year, category, epsilon_spent, draws`` of one district (``privacy_budget_spent``)."""
    where: dict[str, Any] = {"leaid": leaid} | ({"year": year} if year is not None else {})
    return store.read_table(
        "privacy_budget_spent",
        {"year": pl.Int32(), "category": pl.String(), "epsilon_spent": pl.Float64(),
         "draws": pl.Int64()},
        where=where,
        order_by=("year", "category"),
    )  # fmt: skip


def _current(store: WarehouseStore, leaid: str, conn: Connection) -> dict[str, Any] | None:
    rows = store.read_table(
        "benchmark_participants", PARTICIPANT_SCHEMA, where={"leaid": leaid}, conn=conn
    )
    return rows.row(0, named=True) if rows.height else None


def _require_known_district(store: WarehouseStore, leaid: str, conn: Connection) -> None:
    found = store.scalar(
        "SELECT COUNT(*) FROM district_data_history WHERE leaid = :l", {"l": leaid}, conn=conn
    )
    if not found:
        raise ParticipationError(
            f"district {leaid} is not in district_data_history; load its state first "
            "(or check the id)"
        )


def enroll(
    store: WarehouseStore, leaid: str, shares: Iterable[str], actor: str | None = None
) -> None:
    leaid = normalize_leaid(leaid)
    shares = _valid(shares)
    with store.participation_lock(bump=True) as conn:
        _require_known_district(store, leaid, conn)
        if _current(store, leaid, conn) is not None:
            raise ParticipationError(
                f"district {leaid} is already enrolled; change what it shares with `settings`"
            )
        now = utc_now()
        carried = _carried_spend(store, leaid, conn)
        details: dict[str, Any] = {"shares": sorted(shares)}
        if carried.height:
            details["budget_carried"] = carried.select("year", "category", "epsilon").to_dicts()
        store.write_many(
            conn,
            [
                ("benchmark_participants", participant_row(leaid, shares, now, now),
                 {"leaid": leaid}),
                ("privacy_budget_charges", carried, None),
                audit_write("participant.enroll", details, leaid, actor),
            ],
        )  # fmt: skip


def update_settings(
    store: WarehouseStore, leaid: str, shares: Iterable[str], actor: str | None = None
) -> list[int]:
    """Set the shared categories; returns the years whose private outputs were purged."""
    leaid = normalize_leaid(leaid)
    shares = _valid(shares)
    with store.participation_lock(bump=True) as conn:
        current = _current(store, leaid, conn)
        if current is None:
            raise ParticipationError(f"district {leaid} is not enrolled; use `enroll` first")
        dropped = sorted(shares_of(current) - set(shares))
        purge, years, files = _purge_writes(store, conn, leaid, dropped, withdrawing=False)
        row = participant_row(leaid, shares, current["enrolled_at"], utc_now())
        details = {
            "shares": sorted(shares),
            "stopped_sharing": dropped,
            "purged_years": years,
            "report_files_deleted": len(files),
        }
        store.write_many(
            conn,
            [
                ("benchmark_participants", row, {"leaid": leaid}),
                *purge,
                audit_write("participant.settings", details, leaid, actor),
            ],
        )
    _unlink(files)
    return years


def withdraw(store: WarehouseStore, leaid: str, actor: str | None = None) -> list[int]:
    """Remove the district and everything derived from it; returns the years to
    re-materialize."""
    leaid = normalize_leaid(leaid)
    with store.participation_lock(bump=True) as conn:
        if _current(store, leaid, conn) is None:
            raise ParticipationError(f"district {leaid} is not enrolled")
        spent = store.read_df(
            "SELECT year, category, SUM(epsilon) AS epsilon FROM privacy_budget_charges "
            "WHERE leaid = :l GROUP BY year, category ORDER BY year, category",
            {"l": leaid},
            {"year": pl.Int32(), "category": pl.String(), "epsilon": pl.Float64()},
            conn=conn,
        )
        purge, years, files = _purge_writes(store, conn, leaid, list(CATEGORIES), withdrawing=True)
        empty = pl.DataFrame(schema={"leaid": pl.String()})
        details = {
            "purged_years": years,
            "report_files_deleted": len(files),
            "budget_spent": spent.to_dicts(),
        }
        store.write_many(
            conn,
            [
                ("benchmark_participants", empty, {"leaid": leaid}),
                ("participant_percentiles", empty, {"leaid": leaid}),
                ("privacy_budget_charges", empty, {"leaid": leaid}),
                *purge,
                audit_write("participant.withdraw", details, leaid, actor),
            ],
        )
        conn.execute(
            sa.text("DELETE FROM pipeline_failures WHERE partition_key LIKE :p OR tags LIKE :p"),
            {"p": f"%{leaid}%"},
        )
    _unlink(files)
    return years


def _purge_writes(
    store: WarehouseStore, conn: Connection, leaid: str, categories: list[str], withdrawing: bool
) -> tuple[list[tuple[str, pl.DataFrame, dict[str, Any]]], list[int], list[Path]]:
    """Deletes of the district's submissions in ``categories`` and of everything derived from
    them, and the report files to unlink once they commit."""
    if not categories:
        return [], [], []
    touched = store.read_table(
        "benchmark_metric_submissions",
        {"year": pl.Int32()},
        where={"leaid": leaid, "category": categories},
        conn=conn,
    ).unique()
    draws = store.read_table(
        "privacy_budget_charges",
        {"draw_id": pl.String(), "year": pl.Int32()},
        where={"leaid": leaid, "category": categories},
        conn=conn,
    ).filter(~pl.col("draw_id").str.starts_with(CARRIED_PREFIX))
    reports = store.read_table(
        "benchmark_reports", {"path": pl.String()}, where={"leaid": leaid}, conn=conn
    )
    draw_ids = draws["draw_id"].to_list()
    empty = pl.DataFrame(schema={"leaid": pl.String()})
    by_draw = {"draw_id": draw_ids}
    writes: list[tuple[str, pl.DataFrame, dict[str, Any]]] = [
        ("benchmark_metric_submissions", empty, {"leaid": leaid, "category": categories}),
        ("participant_private_benchmarks", empty, {"leaid": leaid, "category": categories}),
        ("participant_private_benchmarks", empty, by_draw),
        ("private_cohort_benchmarks", empty, by_draw),
        ("dp_noise_draws", empty, by_draw),
        # Its reports print its submitted values: they go with the consent.
        ("benchmark_reports", empty, {"leaid": leaid}),
        ("benchmark_insights", empty, {"leaid": leaid}),
    ]
    years = sorted(set(touched["year"].to_list()) | set(draws["year"].to_list()))
    return writes, years, _report_files(leaid, [Path(p) for p in reports["path"]])


def _report_files(leaid: str, paths: list[Path]) -> list[Path]:
    """The listed files, and anything else under ``{reports_dir}/*/{leaid}/`` (a file a crashed
    run left behind), so nothing printing the district's values is left on disk."""
    found = set(paths)
    for root in {p.parent.parent.parent for p in paths}:
        for folder in root.glob(f"*/{leaid}"):
            if folder.is_dir():
                found |= {f for f in folder.iterdir() if f.is_file()}
    return sorted(found)


def _unlink(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()


CARRIED_PREFIX = "carried:"


def _carried_spend(store: WarehouseStore, leaid: str, conn: Connection) -> pl.DataFrame:
    """Charges that carry a returning district's earlier spend (from its last withdrawal)."""
    log = audit_read_log(store, leaid, conn=conn)
    withdrawals = log.filter(pl.col("action") == "participant.withdraw")
    if withdrawals.height == 0:
        return pl.DataFrame(schema=CHARGE_SCHEMA)
    last = withdrawals.row(-1, named=True)
    spent = json.loads(last["details"]).get("budget_spent", [])
    rows = [
        {"draw_id": f"{CARRIED_PREFIX}{last['event_id']}:{s['year']}:{s['category']}",
         "leaid": leaid, "year": int(s["year"]), "category": s["category"],
         "epsilon": float(s["epsilon"])}
        for s in spent
        if float(s["epsilon"]) > 0
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=CHARGE_SCHEMA) if rows else pl.DataFrame(schema=CHARGE_SCHEMA)


def _valid(shares: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(shares)
    unknown = [c for c in chosen if c not in CATEGORIES]
    if unknown:
        raise ParticipationError(
            f"unknown data categories {unknown}; choose from {', '.join(CATEGORIES)}"
        )
    if not chosen:
        raise ParticipationError(
            f"share at least one category ({', '.join(CATEGORIES)}), or withdraw"
        )
    return chosen
