"""The demo's reports as a reader sees them: every page rendered, every word where it belongs.

A small demo world built by the real code: the offline sample (the demo's source) for three
states × 2014–2021 → benchmarks → the demo's participants and submissions → the privacy
assets through Dagster → the reports of two participants for 2021 (one without a graduation
rate, one with). Then, on every page of both PDFs: nothing outside the page or on top of
other text, no ``nan``/``None``/snake_case, the summary's numbers equal an independent read
of the warehouse, and every axis tick label sits where its value is on the axis.

``BENCHMARKING_WRITE_DOC_SAMPLES=1 pytest benchmarking_assets_tests/test_reports_pages.py -k
docs`` rewrites ``docs/sample-report-page-1.png`` and ``docs/sample-report-private-page.png``
from this world (see docs/reports.md).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from PIL import Image

from benchmarking_assets.cli.participants import demo_participants
from benchmarking_assets.core.benchmarks import (
    compute_district_benchmarks,
    compute_state_benchmarks,
)
from benchmarking_assets.core.catalog import PUBLIC_METRICS
from benchmarking_assets.core.reports.render_pdf import TICK_FONT_SIZE
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.raw.assets import load_partition
from benchmarking_assets.defs.resources import (
    EducationDataSource,
    PrivacySettings,
    ReportSettings,
    Warehouse,
)
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets.store.reports import generate
from benchmarking_assets_tests.definitions_support import assets_of
from benchmarking_assets_tests.pdf_pages import Page, Word, read_pages, render_png

REPO = Path(__file__).resolve().parents[1]
STATES = ("NV", "UT", "ID")
YEARS = range(2014, 2022)
YEAR = 2021
K = 5
DOC_SAMPLES = {
    "page-1": REPO / "docs" / "sample-report-page-1.png",
    "private": REPO / "docs" / "sample-report-private-page.png",
}
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")
RAW = re.compile(r"\b(nan|NaN|None|null|NULL|unknown|inf)\b")
GLUED = re.compile(r"\d%?[A-Za-z]{4,}")  # "91.0%suppressed": two cells run together


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("pages")
    store = WarehouseStore(f"sqlite:///{tmp / 'warehouse.sqlite'}")
    store.migrate()
    source = EducationDataSource(source="sample")
    for year in YEARS:
        for state in STATES:
            load_partition(source, store, f"{state}|{year}")
    history = store.read_table("district_data_history", DISTRICT_DATA_HISTORY)
    for year in YEARS:
        states = compute_state_benchmarks(history, year)
        store.replace_rows("state_benchmarks", states, {"year": year})
        districts = compute_district_benchmarks(history, states, year)
        store.replace_rows("district_benchmarks", districts, {"year": year})
    inbox = tmp / "inbox"
    demo_participants(store, list(YEARS), inbox)
    res = {
        "warehouse": Warehouse(database_url=store.url),
        "privacy": PrivacySettings(min_cohort_size=K, epsilon=1.0, inbox_dir=str(inbox)),
        "reports": ReportSettings(reports_dir=str(tmp / "reports")),
    }
    instance = dg.DagsterInstance.ephemeral()
    by_key = {a.key.to_user_string(): a for a in assets_of(groups=["privacy"])}
    assert dg.materialize(
        [by_key["benchmark_metric_submissions"]], resources=res, instance=instance
    ).success
    chain = [by_key[k] for k in ("peer_cohorts", "cohort_benchmarks", "participant_percentiles",
                                 "private_cohort_benchmarks")]  # fmt: skip
    for year in YEARS:
        assert dg.materialize(
            chain, resources=res, partition_key=str(year), instance=instance
        ).success
    leaids = pick_districts(store)
    budget = res["privacy"].policy().budget  # as the reports asset passes it
    done = generate(store, str(tmp / "reports"), YEAR, leaids, K, 365, actor="test",
                    budget_limit=budget)  # fmt: skip
    pdfs = {d["leaid"]: Path(d["paths"]["pdf"]) for d in done}
    pages = {leaid: read_pages(pdf) for leaid, pdf in pdfs.items()}
    images = {leaid: render_png(pdf, tmp / "png" / leaid, dpi=50) for leaid, pdf in pdfs.items()}
    return {"store": store, "leaids": leaids, "pdfs": pdfs, "pages": pages, "images": images,
            "reports": {d["leaid"]: d["_report"] for d in done}, "tmp": tmp}  # fmt: skip


def pick_districts(store: WarehouseStore) -> list[str]:
    """A participant without a graduation value (it must say why) that sees private cells,
    and one with a graduation value: the first of each by leaid."""
    rows = store.read_df(
        "SELECT p.leaid, (SELECT COUNT(*) FROM district_benchmarks b WHERE b.leaid = p.leaid "
        "AND b.year BETWEEN :y0 AND :y AND b.graduation IS NOT NULL) AS grad, "
        "(SELECT COUNT(*) FROM participant_private_benchmarks m WHERE m.leaid = p.leaid "
        "AND m.year = :y) AS private FROM benchmark_participants p ORDER BY p.leaid",
        {"y": YEAR, "y0": YEAR - 3},
    )
    without = rows.filter((pl.col("grad") == 0) & (pl.col("private") > 0))["leaid"]
    with_grad = rows.filter(pl.col("grad") > 0)["leaid"]
    assert without.len() and with_grad.len(), "the demo world lacks a district of each kind"
    return [without[0], with_grad[0]]


def all_pages(world: dict) -> list[tuple[str, Page]]:
    return [(leaid, page) for leaid in world["leaids"] for page in world["pages"][leaid]]


# ---------------------------------------------------------------------------- layout
MARGIN = 0.35 * 72  # nothing may be printed closer than this to the paper's edge


def test_every_page_is_rendered_and_keeps_its_ink_inside_the_margins(world: dict) -> None:
    for leaid in world["leaids"]:
        images = world["images"][leaid]
        assert len(images) == len(world["pages"][leaid]) >= 5
        for path in images:
            gray = Image.open(path).convert("L")
            w, h = gray.size
            dark = sum(1 for v in gray.getdata() if v < 200)
            assert dark > 0.01 * w * h, f"{path.name} looks blank"
            band = round(MARGIN / 72 * 50)  # the rendering is 50 dpi
            border = [
                gray.crop(box)
                for box in ((0, 0, w, band), (0, h - band, w, h), (0, 0, band, h),
                            (w - band, 0, w, h))
            ]  # fmt: skip
            for part in border:
                assert min(part.getdata()) > 200, f"ink in the margin of {path.name}"


def test_no_word_is_outside_the_page_or_on_top_of_another(world: dict) -> None:
    for leaid, page in all_pages(world):
        for w in page.words:
            inside = (
                w.x0 >= MARGIN
                and w.x1 <= page.width - MARGIN
                and w.y0 >= MARGIN
                and w.y1 <= page.height - MARGIN
            )
            assert inside, f"{leaid} page {page.number}: {w.text!r} at {w} is off the page"
        clashes = overlapping(page.words)
        assert not clashes, f"{leaid} page {page.number}: overlapping words {clashes[:5]}"


def overlapping(
    words: tuple[Word, ...], slack: float = 0.6, gap: float = 1.5
) -> list[tuple[str, str]]:
    """Pairs of words that a reader sees run together: boxes on the same line (sharing more
    than ``2 × slack`` points of height) closer than ``gap`` points, or overlapping."""
    boxes = sorted(words, key=lambda w: w.x0)
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if b.x0 >= a.x1 + gap and b.x0 > a.x1 + 50:
                break  # sorted by x0: nothing further right can touch a
            apart = b.x0 >= a.x1 + gap or a.x0 >= b.x1 + gap
            if not apart and min(a.y1, b.y1) - max(a.y0, b.y0) > 2 * slack:
                found.append((a.text, b.text))
    return found


def test_overlap_detection_finds_words_printed_on_or_against_each_other() -> None:
    a, b = Word("22", 10, 10, 20, 16), Word("25", 18, 10, 28, 16)
    assert overlapping((a, b)) == [("22", "25")]
    assert overlapping((a, Word("x", 20.5, 10, 30, 16))) == [("22", "x")]  # touching
    assert overlapping((a, Word("x", 22, 10, 30, 16))) == []  # a space (2 pt at 7 pt) apart
    assert overlapping((a, Word("x", 12, 17, 30, 23))) == []  # the next line


def test_no_raw_values_or_identifiers_on_any_page(world: dict) -> None:
    for leaid, page in all_pages(world):
        text = page.text.replace(world["reports"][leaid].lea_name, "")
        assert not SNAKE.findall(text), f"{leaid} page {page.number}: {SNAKE.findall(text)}"
        assert not RAW.findall(text), f"{leaid} page {page.number}: {RAW.findall(text)}"
        glued = [w.text for w in page.words if GLUED.search(w.text)]
        assert not glued, f"{leaid} page {page.number}: {glued}"


# ---------------------------------------------------------------------------- numbers
UNIT_SUFFIX = {"graduation": " pts", "math_proficiency": " pts", "read_proficiency": " pts",
               "absenteeism": " pts", "student_teacher_ratio": " students",
               "expenditure_pp": "%", "swd_pct": "% in count", "ell_pct": "% in count"}  # fmt: skip
QUARTERS = {"well_below": "lowest 25%", "below": "25-50%", "above": "50-75%",
            "well_above": "highest 25%"}  # fmt: skip
ROW = re.compile(
    r"^(?P<year>\d{4}|n/a)(?P<mark>\u2020?) (?P<district>\S+) (?P<state>\S+) (?P<nation>\S+) "
    r"(?P<median>\S+) (?P<band>\S+ - \S+|suppressed|n/a) (?P<n>\d+|n/a) (?P<pct>\d+|n/a) "
    r"(?P<quarter>lowest 25%|25-50%|50-75%|highest 25%|n/a) (?P<change>.+)$"
)


def shown(value: float | None, unit: str) -> str:
    """How the test expects a value printed (independent of the renderer)."""
    if value is None:
        return "n/a"
    if unit == "$":
        return ("-" if value < -0.5 else "") + f"${abs(value):,.0f}"
    text = f"{abs(value):.1f}" + ("%" if unit == "%" else "")
    return ("-" if value < 0 and text.strip("0.%") else "") + text


def shown_change(value: float | None, metric: str) -> str:
    if value is None:
        return "n/a"
    sign = "-" if value < 0 and round(abs(value), 1) > 0 else "+" if value > 0 else ""
    return f"{sign}{abs(value):.1f}{UNIT_SUFFIX[metric]}"


@dataclass
class SummaryRow:
    label_text: str
    cells: dict[str, str]


def summary_rows(page: Page) -> list[SummaryRow]:
    """Page 1's summary table as printed: rows found by their Year cell, right-aligned under
    the "Year" header; each row's words joined left to right."""
    year_head = next(w for w in page.words if w.text == "Year")
    years = sorted(
        (
            w
            for w in page.words
            if abs(w.x1 - year_head.x1) < 1.5 and w.y0 > year_head.y1 and w.text != "Year"
        ),
        key=lambda w: w.y0,
    )[: len(PUBLIC_METRICS)]
    out = []
    for cell in years:
        y = cell.centre[1]
        line = sorted(
            (w for w in page.words if abs(w.centre[1] - y) < 2.5 and w.x0 >= cell.x0),
            key=lambda w: w.x0,
        )
        label = sorted(
            (w for w in page.words if abs(w.centre[1] - y) < 13 and w.x1 < year_head.x0),
            key=lambda w: (w.y0, w.x0),
        )
        match = ROW.match(" ".join(w.text for w in line))
        assert match, f"unreadable summary row: {' '.join(w.text for w in line)!r}"
        out.append(SummaryRow(" ".join(w.text for w in label), match.groupdict()))
    return out


