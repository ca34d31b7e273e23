"""Reports against hostile names and killed runs (issue 13, case 10): control characters or
``$…$`` in a district name give complete reports; a report that cannot be rendered writes
nothing; a run killed at any point leaves no report file without its row, and retention sweeps
what a killed run left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import dagster as dg
import pytest
from openpyxl import load_workbook

from benchmarking_assets.cli.participants import demo_participants
from benchmarking_assets.defs.partitions import report_key, sync_participant_partitions
from benchmarking_assets.defs.resources import PrivacySettings, ReportSettings, Warehouse
from benchmarking_assets.defs.retention.assets import report_retention
from benchmarking_assets.store import WarehouseStore, participation
from benchmarking_assets.store import reports as report_store
from benchmarking_assets.store.reports import ReportError, generate
from benchmarking_assets_tests.definitions_support import assets_of
from benchmarking_assets_tests.test_reports_end_to_end import YEAR, YEARS, seed

HOSTILE = "Pay $^$ \x01Unified\x0b $\\frac$ District"  # bad TeX math, XLSX-illegal controls
REPO = Path(__file__).resolve().parents[1]


def build(store: WarehouseStore, tmp: Path) -> tuple[dict, list[str], dg.DagsterInstance]:
    """A small warehouse with cohorts and private statistics for YEAR, and 60 participants."""
    seed(store)
    inbox = tmp / "inbox"
    demo_participants(store, list(YEARS), inbox)
    res = {
        "warehouse": Warehouse(database_url=store.url),
        "privacy": PrivacySettings(min_cohort_size=5, epsilon=1.0, inbox_dir=str(inbox)),
        "reports": ReportSettings(reports_dir=str(tmp / "reports")),
    }
    instance = dg.DagsterInstance.ephemeral()
    by_key = {a.key.to_user_string(): a for a in assets_of(groups=["privacy"])}
    assert dg.materialize(
        [by_key["benchmark_metric_submissions"]], resources=res, instance=instance
    ).success
    chain = [by_key[k] for k in ("peer_cohorts", "cohort_benchmarks", "participant_percentiles",
                                 "private_cohort_benchmarks")]  # fmt: skip
    assert dg.materialize(chain, resources=res, partition_key=str(YEAR), instance=instance).success
    sync_participant_partitions(instance, store)
    return res, participation.list_participants(store)["leaid"].to_list(), instance


def report_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def listed(store: WarehouseStore) -> set[str]:
    return set(store.read_df("SELECT path FROM benchmark_reports")["path"].to_list())


def test_control_characters_and_tex_in_a_name_give_complete_reports(
    store: WarehouseStore, tmp_path: Path
) -> None:
    res, leaids, instance = build(store, tmp_path)
    leaid = leaids[0]
    # The name reaches the warehouse as it is (ingestion would clean it; any other writer may not)
    store.execute(
        "UPDATE district_data_history SET lea_name = :n WHERE leaid = :l",
        {"n": HOSTILE, "l": leaid},
    )
    result = dg.materialize(
        assets_of(groups=["reports"]),
        resources=res,
        instance=instance,
        partition_key=report_key(leaid, YEAR),
    )
    assert result.success
    rows = store.read_df(
        "SELECT format, path FROM benchmark_reports WHERE leaid = :l", {"l": leaid}
    )
    assert sorted(rows["format"].to_list()) == ["csv", "csv_wide", "pdf", "xlsx"]
    assert {str(p) for p in report_files(tmp_path / "reports")} == set(rows["path"].to_list())
    xlsx = next(Path(p) for f, p in rows.rows() if f == "xlsx")
    summary = {r[0]: r[1] for r in load_workbook(xlsx)["Summary"].iter_rows(values_only=True)}
    assert summary["District"] == "Pay $^$  Unified  $\\frac$ District"  # controls → spaces
    shown = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.asset_materializations_for_node("reports_multi_asset")
    }
    assert shown["benchmark_reports"]["preview"].value.startswith("![percentile among peers](data:")
    assert "Pay \\$^\\$" in shown["benchmark_reports"]["summary"].value  # escaped in markdown


def test_a_report_that_cannot_be_rendered_writes_no_file_and_no_row(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WarehouseStore(sqlite_url)
    store.migrate()
    _, leaids, _ = build(store, tmp_path)
    first, second = leaids[:2]
    real = dict(report_store.RENDERERS)

    def xlsx_fails_for_second(report):  # type: ignore[no-untyped-def]
        if report.leaid == second:
            raise ValueError("the renderer broke")
        return real["xlsx"](report)

    renderers = tuple((f, xlsx_fails_for_second if f == "xlsx" else r) for f, r in real.items())
    monkeypatch.setattr(report_store, "RENDERERS", renderers)
    with pytest.raises(ReportError) as failed:
        generate(store, str(tmp_path / "reports"), YEAR, [first, second], 5, 365)
    assert str(failed.value).startswith(f"report {second} {YEAR}: the XLSX could not be rendered")
    # the first district's PDF, XLSX and CSV had rendered: none of them was written
    assert report_files(tmp_path / "reports") == []
    assert store.scalar("SELECT COUNT(*) FROM benchmark_reports") == 0
    assert store.scalar("SELECT COUNT(*) FROM benchmark_insights") == 0


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from benchmarking_assets.store import WarehouseStore
    from benchmarking_assets.store import reports
    store = WarehouseStore(sys.argv[1])
    where = sys.argv[4]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "before_commit":  # the rows are written inside the participation lock
        store.write_many = die
    else:  # after the commit, at the first rename into place
        reports.os.replace = die
    reports.generate(store, sys.argv[2], 2020, sys.argv[3].split(","), 5, 365)
    """
)


