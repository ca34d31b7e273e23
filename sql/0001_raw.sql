-- Raw layer: one row per district and school year, as loaded from the source (docs/data.md).
-- Portable DDL: runs unchanged on SQLite and PostgreSQL.

CREATE TABLE IF NOT EXISTS district_data_history (
    leaid                    VARCHAR(7) NOT NULL,
    year                     INTEGER NOT NULL,
    state_code               VARCHAR(2) NOT NULL,
    fips                     INTEGER NOT NULL,
    lea_name                 TEXT,
    enrollment               BIGINT,
    spec_ed_students         BIGINT,
    ell_students             BIGINT,
    teachers_fte             DOUBLE PRECISION,
    chronic_absenteeism_rate DOUBLE PRECISION,
    graduation_rate          DOUBLE PRECISION,
    math_proficiency         DOUBLE PRECISION,
    read_proficiency         DOUBLE PRECISION,
    expenditure_pp           DOUBLE PRECISION,
    frl_students             BIGINT,
    urban_centric_locale     INTEGER,
    lowest_grade             INTEGER,
    highest_grade            INTEGER,
    source                   TEXT NOT NULL,
    PRIMARY KEY (leaid, year)
);

CREATE INDEX IF NOT EXISTS ix_district_data_history_state_year
    ON district_data_history (state_code, year);

CREATE INDEX IF NOT EXISTS ix_district_data_history_year
    ON district_data_history (year);

-- Which API code (-1 missing, -2 not applicable, -3 suppressed) stood behind a NULL above.
CREATE TABLE IF NOT EXISTS district_data_codes (
    leaid       VARCHAR(7) NOT NULL,
    year        INTEGER NOT NULL,
    state_code  VARCHAR(2) NOT NULL,
    column_name TEXT NOT NULL,
    code        INTEGER NOT NULL,
    PRIMARY KEY (leaid, year, column_name)
);

CREATE INDEX IF NOT EXISTS ix_district_data_codes_state_year
    ON district_data_codes (state_code, year);

-- Rows set aside during ingestion and rows flagged by checks, with the reason.
CREATE TABLE IF NOT EXISTS data_quality_issues (
    asset         TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    check_name    TEXT NOT NULL,
    leaid         VARCHAR(7),
    year          INTEGER,
    column_name   TEXT,
    value         TEXT,
    reason        TEXT NOT NULL,
    detected_at   TEXT NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_data_quality_issues_partition
    ON data_quality_issues (asset, partition_key, check_name);
