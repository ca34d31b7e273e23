"""Retention (group ``retention``): nothing private outlives ``DATA_RETENTION_DAYS``.

* ``privacy_retention`` purges submissions older than the retention period (by
  ``received_at``), submissions no longer covered by a participant's consent, and quarantined
  inbox files older than the retention period;
* ``report_retention`` deletes generated reports (files, rows, insights) past their expiry, and
  report files that no row lists (a killed report run's), so no file outlives its expiry.
"""

import dagster as dg

from benchmarking_assets.defs.resources import PrivacySettings, ReportSettings, Warehouse
from benchmarking_assets.store.reports import purge_expired_reports, sweep_orphans
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
    description="Deletes reports (files, rows, insights) older than DATA_RETENTION_DAYS, and "
    "report files no row lists (left by a killed run).",
)
def report_retention(
    warehouse: Warehouse, privacy: PrivacySettings, reports: ReportSettings
) -> dg.MaterializeResult:
    store = warehouse.store()
    days = privacy.policy().retention_days
    counts = purge_expired_reports(store, days)
    orphans = sweep_orphans(store, reports.reports_dir)
    return dg.MaterializeResult(metadata={**counts, **orphans, "retention_days": days})