def expected_row(store: WarehouseStore, leaid: str, metric: str, column: str) -> dict[str, str]:
    """The summary row of one metric, read from the warehouse with SQL of its own."""
    m = {x.name: x for x in PUBLIC_METRICS}[metric]
    params = {"l": leaid, "y": YEAR, "y0": YEAR - 3}
    own = store.read_df(
        f"SELECT year, {metric} AS v, {metric}_quartile_state AS q, {column} AS t "
        f"FROM district_benchmarks WHERE leaid = :l AND year BETWEEN :y0 AND :y "
        f"AND {metric} IS NOT NULL ORDER BY year DESC LIMIT 1",
        params,
    )
    state = store.scalar("SELECT state_code FROM district_data_history WHERE leaid = :l "
                         "ORDER BY year DESC LIMIT 1", params)  # fmt: skip
    if own.height:
        year, value, quarter, change = own.row(0)
    else:
        year = store.scalar(
            f"SELECT MAX(year) FROM state_benchmarks WHERE state_code = :s AND year BETWEEN "
            f":y0 AND :y AND {m.state_column} IS NOT NULL", {**params, "s": state},
        )  # fmt: skip
        value = quarter = change = None

    def avg(code: str) -> float | None:
        return store.scalar(
            f"SELECT {m.state_column} FROM state_benchmarks WHERE state_code = :s AND year = :yr",
            {"s": code, "yr": year},
        )

    peer = store.read_df(
        "SELECT c.n, c.median, c.p25, c.p75, pc.cohort_size FROM peer_cohorts pc "
        "JOIN cohort_benchmarks c ON c.year = pc.year AND c.cohort_id = pc.cohort_id "
        "WHERE pc.leaid = :l AND pc.year = :yr AND c.metric = :m AND c.n >= :k",
        {"l": leaid, "yr": year, "m": metric, "k": K},
    )
    pct = store.scalar(
        "SELECT percentile_rank FROM participant_percentiles WHERE leaid = :l AND year = :yr "
        "AND metric = :m AND cohort_n >= :k", {"l": leaid, "yr": year, "m": metric, "k": K},
    )  # fmt: skip
    own_group = store.scalar(
        "SELECT cohort_id FROM peer_cohorts WHERE leaid = :l AND year = :y", params
    )
    group = store.scalar(
        "SELECT cohort_id FROM peer_cohorts WHERE leaid = :l AND year = :yr",
        {"l": leaid, "yr": year},
    )
    n, median, p25, p75, _ = peer.row(0) if peer.height else (None,) * 5
    no_peer = "suppressed" if value is not None else "n/a"
    return {
        "year": str(year),
        "mark": "\u2020" if year != YEAR and group is not None and own_group is not None else "",
        "district": shown(value, m.unit),
        "state": shown(avg(state), m.unit),
        "nation": shown(avg("US"), m.unit),
        "median": shown(median, m.unit) if peer.height else no_peer,
        "band": f"{shown(p25, m.unit)} - {shown(p75, m.unit)}" if peer.height else no_peer,
        "n": str(n) if peer.height else "n/a",
        "pct": "n/a" if pct is None or value is None else f"{pct:.0f}",
        "quarter": QUARTERS.get(quarter, "n/a"),
        "change": shown_change(change, metric),
    }


