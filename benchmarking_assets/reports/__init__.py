"""Reports and insights a district leader can read (group ``reports``).

Pure modules (no Dagster): :mod:`.content` (what a report holds), :mod:`.insights`,
:mod:`.exports` (neutralisation, paths, CSV), :mod:`.render_xlsx`, :mod:`.render_pdf`.
Dagster wiring in :mod:`.assets`. Add to ``Definitions``::

    assets=[..., *reports_assets], asset_checks=[..., *reports_checks],
    jobs=[..., *reports_jobs],
    resources={..., "reports": build_report_settings()}

and call :func:`sync_report_partitions` (participation sensor, demo) before materializing, and
:func:`purge_expired_reports` from a retention job.
"""

import dagster as dg

from benchmarking_assets.reports.assets import (
    ReportSettings,
    build_report_settings,
    generate,
    purge_expired_reports,
    report_retention,
    reports_multi_asset,
    sync_report_partitions,
)
from benchmarking_assets.reports.partitions import (
    participant_partitions,
    report_key,
    report_partitions,
)

reports_assets = [reports_multi_asset, report_retention]
reports_checks: list = []  # the participant check is a check spec of the asset itself
reports_job = dg.define_asset_job(
    "reports_job",
    selection=dg.AssetSelection.groups("reports") - dg.AssetSelection.assets(report_retention),
    description="Insights and PDF/XLSX/CSV reports for the chosen participant × year partitions.",
)
reports_jobs = [reports_job]

__all__ = [
    "ReportSettings",
    "build_report_settings",
    "generate",
    "participant_partitions",
    "purge_expired_reports",
    "report_key",
    "report_partitions",
    "reports_assets",
    "reports_checks",
    "reports_jobs",
    "sync_report_partitions",
]
