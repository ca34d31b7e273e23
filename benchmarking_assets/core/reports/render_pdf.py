"""The PDF report (reportlab vector graphics; no matplotlib, ~0.1 s a report).

Page 1 is the one-page summary a superintendent reads: title (district, state, school year),
the district profile, the peer group as it was matched (with its n), a summary table of every
metric (each with a one-line verdict: better or worse than peers for students, improving or
declining) and the key findings, coloured by what they mean for students (green better, red
worse). Then one block per metric (its story in a sentence; the district against peer median,
state and nation, with the peer p25–p75 band; its trend lines), all insights, the
private-metric section (its own page) when the district shares a category itself, the list
of the public peer group's districts, and the notes on method and privacy.

Text uses the PDF base fonts (WinAnsi): ``−``, ``≥`` and ``ε`` are written as ``-``, ``>=`` and
"epsilon", and any other character outside WinAnsi becomes ``?``; district names are
XML-escaped before they reach reportlab's paragraph markup. Axis ticks are printed with as many
decimals as their step needs (a 2.5 step prints 17.5, never a rounded 18).
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
    KeepInFrame,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from benchmarking_assets.core.catalog import CATEGORY_LABELS
from benchmarking_assets.core.reports.content import (
    MARGIN_NOTE,
    PEER_LIST_NOTE,
    QUARTER_TEXT,
    Cohort,
    MetricRow,
    PeerDistrict,
    ReportData,
)
from benchmarking_assets.core.reports.insights import (
    MetricStory,
    change_text,
    fmt,
    metric_story,
)
from benchmarking_assets.core.reports.render_xlsx import notes

NAVY, ORANGE, GREEN, GREY = (
    colors.HexColor(c) for c in ("#1f4e79", "#d9730d", "#2e8b57", "#777777")
)
BAND = colors.HexColor("#f8dcc0")
# A finding's colour says what it means for students (its tone), not how large it is.
TONE_COLOR = {"better": "#1e7b34", "worse": "#b22222", "neutral": "#1f4e79"}
TONE_TAG = {"better": "BETTER", "worse": "WORSE", "neutral": "NOTE"}
HEADER_BG = colors.HexColor("#dbe5f1")
STRIPE = colors.HexColor("#f4f6f9")
OTHER_GROUP_MARK = "\u2020"  # a dagger: compared with the peer group of its data year
PEERS_LISTED = 150  # names on the peer page; the XLSX and CSV list every peer
SERIES = (
    ("district", "Your district", NAVY),
    ("peer median", "Peer median (each year's group)", ORANGE),
    ("state", "State average", GREEN),
    ("nation", "Nation", GREY),
)
ROW_LABELS = {
    "district": "Your district",
    "peer median": "Peer median",
    "state": "State average",
    "nation": "Nation",
}
SYMBOL = {
    "district": "FilledCircle",
    "peer median": "FilledDiamond",
    "state": "FilledTriangle",
    "nation": "FilledSquare",
}
WIDTH = letter[0] - 1.2 * inch
MARGINS = {"left": 0.6 * inch, "right": 0.6 * inch, "top": 0.55 * inch, "bottom": 0.65 * inch}
FRAME_PADDING = 6  # reportlab's default frame padding, each side
FRAME_WIDTH = WIDTH - 2 * FRAME_PADDING
FRAME_HEIGHT = letter[1] - MARGINS["top"] - MARGINS["bottom"] - 2 * FRAME_PADDING
TICK_FONT_SIZE = 6.5  # axis tick labels only (the page tests find ticks by this size)

_styles = getSampleStyleSheet()
TITLE = ParagraphStyle("t", parent=_styles["Title"], fontSize=18, leading=22, spaceAfter=2)
H2 = ParagraphStyle("h2", parent=_styles["Heading2"], fontSize=12, spaceBefore=8, spaceAfter=4)
H3 = ParagraphStyle("h3", parent=_styles["Heading3"], fontSize=10, spaceBefore=6, spaceAfter=1)
BODY = ParagraphStyle("b", parent=_styles["BodyText"], fontSize=8.5, leading=11)
SMALL = ParagraphStyle(
    "s", parent=BODY, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#333333")
)
SUB = ParagraphStyle("sub", parent=BODY, fontSize=10, leading=13, alignment=1)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=7.5, leading=9)
CELL_HEAD = ParagraphStyle("cellh", parent=CELL, fontName="Helvetica-Bold", fontSize=7, leading=8.5)
CELL_HEAD_RIGHT = ParagraphStyle("cellhr", parent=CELL_HEAD, alignment=2)
RIGHT = ParagraphStyle("right", parent=CELL, alignment=2)


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


def tick_values(lo: float, hi: float, step: float) -> list[float]:
    """``lo, lo + step, … ≤ hi``, computed by multiplication (no accumulated float error)."""
    count = round((hi - lo) / step)
    return [round(lo + i * step, 10) for i in range(count + 1)]


def decimals_for(step: float) -> int:
    """The fewest decimals that print every multiple of ``step`` exactly (2.5 → 1, 0.25 → 2)."""
    for places in range(7):
        if abs(round(step, places) - step) <= 1e-9 * max(1.0, abs(step)):
            return places
    return 7


def tick_label(value: float, step: float, dollars: bool) -> str:
    """A tick's true value: ``17.5`` on a 2.5 step, ``$22.5k`` on a $2,500 step."""
    if dollars and step >= 1000:
        return f"${value / 1000:,.{decimals_for(step / 1000)}f}k"
    places = decimals_for(step)
    text = f"{value:,.{places}f}"
    if text.lstrip("-").strip("0.,") == "":  # −0.0 → 0
        text = text.lstrip("-")
    return f"${text}" if dollars else text


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
    if not values:
        d.add(
            String(
                width / 2,
                height / 2,
                "No values for this year",
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
    labels = ROW_LABELS
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
            if kind == "peer median" and m.value is not None
            else "n/a"
        )
        bold = "Helvetica-Bold" if kind == "district" else "Helvetica"
        d.add(String(width, y - 3, text, textAnchor="end", fontName=bold, fontSize=7.5))
        if value is not None:
            d.add(_marker(kind, sx(value), y, color[kind]))
    d.add(Line(x0, axis_y, x1, axis_y, strokeColor=colors.black, strokeWidth=0.6))
    for tick in tick_values(lo, hi, step):
        d.add(Line(sx(tick), axis_y, sx(tick), axis_y - 3, strokeWidth=0.6))
        d.add(
            String(
                sx(tick),
                axis_y - 11,
                tick_label(tick, step, m.info.unit == "$"),
                textAnchor="middle",
                fontName="Helvetica",
                fontSize=TICK_FONT_SIZE,
            )
        )
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
    plot.xValueAxis.labels.fontSize = TICK_FONT_SIZE
    plot.yValueAxis.valueMin, plot.yValueAxis.valueMax = lo, hi
    plot.yValueAxis.valueSteps = tick_values(lo, hi, step)
    plot.yValueAxis.labelTextFormat = lambda v: tick_label(v, step, m.info.unit == "$")
    plot.yValueAxis.labels.fontSize = TICK_FONT_SIZE
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
def cell(text: object, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape(pdf_text(text)), style)


def table_style(extra: list | None = None) -> TableStyle:
    """The report's table look (header band, stripes), shared by every table."""
    return TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
            ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, NAVY),
            ("LINEBELOW", (0, -1), (-1, -1), 0.6, NAVY),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            *(extra or []),
        ]
    )


