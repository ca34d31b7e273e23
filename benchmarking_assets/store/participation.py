"""The participation registry: opt-in per data category, settings, withdrawal (docs/privacy.md).

* ``enroll`` refuses a district that is not in ``district_data_history`` or is already
  enrolled, and unknown categories (``catalog.parse_categories``).
* ``update_settings`` replaces the shared categories. Categories no longer shared count as a
  withdrawal *for those categories*: their submissions and every private output derived from
  them are purged at once.
* ``withdraw`` deletes the participant, all its submissions, its rows in
  ``participant_private_benchmarks`` and ``participant_percentiles``, and — because a noisy mean
  computed with its values is still derived from its data — the private cohort statistics and
  stored DP releases of every (year, metric) it contributed to. The next materialization of
  those years republishes the other participants' statistics without it (a new release: new
  noise, a new ledger charge). The budget ledger (ε, scale, n; no values) and the audit log stay.

Every change and its audit entry are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import CATEGORIES
from benchmarking_assets.core.ids import require_leaid
from benchmarking_assets.store.audit import audit_write
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


def list_participants(store: WarehouseStore) -> pl.DataFrame:
    return store.read_table("benchmark_participants", PARTICIPANT_SCHEMA, order_by=("leaid",))


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


def active_shares(store: WarehouseStore) -> dict[str, frozenset[str]]:
    return {r["leaid"]: shares_of(r) for r in list_participants(store).iter_rows(named=True)}


def _current(store: WarehouseStore, leaid: str) -> dict[str, Any] | None:
    rows = store.read_table("benchmark_participants", PARTICIPANT_SCHEMA, where={"leaid": leaid})
    return rows.row(0, named=True) if rows.height else None


def _require_known_district(store: WarehouseStore, leaid: str) -> None:
    found = store.scalar(
        "SELECT COUNT(*) FROM district_data_history WHERE leaid = :l", {"l": leaid}
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
    _require_known_district(store, leaid)
    if _current(store, leaid) is not None:
        raise ParticipationError(
            f"district {leaid} is already enrolled; change what it shares with `settings`"
        )
    now = utc_now()
    store.replace_many(
        [
            ("benchmark_participants", participant_row(leaid, shares, now, now), {"leaid": leaid}),
            audit_write("participant.enroll", {"shares": sorted(shares)}, leaid, actor),
        ]
    )


def update_settings(
    store: WarehouseStore, leaid: str, shares: Iterable[str], actor: str | None = None
) -> list[int]:
    """Set the shared categories; returns the years whose private outputs were purged."""
    leaid = normalize_leaid(leaid)
    shares = _valid(shares)
    current = _current(store, leaid)
    if current is None:
        raise ParticipationError(f"district {leaid} is not enrolled; use `enroll` first")
    dropped = sorted(shares_of(current) - set(shares))
    purge, years = _purge_writes(store, leaid, dropped)
    row = participant_row(leaid, shares, current["enrolled_at"], utc_now())
    details = {"shares": sorted(shares), "stopped_sharing": dropped, "purged_years": years}
    store.replace_many(
        [
            ("benchmark_participants", row, {"leaid": leaid}),
            *purge,
            audit_write("participant.settings", details, leaid, actor),
        ]
    )
    return years


def withdraw(store: WarehouseStore, leaid: str, actor: str | None = None) -> list[int]:
    """Remove the district and its private data; returns the years to re-materialize."""
    leaid = normalize_leaid(leaid)
    if _current(store, leaid) is None:
        raise ParticipationError(f"district {leaid} is not enrolled")
    purge, years = _purge_writes(store, leaid, list(CATEGORIES))
    empty = pl.DataFrame(schema={"leaid": pl.String()})
    store.replace_many(
        [
            ("benchmark_participants", empty, {"leaid": leaid}),
            ("participant_percentiles", empty, {"leaid": leaid}),
            *purge,
            audit_write("participant.withdraw", {"purged_years": years}, leaid, actor),
        ]
    )
    return years


def _purge_writes(
    store: WarehouseStore, leaid: str, categories: list[str]
) -> tuple[list[tuple[str, pl.DataFrame, dict[str, Any]]], list[int]]:
    """Deletes of the district's submissions in ``categories`` and of what was derived."""
    if not categories:
        return [], []
    touched = store.read_table(
        "benchmark_metric_submissions",
        {"year": pl.Int32(), "metric": pl.String()},
        where={"leaid": leaid, "category": categories},
    ).unique()
    empty = pl.DataFrame(schema={"leaid": pl.String()})
    writes: list[tuple[str, pl.DataFrame, dict[str, Any]]] = [
        ("benchmark_metric_submissions", empty, {"leaid": leaid, "category": categories}),
        ("participant_private_benchmarks", empty, {"leaid": leaid, "category": categories}),
    ]
    years = sorted(touched["year"].unique().to_list())
    for year in years:
        metrics = touched.filter(pl.col("year") == year)["metric"].sort().to_list()
        where = {"year": year, "metric": metrics}
        writes += [
            ("private_cohort_benchmarks", empty, where),
            ("participant_private_benchmarks", empty, where),
            ("dp_releases", empty, where),
        ]
    return writes, years


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
