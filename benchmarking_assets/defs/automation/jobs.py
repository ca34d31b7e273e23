"""Every job of the code location: what the demo, schedules and sensors launch.

Each job covers partitions the Dagster way: one run over a range (the assets' single-run
backfill policies), e.g. every state of a year, or every year of a backfill.
"""

import dagster as dg

raw_history_job = dg.define_asset_job(
    "raw_history_job",
    selection=dg.AssetSelection.groups("raw"),
    description="Load district_data_history for the chosen state × year partitions; one run "
    "covers a whole range (the asset's single-run backfill policy).",
)
benchmarks_job = dg.define_asset_job(
    "benchmarks_job",
    selection=dg.AssetSelection.groups("benchmarks"),
    description="Recompute state and district benchmarks for the chosen years.",
)
submissions_job = dg.define_asset_job(
    "benchmark_submissions_job",
    selection=dg.AssetSelection.assets("benchmark_metric_submissions"),
    description="Ingest private metric submission files from the inbox.",
)
COHORT_ASSETS = (
    "peer_cohorts",
    "cohort_benchmarks",
    "participant_percentiles",
    "private_cohort_benchmarks",
)
cohorts_job = dg.define_asset_job(
    "cohorts_job",
    selection=dg.AssetSelection.assets(*COHORT_ASSETS),
    description="Peer cohorts, public and private cohort benchmarks, percentiles for the years.",
)
year_downstream_job = dg.define_asset_job(
    "year_downstream_job",
    selection=benchmarks_job.selection | cohorts_job.selection,
    description="Benchmarks then cohorts for the years of a newly loaded raw year.",
)
reports_job = dg.define_asset_job(
    "reports_job",
    selection=dg.AssetSelection.groups("reports"),
    description="Insights and PDF/XLSX/CSV reports for the chosen participant × year partitions.",
)
privacy_retention_job = dg.define_asset_job(
    "privacy_retention_job",
    selection=dg.AssetSelection.groups("retention"),
    description="Purge submissions and reports older than DATA_RETENTION_DAYS (or unconsented).",
)