def test_every_number_in_the_summary_equals_the_warehouse(world: dict) -> None:
    store = world["store"]
    for leaid in world["leaids"]:
        rows = summary_rows(world["pages"][leaid][0])
        assert len(rows) == len(PUBLIC_METRICS)
        for m, row in zip(PUBLIC_METRICS, rows, strict=True):
            assert row.label_text.startswith(m.label), (m.label, row.label_text)
            expected = expected_row(store, leaid, m.name, m.trend.column)
            assert row.cells == expected, (leaid, m.name)
    # the world has what the rows must handle: a missing graduation value with its state and
    # national averages, and a comparison with another year's peer group
    first = summary_rows(world["pages"][world["leaids"][0]][0])[0].cells
    assert first["district"] == "n/a" and first["state"] != "n/a" and first["nation"] != "n/a"
    marks = [r.cells["mark"] for leaid in world["leaids"]
             for r in summary_rows(world["pages"][leaid][0])]  # fmt: skip
    assert "\u2020" in marks


def test_page_one_names_the_peer_group_truthfully_with_its_n(world: dict) -> None:
    store = world["store"]
    for leaid in world["leaids"]:
        text = " ".join(world["pages"][leaid][0].text.split())
        cohort_id, size = store.read_df(
            "SELECT cohort_id, cohort_size FROM peer_cohorts WHERE leaid = :l AND year = :y",
            {"l": leaid, "y": YEAR},
        ).row(0)
        assert f"Peer group (2021-22): {size:,} districts: those" in text
        keys = dict(p.split("=") for p in cohort_id.split(":", 1)[1].split("|") if "=" in p)
        # what was matched is described; a criterion that was not matched is said so
        described = {
            "size_band": "students",
            "locale": "in a ",
            "frl_band": "free or reduced-price lunch (FRL) in",
            "grade_span": "teaching",
        }
        group_text = text.split("Peer group (2021-22):", 1)[1].split("Summary", 1)[0]
        matched_part = group_text.split("Not matched", 1)[0]
        for key, phrase in described.items():
            assert (phrase in matched_part) == (key in keys), (leaid, cohort_id, key)
        missing = "free or reduced-price lunch (FRL) in" not in matched_part
        assert ("FRL share" in group_text) == missing


