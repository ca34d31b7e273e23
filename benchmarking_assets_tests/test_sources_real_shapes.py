"""The 2013 and 2022 partitions loaded through Dagster from pages in the real API's shapes,
served over HTTP (``real_shapes``), with coverage read from the server's own catalog.

Every expected value is worked out by hand from ``real_shapes`` in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets_tests import real_shapes
from benchmarking_assets_tests.fake_api import FakeApi
from benchmarking_assets_tests.real_shapes import ALPHA, B2, BETA


@pytest.fixture(autouse=True)
def fresh_catalog() -> Iterator[None]:
    EducationDataSource.clear_coverage_cache()
    yield
    EducationDataSource.clear_coverage_cache()


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with FakeApi(page_size=2) as server:
        real_shapes.serve(server)
        yield server


def catalog_reads(api: FakeApi) -> int:
    """How many times the catalog was read (its first page; this server pages it by 2)."""
    return sum("page" not in r.params for r in api.requests_for("api-endpoints"))


def source_for(api: FakeApi, **options: object) -> EducationDataSource:
    settings: dict[str, object] = {"max_retries": 0, "pace_seconds": 0.0}
    return EducationDataSource(source="api", api_url=api.base_url, **(settings | options))


def materialize(store: WarehouseStore, key: str, source: EducationDataSource):  # type: ignore[no-untyped-def]
    return dg.materialize(
        [district_data_history],
        partition_key=key,
        resources={"warehouse": Warehouse(database_url=store.url), "education_data": source},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def history(store: WarehouseStore, year: int) -> dict[str, dict[str, object]]:
    frame = store.read_table(
        "district_data_history",
        DISTRICT_DATA_HISTORY,
        where={"state_code": "CT", "year": year},
        order_by=("leaid",),
    )
    return {r["leaid"]: r for r in frame.iter_rows(named=True)}


def issues(store: WarehouseStore, key: str) -> list[tuple[object, ...]]:
    frame = store.read_df(
        "SELECT leaid, column_name, value, reason FROM data_quality_issues "
        "WHERE partition_key = :key ORDER BY column_name, reason",
        {"key": key},
    )
    return frame.rows()


def test_2013_loads_with_the_unlocated_school_recovered(store: WarehouseStore, api: FakeApi):
    result = materialize(store, "CT|2013", source_for(api))
    assert result.success
    rows = history(store, 2013)
    assert set(rows) == {ALPHA, BETA}
    common = {"year": 2013, "state_code": "CT", "fips": 9, "source": "api"}
    assert rows[ALPHA] == common | {
        "leaid": ALPHA,
        "lea_name": "Alpha Public Schools",
        "enrollment": 1200,
        "spec_ed_students": 150,
        "ell_students": 60,
        "teachers_fte": 80.5,
        # A1 and the pseudo-school A_PSEUDO (ncessch A2): (60 + 15) / (700 + 480) × 100
        "chronic_absenteeism_rate": pytest.approx(7500 / 1180),
        "graduation_rate": 92.0,  # int on the wire; the race=1 row (-3) is a subgroup
        "math_proficiency": 62.0,  # not the race=1 row's 74.5
        "read_proficiency": 67.0,
        "expenditure_pp": pytest.approx(15_470_000 / 1200),
        "frl_students": 350,  # A1 350; A2's -2 is a code, not a count
        "urban_centric_locale": 21,
        "lowest_grade": -1,
        "highest_grade": 12,
    }
    assert rows[BETA] == common | {
        "leaid": BETA,
        "lea_name": "Beta Regional",
        "enrollment": 730,
        "spec_ed_students": None,  # -2
        "ell_students": None,  # -1
        "teachers_fte": 48.0,
        # B1's count is -2; B2's row has null leaid/fips, so ?fips=9 misses it: asked for by
        # crdc_id and attributed through its enrollment row: 20 / 50 × 100
        "chronic_absenteeism_rate": 40.0,
        "graduation_rate": None,  # a row with cohort and rate null: NULL, no code
        "math_proficiency": 24.5,
        "read_proficiency": None,  # -3.0
        "expenditure_pp": None,  # -3.0
        "frl_students": 100,  # B1 100, B2 null
        "urban_centric_locale": 41,
        "lowest_grade": 0,
        "highest_grade": 8,
    }
    codes = store.read_df(
        "SELECT leaid, column_name, code FROM district_data_codes WHERE year = 2013 "
        "ORDER BY leaid, column_name"
    ).rows()
    assert codes == [
        (BETA, "ell_students", -1),
        (BETA, "expenditure_pp", -3),
        (BETA, "read_proficiency", -3),
        (BETA, "spec_ed_students", -2),
    ]
    # Only the enrollment pseudo-school without ncessch or leaid is set aside.
    [(leaid, column, value, reason)] = issues(store, "CT|2013")
    assert (leaid, column, reason) == (None, "leaid", "crdc_enrollment: no leaid")
    assert '"crdc_id": "099990199998"' in str(value)

    chronic = api.requests_for("chronic-absenteeism/2013")
    state_pages, by_id = chronic[:-1], chronic[-1]
    assert all(r.params["fips"] == "9" for r in state_pages)
    assert by_id.params["crdc_id"] == B2 and "fips" not in by_id.params
    # fields= asks only for what the varlist has: no `homeless` on either CRDC endpoint
    for request in api.requests_for("schools/crdc/"):
        assert "homeless" not in request.params["fields"].split(",")
        assert request.params["race"] == request.params["sex"] == "99"


def test_2022_loads_with_absenteeism_null_and_the_reason_recorded(
    store: WarehouseStore, api: FakeApi
):
    result = materialize(store, "CT|2022", source_for(api))
    assert result.success
    rows = history(store, 2022)
    assert [rows[k]["enrollment"] for k in (ALPHA, BETA)] == [1150, 700]
    for row in rows.values():
        assert row["chronic_absenteeism_rate"] is None
        assert row["frl_students"] is None  # every school's FRL is null in 2022
        assert row["expenditure_pp"] is None and row["graduation_rate"] is None
    [(leaid, column, value, reason)] = issues(store, "CT|2022")
    assert (leaid, column, value) == (None, "chronic_absenteeism_rate", None)
    assert reason.startswith("crdc_enrollment: CRDC enrollment, the denominator")
    assert "not published for 2022 (covered: 2011, 2013, 2015, 2017, 2021;" in reason
    assert api.base_url + "/api-endpoints/" in reason  # where the coverage came from
    # Asked: the two directories only. CRDC absenteeism 2022 exists but has no denominator;
    # CRDC enrollment 2022 would be a 500 (the catalog does not list it).
    asked = sorted({r.path for r in api.requests if "2022" in r.path})
    assert asked == ["school-districts/ccd/directory/2022/", "schools/ccd/directory/2022/"]


def test_coverage_comes_from_the_metadata_endpoints(api: FakeApi):
    source = source_for(api)
    years = source.available_years()
    # the catalog's directory ends in 2022 (the shipped table says 2024)
    assert years == list(range(2010, 2023))
    coverage = source.source_coverage()
    assert coverage.origin == f"{api.base_url}/api-endpoints/"
    enrollment = coverage["crdc_enrollment"]
    assert sorted(enrollment.years) == [2011, 2013, 2015, 2017, 2021]  # "…, 2017, and 2021"
    assert sorted(coverage["finance"].years)[:3] == [1991, 1994, 1995]
    assert "homeless" not in coverage["crdc_absenteeism"].variables
    assert "enrollment_crdc" in enrollment.variables and "psenrollment_crdc" in enrollment.variables
    assert "crdc_id" in enrollment.filters and "enrollment_crdc" not in enrollment.filters
    # one catalog request, then one varlist request per endpoint, by endpoint_id
    assert catalog_reads(api) == 1
    varlists = [r for r in api.requests_for("api-endpoint-varlist") if "page" not in r.params]
    ids = sorted(int(r.params["endpoint_id"]) for r in varlists)
    assert ids == [24, 29, 37, 54, 60, 80, 101]
    # The differences from the shipped table are noticed (and logged when read).
    assert "crdc_enrollment: the shipped table lists years the API lacks: 2020" in coverage.notes
    assert "crdc_absenteeism: variables not in the API's varlist: homeless" in coverage.notes


def test_the_catalog_is_cached_for_its_ttl_then_read_again(api: FakeApi):
    cached = source_for(api)
    for _ in range(3):
        cached.available_years()
    assert catalog_reads(api) == 1
    # A new year in the catalog is seen once the cache has expired (ttl 0: at once).
    api.catalog[0]["years_available"] = "1986&ndash;2023"
    assert cached.available_years()[-1] == 2022  # still the cached catalog
    assert source_for(api, catalog_ttl_seconds=0.0).available_years()[-1] == 2023
    assert catalog_reads(api) == 2


def test_a_variable_dropped_from_the_varlist_is_not_asked_and_is_recorded(
    store: WarehouseStore, api: FakeApi
):
    api.varlist = [
        r for r in api.varlist if not (r["endpoint_id"] == "54" and r["variable"] == "enrollment")
    ]
    assert materialize(store, "CT|2013", source_for(api)).success
    rows = history(store, 2013)
    assert [rows[k]["enrollment"] for k in (ALPHA, BETA)] == [None, None]
    assert rows[ALPHA]["teachers_fte"] == 80.5  # the rest of the endpoint still loads
    directory = api.requests_for("ccd/directory/2013")[0]
    assert "enrollment" not in directory.params["fields"].split(",")
    notes = [i for i in issues(store, "CT|2013") if i[1] == "enrollment"]
    assert len(notes) == 1 and notes[0][0] is None
    assert "district_directory: variable enrollment is not in the endpoint's varlist" in str(
        notes[0][3]
    )


def test_a_blank_answer_for_an_unknown_field_drops_no_total_row(api: FakeApi):
    """An API that honours ``fields=`` may answer a variable an endpoint lacks with "" in every
    row; a blank subgroup column must not turn every total row into a subgroup row."""
    api.blank = ""
    source = source_for(api, coverage="shipped")  # the shipped table asks for CRDC homeless
    raw = source.fetch_district_year("CT", 2013)
    chronic = api.requests_for("chronic-absenteeism/2013")[0]
    assert "homeless" in chronic.params["fields"].split(",")
    assert raw.stats["subgroup_rows.crdc_absenteeism"] == 0
    alpha = raw.history.filter(pl.col("leaid") == ALPHA)
    assert alpha["chronic_absenteeism_rate"].item() == pytest.approx(7500 / 1180)


def test_without_recovery_the_unlocated_school_is_lost(api: FakeApi):
    """What the 2013 null-leaid rows cost when not recovered: Beta has no rate at all."""
    from benchmarking_assets.sources.client import EducationDataClient
    from benchmarking_assets.sources.district_year import fetch_district_year

    coverage = source_for(api).source_coverage()
    with EducationDataClient(api.base_url, pace_seconds=0, max_retries=0) as client:
        kept = fetch_district_year(client, "CT", 2013, source="api", coverage=coverage)
        lost = fetch_district_year(
            client, "CT", 2013, source="api", coverage=coverage, recover_crdc=False
        )
    rate = {r["leaid"]: r["chronic_absenteeism_rate"] for r in lost.history.iter_rows(named=True)}
    assert rate[BETA] is None and rate[ALPHA] == pytest.approx(7500 / 1180)
    assert (
        lost.codes.filter(pl.col("leaid") == BETA)["column_name"]
        .to_list()
        .count("chronic_absenteeism_rate")
        == 1
    )  # the -2 of B1 is all that is left
    reasons = lost.set_aside.filter(pl.col("endpoint") == "crdc_enrollment")["reason"].to_list()
    assert sorted(reasons) == ["no leaid", "school has no CRDC chronic-absenteeism row"]
    assert kept.stats["crdc_recovery.recovered_rows"] == 1
    assert kept.history.filter(pl.col("leaid") == BETA)["chronic_absenteeism_rate"].item() == 40.0


def test_the_new_year_sensor_takes_the_years_from_the_catalog(sqlite_url: str, api: FakeApi):
    from benchmarking_assets.defs.automation.sensors import new_year_sensor
    from benchmarking_assets_tests.orchestration_support import test_definitions

    def tick(source: EducationDataSource, instance: dg.DagsterInstance):  # type: ignore[no-untyped-def]
        defs = test_definitions(sqlite_url, source)
        with dg.build_sensor_context(
            instance=instance, definitions=defs, resources=defs.resources
        ) as context:
            return new_year_sensor.evaluate_tick(context)

    store = WarehouseStore(sqlite_url)
    store.migrate()
    with dg.instance_for_test() as instance:
        assert materialize(store, "CT|2013", source_for(api)).success
        # newest loaded 2013; the catalog's district directory ends in 2022
        assert [r.run_key for r in tick(source_for(api), instance).run_requests] == ["raw-2022"]
        api.catalog[0]["years_available"] = "1986&ndash;2023"  # the Portal publishes 2023
        fresh = source_for(api, catalog_ttl_seconds=0.0)
        assert [r.run_key for r in tick(fresh, instance).run_requests] == ["raw-2023"]
