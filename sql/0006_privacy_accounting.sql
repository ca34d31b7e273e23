-- Privacy accounting (docs/privacy.md §6–8): random draw ids instead of value hashes, stored
-- noise draws keyed by a private HMAC, an append-only ledger with one row per noise draw,
-- per-district budget charges, and the participation lock that makes withdrawal win races.
-- Portable DDL (SQLite and PostgreSQL); the few dialect-specific statements are marked.

-- The lock every writer of participant-derived data takes first (SQLite: BEGIN IMMEDIATE;
-- PostgreSQL: SELECT ... FOR UPDATE on this row). generation counts participation changes.
CREATE TABLE IF NOT EXISTS participation_state (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    generation  BIGINT NOT NULL
);

INSERT INTO participation_state (id, generation) SELECT 1, 0
WHERE NOT EXISTS (SELECT 1 FROM participation_state WHERE id = 1);

-- Private: keys for keyed digests (HMAC-SHA256). Created on first use, never rotated silently
-- (rotating the input-digest key forfeits every stored draw: all groups are redrawn, charged).
CREATE TABLE IF NOT EXISTS privacy_secrets (
    name   TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Append-only: one row per noise draw ever made. No leaid, no value, nothing derived from one.
CREATE TABLE IF NOT EXISTS privacy_noise_ledger (
    draw_id      TEXT NOT NULL PRIMARY KEY,
    drawn_at     TEXT NOT NULL,
    year         INTEGER NOT NULL,
    category     TEXT NOT NULL,
    metric       TEXT NOT NULL,
    group_id     TEXT NOT NULL,
    n            INTEGER NOT NULL,
    epsilon      DOUBLE PRECISION NOT NULL,
    noise_scale  DOUBLE PRECISION NOT NULL,
    mechanism    TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_privacy_noise_ledger_year ON privacy_noise_ledger (year, metric);

-- The old ledger's rows, without their value-derived release ids (row numbers instead).
-- Legacy draws have no recorded members, so no district is charged for them.
INSERT INTO privacy_noise_ledger (draw_id, drawn_at, year, category, metric, group_id, n,
                                  epsilon, noise_scale, mechanism)
SELECT 'legacy-' || CAST(ROW_NUMBER() OVER (ORDER BY created_at, metric, cohort_id, year)
                         AS TEXT),
       created_at, year,
       CASE WHEN metric IN ('formative_assessment_pct', 'growth_percentile') THEN 'academic'
            WHEN metric IN ('weekly_active_students_pct', 'avg_session_minutes',
                            'course_completion_pct') THEN 'engagement'
            WHEN metric IN ('mastery_rate_pct', 'learning_gain_pts',
                            'intervention_success_pct') THEN 'ai_tutor'
            WHEN metric IN ('teacher_adoption_pct', 'cost_per_student_usd') THEN 'operational'
            ELSE 'unknown' END,
       metric, cohort_id, n, epsilon, scale, mechanism
FROM privacy_budget_ledger;

-- Private: the stored draw of each distinct input; identical inputs get it back.
CREATE TABLE IF NOT EXISTS dp_noise_draws (
    input_digest  TEXT NOT NULL PRIMARY KEY,
    draw_id       TEXT NOT NULL UNIQUE,
    year          INTEGER NOT NULL,
    metric        TEXT NOT NULL,
    n             INTEGER NOT NULL,
    dp_mean       DOUBLE PRECISION NOT NULL,
    epsilon       DOUBLE PRECISION NOT NULL,
    noise_scale   DOUBLE PRECISION NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_dp_noise_draws_year ON dp_noise_draws (year, metric);

-- Private: whom each draw charged (basic composition per district, year and category).
-- A withdrawal deletes the district's rows (its totals go to the audit log, and are charged
-- again if it re-enrolls: draw_id 'carried:<audit event>').
CREATE TABLE IF NOT EXISTS privacy_budget_charges (
    draw_id   TEXT NOT NULL,
    leaid     VARCHAR(7) NOT NULL,
    year      INTEGER NOT NULL,
    category  TEXT NOT NULL,
    epsilon   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (draw_id, leaid)
);

CREATE INDEX IF NOT EXISTS ix_privacy_budget_charges_member
    ON privacy_budget_charges (leaid, year, category);

DROP VIEW IF EXISTS privacy_budget_spent;
CREATE VIEW privacy_budget_spent AS
SELECT leaid, year, category, SUM(epsilon) AS epsilon_spent,
       SUM(CASE WHEN SUBSTR(draw_id, 1, 8) = 'carried:' THEN 0 ELSE 1 END) AS draws
FROM privacy_budget_charges
GROUP BY leaid, year, category;

-- The old value-derived ids are gone with these tables (the ledger was copied above).
DROP TABLE IF EXISTS dp_releases;
DROP TABLE IF EXISTS privacy_budget_ledger;

-- Published DP means: random draw ids, the 90 % margin, the group's truthful label, and
-- whether the row is current or kept from an earlier run (stale: budget).
DROP TABLE IF EXISTS private_cohort_benchmarks;
CREATE TABLE private_cohort_benchmarks (
    year           INTEGER NOT NULL,
    category       TEXT NOT NULL,
    metric         TEXT NOT NULL,
    group_id       TEXT NOT NULL,
    group_label    TEXT NOT NULL,
    ladder_level   INTEGER NOT NULL,
    n              INTEGER NOT NULL,
    dp_mean        DOUBLE PRECISION NOT NULL,
    margin_90      DOUBLE PRECISION NOT NULL,
    unit           TEXT NOT NULL,
    lower_bound    DOUBLE PRECISION NOT NULL,
    upper_bound    DOUBLE PRECISION NOT NULL,
    epsilon        DOUBLE PRECISION NOT NULL,
    noise_scale    DOUBLE PRECISION NOT NULL,
    mechanism      TEXT NOT NULL,
    draw_id        TEXT NOT NULL,
    released_at    TEXT NOT NULL,
    status         TEXT NOT NULL,
    status_reason  TEXT,
    PRIMARY KEY (year, metric, group_id)
);

CREATE INDEX IF NOT EXISTS ix_private_cohort_benchmarks_draw
    ON private_cohort_benchmarks (draw_id);

-- Reciprocity: the published private row each contributing participant may see (its group).
DROP TABLE IF EXISTS participant_private_benchmarks;
CREATE TABLE participant_private_benchmarks (
    year      INTEGER NOT NULL,
    leaid     VARCHAR(7) NOT NULL,
    category  TEXT NOT NULL,
    metric    TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    n         INTEGER NOT NULL,
    draw_id   TEXT NOT NULL,
    PRIMARY KEY (year, leaid, metric)
);

CREATE INDEX IF NOT EXISTS ix_participant_private_benchmarks_draw
    ON participant_private_benchmarks (draw_id);

-- The ledger and the audit log refuse UPDATE and DELETE in the database itself.
-- dialect: sqlite
CREATE TRIGGER IF NOT EXISTS privacy_noise_ledger_no_update BEFORE UPDATE ON privacy_noise_ledger BEGIN SELECT RAISE(ABORT, 'privacy_noise_ledger is append-only'); END;
-- dialect: sqlite
CREATE TRIGGER IF NOT EXISTS privacy_noise_ledger_no_delete BEFORE DELETE ON privacy_noise_ledger BEGIN SELECT RAISE(ABORT, 'privacy_noise_ledger is append-only'); END;
-- dialect: sqlite
CREATE TRIGGER IF NOT EXISTS privacy_audit_log_no_update BEFORE UPDATE ON privacy_audit_log BEGIN SELECT RAISE(ABORT, 'privacy_audit_log is append-only'); END;
-- dialect: sqlite
CREATE TRIGGER IF NOT EXISTS privacy_audit_log_no_delete BEFORE DELETE ON privacy_audit_log BEGIN SELECT RAISE(ABORT, 'privacy_audit_log is append-only'); END;
-- dialect: postgresql
CREATE OR REPLACE FUNCTION privacy_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'append-only table: no UPDATE, DELETE or TRUNCATE (%%)', TG_TABLE_NAME; END $$;
-- dialect: postgresql
CREATE TRIGGER privacy_noise_ledger_append_only BEFORE UPDATE OR DELETE ON privacy_noise_ledger FOR EACH ROW EXECUTE FUNCTION privacy_append_only();
-- dialect: postgresql
CREATE TRIGGER privacy_noise_ledger_no_truncate BEFORE TRUNCATE ON privacy_noise_ledger FOR EACH STATEMENT EXECUTE FUNCTION privacy_append_only();
-- dialect: postgresql
CREATE TRIGGER privacy_audit_log_append_only BEFORE UPDATE OR DELETE ON privacy_audit_log FOR EACH ROW EXECUTE FUNCTION privacy_append_only();
-- dialect: postgresql
CREATE TRIGGER privacy_audit_log_no_truncate BEFORE TRUNCATE ON privacy_audit_log FOR EACH STATEMENT EXECUTE FUNCTION privacy_append_only();
