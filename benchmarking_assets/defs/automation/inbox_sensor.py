"""The submissions inbox sensor.

``submissions_inbox_sensor`` lists the submission files at the top of the inbox folder
(``*.csv``, ``*.json``; hidden files and anything else — e.g. a ``.part`` being written — are
ignored, so senders should write elsewhere and rename). For each file it has not seen it
requests one run of ``benchmark_submissions_job`` for that file, with **run key = the file's
SHA-256**: Dagster never launches two runs with the same key, so re-sending a file (under any
name) changes nothing — and the ingestion itself also skips content it has already ingested.
The cursor is a JSON list of the most recent hashes seen (bounded), which spares re-hashing
decisions across ticks; it is a speed-up, the run key is the guarantee.
"""

import hashlib
import json
from pathlib import Path

import dagster as dg

from benchmarking_assets.defs.automation.jobs import submissions_job
from benchmarking_assets.defs.resources import PrivacySettings
from benchmarking_assets.store.submissions import inbox_files

CURSOR_LIMIT = 2_000

def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_config_for(path: Path) -> dict:
    return {"ops": {"benchmark_metric_submissions": {"config": {"files": [str(path)]}}}}


@dg.sensor(
    job=submissions_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Launches one ingestion run per new file in the submission inbox.",
)
def submissions_inbox_sensor(
    context: dg.SensorEvaluationContext, privacy: PrivacySettings
) -> dg.SensorResult:
    seen: list[str] = json.loads(context.cursor) if context.cursor else []
    known = set(seen)
    requests = []
    for path in inbox_files(Path(privacy.inbox_dir)):
        sha = file_sha256(path)
        if sha in known:
            continue
        known.add(sha)
        seen.append(sha)
        requests.append(
            dg.RunRequest(run_key=sha, run_config=run_config_for(path), tags={"file": path.name})
        )
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen[-CURSOR_LIMIT:]))
