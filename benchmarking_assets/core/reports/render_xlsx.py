"""The XLSX report: Summary, Comparisons, Peers, Trends, Charts, Peer districts, Insights,
Private and Privacy budget (when the district shares a category), Notes.

Written for a person opening it in Excel: human headers and values (catalog labels, never
snake_case ids), number formats per metric unit (``48.2%``, ``$12,346``, ``+1.0 pts``; the cell
keeps the full value), column widths from the content, frozen header rows and label columns,
every data sheet an Excel table with filter buttons, and native line charts of each metric's
trend plus a bar chart of the percentiles among peers.

Numbers are numeric cells (openpyxl writes 15 significant digits, Excel's own precision), text
goes through :func:`exports.safe_cell`, so a district name such as ``=cmd|…`` is shown, not run.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.table import Table, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from benchmarking_assets.core.catalog import (
    CATEGORY_LABELS,
    DIRECTION_TEXT,
    PRIVATE_BY_NAME,
    PUBLIC_METRICS,
    Metric,
)
from benchmarking_assets.core.reports.content import (
    CROSS_STATE_CAVEAT,
    MARGIN_NOTE,
    PEER_LIST_NOTE,
    QUARTER_NOTE,
    QUARTER_TEXT,
    RATIO_NOTE,
    ReportData,
)
from benchmarking_assets.core.reports.exports import safe_cell
from benchmarking_assets.core.reports.insights import metric_story

BOLD = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DBE5F1")
WRAP = Alignment(wrap_text=True, vertical="top")
TABLE_STYLE = "TableStyleMedium2"
MAX_WIDTH = 60

SERIES_TEXT = {
    "district": "Your district",
    "peer median": "Peer median",
    "state": "State average",
    "nation": "Nation",
}
PEER_STAT_COLUMNS = ("n", "mean", "median", "p25", "p75", "p90", "std")
TONE_TEXT = {"better": "better for students", "worse": "worse for students", "neutral": "note"}
YEAR_FORMAT = "0"
COUNT_FORMAT = "#,##0"
PERCENTILE_FORMAT = "0"


def value_format(info: Metric) -> str:
    """The Excel number format of a metric's values (the cell keeps every digit)."""
    if info.unit == "%":
        return '0.0"%"'
    if info.unit in ("$", "USD"):
        return '"$"#,##0'
    return "0.0"


def difference_format(info: Metric) -> str:
    if info.unit == "%":
        return '+0.0" pts";-0.0" pts";0.0" pts"'
    if info.unit in ("$", "USD"):
        return '+"$"#,##0;-"$"#,##0;"$"0'
    return "+0.0;-0.0;0.0"


def change_format(info: Metric) -> str:
    """A 3-year change with its unit, as on the PDF (the catalog's ``Trend.unit``)."""
    suffix = info.trend.suffix(info.unit) if info.trend else ""
    return f'+0.0"{suffix}";-0.0"{suffix}";0.0"{suffix}"'


def _width(value: Any, number_format: str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, float):
        return len(f"{value:,.1f}") + (6 if number_format and '"' in number_format else 1)
    return max(len(line) for line in str(value).split("\n"))


def _sheet(
    wb: Workbook,
    title: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    formats: Sequence[str | None] | None = None,
    row_formats: Sequence[dict[int, str]] | None = None,
    freeze: str = "B2",
    wrap: Sequence[int] = (),
) -> Worksheet:
    """A sheet holding one Excel table (filters, stripes), formats, widths, frozen panes.

    ``formats``: a number format per column; ``row_formats``: per row, column index → format
    (a metric's unit decides the format of its row); ``wrap``: columns of long text.
    """
    ws = wb.create_sheet(title)
    ws.append(list(header))
    for cell in ws[1]:
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    widths = [len(h) + 4 for h in header]  # + room for the filter button
    count = 0
    for r, row in enumerate(rows):
        ws.append([safe_cell(v) for v in row])
        count += 1
        for c, value in enumerate(row):
            fmt_ = (row_formats[r].get(c) if row_formats else None) or (
                formats[c] if formats and c < len(formats) else None
            )
            target = ws.cell(r + 2, c + 1)
            if fmt_ and isinstance(value, int | float) and not isinstance(value, bool):
                target.number_format = fmt_
            if c in wrap:
                target.alignment = WRAP
            widths[c] = max(widths[c], _width(value, fmt_))
    for c, width in enumerate(widths):
        limit = 100 if c in wrap else MAX_WIDTH
        ws.column_dimensions[get_column_letter(c + 1)].width = min(limit, max(8, width + 2))
    if count:
        ref = f"A1:{get_column_letter(len(header))}{count + 1}"
        table = Table(displayName=title.replace(" ", ""), ref=ref)
        table.tableStyleInfo = TableStyleInfo(name=TABLE_STYLE, showRowStripes=True)
        ws.add_table(table)
    ws.freeze_panes = freeze
    return ws


