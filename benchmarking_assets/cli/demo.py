"""``benchmarking demo``: build the whole asset graph in one go.

The demo runs the code location's own asset jobs in this process against the configured
``DAGSTER_HOME`` (``data/dagster_home`` when unset), so its runs, materializations and check
results appear in the Dagster UI afterwards. Each stage is one run covering a rectangle of
partitions (every state × every sample year, then every year), which is what a backfill with
the assets' single-run backfill policy does.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarking_assets.cli.participants import demo_participants
from benchmarking_assets.core.geography import STATE_CODES
from benchmarking_assets.defs.partitions import (
    RANGE_END,
    RANGE_START,
    participant_partitions,
    sync_participant_partitions,
)
from benchmarking_assets.defs.resources import data_dir, resolved_resources
from benchmarking_assets.store import WarehouseStore


@dataclass(frozen=True)
class Stage:
    label: str
    job_name: str
    partitioning: str  # "state_year", "year", "participant_year" or "none"
    enroll_demo_participants: bool = False  # enroll sample districts, fill the inbox first


# In lineage order; a test checks that these jobs together cover every asset of the graph.
DEMO_STAGES: tuple[Stage, ...] = (
    Stage("raw district history (state × year)", "raw_history_job", "state_year"),
    Stage("state, national and district benchmarks (year)", "benchmarks_job", "year"),
    Stage(
        "sample participants and their private submissions",
        "benchmark_submissions_job",
        "none",
        enroll_demo_participants=True,
    ),
    Stage("peer cohorts, cohort and private DP benchmarks (year)", "cohorts_job", "year"),
    Stage("reports and insights (participant × year)", "reports_job", "participant_year"),
    Stage("retention purge", "privacy_retention_job", "none"),
)


def _safe_url(url: str) -> str:
    """The URL with any password masked, for printing."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def ensure_dagster_home() -> Path:
    """Use ``DAGSTER_HOME``, or make ``data/dagster_home`` (with a quiet dagster.yaml)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(data_dir() / "dagster_home")
        os.environ["DAGSTER_HOME"] = home
    path = Path(home)
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    return path


def parse_years(text: str | None, available: Sequence[int]) -> list[int]:
    if not text:
        return list(available)
    if "-" in text:
        lo, hi = (int(p) for p in text.split("-", 1))
        years = list(range(lo, hi + 1))
    else:
        years = [int(p) for p in text.split(",")]
    unknown = sorted(set(years) - set(available))
    if unknown:
        raise SystemExit(
            f"years {unknown} are not in the source (it has {available[0]}–{available[-1]})"
        )
    return years


def parse_states(text: str | None) -> list[str]:
    if not text:
        return list(STATE_CODES)
    states = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in states if s not in STATE_CODES]
    if unknown:
        raise SystemExit(f"unknown state codes: {', '.join(unknown)}")
    return [s for s in STATE_CODES if s in states]  # the partition order, for ranges


def run_demo(states: list[str], years: list[int], verbose: bool = False) -> int:
    home = ensure_dagster_home()
    import dagster as dg

    resources = resolved_resources()
    warehouse_url = resources["warehouse"].database_url
    store = WarehouseStore(warehouse_url)

    if years != list(range(years[0], years[-1] + 1)):
        raise SystemExit("the demo needs a contiguous range of years")
    instance = dg.DagsterInstance.get()
    # Errors only by default: the demo prints its own progress, and concurrent runs of one
    # asset make Dagster warn about data-version provenance, which is noise here.
    log_level = "INFO" if verbose else "ERROR"
    print(f"DAGSTER_HOME  {home}")
    print(f"warehouse     {_safe_url(warehouse_url)}")
    print(f"source        {resources['education_data'].source}")
    print(f"partitions    {len(states)} states × {len(years)} years ({years[0]}–{years[-1]})")
    total = time.monotonic()
    for n, stage in enumerate(DEMO_STAGES, start=1):
        participants: list[str] = []
        if stage.partitioning == "participant_year":
            sync_participant_partitions(instance, store, actor="demo")
            participants = sorted(instance.get_dynamic_partitions(participant_partitions.name))
        ranges = _ranges(stage, states, years, participants)
        spans = ", ".join(f"{a} … {b}" for a, b in ranges if a)
        parallel = (
            len(ranges) > 1 and stage.partitioning == "state_year" and states == list(STATE_CODES)
        )
        label = f"{stage.label}: {spans}" if parallel else stage.label
        print(f"[{n}/{len(DEMO_STAGES)}] {label}{' (in parallel)' if parallel else ''}", flush=True)
        if stage.enroll_demo_participants:
            files = demo_participants(store, years, resources["privacy"].inbox_dir)
            print(f"      enrolled sample participants; {len(files)} files in the inbox")
        if parallel:
            if not _run_parallel(stage.job_name, ranges, log_level):
                return 1
            continue
        for start, end in ranges:
            if start:
                print(f"      {start} … {end}", flush=True)
            if not _report(run_stage(stage.job_name, start, end, log_level)):
                return 1
    print(f"\nDemo finished in {time.monotonic() - total:.1f} s.")
    print_headlines(store, resources["reports"].reports_dir)
    print_reports(store, years[-1])
    return 0


def _year_chunks(years: list[int], n: int) -> list[list[int]]:
    size = -(-len(years) // max(n, 1))
    return [years[i : i + size] for i in range(0, len(years), size)]


def _ranges(
    stage: Stage, states: list[str], years: list[int], participants: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Partition-key ranges for a stage: one rectangle when all states are wanted.

    A state × year range is the rectangle between its corners in partition order, so a
    subset of states runs as one range per state.
    """
    if stage.partitioning == "none":
        return [("", "")]
    if stage.partitioning == "participant_year":
        # Reports for the newest year; the dynamic keys' first and last span them all.
        if not participants:
            return []
        return [(f"{participants[0]}|{years[-1]}", f"{participants[-1]}|{years[-1]}")]
    if stage.partitioning == "year":
        return [(str(years[0]), str(years[-1]))]
    if states == list(STATE_CODES):
        # Year slices, one per core: the sample is generated a year at a time, so slicing
        # by year (not by state) keeps the workers from generating the same years twice.
        chunks = _year_chunks(years, min(os.cpu_count() or 1, 2))
        return [(f"{states[0]}|{c[0]}", f"{states[-1]}|{c[-1]}") for c in chunks]
    return [(f"{s}|{years[0]}", f"{s}|{years[-1]}") for s in states]


