"""The warehouse against concurrent runs, hostile text and numbers, and a copied SQLite file
(issue 13, cases 10 and 11), on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from benchmarking_assets.core.schemas import DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.raw.assets import district_data_history
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets.store import warehouse as warehouse_module
from benchmarking_assets.store.warehouse import WarehouseError
from benchmarking_assets_tests.definitions_support import assets_of
from benchmarking_assets_tests.fake_api import FakeApi
from benchmarking_assets_tests.test_sources_derive import TABLES, YEAR

WAIT = 60  # seconds a test waits for a thread before calling it stuck (never reached when green)


def history(names: dict[str, str], year: int = 2019) -> pl.DataFrame:
    base = {c: None for c in DISTRICT_DATA_HISTORY}
    rows = [
        {**base, "leaid": leaid, "year": year, "state_code": "CA", "fips": 6, "lea_name": name,
         "enrollment": 100 + i, "source": "test"}
        for i, (leaid, name) in enumerate(sorted(names.items()))
    ]  # fmt: skip
    return pl.DataFrame(rows, schema=DISTRICT_DATA_HISTORY)


class HeldWrite:
    """Makes ``store``'s next write stop inside its transaction (rows inserted, not committed)
    until :meth:`release`: a run caught in the middle of writing a partition."""

    def __init__(self, store: WarehouseStore) -> None:
        self.inserted = threading.Event()
        self._go = threading.Event()
        original = store.bulk_insert

        def held(conn, table, df):  # type: ignore[no-untyped-def]
            original(conn, table, df)
            self.inserted.set()
            assert self._go.wait(WAIT), "the held write was never released"

        store.bulk_insert = held  # type: ignore[method-assign]

    def release(self) -> None:
        self._go.set()


def test_concurrent_writers_of_one_partition_take_turns(store: WarehouseStore) -> None:
    partition = {"state_code": "CA", "year": 2019}
    first_run = WarehouseStore(store.url)  # another run: its own connection
    held = HeldWrite(first_run)
    errors: list[BaseException] = []

    def write(s: WarehouseStore, frame: pl.DataFrame) -> None:
        try:
            s.replace_rows("district_data_history", frame, partition)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    a = threading.Thread(target=write, args=(first_run, history({"0600001": "first run"})))
    a.start()
    assert held.inserted.wait(WAIT)
    # The second run writes the same partition (same key) while the first has not committed.
    b = threading.Thread(target=write, args=(store, history({"0600001": "second run"})))
    b.start()
    b.join(0.5)
    assert b.is_alive()  # it waits for the first run; it does not fail or slip in
    held.release()
    a.join(WAIT)
    b.join(WAIT)
    assert errors == []  # no bare "duplicate key"
    rows = store.read_table(
        "district_data_history", {"leaid": pl.String(), "lea_name": pl.String()}
    )
    assert rows.rows() == [("0600001", "second run")]  # the later write replaced the earlier


def test_a_run_that_waits_too_long_is_told_another_run_holds_the_partition(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = WarehouseStore(pg_url)
    store.migrate()
    monkeypatch.setattr(warehouse_module, "LOCK_TIMEOUT_SECONDS", 1)
    partition = {"state_code": "CA", "year": 2019}
    first_run = WarehouseStore(pg_url)
    held = HeldWrite(first_run)
    a = threading.Thread(
        target=first_run.replace_rows,
        args=("district_data_history", history({"0600001": "first"}), partition),
    )
    a.start()
    assert held.inserted.wait(WAIT)
    try:
        with pytest.raises(WarehouseError) as refused:
            store.replace_rows("district_data_history", history({"0600002": "second"}), partition)
    finally:
        held.release()
        a.join(WAIT)
    assert str(refused.value) == (
        "district_data_history (state_code=CA year=2019): another run has held this partition "
        "for more than 1 s; nothing was written, try again when it has finished"
    )
    assert store.scalar("SELECT lea_name FROM district_data_history") == "first"


def test_a_real_run_waits_for_the_writer_of_its_partition(pg_url: str) -> None:
    store = WarehouseStore(pg_url)
    store.migrate()
    source = EducationDataSource()
    resources = {"warehouse": Warehouse(database_url=pg_url), "education_data": source}
    sample = source.fetch_district_year("DE", 2019).history
    leaid = sample["leaid"][0]  # a district the run will write too: the keys collide
    first = WarehouseStore(pg_url)
    held = HeldWrite(first)
    frame = history({leaid: "held"}).with_columns(
        state_code=pl.lit("DE"), fips=pl.lit(10, pl.Int32)
    )
    a = threading.Thread(
        target=first.replace_rows,
        args=("district_data_history", frame, {"state_code": "DE", "year": 2019}),
    )
    a.start()
    assert held.inserted.wait(WAIT)
    results: list[dg.ExecuteInProcessResult] = []
    run = threading.Thread(
        target=lambda: results.append(
            dg.materialize([district_data_history], resources=resources, partition_key="DE|2019",
                           instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        )
    )  # fmt: skip
    run.start()
    # Release the first writer only once the run is waiting on a lock: its write overlaps.
    waiting = 0
    deadline = time.monotonic() + WAIT
    while not waiting and time.monotonic() < deadline and run.is_alive():
        time.sleep(0.05)
        waiting = store.scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
    assert waiting, "the run never waited for the partition"
    held.release()
    a.join(WAIT)
    run.join(WAIT)
    assert results and results[0].success  # not "duplicate key"
    names = store.read_df(
        "SELECT leaid, lea_name FROM district_data_history WHERE state_code = 'DE' ORDER BY leaid"
    )
    assert names.height == sample.height
    assert dict(names.rows())[leaid] == sample.filter(pl.col("leaid") == leaid)["lea_name"][0]


def test_nul_in_text_is_refused_on_both_backends_with_its_row(store: WarehouseStore) -> None:
    frame = history({"0600001": "Fine", "0600002": "Bad\x00Name"})
    with pytest.raises(WarehouseError) as refused:
        store.replace_rows("district_data_history", frame, {"state_code": "CA", "year": 2019})
    assert str(refused.value) == (
        "district_data_history (state_code=CA year=2019): row 1 {'state_code': 'CA', "
        "'year': 2019} has a NUL character in lea_name; text with NUL cannot be stored "
        "(clean it where it is read in)"
    )
    assert store.scalar("SELECT COUNT(*) FROM district_data_history") == 0


def hostile_tables() -> dict:
    tables = copy.deepcopy(TABLES)
    directory = tables[f"school-districts/ccd/directory/{YEAR}/"]
    directory[0] |= {"lea_name": "Alpha\x00City\x1b[2J", "enrollment": 1e308}
    finance = tables[f"school-districts/ccd/finance/{YEAR}/"]
    finance[1] |= {"exp_current_elsec_total": 1e308, "enrollment_fall_responsible": 400}
    return tables


def test_nul_names_and_1e308_enrollment_are_cleaned_recorded_and_benchmarks_stay_finite(
    store: WarehouseStore,
) -> None:
    with FakeApi(page_size=2) as api:
        for path, rows in hostile_tables().items():
            api.add(path, rows)
        source = EducationDataSource(source="api", api_url=api.base_url, pace_seconds=0.0)
        resources = {"warehouse": Warehouse(database_url=store.url), "education_data": source}
        instance = dg.DagsterInstance.ephemeral()
        raw = dg.materialize([district_data_history], resources=resources,
                             partition_key=f"AL|{YEAR}", instance=instance)  # fmt: skip
        assert raw.success
    loaded = store.read_table(
        "district_data_history",
        {"leaid": pl.String(), "lea_name": pl.String(), "enrollment": pl.Int64(),
         "expenditure_pp": pl.Float64()},
        order_by=("leaid",),
    )  # fmt: skip
    alpha, beta, _gamma = loaded.rows()
    assert alpha == ("0100001", "Alpha City [2J", None, 12_500.0)  # controls → spaces
    assert beta[0] == "0100002" and beta[3] is None  # 1e308 / 400 per pupil: impossible
    issues = store.read_df(
        "SELECT check_name, leaid, column_name, value, reason FROM data_quality_issues "
        "WHERE leaid IN ('0100001', '0100002') ORDER BY leaid, column_name"
    )
    got = {(r[1], r[2]): (r[0], r[3], r[4]) for r in issues.rows()}
    assert got[("0100001", "enrollment")] == (
        "ingestion", "1e+308",
        "district_directory: number too large (beyond 1e+15)",
    )  # fmt: skip
    assert got[("0100001", "lea_name")][:2] == ("names_printable", "Alpha\\x00City\\x1b[2J")
    # 1e308 of spending is set aside where it is read (beyond any real figure); the magnitude
    # rule of the raw checks would catch a derived value the source bound lets through.
    assert got[("0100002", "exp_current_elsec_total")] == (
        "ingestion", "1e+308", "finance: number too large (beyond 1e+15)"
    )  # fmt: skip

    benchmarks = dg.materialize(
        assets_of(keys=["state_benchmarks"]), resources=resources, partition_key=str(YEAR),
        instance=instance,
    )  # fmt: skip
    assert benchmarks.success
    states = store.read_df(f"SELECT * FROM state_benchmarks WHERE year = {YEAR}")
    numbers = states.select(pl.col(pl.Float64)).to_numpy()
    assert states.height == 2 and bool(((numbers == numbers) <= (abs(numbers) < 1e12)).all())


def test_sqlite_warehouse_file_alone_holds_every_write_after_a_run(tmp_path: Path) -> None:
    db = tmp_path / "warehouse.sqlite"
    url = f"sqlite:///{db}"
    resources = {"warehouse": Warehouse(database_url=url), "education_data": EducationDataSource()}
    result = dg.materialize([district_data_history], resources=resources, partition_key="DE|2019",
                            instance=dg.DagsterInstance.ephemeral())  # fmt: skip
    assert result.success
    rows = WarehouseStore(url).scalar("SELECT COUNT(*) FROM district_data_history")
    assert rows > 0
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed and truncated
    # A copy of the database file alone (what an operator backs up) has the run's rows.
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    shutil.copy(db, copy_dir / "warehouse.sqlite")
    with sqlite3.connect(copy_dir / "warehouse.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM district_data_history").fetchone()[0] == rows
