"""The PDF report (reportlab vector graphics; no matplotlib, ~0.1 s a report).

Page 1 is the one-page summary a superintendent reads: title (district, state, school year),
the peer group, a summary table of every metric, the key findings, and the privacy and method
notes. Then one block per metric (the district against peer median, state and nation, with the
peer p25–p75 band; its trend lines), all insights, and the private-metric section when the
district shares a category itself.

Text uses the PDF base fonts (WinAnsi): ``−``, ``≥`` and ``ε`` are written as ``-``, ``>=`` and
"epsilon", and any other character outside WinAnsi becomes ``?``; district names are
XML-escaped before they reach reportlab's paragraph markup.
"""

from __future__ import annotations

import io
import math
from xml.sax.saxutils import escape

import polars as pl
from reportlab import rl_config

# Attribute validation on every shape setattr is reportlab's debugging aid and costs more
# than the drawing; it must be off before reportlab.graphics is imported.
rl_config.shapeChecking = 0

from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Circle, Drawing, Group, Line, Polygon, Rect, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from benchmarking_assets.core.reports.content import MARGIN_NOTE, MetricRow, ReportData
from benchmarking_assets.core.reports.insights import fmt
from benchmarking_assets.core.reports.render_xlsx import notes

NAVY, ORANGE, GREEN, GREY = (
    colors.HexColor(c) for c in ("#1f4e79", "#d9730d", "#2e8b57", "#777777")
)
BAND = colors.HexColor("#f8dcc0")
SEVERITY_COLOR = {"high": "#b22222", "medium": "#c77700", "low": "#666666", "info": "#1f4e79"}
SERIES = (
    ("district", "Your district", NAVY),
    ("peer median", "Peer median", ORANGE),
    ("state", "State average", GREEN),
    ("nation", "Nation", GREY),
)
SYMBOL = {
    "district": "FilledCircle",
    "peer median": "FilledDiamond",
    "state": "FilledTriangle",
    "nation": "FilledSquare",
}
WIDTH = letter[0] - 1.2 * inch

_styles = getSampleStyleSheet()
TITLE = ParagraphStyle("t", parent=_styles["Title"], fontSize=18, leading=22, spaceAfter=2)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontSize=12, spaceBefore=8, spaceAfter=4)
H3 = ParagraphStyle("h3", parent=_styles["Heading3"], fontSize=10, spaceBefore=6, spaceAfter=1)
BODY = ParagraphStyle("b", parent=_styles["BodyText"], fontSize=8.5, leading=11)
SMALL = ParagraphStyle(
    "s", parent=BODY, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#333333")
)
SUB = ParagraphStyle("sub", parent=BODY, fontSize=10, leading=13, alignment=1)


def pdf_text(text: object) -> str:
    """Plain text in WinAnsi (the base fonts' encoding)."""
    s = str(text).replace("−", "-").replace("≥", ">=").replace("≤", "<=").replace("ε", "epsilon")
    return s.encode("cp1252", "replace").decode("cp1252")


def para(text: object, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(pdf_text(text)), style)


def school_year(year: int) -> str:
    return f"{year}-{(year + 1) % 100:02d}"


# ---------------------------------------------------------------------------- axes
def nice_scale(lo: float, hi: float, ticks: int = 5) -> tuple[float, float, float]:
    if hi - lo < 1e-9:
        lo, hi = lo - max(1.0, abs(lo) * 0.1), hi + max(1.0, abs(hi) * 0.1)
    raw = (hi - lo) / ticks
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def tick_label(value: float, step: float, dollars: bool) -> str:
    if dollars:
        return f"${value / 1000:,.0f}k" if step >= 1000 else f"${value:,.0f}"
    return f"{value:,.0f}" if step >= 1 else f"{value:,.1f}"


