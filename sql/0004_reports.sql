-- Reports layer: generated report files, their insights, and the query views of the service's
-- endpoints (seed 000: summary, compare, trends, rankings).
-- Portable DDL: runs unchanged on SQLite and PostgreSQL. Timestamps ISO-8601 UTC text.
-- Written by benchmarking_assets.store.reports. The views read only privacy-filtered tables
-- (district_benchmarks and state_benchmarks are public data; cohort_benchmarks and
-- participant_percentiles hold only cells with n >= MIN_COHORT_SIZE) and only participants.

-- One row per generated file; a withdrawn district's rows and files are deleted.
CREATE TABLE IF NOT EXISTS benchmark_reports (
    leaid          VARCHAR(7) NOT NULL,
    year           INTEGER NOT NULL,
    format         TEXT NOT NULL,
    path           TEXT NOT NULL,
    bytes          BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    generated_at   TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    PRIMARY KEY (leaid, year, format)
);

CREATE INDEX IF NOT EXISTS ix_benchmark_reports_expires ON benchmark_reports (expires_at);

-- Deterministic insights per report, most important first; numbers is a JSON object.
CREATE TABLE IF NOT EXISTS benchmark_insights (
    leaid          VARCHAR(7) NOT NULL,
    year           INTEGER NOT NULL,
    insight_rank   INTEGER NOT NULL,
    kind           TEXT NOT NULL,
    metric         TEXT NOT NULL,
    severity       TEXT NOT NULL,
    title          TEXT NOT NULL,
    detail         TEXT NOT NULL,
    numbers        TEXT NOT NULL,
    generated_at   TEXT NOT NULL,
    PRIMARY KEY (leaid, year, insight_rank)
);

-- GET /benchmarks/summary: a participant's own values, state quartiles and 3-year trends.
DROP VIEW IF EXISTS v_benchmark_summary;
CREATE VIEW v_benchmark_summary AS
SELECT b.leaid, b.year, b.state_code, h.lea_name, pc.cohort_id, pc.cohort_size,
       b.graduation, b.math_proficiency, b.read_proficiency, b.absenteeism,
       b.student_teacher_ratio, b.expenditure_pp, b.swd_pct, b.ell_pct,
       b.graduation_quartile_state, b.math_proficiency_quartile_state,
       b.read_proficiency_quartile_state, b.absenteeism_quartile_state,
       b.student_teacher_ratio_quartile_state, b.expenditure_pp_quartile_state,
       b.swd_pct_quartile_state, b.ell_pct_quartile_state,
       b.graduation_trend_3yr, b.math_proficiency_trend_3yr, b.read_proficiency_trend_3yr,
       b.absenteeism_trend_3yr, b.student_teacher_ratio_trend_3yr, b.expenditure_pp_trend_3yr,
       b.swd_trend_3yr, b.ell_trend_3yr
FROM district_benchmarks b
JOIN benchmark_participants p ON p.leaid = b.leaid
JOIN district_data_history h ON h.leaid = b.leaid AND h.year = b.year
LEFT JOIN peer_cohorts pc ON pc.leaid = b.leaid AND pc.year = b.year;

-- GET /benchmarks/compare: per participant, year and metric: the district against the state,
-- the nation and its published peer cell (no peer row when the cell was suppressed).
DROP VIEW IF EXISTS v_benchmark_compare;
CREATE VIEW v_benchmark_compare AS
SELECT pp.leaid, pp.year, pp.metric, pp.value, pp.cohort_id, c.n AS peer_n,
       c.mean AS peer_mean, c.median AS peer_median, c.p25 AS peer_p25, c.p75 AS peer_p75,
       c.p90 AS peer_p90, pp.percentile_rank,
       pp.value - c.median AS vs_peer_median
FROM participant_percentiles pp
JOIN benchmark_participants p ON p.leaid = pp.leaid
JOIN cohort_benchmarks c
  ON c.year = pp.year AND c.cohort_id = pp.cohort_id AND c.metric = pp.metric;

-- GET /benchmarks/trends: long format, one row per participant, year and metric, with its
-- state's and the nation's enrollment-weighted average of that year.
DROP VIEW IF EXISTS v_benchmark_trends;
CREATE VIEW v_benchmark_trends AS
SELECT b.leaid, b.year, m.metric,
       CASE m.metric WHEN 'graduation' THEN b.graduation
                     WHEN 'math_proficiency' THEN b.math_proficiency
                     WHEN 'read_proficiency' THEN b.read_proficiency
                     WHEN 'absenteeism' THEN b.absenteeism
                     WHEN 'student_teacher_ratio' THEN b.student_teacher_ratio
                     WHEN 'expenditure_pp' THEN b.expenditure_pp
                     WHEN 'swd_pct' THEN b.swd_pct
                     WHEN 'ell_pct' THEN b.ell_pct END AS value,
       CASE m.metric WHEN 'graduation' THEN s.avg_graduation_rate
                     WHEN 'math_proficiency' THEN s.avg_math_proficiency
                     WHEN 'read_proficiency' THEN s.avg_read_proficiency
                     WHEN 'absenteeism' THEN s.avg_chronic_absenteeism_rate
                     WHEN 'student_teacher_ratio' THEN s.avg_student_teacher_ratio
                     WHEN 'expenditure_pp' THEN s.avg_expenditure_per_pupil
                     WHEN 'swd_pct' THEN s.avg_swd_pct
                     WHEN 'ell_pct' THEN s.avg_ell_pct END AS state_average,
       CASE m.metric WHEN 'graduation' THEN u.avg_graduation_rate
                     WHEN 'math_proficiency' THEN u.avg_math_proficiency
                     WHEN 'read_proficiency' THEN u.avg_read_proficiency
                     WHEN 'absenteeism' THEN u.avg_chronic_absenteeism_rate
                     WHEN 'student_teacher_ratio' THEN u.avg_student_teacher_ratio
                     WHEN 'expenditure_pp' THEN u.avg_expenditure_per_pupil
                     WHEN 'swd_pct' THEN u.avg_swd_pct
                     WHEN 'ell_pct' THEN u.avg_ell_pct END AS national_average
FROM district_benchmarks b
JOIN benchmark_participants p ON p.leaid = b.leaid
CROSS JOIN (
    SELECT 'graduation' AS metric UNION ALL SELECT 'math_proficiency'
    UNION ALL SELECT 'read_proficiency' UNION ALL SELECT 'absenteeism'
    UNION ALL SELECT 'student_teacher_ratio' UNION ALL SELECT 'expenditure_pp'
    UNION ALL SELECT 'swd_pct' UNION ALL SELECT 'ell_pct'
) m
LEFT JOIN state_benchmarks s ON s.state_code = b.state_code AND s.year = b.year
LEFT JOIN state_benchmarks u ON u.state_code = 'US' AND u.year = b.year;

-- GET /benchmarks/rankings: anonymized: a participant's own percentile and quartile band
-- within its published peer cell, with the cell's size; never another district's rank.
DROP VIEW IF EXISTS v_benchmark_rankings;
CREATE VIEW v_benchmark_rankings AS
SELECT pp.leaid, pp.year, pp.metric, pp.percentile_rank, pp.cohort_n AS peer_n,
       CASE WHEN pp.percentile_rank >= 75 THEN 'top_quarter'
            WHEN pp.percentile_rank >= 50 THEN 'second_quarter'
            WHEN pp.percentile_rank >= 25 THEN 'third_quarter'
            ELSE 'bottom_quarter' END AS peer_quarter
FROM participant_percentiles pp
JOIN benchmark_participants p ON p.leaid = pp.leaid;
