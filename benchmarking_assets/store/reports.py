"""Reports in the warehouse and on disk: the reads a batch of reports needs, the generation
of files and rows, their deletion, and the retention purge (no Dagster).

:func:`generate` builds each district's report (:mod:`benchmarking_assets.core.reports`),
renders PDF, XLSX and the long and wide CSV under ``{reports_dir}/{year}/{leaid}/``, and writes
``benchmark_insights``, ``benchmark_reports`` and one audit entry per generation and per exported
file in one transaction. :func:`delete_report_writes` removes a district's files and returns the
row deletes (with their audit entries) to run; :func:`purge_expired_reports` applies
``DATA_RETENTION_DAYS``.

**Atomic generation.** Every file of the batch is rendered in memory first (a district whose
report cannot be rendered stops the batch with its leaid and format before anything is
written), then — under the participation lock, for the districts that are participants at that
moment, so a withdrawal while reports render wins — written under a temporary name
(``.{name}.{token}.tmp`` beside it) and their rows committed, and only then are the files
renamed into place (a file renamed for a district that withdrew meanwhile is deleted). So a
report file under its real name always has its row (and so its expiry); a run killed before
the commit leaves only temporary files, and a run killed between commit and rename leaves rows
whose files the next run rewrites (and retention moves into place). :func:`sweep_orphans` (run
by retention) settles what is older than :data:`STALE_TMP_SECONDS`: committed temporary files
are moved into place, other temporary files and report files that no row lists are deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from benchmarking_assets.core.catalog import CATEGORIES
from benchmarking_assets.core.reports.content import (
    MAX_LAG,
    NAMES,
    STATE_COLUMN,
    TREND_COLUMN,
    ReportData,
    ReportFrames,
    build_report,
)
from benchmarking_assets.core.reports.exports import (
    FILE_ENDINGS,
    render_csv,
    render_csv_wide,
    report_path,
)
from benchmarking_assets.core.reports.insights import derive_insights
from benchmarking_assets.core.reports.render_pdf import render_pdf
from benchmarking_assets.core.reports.render_xlsx import render_xlsx
from benchmarking_assets.store import audit, participation
from benchmarking_assets.store.warehouse import WarehouseStore

REPORT_SCHEMA = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "format": pl.String(),
    "path": pl.String(),
    "bytes": pl.Int64(),
    "sha256": pl.String(),
    "generated_at": pl.String(),
    "expires_at": pl.String(),
}
INSIGHT_SCHEMA = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "insight_rank": pl.Int32(),
    "kind": pl.String(),
    "metric": pl.String(),
    "severity": pl.String(),
    "title": pl.String(),
    "detail": pl.String(),
    "numbers": pl.String(),
    "generated_at": pl.String(),
}
_TS = "%Y-%m-%dT%H:%M:%SZ"


def _in(name: str, values: list[str]) -> tuple[str, dict[str, str]]:
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return "(" + ", ".join(f":{p}" for p in params) + ")", params


def read_frames(
    store: WarehouseStore,
    year: int,
    leaids: list[str],
    k: int,
    budget_limit: float | None = None,
) -> ReportFrames:
    """The frames for the reports of ``leaids`` in ``year`` (a handful of queries per batch);
    ``budget_limit`` is ``PRIVACY_BUDGET_PER_DISTRICT``, printed beside each spend."""
    ids, p = _in("l", leaids or [""])
    p = {**p, "y": year, "k": k}
    f64, s = pl.Float64(), pl.String()
    bench_cols = {"leaid": s, "year": pl.Int32(), "state_code": s}
    for m in NAMES:
        bench_cols |= {m: f64, f"{m}_vs_state": f64, f"{m}_vs_national": f64}
        bench_cols |= {f"{m}_quartile_state": s, TREND_COLUMN[m]: f64}
    cols = ", ".join(bench_cols)
    districts = store.read_df(
        f"SELECT {cols} FROM district_benchmarks WHERE leaid IN {ids} AND year <= :y", p, bench_cols
    )
    name_cols = {"leaid": s, "year": pl.Int32(), "lea_name": s, "state_code": s}
    name_cols |= {"enrollment": pl.Int64(), "teachers_fte": f64, "frl_students": pl.Int64()}
    name_cols |= {c: pl.Int32() for c in ("urban_centric_locale", "lowest_grade", "highest_grade")}
    names = store.read_df(
        f"SELECT {', '.join(name_cols)} FROM district_data_history "
        f"WHERE leaid IN {ids} AND year <= :y",
        p,
        name_cols,
    )
    # Why a value is NULL (the source's -1/-2/-3 code), for the years a report can show.
    codes = store.read_df(
        "SELECT leaid, year, column_name, code FROM district_data_codes "
        f"WHERE leaid IN {ids} AND year <= :y AND year >= :y0",
        {**p, "y0": year - MAX_LAG},
        {"leaid": s, "year": pl.Int32(), "column_name": s, "code": pl.Int32()},
    )
    states = sorted(set(names["state_code"].to_list()) | {"US"})
    st, sp = _in("s", states)
    state_cols = {"state_code": s, "year": pl.Int32()} | {c: f64 for c in STATE_COLUMN.values()}
    state_rows = store.read_df(
        f"SELECT {', '.join(state_cols)} FROM state_benchmarks "
        f"WHERE state_code IN {st} AND year <= :y",
        {**sp, "y": year},
        state_cols,
    )
    cohort_cols = {
        "year": pl.Int32(),
        "leaid": s,
        "cohort_id": s,
        "cohort_size": pl.Int32(),
        "ladder_step": s,
        "merged_leftover": pl.Int32(),
        "size_band": s,
        "locale": s,
        "frl_band": s,
        "grade_span": s,
        "region": s,
        "state_code": s,
    }
    cohorts = store.read_df(
        f"SELECT {', '.join(cohort_cols)} FROM peer_cohorts WHERE leaid IN {ids} AND year <= :y",
        p,
        cohort_cols,
    )
    stat_cols = {"year": pl.Int32(), "cohort_id": s, "metric": s, "n": pl.Int64()}
    stat_cols |= {c: f64 for c in ("mean", "median", "p25", "p75", "p90", "std")}
    cohort_stats = store.read_df(
        f"SELECT {', '.join('c.' + c for c in stat_cols)} FROM cohort_benchmarks c "
        "WHERE c.n >= :k AND EXISTS (SELECT 1 FROM peer_cohorts pc WHERE pc.year = c.year "
        f"AND pc.cohort_id = c.cohort_id AND pc.leaid IN {ids} AND pc.year <= :y)",
        p,
        stat_cols,
    )
    percentiles = store.read_df(
        "SELECT leaid, year, metric, percentile_rank FROM participant_percentiles "
        f"WHERE year <= :y AND cohort_n >= :k AND leaid IN {ids}",
        p,
        {"leaid": s, "year": pl.Int32(), "metric": s, "percentile_rank": f64},
    )
    private = store.read_df(
        "SELECT m.leaid, b.category, b.metric, b.unit, b.n, b.dp_mean, b.margin_90, b.epsilon, "
        "b.group_label, b.status, b.status_reason, b.released_at, s.value "
        "FROM participant_private_benchmarks m JOIN private_cohort_benchmarks b "
        "ON b.year = m.year AND b.metric = m.metric AND b.group_id = m.group_id "
        "AND b.draw_id = m.draw_id "
        "LEFT JOIN benchmark_metric_submissions s "
        "ON s.leaid = m.leaid AND s.year = m.year AND s.metric = m.metric "
        f"WHERE m.year = :y AND b.n >= :k AND m.leaid IN {ids}",
        p,
        {
            "leaid": s,
            "category": s,
            "metric": s,
            "unit": s,
            "n": pl.Int64(),
            "dp_mean": f64,
            "margin_90": f64,
            "epsilon": f64,
            "group_label": s,
            "status": s,
            "status_reason": s,
            "released_at": s,
            "value": f64,
        },
    )
    budget = store.read_df(
        "SELECT leaid, year, category, epsilon_spent, draws FROM privacy_budget_spent "
        f"WHERE year = :y AND leaid IN {ids}",
        p,
        {"leaid": s, "year": pl.Int32(), "category": s, "epsilon_spent": f64,
         "draws": pl.Int64()},
    )  # fmt: skip
    part_cols = {"leaid": s} | {f"shares_{c}": pl.Int32() for c in CATEGORIES}
    participants = store.read_table("benchmark_participants", part_cols)
    member_cols = {"cohort_id": s, "leaid": s} | {m: f64 for m in NAMES}
    member_cols |= {TREND_COLUMN[m]: f64 for m in NAMES}
    peer_members = store.read_df(
        f"SELECT pc.cohort_id, pc.leaid, {', '.join('b.' + c for c in list(member_cols)[2:])} "
        "FROM peer_cohorts pc JOIN district_benchmarks b ON b.leaid = pc.leaid "
        "AND b.year = pc.year WHERE pc.year = :y AND pc.cohort_id IN (SELECT cohort_id FROM "
        f"peer_cohorts WHERE year = :y AND leaid IN {ids})",
        p,
        member_cols,
    )
    # The report year's public peer groups, by name: public data (docs/reports.md).
    peer_directory = store.read_df(
        "SELECT pc.cohort_id, pc.leaid, h.lea_name, h.state_code, h.enrollment "
        "FROM peer_cohorts pc JOIN district_data_history h ON h.leaid = pc.leaid "
        "AND h.year = pc.year WHERE pc.year = :y AND pc.cohort_id IN (SELECT cohort_id FROM "
        f"peer_cohorts WHERE year = :y AND leaid IN {ids})",
        p,
        {"cohort_id": s, "leaid": s, "lea_name": s, "state_code": s, "enrollment": pl.Int64()},
    )
    return ReportFrames(
        year,
        k,
        districts,
        names,
        state_rows,
        cohorts,
        cohort_stats,
        percentiles,
        private,
        participants,
        peer_members,
        codes=codes,
        peer_directory=peer_directory,
        budget=budget,
        budget_limit=budget_limit,
    )


STALE_TMP_SECONDS = 3_600  # a temporary report file this old belongs to no live run
# A report file's name, for every format the renderers write (``FILE_ENDINGS``).
_ENDINGS = "|".join(re.escape(e) for e in sorted(FILE_ENDINGS.values(), key=len, reverse=True))
_TMP = re.compile(rf"^\.benchmark_report_[0-9]{{7}}_[0-9]{{4}}({_ENDINGS})\.[0-9a-f]{{32}}\.tmp$")
_FINAL = re.compile(rf"^benchmark_report_[0-9]{{7}}_[0-9]{{4}}({_ENDINGS})$")
RENDERERS = (
    ("pdf", render_pdf),
    ("xlsx", render_xlsx),
    ("csv", render_csv),
    ("csv_wide", render_csv_wide),
)


class ReportError(RuntimeError):
    """A report could not be generated; the message names the district, year and format."""


def render_report(report: ReportData) -> dict[str, bytes]:
    """Every format (:data:`RENDERERS`: PDF, XLSX, long and wide CSV), in memory; a failure
    names the district, year and format (nothing is written here)."""
    out = {}
    for fmt, render in RENDERERS:
        try:
            out[fmt] = render(report)
        except Exception as exc:  # any renderer failure: name the report, write nothing
            raise ReportError(
                f"report {report.leaid} {report.year}: the {fmt.upper()} could not be rendered "
                f"({type(exc).__name__}: {exc}); no report of this run was written"
            ) from exc
    return out


def render_files(report: ReportData, reports_dir: str) -> dict[str, tuple[Path, bytes]]:
    """:func:`render_report` with each file's final path: ``format → (path, bytes)``.

    Nothing is written here: :func:`generate` writes a whole batch once every report rendered."""
    return {
        fmt: (report_path(reports_dir, report.leaid, report.year, fmt), data)
        for fmt, data in render_report(report).items()
    }


def _write_temporary(files: list[tuple[Path, bytes]]) -> list[tuple[Path, Path]]:
    """Write each file beside its final path under a temporary name; ``[(tmp, final)]``."""
    token = uuid.uuid4().hex
    moves: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{token}.tmp")
            tmp.write_bytes(data)
            moves.append((tmp, path))
    except BaseException:
        _discard(moves)
        raise
    return moves


def _discard(moves: list[tuple[Path, Path]]) -> None:
    for tmp, _ in moves:
        tmp.unlink(missing_ok=True)


def sweep_orphans(store: WarehouseStore, reports_dir: str | Path) -> dict[str, int]:
    """Settle what a killed run left under ``reports_dir``, once it is older than any run
    (:data:`STALE_TMP_SECONDS`): a temporary file whose row was committed (same path, same
    SHA-256) and whose file is missing is moved into place; other temporary files are deleted,
    and so are report files that ``benchmark_reports`` does not list (left by older code, or
    copied in by hand). Only files named like reports are touched; links are neither followed
    nor deleted."""
    root = Path(reports_dir)
    counts = {"recovered_files": 0, "stale_temporary_files": 0, "unlisted_report_files": 0}
    if not root.is_dir():
        return counts
    rows = store.read_df(
        "SELECT path, sha256 FROM benchmark_reports",
        schema={"path": pl.String(), "sha256": pl.String()},
    )
    listed = dict(rows.iter_rows())
    # A live run's files are younger: its temporary files before its commit, and its renamed
    # ones after a commit that the read above may not have seen.
    cutoff = time.time() - STALE_TMP_SECONDS
    for folder, dirs, names in os.walk(root, followlinks=False):  # bounded by the tree
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in names:
            path = Path(folder) / name
            temporary, final = _TMP.match(name), _FINAL.match(name)
            if not (temporary or final) or path.is_symlink() or path.lstat().st_mtime >= cutoff:
                continue
            if final:
                if str(path.resolve()) not in listed:
                    path.unlink(missing_ok=True)
                    counts["unlisted_report_files"] += 1
                continue
            target = path.with_name(name[1:].rsplit(".", 2)[0])
            expected = listed.get(str(target.resolve()))
            if expected and not target.exists() and _sha256(path) == expected:
                os.replace(path, target)
                counts["recovered_files"] += 1
            else:
                path.unlink(missing_ok=True)
                counts["stale_temporary_files"] += 1
    return counts


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def delete_report_writes(
    store: WarehouseStore, leaids: list[str], years: list[int] | None, action: str, actor: str
) -> tuple[list[tuple[str, pl.DataFrame, dict[str, Any]]], int]:
    """Delete the files of the districts' reports; returns the table deletes (+ audit) to run."""
    where: dict[str, Any] = {"leaid": leaids} | ({"year": years} if years is not None else {})
    rows = store.read_table("benchmark_reports", REPORT_SCHEMA, where=where)
    for path in map(Path, rows["path"]):
        path.unlink(missing_ok=True)
        if path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()
    empty = pl.DataFrame(schema={"leaid": pl.String()})
    writes = [("benchmark_reports", empty, where), ("benchmark_insights", empty, where)]
    for leaid, group in rows.group_by("leaid"):
        years_deleted = sorted(set(group["year"].to_list()))
        details = {"years": years_deleted, "files": group.height}
        writes.append(audit.audit_write(action, details, str(leaid[0]), actor))
    return writes, rows.height


