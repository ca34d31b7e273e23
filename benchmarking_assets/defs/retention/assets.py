"""Retention (group ``retention``): nothing private outlives ``DATA_RETENTION_DAYS``.

* ``privacy_retention`` purges submissions older than the retention period (by
  ``received_at``), submissions no longer covered by a participant's consent, and quarantined
  inbox files older than the retention period;
* ``report_retention`` deletes generated reports (files, rows, insights) past their expiry.
"""

import dagster as dg

from benchmarking_assets.defs.resources import PrivacySettings, Warehouse
from benchmarking_assets.store.reports import purge_expired_reports
from benchmarking_assets.store.submissions import purge_expired

GROUP = "retention"


@dg.asset(
    group_name=GROUP,
    deps=["benchmark_metric_submissions"],
    kinds={"sql"},
    description="Purges submissions older than DATA_RETENTION_DAYS or no longer consented to.",
)
def privacy_retention(warehouse: Warehouse, privacy: PrivacySettings) -> dg.MaterializeResult:
    days = privacy.policy().retention_days
    counts = purge_expired(warehouse.store(), days, privacy.inbox())
    return dg.MaterializeResult(metadata={**counts, "retention_days": days})


@dg.asset(
    group_name=GROUP,
    deps=["benchmark_reports"],
    kinds={"sql"},
    description="Deletes reports (files, rows, insights) older than DATA_RETENTION_DAYS.",
)
def report_retention(warehouse: Warehouse, privacy: PrivacySettings) -> dg.MaterializeResult:
    days = privacy.policy().retention_days
    counts = purge_expired_reports(warehouse.store(), days)
    return dg.MaterializeResult(metadata={**counts, "retention_days": days})