@pytest.mark.parametrize("where", ["before_commit", "after_commit"])
def test_a_killed_report_run_leaves_no_file_without_its_row(
    sqlite_url: str, tmp_path: Path, where: str
) -> None:
    store = WarehouseStore(sqlite_url)
    store.migrate()
    res, leaids, instance = build(store, tmp_path)
    reports_dir = tmp_path / "reports"
    run = subprocess.run(
        [sys.executable, "-c", KILLER, sqlite_url, str(reports_dir), ",".join(leaids[:3]), where],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    left = report_files(reports_dir)
    finals = [p for p in left if not p.name.endswith(".tmp")]
    formats = len(report_store.RENDERERS)
    assert len(left) == 3 * formats  # 3 districts × every format, still under temporary names
    assert finals == [] and all(p.name.startswith(".benchmark_report_") for p in left)
    rows = store.scalar("SELECT COUNT(*) FROM benchmark_reports")
    assert rows == (0 if where == "before_commit" else 3 * formats)

    # The next run of those partitions writes every file under its row's path.
    result = dg.materialize(
        assets_of(groups=["reports"]), resources=res, instance=instance,
        partition_key=report_key(leaids[0], YEAR),
    )  # fmt: skip
    assert result.success
    assert {str(p) for p in report_files(reports_dir) if not p.name.endswith(".tmp")} <= listed(
        store
    )

    # Retention settles what the killed run left once it is older than any run: temporary files
    # whose rows were committed are moved into place, the others deleted; and a report file no
    # row lists (as older code left them) is deleted. Younger files are left alone.
    orphan = reports_dir / "2019" / "0600001" / "benchmark_report_0600001_2019.pdf"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"%PDF orphan")
    young = reports_dir / "2019" / "0600002" / "benchmark_report_0600002_2019.pdf"
    young.parent.mkdir(parents=True)
    young.write_bytes(b"%PDF just written")
    old = time.time() - report_store.STALE_TMP_SECONDS - 60
    for path in [*left, orphan]:
        os.utime(path, (old, old))
    swept = dg.materialize([report_retention], resources=res, instance=instance)
    assert swept.success
    (mat,) = swept.asset_materializations_for_node("report_retention")
    # after the commit, the two districts not re-run had rows but no files: their files recovered
    recovered = 0 if where == "before_commit" else 2 * formats
    assert mat.metadata["recovered_files"].value == recovered
    assert mat.metadata["stale_temporary_files"].value == 3 * formats - recovered
    assert mat.metadata["unlisted_report_files"].value == 1
    remaining = report_files(reports_dir)
    assert not orphan.exists() and young.exists()
    assert all(not p.name.endswith(".tmp") for p in remaining)
    # every listed report has its file, and its content is the one the row describes
    assert {str(p) for p in remaining if p != young} == listed(store)
    for path, sha in store.read_df("SELECT path, sha256 FROM benchmark_reports").rows():
        assert report_store._sha256(Path(path)) == sha