def _school_year(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


def summary_fields(report: ReportData) -> list[tuple[str, Any, str | None]]:
    """(field, value, number format) of the Summary sheet, district name first."""
    p, c = report.profile, report.cohort
    out: list[tuple[str, Any, str | None]] = [
        ("District", report.lea_name, None),
        ("NCES district id", report.leaid, None),
        ("State", report.state_code, None),
        ("School year", _school_year(report.year), None),
    ]
    if p is not None:
        out += [
            ("Profile year", _school_year(p.year), None),
            ("Enrollment", p.enrollment, COUNT_FORMAT),
            ("Grades", p.grades, None),
            ("Locale", p.locale, None),
            ("Free or reduced-price lunch (FRL)", p.frl_pct, '0.0"%"'),
            ("Teachers (full-time equivalent)", p.teachers_fte, "#,##0.0"),
            ("Number of schools", p.schools, None),
        ]
    out += [
        ("Peer group", c.description if c else "no public peer group this year", None),
        ("Peer group size", c.size if c else None, COUNT_FORMAT),
    ]
    for g in report.other_groups:
        out.append((f"Peer group of {g.year} (used for {g.year} data)", g.description, None))
    out += [
        ("Minimum group size for published statistics", report.k, COUNT_FORMAT),
        ("Generated (UTC)", report.generated_at, None),
    ]
    return out


def render_xlsx(report: ReportData) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    fields = summary_fields(report)
    summary = _sheet(
        wb,
        "Summary",
        ["Field", "Value"],
        [(f, v) for f, v, _ in fields],
        row_formats=[{1: f} if f else {} for _, _, f in fields],
        freeze="A2",
        wrap=(1,),
    )
    summary.column_dimensions["B"].width = 90

    metrics = report.metrics
    stories = [metric_story(m, report.trends, report.year) for m in metrics]
    comparisons = _sheet(
        wb,
        "Comparisons",
        [
            "Metric",
            "Unit",
            "Which way is better",
            "Data year",
            "Your district",
            "State average",
            "Nation",
            "Difference from state",
            "Difference from nation",
            "Among the state's districts",
            "3-year change",
            "Change compares",
            "Peer group year",
            "Peer median",
            "Percentile among peers",
            "Reading",
            "Why no value",
        ],
        [
            (
                m.info.label,
                m.info.unit,
                DIRECTION_TEXT[m.info.direction],
                m.data_year,
                m.value,
                m.state_avg,
                m.national_avg,
                m.vs_state,
                m.vs_national,
                QUARTER_TEXT.get(m.quartile_state or ""),
                m.trend_3yr,
                f"{m.change_years[0]} with {m.change_years[1]}" if m.change_years else None,
                m.peer_group.year if m.peer_group else None,
                m.peer.median if m.peer else None,
                m.percentile_rank,
                s.verdict or None,
                m.missing_reason,
            )
            for m, s in zip(metrics, stories, strict=True)
        ],
        formats=[None, None, None, YEAR_FORMAT]
        + [None] * 8
        + [YEAR_FORMAT, None]
        + [PERCENTILE_FORMAT, None, None],
        row_formats=[
            {
                4: value_format(m.info),
                5: value_format(m.info),
                6: value_format(m.info),
                7: difference_format(m.info),
                8: difference_format(m.info),
                10: change_format(m.info),
                13: value_format(m.info),
            }
            for m in metrics
        ],
    )
    ranked = [(i, m) for i, m in enumerate(metrics) if m.percentile_rank is not None]
    if ranked:
        chart = BarChart()
        chart.type = "bar"
        chart.title = "Percentile among peers (50 = the middle of the peer group)"
        chart.y_axis.title = "percentile"
        chart.y_axis.scaling.min, chart.y_axis.scaling.max = 0, 100
        chart.legend = None
        rows = len(metrics) + 1
        chart.add_data(
            Reference(comparisons, min_col=15, min_row=1, max_row=rows), titles_from_data=True
        )
        chart.set_categories(Reference(comparisons, min_col=1, min_row=2, max_row=rows))
        chart.height, chart.width = 8, 18
        comparisons.add_chart(chart, f"A{rows + 3}")

    _sheet(
        wb,
        "Peers",
        [
            "Metric",
            "Data year",
            "Peer group year",
            "Peer group size",
            "Status",
            "Peers with a value",
            "Mean",
            "Median",
            "25th percentile",
            "75th percentile",
            "90th percentile",
            "Standard deviation",
        ],
        [
            (
                m.info.label,
                m.data_year,
                m.peer_group.year if m.peer_group else None,
                m.peer_group.size if m.peer_group else None,
                "published"
                if m.peer
                else f"suppressed (fewer than {report.k} districts)"
                if m.value is not None
                else "no data",
                *([getattr(m.peer, c) for c in PEER_STAT_COLUMNS] if m.peer else [None] * 7),
            )
            for m in metrics
        ],
        formats=[None, YEAR_FORMAT, YEAR_FORMAT, COUNT_FORMAT, None, COUNT_FORMAT],
        row_formats=[{c: value_format(m.info) for c in range(6, 12)} for m in metrics],
    )

    order = {m.info.name: i for i, m in enumerate(metrics)}
    label = {m.info.name: m.info.label for m in metrics}
    wide = (
        report.trends.pivot(on="series", index=["metric", "year"], values="value")
        if report.trends.height
        else pl.DataFrame(
            {"metric": [], "year": []}, schema={"metric": pl.String, "year": pl.Int32}
        )
    )
    series = [c for c in SERIES_TEXT if c in wide.columns]
    wide = (
        wide.select("metric", "year", *series)
        .with_columns(
            _order=pl.col("metric").replace_strict(order, default=len(order), return_dtype=pl.Int32)
        )
        .sort("_order", "year")
    )
    info_of = {m.info.name: m.info for m in metrics}
    trend_rows = wide.drop("_order").rows()
    trends = _sheet(
        wb,
        "Trends",
        ["Metric", "Year", *(SERIES_TEXT[s] for s in series)],
        [(label.get(r[0], r[0]), *r[1:]) for r in trend_rows],
        formats=[None, YEAR_FORMAT],
        row_formats=[
            {c: value_format(info_of[r[0]]) for c in range(2, 2 + len(series))} for r in trend_rows
        ],
    )
    _trend_charts(wb, trends, [r[0] for r in trend_rows], label, len(series))

    _sheet(
        wb,
        "Peer districts",
        ["NCES district id", "District", "State", "Enrollment", "Note"],
        [
            (
                d.leaid,
                d.name,
                d.state_code,
                d.enrollment,
                "your district" if d.leaid == report.leaid else None,
            )
            for d in report.peer_districts
        ],
        formats=[None, None, None, COUNT_FORMAT, None],
    )

    _sheet(
        wb,
        "Insights",
        ["Rank", "For students", "Size", "Metric", "Finding", "Detail"],
        [
            (
                i,
                TONE_TEXT.get(getattr(x, "tone", "neutral"), "note"),
                x.severity,
                label.get(x.metric, x.metric),
                x.title,
                x.detail,
            )
            for i, x in enumerate(report.insights, start=1)
        ],
        formats=[COUNT_FORMAT],
        wrap=(5,),
    )
    private_sheets(wb, report)
    _sheet(wb, "Notes", ["Note"], [(n,) for n in notes(report)], freeze="A2", wrap=(0,))
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def private_sheets(wb: Workbook, report: ReportData) -> None:
    """Sheet Private (one row per private metric: own value, the group's DP mean and its 90 %
    margin, the group and its n, the reading; numbers as numbers) and sheet Privacy budget."""
    if report.private:
        ws = _sheet(
            wb,
            "Private",
            ["Category", "Metric", "Unit", "Your value", "Peer mean (DP)", "± 90% margin",
             "Compared with", "Peers", "Reading", "Status", "Why", "Released at",
             "Privacy loss (epsilon)"],
            [
                (CATEGORY_LABELS.get(p.category, p.category),
                 PRIVATE_BY_NAME[p.metric].label if p.metric in PRIVATE_BY_NAME else p.label,
                 p.unit, p.own_value, p.dp_mean, p.margin_90, p.group_label, p.n, p.comparison,
                 p.status, p.status_reason, p.released_at, p.epsilon)
                for p in report.private
            ],
            formats=[None, None, None, "#,##0.0", "#,##0.0", "#,##0.0", None, COUNT_FORMAT,
                     None, None, None, None, "0.0##"],
            wrap=(6, 10),
        )  # fmt: skip
        ws.append([])
        ws.append([safe_cell(MARGIN_NOTE)])
    if report.budget:
        _sheet(
            wb,
            "Privacy budget",
            ["Year", "Category", "Privacy loss used (epsilon)", "Budget (epsilon)", "Noise draws"],
            [(b.year, CATEGORY_LABELS.get(b.category, b.category), b.spent, b.limit, b.draws)
             for b in report.budget],
            formats=["0", None, "0.00", "0.0##", COUNT_FORMAT],
        )  # fmt: skip


def _trend_charts(
    wb: Workbook, trends: Worksheet, metric_of_row: list[str], label: dict[str, str], series: int
) -> None:
    """One native line chart per metric on the Charts sheet, from the Trends table's rows."""
    charts = wb.create_sheet("Charts")
    charts["A1"] = "Each chart plots the metric's rows of the Trends sheet."
    charts["A1"].font = BOLD
    spans: dict[str, list[int]] = {}
    for i, metric in enumerate(metric_of_row, start=2):
        spans.setdefault(metric, []).append(i)
    for n, (metric, rows) in enumerate(spans.items()):
        chart = LineChart()
        chart.title = label.get(metric, metric)
        chart.x_axis.title = "school year (fall)"
        chart.y_axis.title = label.get(metric, metric)
        chart.height, chart.width = 7, 13
        data = Reference(trends, min_col=3, max_col=2 + series, min_row=rows[0], max_row=rows[-1])
        chart.add_data(data, titles_from_data=False)
        for i, line in enumerate(chart.series):
            line.tx = SeriesLabel(v=str(trends.cell(1, 3 + i).value))
        chart.set_categories(Reference(trends, min_col=2, min_row=rows[0], max_row=rows[-1]))
        anchor = f"{'A' if n % 2 == 0 else 'J'}{3 + (n // 2) * 15}"
        charts.add_chart(chart, anchor)


def notes(report: ReportData) -> list[str]:
    """The privacy and method notes, shared by the PDF and the XLSX."""
    labels = {m.info.name: m.info.label for m in report.metrics}
    out = [
        f"Peer statistics are published only for groups of at least {report.k} districts "
        "(the minimum group size); smaller cells are suppressed, with complementary suppression.",
    ]
    if report.suppressed:
        out.append(
            "Suppressed for this district: peer statistics of "
            + ", ".join(labels.get(s, s) for s in report.suppressed)
            + "."
        )
    if report.private:
        # distinct as printed: OpenDP's map charges ε·(1 − 10⁻⁹), which varies in the last digits
        eps = ", ".join(dict.fromkeys(f"{e:g}" for e in report.private_epsilons))
        out.append(
            f"Private platform metrics: differentially private peer means (privacy loss "
            f"epsilon = {eps} per noise draw), each with its 90% noise margin and the group it "
            "comes from, shown only for the categories this district shares itself."
        )
    out += [CROSS_STATE_CAVEAT, RATIO_NOTE]
    out.append(
        "Percentile among peers: mid-rank within the published peer group (50 = the middle). "
        "Each comparison uses the peer group of its data year; the report names that group "
        "when it is not the report year's. " + QUARTER_NOTE
    )
    out.append(PEER_LIST_NOTE)
    out.append(direction_note())
    return out


def _in_sentence(label: str) -> str:
    """``Math proficiency`` → ``math proficiency``; ``English learners`` stays."""
    return label if label.split()[0] in ("English",) else label[0].lower() + label[1:]


def direction_note() -> str:
    """Which way is better, per metric, from the catalog's ``direction``."""
    by = {
        d: [_in_sentence(m.label) for m in PUBLIC_METRICS if m.direction == d]
        for d in ("higher_is_better", "lower_is_better", "neutral")
    }
    return (
        f"Better or worse for students: higher is better for {', '.join(by['higher_is_better'])};"
        f" lower is better for {', '.join(by['lower_is_better'])}; "
        f"{', '.join(by['neutral'])} are context, neither better nor worse."
    )
