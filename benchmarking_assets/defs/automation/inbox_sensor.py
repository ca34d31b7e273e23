"""The submissions inbox sensor.

``submissions_inbox_sensor`` lists the submission files at the top of the inbox folder
(``*.csv``, ``*.json``; hidden files and anything else — e.g. a ``.part`` being written — are
ignored, so senders should write elsewhere and rename). For each file it has not seen it
requests one run of ``benchmark_submissions_job`` for that file, with **run key = a keyed digest
(HMAC-SHA256) of the file's bytes**: Dagster never launches two runs with the same key, so
re-sending a file (under any name) changes nothing — and the ingestion itself also skips content
it has already ingested. The digest is keyed (``store.privacy_keys``) because run keys, tags and
cursors are shown in the Dagster UI: a plain SHA-256 of a one-row file lets anyone who can read
the UI test every guess of the value in it. The cursor is a JSON list of the most recent digests
seen (bounded), which spares re-deciding across ticks; it is a speed-up, the run key is the
guarantee.
"""

import json

import dagster as dg

from benchmarking_assets.defs.automation.jobs import submissions_job
from benchmarking_assets.defs.resources import PrivacySettings, Warehouse
from benchmarking_assets.store.privacy_keys import file_digest
from benchmarking_assets.store.submissions import inbox_files

CURSOR_LIMIT = 2_000
FILE_TAG = "benchmarking/file_digest"


def run_config_for(path) -> dict:  # type: ignore[no-untyped-def]
    return {"ops": {"benchmark_metric_submissions": {"config": {"files": [str(path)]}}}}


@dg.sensor(
    job=submissions_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Launches one ingestion run per new file in the submission inbox.",
)
def submissions_inbox_sensor(
    context: dg.SensorEvaluationContext, privacy: PrivacySettings, warehouse: Warehouse
) -> dg.SensorResult:
    store = warehouse.store()
    store.ensure_migrated()
    seen: list[str] = json.loads(context.cursor) if context.cursor else []
    known = set(seen)
    requests = []
    for path in inbox_files(privacy.inbox()):
        digest = file_digest(store, path)
        if digest in known:
            continue
        known.add(digest)
        seen.append(digest)
        requests.append(
            dg.RunRequest(
                run_key=f"file-{digest}",
                run_config=run_config_for(path),
                tags={"file": path.name, FILE_TAG: digest[:12]},
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen[-CURSOR_LIMIT:]))