def generate(
    store: WarehouseStore,
    reports_dir: str,
    year: int,
    leaids: list[str],
    k: int,
    retention_days: int,
    actor: str = "dagster",
    budget_limit: float | None = None,
) -> list[dict[str, Any]]:
    """Generate (or regenerate) the reports of active participants ``leaids`` for ``year``.

    Every report is rendered in memory first (nothing is written if one fails). Then, under
    the participation lock, only for the districts that are participants at that moment (a
    withdrawal while the reports render wins, and nothing of the district is written), the
    files are written under temporary names and their rows committed; the files are renamed
    into place after the commit. A district that withdraws between the commit and the renames
    has its rows deleted by the withdrawal; the files renamed for it then are deleted here
    (:func:`_unplace_unlisted`), so no file outlives its row.
    """
    frames = read_frames(store, year, leaids, k, budget_limit)
    now = datetime.now(UTC)
    stamp, expires = now.strftime(_TS), (now + timedelta(days=retention_days)).strftime(_TS)
    rendered = []
    for leaid in leaids:
        started = time.perf_counter()
        report = build_report(frames, leaid, stamp)
        insights = derive_insights(report, frames.peer_members, frames.cohort_stats)
        report = replace(report, insights=insights)
        rendered.append((report, render_files(report, reports_dir), time.perf_counter() - started))
    moves: list[tuple[Path, Path]] = []
    try:
        with store.participation_lock() as conn:
            active = set(participation.list_participants(store, conn)["leaid"].to_list())
            kept = [r for r in rendered if r[0].leaid in active]  # withdrew while rendering
            summary, writes = _generation_writes(kept, leaids, year, stamp, expires, actor)
            moves = _write_temporary([f for _, files, _ in kept for f in files.values()])
            store.write_many(conn, writes)
    except BaseException:
        _discard(moves)
        raise
    placed = []
    for tmp, final in moves:  # after the commit: a file under its real name has its row
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # a withdrawal since the commit removed it and its folder
            continue
        placed.append(final)
    _unplace_unlisted(store, year, placed)
    return summary