def _marker(kind: str, x: float, y: float, color: colors.Color) -> Group | Circle:
    if kind == "district":
        return Circle(x, y, 4.5, fillColor=color, strokeColor=colors.white, strokeWidth=0.8)
    if kind == "peer median":
        return Polygon([x, y + 5, x + 5, y, x, y - 5, x - 5, y], fillColor=color, strokeWidth=0)
    if kind == "state":
        return Polygon([x - 4.5, y - 4, x + 4.5, y - 4, x, y + 4.5], fillColor=color, strokeWidth=0)
    return Rect(x - 3.5, y - 3.5, 7, 7, fillColor=color, strokeWidth=0)


def legend(width: float = WIDTH) -> Drawing:
    d = Drawing(width, 14)
    x = 0.0
    for kind, label, color in SERIES:
        d.add(_marker(kind, x + 5, 7, color))
        d.add(String(x + 13, 4, label, fontName="Helvetica", fontSize=8))
        x += 22 + len(label) * 4.4
    d.add(Rect(x, 2, 16, 10, fillColor=BAND, strokeColor=None, strokeWidth=0))
    d.add(
        String(
            x + 21, 4, "Peer middle 50% (25th-75th percentile)", fontName="Helvetica", fontSize=8
        )
    )
    return d


# ---------------------------------------------------------------------------- charts
def comparison_chart(m: MetricRow, width: float = 250, height: float = 118) -> Drawing:
    """The district, peer median, state and nation on one axis, over the peer p25–p75 band."""
    d = Drawing(width, height)
    points = [
        ("district", m.value),
        ("peer median", m.peer.median if m.peer else None),
        ("state", m.state_avg),
        ("nation", m.national_avg),
    ]
    values = [v for _, v in points if v is not None]
    if m.peer and m.peer.p25 is not None and m.peer.p75 is not None:
        values += [m.peer.p25, m.peer.p75]
    if m.value is None or not values:
        d.add(
            String(
                width / 2,
                height / 2,
                "No value for this year",
                textAnchor="middle",
                fontName="Helvetica-Oblique",
                fontSize=9,
                fillColor=GREY,
            )
        )
        return d
    lo, hi, step = nice_scale(min(values), max(values), 4)
    x0, x1, axis_y, top = 74.0, width - 48.0, 30.0, height - 8.0
    sx = lambda v: x0 + (v - lo) / (hi - lo) * (x1 - x0)  # noqa: E731
    if m.peer and m.peer.p25 is not None and m.peer.p75 is not None:
        d.add(
            Rect(
                sx(m.peer.p25),
                axis_y,
                sx(m.peer.p75) - sx(m.peer.p25),
                top - axis_y,
                fillColor=BAND,
                strokeColor=None,
                strokeWidth=0,
            )
        )
    labels = dict((k, lab) for k, lab, _ in SERIES)
    color = {k: c for k, _, c in SERIES}
    row_gap = (top - axis_y) / len(points)
    for i, (kind, value) in enumerate(points):
        y = top - row_gap * (i + 0.5)
        d.add(
            String(
                x0 - 6, y - 3, labels[kind], textAnchor="end", fontName="Helvetica", fontSize=7.5
            )
        )
        d.add(Line(x0, y, x1, y, strokeColor=colors.HexColor("#dddddd"), strokeWidth=0.5))
        text = (
            pdf_text(fmt(value, m.info))
            if value is not None
            else "suppressed"
            if kind == "peer median"
            else "n/a"
        )
        bold = "Helvetica-Bold" if kind == "district" else "Helvetica"
        d.add(String(width, y - 3, text, textAnchor="end", fontName=bold, fontSize=7.5))
        if value is not None:
            d.add(_marker(kind, sx(value), y, color[kind]))
    d.add(Line(x0, axis_y, x1, axis_y, strokeColor=colors.black, strokeWidth=0.6))
    tick = lo
    while tick <= hi + step / 2:
        d.add(Line(sx(tick), axis_y, sx(tick), axis_y - 3, strokeWidth=0.6))
        d.add(
            String(
                sx(tick),
                axis_y - 11,
                tick_label(tick, step, m.info.unit == "$"),
                textAnchor="middle",
                fontName="Helvetica",
                fontSize=6.5,
            )
        )
        tick += step
    d.add(
        String(
            (x0 + x1) / 2,
            2,
            m.info.axis_label,
            textAnchor="middle",
            fontName="Helvetica",
            fontSize=7,
        )
    )
    return d


