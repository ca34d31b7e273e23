"""Privacy core (pure; no Dagster): catalog, participation, submissions, cohorts, statistics,
differential privacy and the audit log. See ``docs/privacy.md`` for the rules and their proofs.
"""

from benchmarking_assets.privacy.catalog import CATEGORIES, METRICS, PUBLIC_METRICS, Metric
from benchmarking_assets.privacy.cohorts import (
    PeerCriteria,
    assign_cohorts,
    contributor_cohorts,
    district_keys,
    ladder,
)
from benchmarking_assets.privacy.dp import mean_measurement, private_means, release_id
from benchmarking_assets.privacy.stats import cohort_statistics, percentile_ranks
from benchmarking_assets.privacy.submissions import Registry, parse_bytes, parse_file

__all__ = [
    "CATEGORIES",
    "METRICS",
    "PUBLIC_METRICS",
    "Metric",
    "PeerCriteria",
    "Registry",
    "assign_cohorts",
    "cohort_statistics",
    "contributor_cohorts",
    "district_keys",
    "ladder",
    "mean_measurement",
    "parse_bytes",
    "parse_file",
    "percentile_ranks",
    "private_means",
    "release_id",
]