def _generation_writes(
    kept: list[tuple[ReportData, dict[str, tuple[Path, bytes]], float]],
    leaids: list[str],
    year: int,
    stamp: str,
    expires: str,
    actor: str,
) -> tuple[list[dict[str, Any]], list[tuple[str, pl.DataFrame, dict[str, Any] | None]]]:
    """The summary and the rows (reports, insights, audit entries) of the kept reports."""
    reports, insight_rows, summary = [], [], []
    audits: list[tuple[str, pl.DataFrame, dict[str, Any] | None]] = []
    for report, files, seconds in kept:
        leaid = report.leaid
        for fmt, (path, data) in files.items():
            sha = hashlib.sha256(data).hexdigest()
            reports.append((leaid, year, fmt, str(path), len(data), sha, stamp, expires))
            details = {"year": year, "format": fmt, "bytes": len(data), "sha256": sha}
            audits.append(audit.audit_write("report.export", details, leaid, actor))
        for rank, ins in enumerate(report.insights, start=1):
            numbers = json.dumps(ins.numbers, sort_keys=True, default=str)
            insight_rows.append(
                (leaid, year, rank, ins.kind, ins.metric, ins.severity, ins.title, ins.detail,
                 numbers, stamp)
            )  # fmt: skip
        details = {
            "year": year,
            "formats": list(files),
            "insights": len(report.insights),
            "expires_at": expires,
        }
        audits.append(audit.audit_write("report.generate", details, leaid, actor))
        summary.append(
            {
                "leaid": leaid,
                "district": report.lea_name,
                "state": report.state_code,
                "year": year,
                "insights": len(report.insights),
                "seconds": round(seconds, 3),
                "paths": {f: str(p) for f, (p, _) in files.items()},
                "_report": report,
            }
        )
    where = {"leaid": leaids, "year": year}
    writes: list[tuple[str, pl.DataFrame, dict[str, Any] | None]] = [
        ("benchmark_reports", pl.DataFrame(reports, REPORT_SCHEMA, orient="row"), where),
        ("benchmark_insights", pl.DataFrame(insight_rows, INSIGHT_SCHEMA, orient="row"), where),
        *audits,
    ]
    return summary, writes