def trend_chart(
    trends: pl.DataFrame, m: MetricRow, width: float = 265, height: float = 118
) -> Drawing:
    """The metric over the years: district, peer median, state and nation."""
    d = Drawing(width, height)
    own = trends.filter(pl.col("metric") == m.info.name)
    series = [
        (kind, c, own.filter(pl.col("series") == kind).sort("year").select("year", "value").rows())
        for kind, _, c in SERIES
    ]
    series = [s for s in series if s[2]]
    if not series:
        d.add(
            String(
                width / 2,
                height / 2,
                "No history",
                textAnchor="middle",
                fontName="Helvetica-Oblique",
                fontSize=9,
                fillColor=GREY,
            )
        )
        return d
    years = [y for _, _, pts in series for y, _ in pts]
    values = [v for _, _, pts in series for _, v in pts]
    lo, hi, step = nice_scale(min(values), max(values), 4)
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 46, 30, width - 56, height - 40
    plot.data = [pts for _, _, pts in series]
    for i, (kind, c, _) in enumerate(series):
        plot.lines[i].strokeColor = c
        plot.lines[i].strokeWidth = 1.8 if kind == "district" else 1.0
        plot.lines[i].symbol = makeMarker(SYMBOL[kind], size=4 if kind == "district" else 3.5)
        plot.lines[i].symbol.fillColor = c
        plot.lines[i].symbol.strokeColor = c
    y0, y1 = min(years), max(years)
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = y0 - 0.3, y1 + 0.3
    plot.xValueAxis.valueSteps = list(range(y0, y1 + 1, 1 if y1 - y0 <= 6 else 2))
    plot.xValueAxis.labelTextFormat = "%d"
    plot.xValueAxis.labels.fontSize = 6.5
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax, plot.yValueAxis.valueStep = lo, hi, step
    plot.yValueAxis.labelTextFormat = lambda v: tick_label(v, step, m.info.unit == "$")
    plot.yValueAxis.labels.fontSize = 6.5
    plot.yValueAxis.visibleGrid = True
    plot.yValueAxis.gridStrokeColor = colors.HexColor("#e5e5e5")
    d.add(plot)
    d.add(
        String(
            plot.x + plot.width / 2,
            2,
            "school year (fall)",
            textAnchor="middle",
            fontName="Helvetica",
            fontSize=7,
        )
    )
    label = Group(
        String(0, 0, m.info.axis_label, textAnchor="middle", fontName="Helvetica", fontSize=7)
    )
    label.transform = (0, 1, -1, 0, 8, plot.y + plot.height / 2)
    d.add(label)
    return d


# ---------------------------------------------------------------------------- page 1
def summary_table(report: ReportData) -> Table:
    head = [
        "Metric",
        "Year",
        "District",
        "State",
        "Nation",
        "Peer median",
        "Peer 25th-75th",
        "Percentile\namong peers",
        "Quartile\nin state",
        "3-year\nchange",
    ]
    rows = [head]
    for m in report.metrics:
        info, peer = m.info, m.peer
        band = (
            f"{fmt(peer.p25, info)} - {fmt(peer.p75, info)}"
            if peer
            else "suppressed"
            if m.value is not None
            else "n/a"
        )
        trend = fmt(m.trend_3yr, signed=True) + (
            "%" if "%" in info.trend.unit and m.trend_3yr is not None else ""
        )
        rows.append(
            [
                info.label + ("*" if info.cross_state_caveat else ""),
                m.data_year or "n/a",
                fmt(m.value, info),
                fmt(m.state_avg, info),
                fmt(m.national_avg, info),
                fmt(peer.median, info) if peer else "suppressed" if m.value is not None else "n/a",
                band,
                "n/a" if m.percentile_rank is None else f"{m.percentile_rank:.0f}",
                (m.quartile_state or "n/a").replace("_", " "),
                trend,
            ]
        )
    widths = [100, 32, 52, 48, 48, 52, 78, 50, 48, 44]
    table = Table([[pdf_text(c) for c in r] for r in rows], colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
                ("FONT", (2, 1), (2, -1), "Helvetica-Bold", 7.5),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dbe5f1")),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f4f6f9")]),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.6, NAVY),
                ("LINEBELOW", (0, -1), (-1, -1), 0.6, NAVY),
            ]
        )
    )
    return table


