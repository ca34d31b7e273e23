"""Column contracts of the warehouse tables (``docs/data.md``), as Polars schemas.

The DDL in ``sql/`` is the source of truth for the database; these schemas say what a
DataFrame must look like before it is written, and how rows read back are typed, so that
SQLite and PostgreSQL give identical frames.
"""

from __future__ import annotations

import polars as pl

DISTRICT_DATA_HISTORY: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "state_code": pl.String(),
    "fips": pl.Int32(),
    "lea_name": pl.String(),
    "enrollment": pl.Int64(),
    "spec_ed_students": pl.Int64(),
    "ell_students": pl.Int64(),
    "teachers_fte": pl.Float64(),
    "chronic_absenteeism_rate": pl.Float64(),
    "graduation_rate": pl.Float64(),
    "math_proficiency": pl.Float64(),
    "read_proficiency": pl.Float64(),
    "expenditure_pp": pl.Float64(),
    "frl_students": pl.Int64(),
    "urban_centric_locale": pl.Int32(),
    "lowest_grade": pl.Int32(),
    "highest_grade": pl.Int32(),
    "source": pl.String(),  # "api" or "sample"
}

# Which missing-data code (-1 missing, -2 not applicable, -3 suppressed) stood behind a NULL.
DISTRICT_DATA_CODES: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "state_code": pl.String(),
    "column_name": pl.String(),
    "code": pl.Int32(),
}

# Rows set aside by ingestion or flagged by a check, with the reason.
DATA_QUALITY_ISSUES: dict[str, pl.DataType] = {
    "asset": pl.String(),
    "partition_key": pl.String(),
    "check_name": pl.String(),
    "leaid": pl.String(),
    "year": pl.Int32(),
    "column_name": pl.String(),
    "value": pl.String(),
    "reason": pl.String(),
    "detected_at": pl.String(),
}

HISTORY_COUNT_COLUMNS = ("enrollment", "spec_ed_students", "ell_students", "frl_students")
HISTORY_PERCENT_COLUMNS = (
    "chronic_absenteeism_rate",
    "graduation_rate",
    "math_proficiency",
    "read_proficiency",
)