def _other_year(report: ReportData, m: MetricRow) -> bool:
    """The comparison of this metric uses another year's peer group than the report's."""
    return m.peer_group is not None and m.peer_group.year != report.year


def summary_rows(report: ReportData) -> list[list[str]]:
    """Page 1's table as text, one row per metric (the PDF table and the tests read these)."""
    rows = []
    for m in report.metrics:
        info, peer = m.info, m.peer
        no_peers = "suppressed" if m.value is not None else "n/a"
        band = f"{fmt(peer.p25, info)} - {fmt(peer.p75, info)}" if peer else no_peers
        year = "n/a" if m.data_year is None else str(m.data_year)
        rows.append(
            [
                info.label + ("*" if info.cross_state_caveat else ""),
                year + (OTHER_GROUP_MARK if _other_year(report, m) else ""),
                fmt(m.value, info),
                fmt(m.state_avg, info),
                fmt(m.national_avg, info),
                fmt(peer.median, info) if peer else no_peers,
                band,
                f"{peer.n}" if peer else "n/a",
                "n/a" if m.percentile_rank is None else f"{m.percentile_rank:.0f}",
                QUARTER_TEXT.get(m.quartile_state or "", "n/a"),
                change_text(m.trend_3yr, info),
            ]
        )
    return rows