def insight_paragraph(ins: object) -> Paragraph:
    color = SEVERITY_COLOR[ins.severity]  # type: ignore[attr-defined]
    tag = f'<font color="{color}"><b>{ins.severity.upper()}</b></font>'  # type: ignore[attr-defined]
    title = escape(pdf_text(ins.title))  # type: ignore[attr-defined]
    return Paragraph(f"{tag} &nbsp;<b>{title}.</b> {escape(pdf_text(ins.detail))}", BODY)  # type: ignore[attr-defined]


def first_page(report: ReportData) -> list:
    c = report.cohort
    peers = f"Peer group: {c.description}; {c.size} districts." if c else "No peer group this year."
    story = [
        Paragraph("Peer Benchmark Report", TITLE),
        para(
            f"{report.lea_name}  |  {report.state_code}  |  school year {school_year(report.year)}",
            SUB,
        ),
        Spacer(1, 4),
        para(
            f"NCES district id {report.leaid}. {peers} Generated {report.generated_at[:10]}.", SMALL
        ),
        Paragraph("Summary", H2),
        summary_table(report),
        para(
            "Values are from the latest year with published data (column Year). Percentile "
            "among peers: 50 is the middle of the peer group. * see the proficiency caveat below.",
            SMALL,
        ),
        Paragraph("Key findings", H2),
    ]
    top = [i for i in report.insights if i.kind != "projection"][:6]
    story += [insight_paragraph(i) for i in top] or [para("No material gaps, strengths or trends.")]
    story += [Paragraph("Privacy and method notes", H2)]
    story += [para("- " + n, SMALL) for n in notes(report)]
    return story


# ---------------------------------------------------------------------------- document
def metric_block(report: ReportData, m: MetricRow) -> KeepTogether:
    caveat = "  (* compared across states: indicative only)" if m.info.cross_state_caveat else ""
    year = f", {m.data_year}" if m.data_year else ""
    head = para(f"{m.info.label}{year}{caveat}", H3)
    charts = Table(
        [[comparison_chart(m), trend_chart(report.trends, m)]], colWidths=[262, WIDTH - 262]
    )
    charts.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    return KeepTogether([head, charts])


