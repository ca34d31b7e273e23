"""The benchmark assets against a real warehouse (SQLite and PostgreSQL): wiring, values,
idempotence, checks and lineage."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.core import benchmark_checks as checks
from benchmarking_assets.core.benchmarks import (
    DISTRICT_BENCHMARKS_SCHEMA,
    DISTRICT_OUTLIERS_SCHEMA,
    STATE_BENCHMARKS_SCHEMA,
    compute_district_benchmarks,
    compute_state_benchmarks,
)
from benchmarking_assets.core.geography import STATE_CODES
from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.benchmarks.assets import (
    district_benchmarks,
    district_outliers,
    state_benchmarks,
)
from benchmarking_assets.defs.partitions import state_year_partitions
from benchmarking_assets.defs.resources import Warehouse
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests.test_benchmarks_metrics import (
    HISTORY,
    NM_GRAD,
    US_EXP,
    _,
    expected_district_row,
    make_history,
)

ASSETS = [state_benchmarks, district_benchmarks, district_outliers]


def _load_history(store: WarehouseStore) -> None:
    # The hand-worked example of test_benchmarks_metrics, with the NOT NULL columns filled, plus
    # a 2018 row so that 2018 is a year with (one) district.
    history = HISTORY.with_columns(
        fips=pl.when(pl.col("state_code") == "NM").then(35).otherwise(10).cast(pl.Int32),
        source=pl.lit("test"),
    )
    extra = history.filter((pl.col("leaid") == "1000001") & (pl.col("year") == 2019))
    history = pl.concat([history, extra.with_columns(year=pl.lit(2018, pl.Int32))])
    years = sorted(history["year"].unique().to_list())
    store.replace_rows(
        "district_data_history", history.select(list(DISTRICT_DATA_HISTORY)), {"year": years}
    )


def _tables(store: WarehouseStore) -> dict[str, pl.DataFrame]:
    return {
        "state_benchmarks": store.read_table(
            "state_benchmarks", STATE_BENCHMARKS_SCHEMA, order_by=["year", "state_code"]
        ),
        "district_benchmarks": store.read_table(
            "district_benchmarks", DISTRICT_BENCHMARKS_SCHEMA, order_by=["year", "leaid"]
        ),
        "district_outliers": store.read_table(
            "district_outliers", DISTRICT_OUTLIERS_SCHEMA, order_by=["year", "leaid", "metric"]
        ),
    }


def _materialize(store: WarehouseStore, **kwargs: object) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        resources={"warehouse": Warehouse(database_url=store.url)},
        instance=dg.DagsterInstance.ephemeral(),
        **kwargs,  # type: ignore[arg-type]
    )


def test_materialize_2019_writes_the_hand_worked_values_and_is_idempotent(
    store: WarehouseStore,
) -> None:
    _load_history(store)
    result = _materialize(store, partition_key="2019")
    assert result.success
    tables = _tables(store)
    states = tables["state_benchmarks"]
    assert states.select("state_code", "year", "district_count").rows() == [
        ("DE", 2019, 1),
        ("NM", 2019, 5),
        ("US", 2019, 6),
    ]
    nm = states.filter(pl.col("state_code") == "NM").row(0, named=True)
    assert nm["avg_graduation_rate"] == pytest.approx(NM_GRAD)  # 505000 / 6000
    assert states.filter(pl.col("state_code") == "US")["avg_expenditure_per_pupil"].item() == (
        pytest.approx(US_EXP)  # 95e6 / 8000 = 11875
    )
    districts = tables["district_benchmarks"]
    assert districts["leaid"].to_list() == sorted(districts["leaid"].to_list())
    assert districts.height == 6
    for row in districts.iter_rows(named=True):
        expected = expected_district_row(row["leaid"])
        for column, want in expected.items():
            got = row[column]
            assert (got == pytest.approx(want)) if isinstance(want, float) else got == want, (
                row["leaid"],
                column,
                got,
                want,
            )
    assert tables["district_outliers"].height == 0  # see test_benchmarks_metrics

    checks = {
        (c.asset_key.path[-1], c.check_name): c.passed for c in result.get_asset_check_evaluations()
    }
    assert checks == {
        ("state_benchmarks", "every_state_and_us_present"): True,
        ("state_benchmarks", "averages_within_district_range"): True,
        ("district_benchmarks", "quartiles_ordered"): True,
        ("district_benchmarks", "quartiles_balanced"): True,
        ("district_benchmarks", "no_delta_without_state_average"): True,
    }
    materialization = result.asset_materializations_for_node("district_benchmarks")[0]
    assert materialization.metadata["dagster/row_count"].value == 6

    again = _materialize(store, partition_key="2019")
    assert again.success
    for name, frame in _tables(store).items():
        assert frame.equals(tables[name]), f"{name} changed on re-run"


def test_a_single_run_backfill_replaces_each_year_separately(store: WarehouseStore) -> None:
    _load_history(store)
    result = _materialize(
        store,
        partition_key=None,
        selection=None,
        tags={
            "dagster/asset_partition_range_start": "2018",
            "dagster/asset_partition_range_end": "2019",
        },
    )
    assert result.success
    states = _tables(store)["state_benchmarks"]
    # 2018 has F alone (DE, and so US); 2019 the six districts.
    assert states.select("year", "state_code", "district_count").rows() == [
        (2018, "DE", 1),
        (2018, "US", 1),
        (2019, "DE", 1),
        (2019, "NM", 5),
        (2019, "US", 6),
    ]
    # Re-running 2018 alone leaves 2019's rows as they were.
    before = _tables(store)
    assert _materialize(store, partition_key="2018").success
    after = _tables(store)
    for name in before:
        assert after[name].equals(before[name])


def test_lineage_reaches_back_seven_years_through_state_benchmarks(sqlite_url: str) -> None:
    raw = dg.AssetSpec("district_data_history", partitions_def=state_year_partitions)
    # (an in-memory sqlite:// is refused: it would keep nothing)
    defs = dg.Definitions(
        assets=[raw, *ASSETS], resources={"warehouse": Warehouse(database_url=sqlite_url)}
    )
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey("district_benchmarks")

    def parents(parent: str) -> list[str]:
        result = graph.get_parent_partition_keys_for_child("2019", dg.AssetKey(parent), key)
        return sorted(result.partitions_subset.get_partition_keys())

    assert parents("state_benchmarks") == [str(y) for y in range(2012, 2020)]
    assert parents("district_data_history") == sorted(f"{s}|2019" for s in STATE_CODES)
    state_parents = graph.get_parent_partition_keys_for_child(
        "2019", dg.AssetKey("district_data_history"), dg.AssetKey("state_benchmarks")
    )
    assert len(state_parents.partitions_subset.get_partition_keys()) == len(STATE_CODES)


def _computed_2019() -> tuple[pl.LazyFrame, pl.DataFrame, pl.DataFrame]:
    history = HISTORY.lazy()
    states = compute_state_benchmarks(history, 2019)
    return history, states, compute_district_benchmarks(history, states, 2019)


def test_checks_pass_on_correct_tables_and_name_what_breaks_them() -> None:
    history, states, districts = _computed_2019()
    assert checks.check_every_state_and_us_present(history, states, [2019]).passed
    assert checks.check_averages_within_district_range(history, states).passed
    assert checks.check_quartiles_ordered(districts).passed
    assert checks.check_no_delta_without_state_average(districts, states).passed

    outcome = checks.check_every_state_and_us_present(
        history, states.filter(pl.col("state_code") != "DE"), [2019]
    )
    assert not outcome.passed and outcome.offenders.height == 1
    assert outcome.offenders["state_code"].to_list() == ["DE"]

    # NM's graduation average pushed above its largest district value (95)
    broken = states.with_columns(
        avg_graduation_rate=pl.when(pl.col("state_code") == "NM")
        .then(95.5)
        .otherwise(pl.col("avg_graduation_rate"))
    )
    outcome = checks.check_averages_within_district_range(history, broken)
    assert not outcome.passed and outcome.offenders.height == 1

    # E (graduation 85, 'below') relabelled 'well_below' while B (80) is 'well_below': fine;
    # relabelled 'well_above' it outranks A (90, 'above'): a higher value, a lower label.
    swapped = districts.with_columns(
        graduation_quartile_state=pl.when(pl.col("leaid") == "3500005")
        .then(pl.lit("well_above"))
        .otherwise(pl.col("graduation_quartile_state"))
    )
    outcome = checks.check_quartiles_ordered(swapped)
    assert not outcome.passed and outcome.offenders.height == 1

    # A delta where DE's average absenteeism is NULL
    leaked = districts.with_columns(
        absenteeism_vs_state=pl.when(pl.col("state_code") == "DE")
        .then(1.0)
        .otherwise(pl.col("absenteeism_vs_state"))
    )
    outcome = checks.check_no_delta_without_state_average(leaked, states)
    assert not outcome.passed and outcome.offenders.height == 1


def test_quartile_balance_check() -> None:
    """Ten distinct values: 3/2/2/3 districts per label (30/20/20/30 %) pass; the same ten
    labelled 5 well_below, 5 well_above fail; a state with a tie is not checked."""
    rows = [(f"06{i:05d}", 2019, "CA", 100, _, _, _, _, float(i), _, _, _) for i in range(10)]
    rows += [
        (f"48{i:05d}", 2019, "TX", 100, _, _, _, _, float(min(i, 8)), _, _, _) for i in range(10)
    ]
    history = make_history(rows)
    districts = compute_district_benchmarks(history, compute_state_benchmarks(history, 2019), 2019)
    outcome = checks.check_quartiles_balanced(districts)
    # CA graduation only (TX has a tie)
    assert outcome.passed and outcome.counts["groups_checked"] == 1
    skewed = districts.with_columns(
        graduation_quartile_state=pl.when(pl.col("graduation") < 5)
        .then(pl.lit("well_below"))
        .otherwise(pl.lit("well_above"))
    )
    outcome = checks.check_quartiles_balanced(skewed)
    assert not outcome.passed and outcome.offenders.height == 1
