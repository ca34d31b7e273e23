"""The XLSX report: sheets Summary, Comparisons, Trends, Peers, Insights, Private, Privacy
budget, Notes.

Numbers are numeric cells (openpyxl writes 15 significant digits, Excel's own precision), text
goes through :func:`exports.safe_cell`, so a district name such as ``=cmd|…`` is shown, not run.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from benchmarking_assets.core.reports.content import (
    CROSS_STATE_CAVEAT,
    MARGIN_NOTE,
    RATIO_NOTE,
    ReportData,
)
from benchmarking_assets.core.reports.exports import safe_cell

BOLD = Font(bold=True)


def _sheet(
    wb: Workbook, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Worksheet:
    ws = wb.create_sheet(title)
    ws.append(list(header))
    for cell in ws[1]:
        cell.font = BOLD
    for row in rows:
        ws.append([safe_cell(v) for v in row])
    for i, name in enumerate(header):
        ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = max(12, len(name) + 2)
    ws.freeze_panes = "A2"
    return ws


def render_xlsx(report: ReportData) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    summary = _sheet(
        wb,
        "Summary",
        ["field", "value"],
        [
            ("District", report.lea_name),
            ("NCES leaid", report.leaid),
            ("State", report.state_code),
            ("School year (fall)", report.year),
            ("Peer group", report.cohort.description if report.cohort else "none"),
            ("Peer group size", report.cohort.size if report.cohort else None),
            ("Minimum cohort size (k)", report.k),
            ("Generated (UTC)", report.generated_at),
        ],
    )
    summary.column_dimensions["B"].width = 70
    metrics = report.metrics
    _sheet(
        wb,
        "Comparisons",
        [
            "metric",
            "label",
            "unit",
            "data_year",
            "district",
            "state_average",
            "national_average",
            "vs_state",
            "vs_national",
            "quartile_in_state",
            "trend_3yr",
            "trend_unit",
            "percentile_among_peers",
        ],
        [
            (
                m.info.name,
                m.info.label,
                m.info.unit,
                m.data_year,
                m.value,
                m.state_avg,
                m.national_avg,
                m.vs_state,
                m.vs_national,
                m.quartile_state,
                m.trend_3yr,
                m.info.trend.unit,
                m.percentile_rank,
            )
            for m in metrics
        ],
    )
    wide = (
        report.trends.pivot(on="series", index=["metric", "year"], values="value")
        if report.trends.height
        else pl.DataFrame({"metric": [], "year": []})
    )
    series = [c for c in ("district", "state", "nation", "peer median") if c in wide.columns]
    _sheet(
        wb,
        "Trends",
        ["metric", "year", *series],
        wide.select("metric", "year", *series).sort("metric", "year").rows(),
    )
    _sheet(
        wb,
        "Peers",
        ["metric", "data_year", "status", "n", "mean", "median", "p25", "p75", "p90", "std"],
        [
            (
                m.info.name,
                m.data_year,
                "published",
                m.peer.n,
                m.peer.mean,
                m.peer.median,
                m.peer.p25,
                m.peer.p75,
                m.peer.p90,
                m.peer.std,
            )
            if m.peer
            else (m.info.name, m.data_year, "suppressed (fewer than k)" if m.value else "no data")
            for m in metrics
        ],
    )
    _sheet(
        wb,
        "Insights",
        ["rank", "severity", "kind", "metric", "title", "detail"],
        [
            (i, x.severity, x.kind, x.metric, x.title, x.detail)
            for i, x in enumerate(report.insights, start=1)
        ],
    ).column_dimensions["F"].width = 100
    private_sheets(wb, report)
    _sheet(wb, "Notes", ["note"], [(n,) for n in notes(report)]).column_dimensions["A"].width = 120
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def private_sheets(wb: Workbook, report: ReportData) -> None:
    """Sheet Private (one row per private metric, numbers as numbers) and Privacy budget."""
    if report.private:
        ws = _sheet(
            wb,
            "Private",
            ["category", "metric", "unit", "own_value", "peer_dp_mean", "peer_dp_margin_90",
             "peer_group", "peer_n", "comparison", "status", "status_reason", "released_at",
             "epsilon"],
            [
                (p.category, p.metric, p.unit, p.own_value, p.dp_mean, p.margin_90,
                 p.group_label, p.n, p.comparison, p.status, p.status_reason, p.released_at,
                 p.epsilon)
                for p in report.private
            ],
        )  # fmt: skip
        ws.column_dimensions["G"].width = 60
        ws.append([])
        ws.append([safe_cell(MARGIN_NOTE)])
    if report.budget:
        _sheet(
            wb,
            "Privacy budget",
            ["year", "category", "epsilon_used", "epsilon_budget", "noise_draws"],
            [(b.year, b.category, b.spent, b.limit, b.draws) for b in report.budget],
        )


def notes(report: ReportData) -> list[str]:
    """The privacy and method notes, shared by the PDF and the XLSX."""
    out = [
        f"Peer statistics are published only for groups of at least {report.k} districts "
        "(MIN_COHORT_SIZE); smaller cells are suppressed, with complementary suppression.",
    ]
    if report.suppressed:
        out.append(
            "Suppressed for this district: peer statistics of " + ", ".join(report.suppressed) + "."
        )
    if report.private:
        eps = ", ".join(f"{e:g}" for e in report.private_epsilons)
        out.append(
            f"Private platform metrics: differentially private peer means (epsilon = {eps} per "
            "noise draw), each with its 90% noise margin and the group it comes from, shown only "
            "for the categories this district shares itself."
        )
    out += [CROSS_STATE_CAVEAT, RATIO_NOTE]
    out.append(
        "Percentile among peers: mid-rank within the published peer group (50 = the middle). "
        "Quartile in state: well_below / below / above / well_above describe the raw value, "
        "whatever the metric's direction."
    )
    return out
