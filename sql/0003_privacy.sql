-- Privacy layer (docs/privacy.md): participation, private submissions, peer cohorts, cohort statistics,
-- differential-privacy releases and their budget ledger, and the audit log.
-- Portable DDL: runs unchanged on SQLite and PostgreSQL. Flags are INTEGER 0/1, timestamps
-- ISO-8601 UTC text. Written by benchmarking_assets.store (cohorts, participation, submissions, audit).
-- Every table read by anyone outside the warehouse holds only cells with n >= MIN_COHORT_SIZE.

-- Opt-in registry: one row per enrolled district; withdrawal deletes the row (the audit log
-- keeps the history).
CREATE TABLE IF NOT EXISTS benchmark_participants (
    leaid               VARCHAR(7) NOT NULL PRIMARY KEY,
    shares_academic     INTEGER NOT NULL,
    shares_engagement   INTEGER NOT NULL,
    shares_ai_tutor     INTEGER NOT NULL,
    shares_operational  INTEGER NOT NULL,
    enrolled_at         TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

-- Accepted private values; a later file supersedes an earlier one for the same key.
CREATE TABLE IF NOT EXISTS benchmark_metric_submissions (
    leaid          VARCHAR(7) NOT NULL,
    year           INTEGER NOT NULL,
    category       TEXT NOT NULL,
    metric         TEXT NOT NULL,
    value          DOUBLE PRECISION NOT NULL,
    file_sha256    TEXT NOT NULL,
    line           INTEGER NOT NULL,
    received_at    TEXT NOT NULL,
    PRIMARY KEY (leaid, year, metric)
);

CREATE INDEX IF NOT EXISTS ix_benchmark_metric_submissions_year
    ON benchmark_metric_submissions (year);

-- One row per file ever ingested (by content hash): re-sending a file changes nothing.
-- Counts only, no values.
CREATE TABLE IF NOT EXISTS benchmark_submission_files (
    file_sha256    TEXT NOT NULL PRIMARY KEY,
    file_name      TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    rows_accepted  INTEGER NOT NULL,
    rows_rejected  INTEGER NOT NULL,
    status         TEXT NOT NULL
);

-- Each district's peer cohort per year (disjoint, every cohort >= k members) and its criteria.
CREATE TABLE IF NOT EXISTS peer_cohorts (
    year             INTEGER NOT NULL,
    leaid            VARCHAR(7) NOT NULL,
    cohort_id        TEXT NOT NULL,
    cohort_size      INTEGER NOT NULL,
    ladder_level     INTEGER NOT NULL,
    ladder_step      TEXT NOT NULL,
    merged_leftover  INTEGER NOT NULL,
    state_code       VARCHAR(2) NOT NULL,
    region           TEXT NOT NULL,
    size_band        TEXT NOT NULL,
    locale           TEXT NOT NULL,
    frl_band         TEXT NOT NULL,
    grade_span       TEXT NOT NULL,
    PRIMARY KEY (year, leaid)
);

CREATE INDEX IF NOT EXISTS ix_peer_cohorts_year_cohort ON peer_cohorts (year, cohort_id);

-- Public metrics per cohort (cohort_id 'ALL' = national total); linear percentiles.
CREATE TABLE IF NOT EXISTS cohort_benchmarks (
    year       INTEGER NOT NULL,
    cohort_id  TEXT NOT NULL,
    metric     TEXT NOT NULL,
    n          INTEGER NOT NULL,
    mean       DOUBLE PRECISION,
    median     DOUBLE PRECISION,
    p25        DOUBLE PRECISION,
    p75        DOUBLE PRECISION,
    p90        DOUBLE PRECISION,
    std        DOUBLE PRECISION,
    PRIMARY KEY (year, cohort_id, metric)
);

-- Private metrics per cohort of contributors: differentially private means only.
CREATE TABLE IF NOT EXISTS private_cohort_benchmarks (
    year          INTEGER NOT NULL,
    cohort_id     TEXT NOT NULL,
    category      TEXT NOT NULL,
    metric        TEXT NOT NULL,
    unit          TEXT NOT NULL,
    n             INTEGER NOT NULL,
    dp_mean       DOUBLE PRECISION NOT NULL,
    lower_bound   DOUBLE PRECISION NOT NULL,
    upper_bound   DOUBLE PRECISION NOT NULL,
    epsilon       DOUBLE PRECISION NOT NULL,
    noise_scale   DOUBLE PRECISION NOT NULL,
    mechanism     TEXT NOT NULL,
    release_id    TEXT NOT NULL,
    PRIMARY KEY (year, cohort_id, metric)
);

-- Reciprocity: which private cohort each contributing participant may see, per metric.
CREATE TABLE IF NOT EXISTS participant_private_benchmarks (
    year       INTEGER NOT NULL,
    leaid      VARCHAR(7) NOT NULL,
    category   TEXT NOT NULL,
    metric     TEXT NOT NULL,
    cohort_id  TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (year, leaid, metric)
);

-- Each participant's mid-rank percentile within its cohort, public metrics only.
CREATE TABLE IF NOT EXISTS participant_percentiles (
    year             INTEGER NOT NULL,
    leaid            VARCHAR(7) NOT NULL,
    cohort_id        TEXT NOT NULL,
    metric           TEXT NOT NULL,
    value            DOUBLE PRECISION NOT NULL,
    percentile_rank  DOUBLE PRECISION NOT NULL,
    cohort_n         INTEGER NOT NULL,
    PRIMARY KEY (year, leaid, metric)
);

-- The noisy values of every current release, reused while its inputs are unchanged.
CREATE TABLE IF NOT EXISTS dp_releases (
    release_id   TEXT NOT NULL PRIMARY KEY,
    year         INTEGER NOT NULL,
    metric       TEXT NOT NULL,
    cohort_id    TEXT NOT NULL,
    n            INTEGER NOT NULL,
    epsilon      DOUBLE PRECISION NOT NULL,
    noise_scale  DOUBLE PRECISION NOT NULL,
    mechanism    TEXT NOT NULL,
    dp_mean      DOUBLE PRECISION NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_dp_releases_year ON dp_releases (year);

-- Every privacy-budget charge, never deleted: one row per statistic of each new release.
CREATE TABLE IF NOT EXISTS privacy_budget_ledger (
    release_id  TEXT NOT NULL,
    statistic   TEXT NOT NULL,
    year        INTEGER NOT NULL,
    metric      TEXT NOT NULL,
    cohort_id   TEXT NOT NULL,
    n           INTEGER NOT NULL,
    epsilon     DOUBLE PRECISION NOT NULL,
    mechanism   TEXT NOT NULL,
    scale       DOUBLE PRECISION NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (release_id, statistic)
);

CREATE INDEX IF NOT EXISTS ix_privacy_budget_ledger_year ON privacy_budget_ledger (year, metric);

-- Who did what when: participation changes, ingestions, releases, purges, exports.
CREATE TABLE IF NOT EXISTS privacy_audit_log (
    event_id     TEXT NOT NULL PRIMARY KEY,
    occurred_at  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    leaid        VARCHAR(7),
    details      TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_privacy_audit_log_leaid ON privacy_audit_log (leaid);