def test_a_missing_value_says_why(world: dict) -> None:
    leaid = world["leaids"][0]
    store = world["store"]
    text = " ".join(world["pages"][leaid][0].text.split())
    grad_year = store.scalar(
        "SELECT MAX(year) FROM state_benchmarks WHERE avg_graduation_rate IS NOT NULL "
        "AND year <= :y", {"y": YEAR},
    )  # fmt: skip
    assert grad_year == 2019  # graduation rates end two years before the report year
    row = store.read_df(
        "SELECT h.highest_grade, c.code FROM district_data_history h LEFT JOIN "
        "district_data_codes c ON c.leaid = h.leaid AND c.year = h.year AND "
        "c.column_name = 'graduation_rate' WHERE h.leaid = :l AND h.year = :y",
        {"l": leaid, "y": grad_year},
    ).row(0, named=True)
    reason = (
        "no graduating class"
        if row["highest_grade"] is not None and row["highest_grade"] < 12
        else {-1: "missing in the source", -2: "not applicable", -3: "suppressed"}.get(
            row["code"], "not reported"
        )
    )
    assert f"No value for your district: Graduation rate ({grad_year}):" in text
    assert reason in text.split("No value for your district: Graduation rate", 1)[1][:160]


def test_the_profile_and_the_named_peers_come_from_public_data(world: dict) -> None:
    store = world["store"]
    leaid = world["leaids"][1]
    pages = world["pages"][leaid]
    first = " ".join(pages[0].text.split())
    h = store.read_df(
        "SELECT enrollment, frl_students, lowest_grade, highest_grade FROM "
        "district_data_history WHERE leaid = :l AND year = :y", {"l": leaid, "y": YEAR},
    ).row(0, named=True)  # fmt: skip
    assert f"enrollment {h['enrollment']:,} students" in first
    assert f"{h['frl_students'] / h['enrollment'] * 100:.1f}% of students" in first
    assert "number of schools not in this data set" in first
    peers = store.read_df(
        "SELECT h.lea_name, h.state_code FROM peer_cohorts pc JOIN district_data_history h "
        "ON h.leaid = pc.leaid AND h.year = pc.year WHERE pc.year = :y AND pc.cohort_id = "
        "(SELECT cohort_id FROM peer_cohorts WHERE leaid = :l AND year = :y)",
        {"l": leaid, "y": YEAR},
    )
    listing = next(p for p in pages if "Your public peer group" in p.text)
    flat = " ".join(listing.text.split())
    assert "only from public NCES data" in flat
    shown_names = [n for n in peers["lea_name"] if " ".join(n.split()) in flat]
    assert len(shown_names) == min(peers.height, 150)