SUMMARY_HEAD = (
    "Metric",
    "Year",
    "Your district",
    "State average",
    "Nation",
    "Peer median",
    "Peer middle half (25th-75th)",
    "Peers with a value",
    "Percentile among peers",
    "Among the state's districts",
    "3-year change",
)
SUMMARY_WIDTHS = (88, 28, 40, 38, 38, 44, 68, 30, 40, 48, 63)
WRAPPED = (9, 10)  # columns whose text may wrap (as paragraphs)


def summary_table(report: ReportData) -> Table:
    stories = {m.info.name: metric_story(m, report.trends, report.year) for m in report.metrics}
    data: list[list] = [
        [cell(h, CELL_HEAD_RIGHT if i else CELL_HEAD) for i, h in enumerate(SUMMARY_HEAD)]
    ]
    style: list = []
    for r, (m, row) in enumerate(zip(report.metrics, summary_rows(report), strict=True), 1):
        story = stories[m.info.name]
        color = TONE_COLOR[story.tone] if story.tone != "neutral" else "#555555"
        verdict = (
            f'<font color="{color}">{escape(pdf_text(story.verdict))}</font>'
            if story.verdict
            else ""
        )
        label = f"<b>{escape(pdf_text(row[0]))}</b>" + (f"<br/>{verdict}" if verdict else "")
        cells = [cell(v, RIGHT) if c in WRAPPED else v for c, v in enumerate(row)]
        data.append([Paragraph(label, CELL), *cells[1:]])
        if story.tone != "neutral":
            style.append(("TEXTCOLOR", (2, r), (2, r), colors.HexColor(color)))
    table = Table(
        [[c if isinstance(c, Paragraph) else pdf_text(c) for c in r] for r in data],
        colWidths=SUMMARY_WIDTHS,
        repeatRows=1,
    )
    table.setStyle(
        table_style(
            [
                ("FONT", (1, 1), (-1, -1), "Helvetica", 7.5),
                ("FONT", (2, 1), (2, -1), "Helvetica-Bold", 7.5),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                *style,
            ]
        )
    )
    return table


def insight_paragraph(ins: object) -> Paragraph:
    tone = getattr(ins, "tone", "neutral")
    severity = ins.severity  # type: ignore[attr-defined]
    tag = TONE_TAG[tone] + (f" - {severity}" if severity != "info" else "")
    head = f'<font color="{TONE_COLOR[tone]}"><b>{tag}</b></font>'
    title = escape(pdf_text(ins.title))  # type: ignore[attr-defined]
    return Paragraph(f"{head} &nbsp;<b>{title}.</b> {escape(pdf_text(ins.detail))}", BODY)  # type: ignore[attr-defined]


def profile_text(report: ReportData) -> str:
    p = report.profile
    if p is None:
        return "District profile: not available."
    enrollment = "not reported" if p.enrollment is None else f"{p.enrollment:,} students"
    frl = "not reported" if p.frl_pct is None else f"{p.frl_pct:.1f}% of students"
    teachers = "not reported" if p.teachers_fte is None else f"{p.teachers_fte:,.1f}"
    return (
        f"District profile ({school_year(p.year)}, NCES Common Core of Data): enrollment "
        f"{enrollment}; grades {p.grades}; locale {p.locale}; eligible for free or "
        f"reduced-price lunch (FRL) {frl}; teachers (full-time equivalent) {teachers}; "
        f"number of schools {p.schools}."
    )


def group_text(group: Cohort | None, year: int) -> str:
    if group is None:
        return f"No public peer group in {school_year(year)}."
    return f"Peer group ({school_year(group.year or year)}): {group.description}"


def _height(flowables: list) -> float:
    """The height the flowables take in the page frame (their spacing included)."""
    return sum(
        f.wrap(FRAME_WIDTH, FRAME_HEIGHT)[1] + f.getSpaceBefore() + f.getSpaceAfter()
        for f in flowables
    )


