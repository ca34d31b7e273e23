-- Benchmarks layer (docs/data.md, docs/metrics.md): state/national averages, district comparisons, outliers.
-- Portable DDL: runs unchanged on SQLite and PostgreSQL. Flags are INTEGER 0/1.
-- Written by benchmarking_assets.benchmarks (schemas in metrics.py); one year replaced at a time.

-- One row per (state_code, year) plus state_code = 'US' for the nation. Enrollment-weighted
-- averages; avg_student_teacher_ratio is NOT the NCES ratio of totals.
CREATE TABLE IF NOT EXISTS state_benchmarks (
    state_code                            VARCHAR(2) NOT NULL,
    year                                  INTEGER NOT NULL,
    district_count                        INTEGER NOT NULL,
    avg_enrollment                        DOUBLE PRECISION,
    avg_swd_pct                           DOUBLE PRECISION,
    avg_ell_pct                           DOUBLE PRECISION,
    avg_chronic_absenteeism_rate          DOUBLE PRECISION,
    avg_graduation_rate                   DOUBLE PRECISION,
    avg_student_teacher_ratio             DOUBLE PRECISION,
    avg_math_proficiency                  DOUBLE PRECISION,
    avg_read_proficiency                  DOUBLE PRECISION,
    avg_expenditure_per_pupil             DOUBLE PRECISION,
    PRIMARY KEY (state_code, year)
);

CREATE INDEX IF NOT EXISTS ix_state_benchmarks_year ON state_benchmarks (year);

-- One row per (leaid, year): the district's values, deltas against its state and the nation,
-- quartile labels within its state, and 3-year trends.
CREATE TABLE IF NOT EXISTS district_benchmarks (
    leaid                                 VARCHAR(7) NOT NULL,
    year                                  INTEGER NOT NULL,
    state_code                            VARCHAR(2) NOT NULL,
    swd_pct                               DOUBLE PRECISION,
    ell_pct                               DOUBLE PRECISION,
    student_teacher_ratio                 DOUBLE PRECISION,
    absenteeism                           DOUBLE PRECISION,
    graduation                            DOUBLE PRECISION,
    math_proficiency                      DOUBLE PRECISION,
    read_proficiency                      DOUBLE PRECISION,
    expenditure_pp                        DOUBLE PRECISION,
    absenteeism_vs_state                  DOUBLE PRECISION,
    absenteeism_vs_national               DOUBLE PRECISION,
    absenteeism_quartile_state            TEXT,
    graduation_vs_state                   DOUBLE PRECISION,
    graduation_vs_national                DOUBLE PRECISION,
    graduation_quartile_state             TEXT,
    student_teacher_ratio_vs_state        DOUBLE PRECISION,
    student_teacher_ratio_vs_national     DOUBLE PRECISION,
    student_teacher_ratio_quartile_state  TEXT,
    swd_pct_vs_state                      DOUBLE PRECISION,
    swd_pct_vs_national                   DOUBLE PRECISION,
    swd_pct_quartile_state                TEXT,
    ell_pct_vs_state                      DOUBLE PRECISION,
    ell_pct_vs_national                   DOUBLE PRECISION,
    ell_pct_quartile_state                TEXT,
    math_proficiency_vs_state             DOUBLE PRECISION,
    math_proficiency_vs_national          DOUBLE PRECISION,
    math_proficiency_quartile_state       TEXT,
    read_proficiency_vs_state             DOUBLE PRECISION,
    read_proficiency_vs_national          DOUBLE PRECISION,
    read_proficiency_quartile_state       TEXT,
    expenditure_pp_vs_state               DOUBLE PRECISION,
    expenditure_pp_vs_national            DOUBLE PRECISION,
    expenditure_pp_quartile_state         TEXT,
    swd_trend_3yr                         DOUBLE PRECISION,
    ell_trend_3yr                         DOUBLE PRECISION,
    absenteeism_trend_3yr                 DOUBLE PRECISION,
    graduation_trend_3yr                  DOUBLE PRECISION,
    student_teacher_ratio_trend_3yr       DOUBLE PRECISION,
    math_proficiency_trend_3yr            DOUBLE PRECISION,
    read_proficiency_trend_3yr            DOUBLE PRECISION,
    expenditure_pp_trend_3yr              DOUBLE PRECISION,
    PRIMARY KEY (leaid, year)
);

CREATE INDEX IF NOT EXISTS ix_district_benchmarks_year ON district_benchmarks (year);

CREATE INDEX IF NOT EXISTS ix_district_benchmarks_state_year
    ON district_benchmarks (state_code, year);

-- Districts whose value of a metric is extreme within their state and year (flagged rows only):
-- Tukey fences (1.5 x IQR, type-7 quartiles) and robust z = 0.6745 (x - median) / MAD, |z| > 3.5.
CREATE TABLE IF NOT EXISTS district_outliers (
    leaid                                 VARCHAR(7) NOT NULL,
    year                                  INTEGER NOT NULL,
    state_code                            VARCHAR(2) NOT NULL,
    metric                                TEXT NOT NULL,
    value                                 DOUBLE PRECISION NOT NULL,
    q1                                    DOUBLE PRECISION,
    q3                                    DOUBLE PRECISION,
    lower_fence                           DOUBLE PRECISION,
    upper_fence                           DOUBLE PRECISION,
    median                                DOUBLE PRECISION,
    mad                                   DOUBLE PRECISION,
    robust_z                              DOUBLE PRECISION,
    is_tukey_outlier                      INTEGER NOT NULL,
    is_robust_z_outlier                   INTEGER NOT NULL,
    PRIMARY KEY (leaid, year, metric)
);

CREATE INDEX IF NOT EXISTS ix_district_outliers_year ON district_outliers (year);

CREATE INDEX IF NOT EXISTS ix_district_outliers_state_year
    ON district_outliers (state_code, year);