# ---------------------------------------------------------------------------- axes
TICK = re.compile(r"^\$?-?[\d,]+(\.\d+)?k?$")


def tick_value(text: str) -> float:
    body = text.replace("$", "").replace(",", "")
    return float(body[:-1]) * 1000 if body.endswith("k") else float(body)


def tick_groups(page: Page) -> list[tuple[str, list[Word]]]:
    """Axis tick labels (the tick font size only), grouped into axes: a horizontal axis
    shares a baseline, a vertical one a right edge; a wide gap starts another chart."""
    ticks = [w for w in page.words if w.size == TICK_FONT_SIZE and TICK.match(w.text)]
    groups: list[tuple[str, list[Word]]] = []
    for axis, key, along in (("x", lambda w: w.y0, lambda w: w.centre[0]),
                             ("y", lambda w: w.x1, lambda w: w.centre[1])):  # fmt: skip
        buckets: dict[float, list[Word]] = {}
        for w in ticks:
            buckets.setdefault(round(key(w) * 4) / 4, []).append(w)
        for members in buckets.values():
            members.sort(key=along)
            run = [members[0]]
            for w in members[1:]:
                if along(w) - along(run[-1]) > 60:
                    groups.append((axis, run))
                    run = []
                run.append(w)
            groups.append((axis, run))
    return [(a, g) for a, g in groups if len(g) >= 3]