def first_page(report: ReportData) -> list:
    """Page 1, always one page: key findings are cut (never fewer than two) to fit, and the
    page is shrunk to fit only if that is not enough."""
    c = report.cohort
    listed = " Its districts are listed near the end of this report (public data)." if c else ""
    head = [
        Paragraph("Peer Benchmark Report", TITLE),
        para(
            f"{report.lea_name}  |  {report.state_code}  |  school year {school_year(report.year)}",
            SUB,
        ),
        Spacer(1, 4),
        para(f"NCES district id {report.leaid}. Generated {report.generated_at[:10]}.", SMALL),
        para(profile_text(report), SMALL),
        para(group_text(c, report.year) + listed, SMALL),
        Paragraph("Summary", H2),
        summary_table(report),
    ]
    notes_below = [
        f"Year: the newest year with published data; {OTHER_GROUP_MARK} marks a comparison "
        "with that year's peer group (below). Percentile among peers: 50 is the middle. "
        "3-year change: pts = percentage points; % = relative to the earlier value; % in "
        "count = change in the number of students, not in their share. * see the proficiency "
        "caveat in the notes. Green: better for students, red: worse; expenditure, "
        "disabilities and English learners are context. Peer statistics are published only "
        f"for groups of at least {report.k} districts; notes on method and privacy are on the "
        "last page."
    ]
    notes_below += [group_text(g, g.year) for g in report.other_groups]
    notes_below += [
        f"No value for your district: {m.info.label} ({m.data_year or 'n/a'}): {m.missing_reason}."
        for m in report.metrics
        if m.value is None and m.missing_reason
    ]
    head += [para(n, SMALL) for n in notes_below]
    head += [Paragraph("Key findings", H2)]
    findings = [insight_paragraph(i) for i in report.insights if i.kind != "projection"][:5]
    if not findings:
        findings = [para("No material gaps, strengths or trends.")]
    # Measured once each (wrapping is most of the cost): the head, then every finding.
    used, sizes = _height(head), [_height([f]) for f in findings]
    while len(findings) > 2 and used + sum(sizes) > FRAME_HEIGHT:
        findings.pop()
        sizes.pop()
    story = head + findings
    if used + sum(sizes) > FRAME_HEIGHT:
        return [KeepInFrame(FRAME_WIDTH, FRAME_HEIGHT, story, mode="shrink")]
    return story


# ---------------------------------------------------------------------------- document
def story_text(report: ReportData, m: MetricRow, story: MetricStory) -> str:
    """One metric's story in a sentence or three (the metric pages)."""
    info = m.info
    if m.value is None:
        first = f"No value for your district: {m.missing_reason or 'not reported'}."
    else:
        peers = ""
        if m.peer is not None and m.peer.median is not None:
            pct = f", percentile {m.percentile_rank:.0f}" if m.percentile_rank is not None else ""
            peers = (
                f"; {story.position} {fmt(m.peer.median, info)} ({m.peer.n} peers with a "
                f"value{pct})"
            )
        first = f"Your district: {fmt(m.value, info)} in {m.data_year}{peers}."
    parts = [first]
    if story.change:
        parts.append(f"3-year change {story.change}.")
    if story.projection:
        p = story.projection
        parts.append(
            f"Projection for {p['projected_year']}: about {fmt(p['point'], info)} "
            f"({fmt(p['lower'], info)} to {fmt(p['upper'], info)}, 80% interval)."
        )
    if story.disagreement:
        parts.append(story.disagreement)
    return " ".join(parts)


def metric_block(report: ReportData, m: MetricRow) -> KeepTogether:
    caveat = "  (* compared across states: indicative only)" if m.info.cross_state_caveat else ""
    year = f", {m.data_year} data" if m.data_year else ""
    group = ""
    if _other_year(report, m) and m.peer_group is not None:
        group = f", {m.peer_group.year} peer group ({m.peer_group.size:,} districts)"
    head = para(f"{m.info.label}{year}{group}{caveat}", H3)
    story = metric_story(m, report.trends, report.year)
    text = para(story_text(report, m, story), SMALL)
    charts = Table(
        [[comparison_chart(m), trend_chart(report.trends, m)]], colWidths=[262, WIDTH - 262]
    )
    charts.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    return KeepTogether([head, text, charts])


