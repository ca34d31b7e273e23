"""Raw history: one asset, ``district_data_history``, partitioned by state × year.

Each partition is fetched from the configured source (the offline sample or the Education
Data Portal API), its impossible cells quarantined, and written atomically with its
missing-data codes and quality issues: a re-run replaces the partition, a failed one leaves
the previous rows.
"""

import time
from collections import Counter

import dagster as dg
import polars as pl

from benchmarking_assets.core.partition_guard import check_district_loss
from benchmarking_assets.core.quality import (
    RULES,
    district_count_changes,
    quarantine,
    set_aside_issues,
    violations,
)
from benchmarking_assets.core.schemas import DATA_QUALITY_ISSUES, DISTRICT_DATA_HISTORY
from benchmarking_assets.defs.metadata import frame_metadata, markdown_table, null_counts
from benchmarking_assets.defs.partitions import parse_state_year, state_year_partitions
from benchmarking_assets.defs.resources import EducationDataSource, Warehouse
from benchmarking_assets.store import WarehouseStore
from benchmarking_assets.store.raw import (
    district_counts,
    loaded_district_count,
    write_state_year,
)
from benchmarking_assets.store.warehouse import utc_now

ASSET = "district_data_history"
API_POOL = "education_data_api"
COUNT_CHECK = "district_count_stable"
PROGRESS_EVERY_SECONDS = 5.0
CHECK_DESCRIPTIONS = {
    **RULES,
    COUNT_CHECK: "district count within 20 % of the previous year's, per state",
}


def load_partition(
    source: EducationDataSource, store: WarehouseStore, key: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """Fetch, quarantine and atomically write one state × year partition."""
    state, year = parse_state_year(key)
    raw = source.fetch_district_year(state, year)
    now = utc_now()
    history, issues = quarantine(raw.history, asset=ASSET, partition_key=key, detected_at=now)
    check_district_loss(  # never replace a loaded partition with (almost) nothing
        key,
        loaded=loaded_district_count(store, state, year, source.kind()),
        incoming=history.height,
        max_loss=source.max_district_loss,
        allowed=source.allow_district_loss,
    )
    aside = set_aside_issues(
        raw.set_aside, asset=ASSET, partition_key=key, year=year, detected_at=now
    )
    issues = pl.concat([issues, aside])
    write_state_year(
        store, state, year, history, raw.codes, issues, asset=ASSET, partition_key=key
    )
    return history, raw.codes, issues, raw.stats


@dg.asset(
    name=ASSET,
    group_name="raw",
    partitions_def=state_year_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=API_POOL,
    kinds={"polars", "sql"},
    check_specs=[
        dg.AssetCheckSpec(name, asset=ASSET, description=desc)
        for name, desc in CHECK_DESCRIPTIONS.items()
    ],
    description=(
        "One row per district (7-character leaid) and school year: directory, finance, "
        "EDFacts and CRDC values (docs/data.md). Missing-data codes are NULL here and kept in "
        "district_data_codes; impossible values are quarantined to data_quality_issues."
    ),
)
def district_data_history(
    context: dg.AssetExecutionContext, education_data: EducationDataSource, warehouse: Warehouse
) -> dg.MaterializeResult:
    store = warehouse.store()
    keys = sorted(context.partition_keys, key=lambda k: parse_state_year(k)[::-1])
    frames: list[pl.DataFrame] = []
    codes_seen: Counter[int] = Counter()
    issue_frames: list[pl.DataFrame] = []
    per_partition: list[dict[str, object]] = []
    failures: list[str] = []
    started = last_log = time.monotonic()
    for i, key in enumerate(keys, start=1):
        t0 = time.monotonic()
        try:
            history, codes, issues, stats = load_partition(education_data, store, key)
        except Exception as exc:  # keep loading the others; fail the run at the end
            context.log.error(f"{ASSET} {key}: {exc}")
            failures.append(f"{key}: {exc}")
            continue
        frames.append(history)
        issue_frames.append(issues)
        codes_seen.update(codes["code"].to_list())
        per_partition.append(
            {
                "partition": key,
                "districts": history.height,
                "issues": issues.height,
                "pages": int(sum(v for k, v in stats.items() if k.startswith("pages"))),
            }
        )
        # Progress every few seconds, not per partition: each log line is an event-log write,
        # which costs more than loading a small state.
        now = time.monotonic()
        if now - last_log >= PROGRESS_EVERY_SECONDS or i == len(keys) or len(keys) <= 20:
            last_log = now
            context.log.info(
                f"[{i}/{len(keys)}] {key}: {history.height:,} districts, {codes.height:,} coded "
                f"NULLs, {issues.height:,} issues ({now - t0:.2f} s)"
            )
    if failures:
        raise dg.Failure(
            description=f"{len(failures)} of {len(keys)} partitions failed to load "
            f"(the others were written): " + "; ".join(failures[:10]),
            metadata={"failed_partitions": dg.MetadataValue.json(failures)},
        )

    loaded = pl.concat(frames) if frames else pl.DataFrame(schema=DISTRICT_DATA_HISTORY)
    issues = pl.concat(issue_frames) if issue_frames else pl.DataFrame(schema=DATA_QUALITY_ISSUES)
    checks = list(_check_results(store, loaded, issues, keys))
    metadata = {
        **frame_metadata(loaded),
        "partitions": dg.MetadataValue.int(len(keys)),
        "districts": dg.MetadataValue.int(loaded["leaid"].n_unique()),
        "source": dg.MetadataValue.text(education_data.kind()),
        "null_counts": dg.MetadataValue.json(null_counts(loaded)),
        "codes_seen": dg.MetadataValue.json({str(k): v for k, v in sorted(codes_seen.items())}),
        "quality_issues": dg.MetadataValue.int(issues.height),
        "per_partition": dg.MetadataValue.md(markdown_table(pl.DataFrame(per_partition), 60)),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 3)),
    }
    return dg.MaterializeResult(metadata=metadata, check_results=checks)


