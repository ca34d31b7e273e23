-- Operations (orchestration issue): failed runs recorded by the run-failure sensor
-- (benchmarking_assets.defs.automation.sensors.record_run_failures), where an operator will see
-- them next to the data. Portable DDL: runs unchanged on SQLite and PostgreSQL; timestamps are
-- ISO-8601 UTC text, tags a JSON object as text. One row per failed run (re-recording replaces).
CREATE TABLE IF NOT EXISTS pipeline_failures (
    run_id         VARCHAR(64) NOT NULL PRIMARY KEY,
    job_name       TEXT NOT NULL,
    partition_key  TEXT,
    tags           TEXT NOT NULL,
    error_message  TEXT NOT NULL,
    failed_at      TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_pipeline_failures_failed_at ON pipeline_failures (failed_at);
