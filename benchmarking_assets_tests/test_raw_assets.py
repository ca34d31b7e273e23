"""The raw asset through Dagster: sample partitions, the API path end to end, failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.core.quality import quarantine
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.fake_api import FakeApi, status
from benchmarking_assets_tests.test_sources_derive import TABLES, YEAR

REPO = Path(__file__).resolve().parents[1]


def materialize(
    store: WarehouseStore, key: str, source: EducationDataSource
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [district_data_history],
        partition_key=key,
        resources={"warehouse": Warehouse(database_url=store.url), "education_data": source},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def table(store: WarehouseStore, state: str, year: int) -> pl.DataFrame:
    return store.read_table(
        "district_data_history",
        DISTRICT_DATA_HISTORY,
        where={"state_code": state, "year": year},
        order_by=("leaid",),
    )


def test_sample_partition_loads_what_the_source_serves_and_reruns_change_nothing(
    store: WarehouseStore,
) -> None:
    source = EducationDataSource(source="sample")
    result = materialize(store, "DE|2019", source)
    assert result.success
    # Independent path: fetch the same state-year straight from the source layer.
    expected, _ = quarantine(
        source.fetch_district_year("DE", 2019).history,
        asset="x",
        partition_key="x",
        detected_at="t",
    )
    loaded = table(store, "DE", 2019)
    assert loaded.height == expected.height > 0
    assert loaded.equals(expected.sort("leaid"))

    mat = result.asset_materializations_for_node("district_data_history")[0]
    assert mat.metadata["dagster/row_count"].value == expected.height
    assert mat.metadata["source"].value == "sample"
    checks = {e.check_name for e in result.get_asset_check_evaluations()}
    assert checks == {
        "unique_leaid_year",
        "counts_non_negative",
        "percentages_in_range",
        "swd_ell_within_enrollment",
        "magnitudes_possible",
        "names_printable",
        "district_count_stable",
    }

    issues_before = store.scalar("SELECT COUNT(*) FROM data_quality_issues")
    assert materialize(store, "DE|2019", source).success
    assert table(store, "DE", 2019).equals(loaded)
    assert store.scalar("SELECT COUNT(*) FROM data_quality_issues") == issues_before
    assert store.scalar("SELECT COUNT(*) FROM district_data_history") == loaded.height


def test_hawaii_is_one_district(store: WarehouseStore) -> None:
    assert materialize(store, "HI|2015", EducationDataSource(source="sample")).success
    assert table(store, "HI", 2015)["leaid"].to_list() == ["1500030"]


def test_failed_load_names_the_partition_and_keeps_the_previous_rows(
    store: WarehouseStore,
) -> None:
    with FakeApi(page_size=2) as api:
        for path, rows in TABLES.items():
            api.add(path, rows)
        api_source = EducationDataSource(
            source="api", api_url=api.base_url, max_retries=1, pace_seconds=0.0
        )
        assert materialize(store, f"AL|{YEAR}", api_source).success
        before = table(store, "AL", YEAR)
        assert before.height == 3

        # Every request now fails with 503: retried once, then the run fails.
        api.fail(*[status(503) for _ in range(50)])
        result = materialize(store, f"AL|{YEAR}", api_source)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = str(failure.event_specific_data.error.message)
    assert f"AL|{YEAR}" in message and "503" in message
    assert table(store, "AL", YEAR).equals(before)


def test_cli_materializes_one_api_partition_per_spec_and_again_changes_nothing(
    tmp_path: Path,
) -> None:
    """``dagster asset materialize … --partition 'AL|2015'`` against an API-format server."""
    db = tmp_path / "warehouse.sqlite"
    home = tmp_path / "dagster_home"
    home.mkdir()
    with FakeApi(page_size=2) as api:
        for path, rows in TABLES.items():
            api.add(path, rows)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DATABASE_URL": f"sqlite:///{db}",
            "EDUCATION_DATA_SOURCE": "api",
            "EDUCATION_DATA_API_URL": api.base_url,
        }
        cmd = [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "benchmarking_assets.definitions",
            "--select",
            "group:raw",
            "--partition",
            f"AL|{YEAR}",
        ]
        snapshots = []
        for _ in range(2):
            run = subprocess.run(
                cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
            )
            assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
            store = WarehouseStore(f"sqlite:///{db}")
            snapshots.append(
                (
                    table(store, "AL", YEAR),
                    store.read_df("SELECT * FROM district_data_codes ORDER BY leaid, column_name"),
                    store.read_df(
                        "SELECT check_name, leaid, column_name, value, reason "
                        "FROM data_quality_issues ORDER BY check_name, leaid, column_name"
                    ),
                )
            )
    first, second = snapshots
    for a, b in zip(first, second, strict=True):
        assert a.equals(b)  # the second run replaced the partition with identical rows
    rows = {r["leaid"]: r for r in first[0].iter_rows(named=True)}
    assert set(rows) == {"0100001", "0100002", "0100003"}  # the row without leaid is set aside
    common = {"year": YEAR, "state_code": "AL", "fips": 1, "source": "api"}
    assert rows["0100001"] == common | {
        "leaid": "0100001",
        "lea_name": "Alpha City",
        "enrollment": 1000,
        "spec_ed_students": 120,
        "ell_students": 50,
        "teachers_fte": 62.5,
        "chronic_absenteeism_rate": 10.0,  # (30 + 20) / (300 + 200) × 100
        "graduation_rate": 88.0,
        "math_proficiency": 55.0,
        "read_proficiency": 61.5,
        "expenditure_pp": 12_500.0,  # 12,500,000 / 1,000
        "frl_students": 250,  # 100 + 150 (+ one NULL school)
        "urban_centric_locale": 12,
        "lowest_grade": -1,
        "highest_grade": 12,
    }
    assert rows["0100003"] == common | {
        "leaid": "0100003",
        "lea_name": "Gamma ISD",
        "enrollment": 300,
        "spec_ed_students": 40,
        "ell_students": None,  # 360 > 300 enrolled: quarantined
        "teachers_fte": None,  # -2
        "chronic_absenteeism_rate": pytest.approx(2100 / 190),  # (12 + 9) / (100 + 90)
        "graduation_rate": None,
        "math_proficiency": None,  # 140 %: quarantined
        "read_proficiency": 72.5,
        "expenditure_pp": None,
        "frl_students": 60,
        "urban_centric_locale": None,
        "lowest_grade": 9,
        "highest_grade": None,
    }
    issues = first[2].filter(pl.col("check_name") != "ingestion")
    assert sorted(issues.select("leaid", "column_name", "value").rows()) == [
        ("0100003", "ell_students", "360"),
        ("0100003", "math_proficiency", "140.0"),
    ]
    # codes: 0100002's spec_ed -3 and ell -1 are recoverable
    codes = {(r["leaid"], r["column_name"]): r["code"] for r in first[1].iter_rows(named=True)}
    assert codes[("0100002", "spec_ed_students")] == -3
    assert codes[("0100002", "ell_students")] == -1


@pytest.mark.parametrize("bad", ["csv", ""])
def test_unknown_source_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ValueError, match="EDUCATION_DATA_SOURCE"):
        EducationDataSource(source=bad).available_years()