def peer_list(report: ReportData) -> list:
    """The public peer group's districts by name (public data), in columns."""
    c = report.cohort
    if c is None or not report.peer_districts:
        return []
    out: list = [
        Paragraph(f"Your public peer group, {school_year(c.year or report.year)}", H2),
        para(group_text(c, report.year), SMALL),
        para(PEER_LIST_NOTE, SMALL),
        Spacer(1, 4),
    ]
    shown = report.peer_districts[:PEERS_LISTED]
    # Alphabetical across, then down: each table row holds two districts, so the order stays
    # right when the table continues on the next page.
    pairs = [shown[i : i + 2] for i in range(0, len(shown), 2)]

    def row_of(d: PeerDistrict | None) -> list:
        if d is None:
            return ["", "", ""]
        mine = d.leaid == report.leaid
        name = escape(pdf_text(d.name + (" (your district)" if mine else "")))
        size = "n/a" if d.enrollment is None else f"{d.enrollment:,}"
        return [Paragraph(f"<b>{name}</b>" if mine else name, CELL), d.state_code, size]

    head = ["District", "State", "Enrollment"]
    rows = [[*head, "", *head]]
    for pair in pairs:
        rows.append([*row_of(pair[0]), "", *row_of(pair[1] if len(pair) > 1 else None)])
    gap = 10
    column = (WIDTH - gap) / 2
    table = Table(
        rows,
        colWidths=[column - 88, 30, 58, gap, column - 88, 30, 58],
        repeatRows=1,
        hAlign="LEFT",
    )
    table.setStyle(
        table_style(
            [
                ("BACKGROUND", (3, 0), (3, -1), colors.white),
                ("ALIGN", (2, 0), (2, -1), "RIGHT"),
                ("ALIGN", (6, 0), (6, -1), "RIGHT"),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    out.append(table)
    if len(report.peer_districts) > len(shown):
        more = len(report.peer_districts) - len(shown)
        out.append(
            para(
                f"... and {more:,} more; the XLSX (sheet Peer districts) and the CSV list all "
                f"{len(report.peer_districts):,}.",
                SMALL,
            )
        )
    return out


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
    """Platform metrics, on a page of their own: own value, the group's DP mean ± 90 % margin,
    who the group is (n), whether the difference exceeds the margin; then the district's
    privacy budget (privacy loss epsilon used per category)."""
    if not report.private and not report.budget:
        return []
    cell = ParagraphStyle("pc", parent=SMALL, fontSize=7, leading=8.5)
    story: list = [
        PageBreak(),  # the private section starts its own page
        Paragraph("Platform metrics (private, differentially private)", H2),
        para(
            "Shown only for the data categories your district shares, each against the group of "
            f"participants that contains your district (at least {report.k} districts; the "
            "group and its size n are named); your own value is as you submitted it. "
            + MARGIN_NOTE,
            SMALL,
        ),
    ]
    if report.private:
        rows: list[list] = [
            [pdf_text(h) for h in ("Category", "Metric", "Your value",
                                   "Peer mean (DP) ± 90% margin", "Compared with", "Reading")]
        ]  # fmt: skip
        stale = []
        for p in report.private:
            mark = ""
            if p.status != "current":
                stale.append(p)
                mark = f" [{len(stale)}]"
            rows.append(
                [
                    Paragraph(escape(pdf_text(CATEGORY_LABELS.get(p.category, p.category))), cell),
                    Paragraph(escape(pdf_text(p.label)), cell),
                    pdf_text(private_value(p.own_value, p.unit)),
                    pdf_text(f"{private_value(p.dp_mean, p.unit)} "
                             f"{private_margin(p.margin_90, p.unit)}{mark}"),
                    Paragraph(escape(pdf_text(p.group_text)), cell),
                    pdf_text(p.comparison),
                ]
            )  # fmt: skip
        table = Table(rows, colWidths=[62, 100, 54, 104, 142, 62], repeatRows=1, hAlign="LEFT")
        table.setStyle(table_style([("ALIGN", (2, 0), (3, -1), "RIGHT")]))
        story.append(table)
        for i, p in enumerate(stale, start=1):
            story.append(para(f"[{i}] {p.label}: {p.status_reason}", SMALL))
    if report.budget:
        story.append(Paragraph(f"Your privacy budget, {report.year}", H3))
        story.append(
            para(
                "Every noise draw that includes your district's data of a category uses part of "
                "that category's yearly privacy budget (privacy loss epsilon, summed over draws). "
                "A release that would exceed the budget is not made; the last published value is "
                "kept and marked.",
                SMALL,
            )
        )
        brows = [["Category", "Privacy loss used (epsilon)", "Budget (epsilon)", "Noise draws"]]
        brows += [
            [
                CATEGORY_LABELS.get(b.category, b.category),
                f"{b.spent:.2f}",
                "n/a" if b.limit is None else f"{b.limit:g}",
                b.draws,
            ]
            for b in report.budget
        ]
        budget = Table([[pdf_text(c) for c in r] for r in brows], hAlign="LEFT", repeatRows=1)
        budget.setStyle(table_style([("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
        story.append(budget)
    return story


def render_pdf(report: ReportData) -> bytes:
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=MARGINS["left"],
        rightMargin=MARGINS["right"],
        topMargin=MARGINS["top"],
        bottomMargin=MARGINS["bottom"],
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
    story += [CondPageBreak(3 * inch), *peer_list(report)]
    story += [CondPageBreak(2 * inch), Paragraph("Notes on method and privacy", H2)]
    story += [para("- " + n, SMALL) for n in notes(report)]
    footer = _footer(report)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