def test_axis_tick_labels_show_the_values_at_their_positions(world: dict) -> None:
    steps = set()
    checked = 0
    for leaid, page in all_pages(world):
        for axis, group in tick_groups(page):
            values = [tick_value(w.text) for w in group]
            positions = [w.centre[0] if axis == "x" else -w.centre[1] for w in group]
            diffs = [b - a for a, b in itertools.pairwise(values)]
            assert all(abs(d - diffs[0]) <= 1e-9 * max(1, abs(diffs[0])) for d in diffs), (
                f"{leaid} page {page.number}: ticks {[w.text for w in group]} are not evenly "
                "stepped"
            )
            scale = (positions[-1] - positions[0]) / (values[-1] - values[0])
            for v, p in zip(values, positions, strict=True):
                assert abs(positions[0] + (v - values[0]) * scale - p) < 0.75, (
                    f"{leaid} page {page.number}: tick {v} is not where its value is"
                )
            steps.add(diffs[0])
            checked += 1
    assert checked >= 2 * 2 * len(PUBLIC_METRICS)  # two axes a metric at least, two reports
    # the world has steps a rounding label would misprint (2.5, 0.5 or $2.5k)
    assert any(s % 1 or s % 1000 == 500 for s in steps), sorted(steps)


# ---------------------------------------------------------------------------- docs samples
def private_page(pages: list[Page]) -> int:
    return next(p.number for p in pages if "Platform metrics (private" in p.text)


def test_docs_sample_pages(world: dict) -> None:
    """docs/ shows page 1 and the private-metrics page of one demo report (this world's first
    district). Rewritten with BENCHMARKING_WRITE_DOC_SAMPLES=1; otherwise checked to exist at
    the size this rendering gives."""
    leaid = world["leaids"][0]
    pdf = world["pdfs"][leaid]
    number = private_page(world["pages"][leaid])
    out = world["tmp"] / "docs"
    fresh = {
        "page-1": render_png(pdf, out / "one", dpi=100, first=1, last=1)[0],
        "private": render_png(pdf, out / "private", dpi=100, first=number, last=number)[0],
    }
    for name, path in fresh.items():
        if os.environ.get("BENCHMARKING_WRITE_DOC_SAMPLES") == "1":
            shutil.copyfile(path, DOC_SAMPLES[name])
        assert DOC_SAMPLES[name].exists(), f"missing {DOC_SAMPLES[name]}"
        assert Image.open(DOC_SAMPLES[name]).size == Image.open(path).size