def _footer(report: ReportData):  # type: ignore[no-untyped-def]
    title = f"peer benchmark report {school_year(report.year)}"
    text = pdf_text(f"{report.lea_name} (NCES {report.leaid}) - {title}")

    def draw(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(GREY)
        canvas.drawString(0.6 * inch, 0.4 * inch, text)
        canvas.drawRightString(letter[0] - 0.6 * inch, 0.4 * inch, f"page {doc.page}")
        canvas.restoreState()

    return draw


# ---------------------------------------------------------------------------- private metrics
def private_value(value: float | None, unit: str) -> str:
    """A private metric's value as read: ``57.4%``, ``$1,151``, ``45.2 minutes``."""
    if value is None:
        return "n/a"
    if unit == "%":
        return f"{value:,.1f}%"
    if unit in ("USD", "$"):
        return f"${value:,.0f}"
    return f"{value:,.1f} {unit}"


def private_margin(margin: float, unit: str) -> str:
    if unit in ("USD", "$"):
        return f"± ${margin:,.0f}"
    return f"± {margin:,.1f}" + (" pts" if unit == "%" else "")


def private_section(report: ReportData) -> list:
    """Platform metrics: own value, the group's DP mean ± 90 % margin, who the group is (n),
    whether the difference exceeds the margin; then the district's privacy budget."""
    if not report.private and not report.budget:
        return []
    cell = ParagraphStyle("pc", parent=SMALL, fontSize=7, leading=8.5)
    story: list = [
        CondPageBreak(2 * inch),
        Paragraph("Platform metrics (private, differentially private)", H2),
        para(
            "Shown only for the data categories your district shares, each against the group of "
            f"participants that contains your district (at least {report.k} districts; the "
            "group and its size n are named). " + MARGIN_NOTE,
            SMALL,
        ),
    ]
    if report.private:
        rows: list[list] = [
            [pdf_text(h) for h in ("Metric", "Your value", "Peer mean (DP) ± 90% margin",
                                   "Compared with", "Reading")]
        ]  # fmt: skip
        stale = []
        for p in report.private:
            mark = ""
            if p.status != "current":
                stale.append(p)
                mark = f" [{len(stale)}]"
            rows.append(
                [
                    Paragraph(escape(pdf_text(f"{p.label} ({p.category.replace('_', ' ')})")),
                              cell),
                    pdf_text(private_value(p.own_value, p.unit)),
                    pdf_text(f"{private_value(p.dp_mean, p.unit)} "
                             f"{private_margin(p.margin_90, p.unit)}{mark}"),
                    Paragraph(escape(pdf_text(p.group_text)), cell),
                    pdf_text(p.comparison),
                ]
            )  # fmt: skip
        table = Table(rows, colWidths=[118, 58, 116, 164, 64], repeatRows=1, hAlign="LEFT")
        table.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
                    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dbe5f1")),
                    ("ALIGN", (1, 0), (2, -1), "RIGHT"),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("ROWBACKGROUNDS", (0, 1), (-1, -1),
                     [colors.white, colors.HexColor("#f4f6f9")]),
                ]
            )
        )  # fmt: skip
        story.append(table)
        for i, p in enumerate(stale, start=1):
            story.append(para(f"[{i}] {p.label}: {p.status_reason}", SMALL))
    if report.budget:
        story.append(Paragraph(f"Your privacy budget, {report.year}", H3))
        story.append(
            para(
                "Every noise draw that includes your district's data of a category uses part of "
                "that category's yearly privacy budget (epsilon, summed over draws). A release "
                "that would exceed the budget is not made; the last published value is kept and "
                "marked.",
                SMALL,
            )
        )
        brows = [["Category", "Used (epsilon)", "Budget (epsilon)", "Noise draws"]]
        brows += [
            [
                b.category.replace("_", " "),
                f"{b.spent:.2f}",
                "n/a" if b.limit is None else f"{b.limit:g}",
                b.draws,
            ]
            for b in report.budget
        ]
        budget = Table([[pdf_text(c) for c in r] for r in brows], hAlign="LEFT", repeatRows=1)
        budget.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
                    ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dbe5f1")),
                    ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ]
            )
        )
        story.append(budget)
    return story


def render_pdf(report: ReportData) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=0.6 * inch,
        rightMargin=0.6 * inch,
        topMargin=0.55 * inch,
        bottomMargin=0.65 * inch,
        title=pdf_text(f"Peer benchmark report: {report.lea_name} {report.year}"),
        author="benchmarking-assets",
        subject=f"NCES {report.leaid}",
    )
    story = first_page(report)
    story += [PageBreak(), Paragraph("Metric by metric", H2), legend()]
    story += [metric_block(report, m) for m in report.metrics]
    story += [CondPageBreak(2 * inch), Paragraph("All insights", H2)]
    story += [insight_paragraph(i) for i in report.insights] or [para("None this year.")]
    story += private_section(report)
    footer = _footer(report)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
