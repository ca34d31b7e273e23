"""Safe exports: cell neutralisation, report file paths, and the two CSVs.

**Two CSVs.** The *long* CSV (``…_{year}.csv``) is for analysis: one number per row
(``leaid, report_year, section, metric, measure, data_year, value, text``), exact values as in
the warehouse, ids as stored. The *wide* CSV (``…_{year}_wide.csv``) is for a person: one row
per metric with human headers and labels, values rounded as the PDF prints them, units in
their own columns, the change's unit and the years it compares, and a reading of the metric
(better or worse than peers for students, improving or declining).

**Control characters** that no XLSX cell can hold (NUL and the other C0 controls but tab,
newline and carriage return) become spaces in every exported cell, so one bad name cannot make
the workbook fail after other files were written.

**Formula injection.** A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return as a formula. :func:`safe_cell` prefixes such *text* with an apostrophe
(``'=HYPERLINK(…)`` is shown, never run). Numbers are real values in these reports — deltas
such as −3.2 — so they stay numbers: Python ``int``/``float`` values are written as numbers (a
numeric XLSX cell; a plain ``-3.2`` in the CSV), and a *string* that is exactly a decimal number
(``"-3.2"``, ``"1e5"``) is left alone too; any other text starting with ``-`` is neutralised.

**File names** come only from a validated leaid (7 digits) and year (4 digits); the path is
``{reports_dir}/{year}/{leaid}/benchmark_report_{leaid}_{year}.{pdf|xlsx|csv}`` (the wide CSV:
``…_{year}_wide.csv``) and is checked to stay inside the reports folder.
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path
from typing import Any

from benchmarking_assets.core.catalog import DIRECTION_TEXT
from benchmarking_assets.core.ids import normalize_leaid, require_year
from benchmarking_assets.core.reports.content import QUARTER_TEXT, ReportData
from benchmarking_assets.core.reports.insights import metric_story

FORMATS = ("pdf", "xlsx", "csv", "csv_wide")
FILE_ENDINGS = {"pdf": ".pdf", "xlsx": ".xlsx", "csv": ".csv", "csv_wide": "_wide.csv"}
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Characters an XLSX cell cannot hold (openpyxl refuses the whole workbook for one of them).
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
CSV_COLUMNS = ("leaid", "report_year", "section", "metric", "measure", "data_year", "value", "text")


def safe_cell(value: Any) -> Any:
    """A value safe for a CSV or XLSX cell: numbers unchanged, formula-like text neutralised."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return None if isinstance(value, float) and not math.isfinite(value) else value
    text = _ILLEGAL.sub(" ", str(value))
    if text.startswith(_TRIGGERS) and not (text[0] in "+-" and _NUMBER.match(text)):
        return "'" + text
    return text


def validate_key(leaid: str, year: int | str) -> tuple[str, int]:
    """A 7-digit leaid (exactly, as stored) and a 4-digit year, or ``ValueError``."""
    if not isinstance(leaid, str) or normalize_leaid(leaid) != leaid:
        raise ValueError(f"not a 7-digit NCES leaid: {leaid!r}")
    return leaid, require_year(year)


def report_path(reports_dir: str | Path, leaid: str, year: int | str, fmt: str) -> Path:
    leaid, year = validate_key(leaid, year)
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}")
    root = Path(reports_dir).resolve()
    name = f"benchmark_report_{leaid}_{year}{FILE_ENDINGS[fmt]}"
    path = (root / str(year) / leaid / name).resolve()
    if root not in path.parents:
        raise ValueError(f"{path} is outside the reports folder {root}")
    return path


def long_rows(report: ReportData) -> list[dict[str, Any]]:
    """Every number of the report, one per row (tidy long): the CSV, and the XLSX's sources."""
    rows: list[dict[str, Any]] = []

    def add(
        section: str,
        metric: str,
        measure: str,
        value: Any = None,
        text: Any = None,
        data_year: int | None = None,
    ) -> None:
        rows.append(
            {
                "leaid": report.leaid,
                "report_year": report.year,
                "section": section,
                "metric": metric,
                "measure": measure,
                "data_year": data_year,
                "value": value,
                "text": text,
            }
        )

    add("identity", "", "lea_name", text=report.lea_name)
    add("identity", "", "state_code", text=report.state_code)
    p = report.profile
    if p is not None:
        for measure, value, text in (
            ("enrollment", p.enrollment, None),
            ("teachers_fte", p.teachers_fte, None),
            ("frl_pct", p.frl_pct, None),
            ("locale", None, p.locale),
            ("grades", None, p.grades),
            ("schools", None, p.schools),
        ):
            add("profile", "", measure, value, text, data_year=p.year)
    if report.cohort:
        c = report.cohort
        add("identity", "", "peer_group", text=c.description, data_year=c.year or report.year)
        add("identity", "", "peer_group_id", text=c.cohort_id, data_year=c.year or report.year)
        add("identity", "", "peer_group_size", c.size, data_year=c.year or report.year)
    for g in report.other_groups:
        add("identity", "", "peer_group", text=g.description, data_year=g.year)
        add("identity", "", "peer_group_id", text=g.cohort_id, data_year=g.year)
        add("identity", "", "peer_group_size", g.size, data_year=g.year)
    for d in report.peer_districts:
        add("peer_group_member", d.leaid, "enrollment", d.enrollment, d.name, report.year)
    add("privacy", "", "min_cohort_size", report.k)
    for m in report.metrics:
        name, y = m.info.name, m.data_year
        for measure, value in (
            ("district", m.value),
            ("state_average", m.state_avg),
            ("national_average", m.national_avg),
            ("vs_state", m.vs_state),
            ("vs_national", m.vs_national),
            ("trend_3yr", m.trend_3yr),
            ("percentile_among_peers", m.percentile_rank),
        ):
            add("comparison", name, measure, value, data_year=y)
        add("comparison", name, "quartile_in_state", text=m.quartile_state, data_year=y)
        if m.change_years:
            add("comparison", name, "trend_from_year", m.change_years[0], data_year=y)
        if m.missing_reason:
            add("comparison", name, "no_value_reason", text=m.missing_reason, data_year=y)
        if m.peer_group:
            add("peers", name, "peer_group_year", m.peer_group.year, data_year=y)
            add("peers", name, "peer_group_size", m.peer_group.size, data_year=y)
        if m.peer:
            for stat in ("n", "mean", "median", "p25", "p75", "p90", "std"):
                add("peers", name, f"peer_{stat}", getattr(m.peer, stat), data_year=y)
        elif m.value is not None:
            add("peers", name, "peer_statistics", text="suppressed (fewer than k)", data_year=y)
    for r in report.trends.iter_rows(named=True):
        add("trend", r["metric"], r["series"].replace(" ", "_"), r["value"], data_year=r["year"])
    private_long_rows(report, add)
    for i, ins in enumerate(report.insights, start=1):
        add("insight", ins.metric, f"{i:02d}_{ins.kind}_{ins.severity}", text=ins.detail)
        for key, value in ins.numbers.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                add("insight", ins.metric, f"{i:02d}_{key}", value)
    return rows


