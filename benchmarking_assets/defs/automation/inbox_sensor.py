"""The submissions inbox sensor.

``submissions_inbox_sensor`` lists the submission files at the top of the inbox folder
(``*.csv``, ``*.json``; hidden files and anything else — e.g. a ``.part`` being written — are
ignored, so senders should write elsewhere and rename). For each **drop** of a file it has not
seen it requests one run of ``benchmark_submissions_job`` for that file. Files are read as
ingestion reads them (``store.submissions.inbox_drops``: never through a symbolic link, at most
``SUBMISSIONS_MAX_FILE_BYTES``).

**Run key = a keyed digest (HMAC-SHA256) of the drop**: the file's bytes plus what tells this
drop from a later one of the same bytes (name, device, inode, status-change time, size,
modification time). Dagster never launches two runs with the same key, so ticks while a file
waits ask for nothing more; but a file re-sent after it was ingested or quarantined is a new
drop (the kernel sets a new change time when it is created or renamed into the inbox) and gets
its own run — a file whose rows were refused before its district enrolled is accepted when
re-sent after. Re-sending content already in the warehouse writes nothing (the ingestion
decides that, ``store.submissions``). The digest is keyed (``store.privacy_keys``) because run
keys, tags and cursors are shown in the Dagster UI: a plain SHA-256 of a one-row file lets
anyone who can read the UI test every guess of the value in it. The cursor is a JSON list of
the most recent drop digests seen (bounded), which spares re-deciding across ticks; it is a
speed-up, the run key is the guarantee.
"""

import json
from pathlib import Path

import dagster as dg

from benchmarking_assets.defs.automation.jobs import submissions_job
from benchmarking_assets.defs.resources import PrivacySettings, Warehouse
from benchmarking_assets.store.privacy_keys import file_digest
from benchmarking_assets.store.submissions import inbox_drops

CURSOR_LIMIT = 2_000
FILE_TAG = "benchmarking/file_digest"


def run_config_for(path: Path) -> dict:
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
    inbox = privacy.inbox()
    seen: list[str] = json.loads(context.cursor) if context.cursor else []
    known = set(seen)
    requests = []
    for drop in inbox_drops(inbox, privacy.inbox_limits().max_file_bytes):
        digest = file_digest(store, drop.content, drop.name, *drop.identity)
        if digest in known:
            continue
        known.add(digest)
        seen.append(digest)
        requests.append(
            dg.RunRequest(
                run_key=f"file-{digest}",
                run_config=run_config_for(inbox / drop.name),
                tags={"file": drop.name, FILE_TAG: digest[:12]},
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen[-CURSOR_LIMIT:]))