@dataclass(frozen=True)
class StageResult:
    success: bool
    run_id: str
    seconds: float
    checks: int
    failed_checks: tuple[str, ...]
    error: str = ""


def run_stage(job_name: str, start: str, end: str, log_level: str) -> StageResult:
    """One run of ``job_name`` over a partition range, in this process (or a worker's)."""
    import dagster as dg

    from benchmarking_assets.definitions import defs

    t0 = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        result = (
            defs()
            .resolve_job_def(job_name)
            .execute_in_process(
                instance=instance,
                tags={RANGE_START: start, RANGE_END: end} if start else {},
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
                raise_on_error=False,
            )
        )
    failure = next((e for e in result.all_events if e.event_type_value == "STEP_FAILURE"), None)
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return StageResult(
        success=result.success,
        run_id=result.run_id,
        seconds=time.monotonic() - t0,
        checks=len(checks),
        failed_checks=tuple(sorted({c.check_name for c in checks if not c.passed})),
        error=failure.event_specific_data.error.message if failure else "",
    )


def _report(result: StageResult) -> bool:
    if not result.success:
        detail = result.error or "see the run in the UI"
        print(f"      FAILED (run {result.run_id}): {detail}", file=sys.stderr)
        return False
    failed = result.failed_checks
    note = f"; checks not passed: {', '.join(failed)}" if failed else ""
    print(
        f"      done in {result.seconds:.1f} s (run {result.run_id[:8]}), "
        f"{result.checks} check results{note}",
        flush=True,
    )
    return True


def _run_parallel(job_name: str, ranges: list[tuple[str, str]], log_level: str) -> bool:
    """Runs over disjoint ranges at once, one process each (the work is CPU-bound)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # a clean interpreter per worker
    with ProcessPoolExecutor(max_workers=len(ranges), mp_context=context) as pool:
        futures = [pool.submit(run_stage, job_name, a, b, log_level) for a, b in ranges]
        results = [f.result() for f in futures]
    return all([_report(r) for r in results])


HEADLINE_METRICS = (
    ("districts", "district_count", ""),
    ("mean district enrollment", "avg_enrollment", "students"),
    ("graduation rate", "avg_graduation_rate", "%"),
    ("math proficiency", "avg_math_proficiency", "%"),
    ("chronic absenteeism", "avg_chronic_absenteeism_rate", "%"),
    ("expenditure per pupil", "avg_expenditure_per_pupil", "$"),
)


def print_headlines(store: WarehouseStore, reports_dir: str) -> None:
    rows = store.scalar("SELECT COUNT(*) FROM district_data_history")
    districts = store.scalar("SELECT COUNT(DISTINCT leaid) FROM district_data_history")
    print(f"warehouse: {_safe_url(store.url)}")
    print(f"reports:   {reports_dir}")
    print(f"district_data_history: {rows:,} rows, {districts:,} districts")
    # Each metric's newest year with a national value: sources end in different years.
    for label, column, unit in HEADLINE_METRICS:
        found = store.read_df(
            f"SELECT year, {column} AS v FROM state_benchmarks WHERE state_code = 'US' "
            f"AND {column} IS NOT NULL ORDER BY year DESC LIMIT 1"
        )
        if found.height:
            year, value = found.row(0)
            number = f"{value:>10,.0f}" if column == "district_count" else f"{value:>10,.1f}"
            print(f"  US {label:<26} {number} {unit:<9} ({year})")
    print("Open the UI with:  DAGSTER_HOME=" + os.environ["DAGSTER_HOME"] + " dagster dev")


def print_reports(store: WarehouseStore, year: int) -> None:
    paths = store.read_df(
        "SELECT leaid, format, path FROM benchmark_reports WHERE year = :y ORDER BY leaid, format",
        {"y": year},
    )
    print(f"\nReports for {year}: {paths.height} files for {paths['leaid'].n_unique()} districts")
    for leaid, fmt, path in paths.rows():
        print(f"  {leaid} {fmt:<4} {path}")