def private_long_rows(report: ReportData, add: Any) -> None:
    """The private section: each DP value with its margin, its group (label, n), the
    comparison and the status; then the district's privacy spend."""
    y = report.year
    for p in report.private:
        add("private", p.metric, "own_value", p.own_value, text=p.unit, data_year=y)
        add("private", p.metric, "peer_dp_mean", p.dp_mean, text=p.unit, data_year=y)
        add("private", p.metric, "peer_dp_margin_90", p.margin_90, text=p.unit, data_year=y)
        add("private", p.metric, "peer_group", text=p.group_label, data_year=y)
        add("private", p.metric, "peer_n", p.n, data_year=y)
        add("private", p.metric, "comparison", text=p.comparison, data_year=y)
        add("private", p.metric, "status", text=p.status_reason or p.status, data_year=y)
        add("private", p.metric, "epsilon", p.epsilon, data_year=y)
    for b in report.budget:
        add("privacy_budget", b.category, "epsilon_used", b.spent, data_year=b.year)
        add("privacy_budget", b.category, "epsilon_budget", b.limit, data_year=b.year)
        add("privacy_budget", b.category, "noise_draws", b.draws, data_year=b.year)


def render_csv(report: ReportData) -> bytes:
    """The tidy long CSV (UTF-8, header row, numbers plain, text neutralised)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in long_rows(report):
        writer.writerow(["" if (v := safe_cell(row[c])) is None else v for c in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8")


WIDE_COLUMNS = (
    "Metric",
    "Unit",
    "Which way is better",
    "Data year",
    "Your district",
    "State average",
    "Nation",
    "Peer median",
    "Peer 25th percentile",
    "Peer 75th percentile",
    "Peers with a value",
    "Peer group year",
    "Peer group size",
    "Percentile among peers",
    "Among the state's districts",
    "3-year change",
    "Change unit",
    "Change compares",
    "Reading",
    "Why no value",
)


def _rounded(value: float | None, unit: str) -> float | int | None:
    """As the PDF prints it: whole dollars, else one decimal."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(value) if unit in ("$", "USD") else round(value, 1)


def wide_rows(report: ReportData) -> list[dict[str, Any]]:
    """One row per public metric, as a person reads it (the wide CSV)."""
    rows = []
    for m in report.metrics:
        info, peer, unit = m.info, m.peer, m.info.unit
        story = metric_story(m, report.trends, report.year)
        rows.append(
            {
                "Metric": info.label,
                "Unit": unit,
                "Which way is better": DIRECTION_TEXT[info.direction],
                "Data year": m.data_year,
                "Your district": _rounded(m.value, unit),
                "State average": _rounded(m.state_avg, unit),
                "Nation": _rounded(m.national_avg, unit),
                "Peer median": _rounded(peer.median, unit) if peer else None,
                "Peer 25th percentile": _rounded(peer.p25, unit) if peer else None,
                "Peer 75th percentile": _rounded(peer.p75, unit) if peer else None,
                "Peers with a value": peer.n if peer else None,
                "Peer group year": m.peer_group.year if m.peer_group else None,
                "Peer group size": m.peer_group.size if m.peer_group else None,
                "Percentile among peers": None
                if m.percentile_rank is None
                else round(m.percentile_rank),
                "Among the state's districts": QUARTER_TEXT.get(m.quartile_state or ""),
                "3-year change": None if m.trend_3yr is None else round(m.trend_3yr, 1),
                "Change unit": info.trend.suffix(unit).strip() if info.trend else None,
                "Change compares": f"{m.change_years[0]} with {m.change_years[1]}"
                if m.change_years
                else None,
                "Reading": story.verdict or None,
                "Why no value": m.missing_reason,
            }
        )
    return rows


def render_csv_wide(report: ReportData) -> bytes:
    """The human-readable wide CSV (UTF-8 with a BOM, so Excel reads the accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(WIDE_COLUMNS)
    for row in wide_rows(report):
        writer.writerow(["" if (v := safe_cell(row[c])) is None else v for c in WIDE_COLUMNS])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