def _check_results(
    store: WarehouseStore, loaded: pl.DataFrame, issues: pl.DataFrame, keys: list[str]
) -> list[dg.AssetCheckResult]:
    results: list[dg.AssetCheckResult] = []
    for name in RULES:
        in_table = violations(loaded, name)
        quarantined = issues.filter(pl.col("check_name") == name)
        passed = in_table.height == 0 and quarantined.height == 0
        results.append(
            dg.AssetCheckResult(
                check_name=name,
                passed=passed,
                # The table itself is clean when only quarantine happened: warn, don't block.
                severity=dg.AssetCheckSeverity.ERROR
                if in_table.height
                else dg.AssetCheckSeverity.WARN,
                metadata={
                    "rows_violating_in_table": in_table.height,
                    "values_quarantined": quarantined.height,
                    "examples": dg.MetadataValue.md(
                        markdown_table(
                            quarantined.select(
                                "partition_key", "leaid", "column_name", "value", "reason"
                            ),
                            10,
                        )
                    ),
                },
            )
        )
    partitions = sorted({parse_state_year(k) for k in keys})
    states = sorted({s for s, _ in partitions})
    years = sorted({y for _, y in partitions} | {y - 1 for _, y in partitions})
    counts = district_counts(store, states, years)
    changes = district_count_changes(counts, partitions)
    outside = changes.filter(pl.col("outside_tolerance"))
    results.append(
        dg.AssetCheckResult(
            check_name=COUNT_CHECK,
            passed=outside.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "partitions_outside_20pct": outside.height,
                "partitions_compared": changes.filter(pl.col("previous").is_not_null()).height,
                "examples": dg.MetadataValue.md(markdown_table(outside, 10)),
            },
        )
    )
    return results