def _unplace_unlisted(store: WarehouseStore, year: int, placed: list[Path]) -> None:
    """Delete the files just renamed into place whose rows are gone: their district withdrew
    between this run's commit and its renames. Read under the participation lock, so a
    withdrawal either committed before (its rows are gone: the files go here) or comes after
    (it finds the files in place and deletes them)."""
    if not placed:
        return
    with store.participation_lock() as conn:
        leaids = sorted({path.parent.name for path in placed})  # {reports_dir}/{year}/{leaid}/
        listed = set(
            store.read_table(
                "benchmark_reports",
                {"path": pl.String()},
                where={"leaid": leaids, "year": year},
                conn=conn,
            )["path"].to_list()
        )
        for path in placed:
            if str(path) not in listed:
                path.unlink(missing_ok=True)
                if path.parent.is_dir() and not any(path.parent.iterdir()):
                    path.parent.rmdir()


def purge_expired_reports(
    store: WarehouseStore,
    retention_days: int | None = None,
    now: datetime | None = None,
    actor: str = "dagster",
) -> dict[str, int]:
    """Delete reports past ``expires_at`` (or generated more than ``retention_days`` ago):
    files, ``benchmark_reports`` and ``benchmark_insights`` rows, plus one audit entry."""
    now = now or datetime.now(UTC)
    params = {"now": now.strftime(_TS), "cut": "0000"}
    if retention_days is not None:
        params["cut"] = (now - timedelta(days=retention_days)).strftime(_TS)
    expired = store.read_df(
        "SELECT DISTINCT leaid, year FROM benchmark_reports WHERE expires_at < :now "
        "OR generated_at < :cut",
        params,
        {"leaid": pl.String(), "year": pl.Int32()},
    )
    writes: list[tuple[str, pl.DataFrame, dict[str, Any]]] = []
    files = 0
    # One read and one delete per year, not per report.
    for (year,), group in expired.group_by("year"):
        deletes, n = delete_report_writes(
            store, group["leaid"].to_list(), [int(year)], "retention.report_purge", actor
        )
        writes += deletes
        files += n
    details = {"cutoff": params["now"], "reports": expired.height, "files": files}
    writes.append(audit.audit_write("retention.reports_purge", details, actor=actor))
    store.replace_many(writes)
    return {"reports_purged": expired.height, "files_purged": files}


def withdrawn_report_leaids(store: WarehouseStore) -> list[str]:
    """Districts with report rows that are no longer participants."""
    return store.read_df(
        "SELECT DISTINCT leaid FROM benchmark_reports r WHERE NOT EXISTS "
        "(SELECT 1 FROM benchmark_participants p WHERE p.leaid = r.leaid)",
        schema={"leaid": pl.String()},
    )["leaid"].to_list()


def delete_withdrawn_reports(store: WarehouseStore, actor: str = "dagster") -> int:
    """Delete the report files and rows of districts that are no longer participants."""
    stale = withdrawn_report_leaids(store)
    if not stale:
        return 0
    writes, files = delete_report_writes(store, stale, None, "report.delete_withdrawn", actor)
    store.replace_many(writes)
    return files
