"""Fetch every endpoint of one state and year and derive one ``district_data_history`` frame.

The derivations of docs/data.md live here, in one place, so the API and the offline sample go
through the same code. The district set is the district directory's: a district that another
endpoint mentions but the directory does not is set aside with a reason, never added half-
empty.

An endpoint that does not cover the year (finance after 2020, CRDC in odd years, ...) is not
asked at all; its columns are NULL without a code, because "no collection that year" is not one
of the API's -1/-2/-3 codes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from benchmarking_assets.core.geography import STATE_BY_CODE
from benchmarking_assets.core.schemas import DISTRICT_DATA_CODES, DISTRICT_DATA_HISTORY
from benchmarking_assets.sources.client import EducationDataClient, FetchResult
from benchmarking_assets.sources.coverage import (
    ASSESSMENTS,
    CRDC_ABSENTEEISM,
    CRDC_ENROLLMENT,
    DISTRICT_DIRECTORY,
    ENDPOINTS,
    FINANCE,
    GRAD_RATES,
    SCHOOL_DIRECTORY,
    Endpoint,
)
from benchmarking_assets.sources.normalize import (
    Field,
    code_column,
    empty_set_aside,
    parse_rows,
)

FIELDS: dict[str, list[Field]] = {
    DISTRICT_DIRECTORY.key: [
        Field("lea_name", "lea_name", "text"),
        Field("enrollment", "enrollment", "int"),
        Field("spec_ed_students", "spec_ed_students", "int"),
        Field("english_language_learners", "ell_students", "int"),
        Field("teachers_total_fte", "teachers_fte", "float"),
        Field("urban_centric_locale", "urban_centric_locale", "category"),
        Field("lowest_grade_offered", "lowest_grade", "grade"),
        Field("highest_grade_offered", "highest_grade", "grade"),
    ],
    FINANCE.key: [
        Field("exp_current_elsec_total", "exp_total"),
        Field("enrollment_fall_responsible", "enrollment_responsible"),
    ],
    ASSESSMENTS.key: [
        Field("math_test_pct_prof_midpt", "math_proficiency"),
        Field("read_test_pct_prof_midpt", "read_proficiency"),
    ],
    GRAD_RATES.key: [Field("grad_rate_midpt", "graduation_rate")],
    CRDC_ABSENTEEISM.key: [
        Field("crdc_id", "crdc_id", "text"),
        Field("ncessch", "ncessch", "text"),
        Field("students_chronically_absent", "absent", "int"),
    ],
    CRDC_ENROLLMENT.key: [
        Field("crdc_id", "crdc_id", "text"),
        Field("ncessch", "ncessch", "text"),
        Field("enrollment_crdc", "enrolled", "int"),
    ],
    SCHOOL_DIRECTORY.key: [
        Field("ncessch", "ncessch", "text"),
        Field("free_or_reduced_price_lunch", "frl", "int"),
    ],
}
DIRECT_COLUMNS = [f.name for f in FIELDS[DISTRICT_DIRECTORY.key] if f.kind != "text"]
DIRECT_COLUMNS += ["math_proficiency", "read_proficiency", "graduation_rate"]
DERIVED_COLUMNS = ["expenditure_pp", "chronic_absenteeism_rate", "frl_students"]


@dataclass
class RawDistrictYear:
    """One state-year of raw district data, ready for the warehouse.

    ``history`` has exactly the ``DISTRICT_DATA_HISTORY`` columns (one row per leaid),
    ``codes`` exactly ``DISTRICT_DATA_CODES`` (which -1/-2/-3 stood behind each NULL),
    ``set_aside`` the rows that could not be used (``endpoint, leaid, column_name, value,
    reason``), and ``stats`` pages / rows fetched per endpoint and rows set aside.
    """

    history: pl.DataFrame
    codes: pl.DataFrame
    set_aside: pl.DataFrame
    stats: dict[str, int] = field(default_factory=dict)


def endpoints_for_year(year: int) -> list[Endpoint]:
    """The endpoints to ask for ``year``: only those that cover it (CRDC needs both halves)."""
    wanted = [DISTRICT_DIRECTORY, FINANCE, ASSESSMENTS, GRAD_RATES, SCHOOL_DIRECTORY]
    if CRDC_ABSENTEEISM.covers(year) and CRDC_ENROLLMENT.covers(year):
        wanted += [CRDC_ABSENTEEISM, CRDC_ENROLLMENT]
    return [e for e in wanted if e is DISTRICT_DIRECTORY or e.covers(year)]


def fields_param(endpoint: Endpoint) -> str:
    """The API's ``fields=`` projection: only the columns the derivations read.

    Directory pages are ~70 columns wide (~12 MB per 10,000 rows), so this saves transfer and
    parsing. An API that ignores ``fields`` still works (we pick our columns out anyway); one
    that honours it answers a column a year lacks (e.g. CRDC ``homeless`` before 2020) with a
    blank, which the subgroup filter treats as absent.
    """
    wanted = [
        "leaid",
        "fips",
        *endpoint.subgroup_columns,
        *(f.source for f in FIELDS[endpoint.key]),
    ]
    return ",".join(dict.fromkeys(wanted))


def fetch_district_year(
    client: EducationDataClient,
    state_code: str,
    year: int,
    *,
    source: str,
    project_fields: bool = True,
) -> RawDistrictYear:
    """Fetch the endpoints of one state-year (in parallel, bounded by the client) and derive.

    ``project_fields=False`` stops sending ``fields=`` (see :func:`fields_param`)."""
    state = STATE_BY_CODE.get(state_code)
    if state is None:
        raise ValueError(f"unknown state code {state_code!r}; want one of the 50 states or DC")
    endpoints = endpoints_for_year(year)

    def fetch(endpoint: Endpoint) -> FetchResult:
        params: dict[str, str | int] = {"fips": state.fips, **endpoint.total_filters()}
        if project_fields:
            params["fields"] = fields_param(endpoint)
        return client.fetch_endpoint(endpoint, year, params)

    workers = min(len(endpoints), client.max_concurrency)
    if workers <= 1:
        fetched = {e.key: fetch(e) for e in endpoints}
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {e.key: pool.submit(fetch, e) for e in endpoints}
            fetched = {key: f.result() for key, f in futures.items()}
    return derive_district_year(fetched, state_code, year, source=source)


def derive_district_year(
    fetched: dict[str, FetchResult], state_code: str, year: int, *, source: str
) -> RawDistrictYear:
    """The raw-column derivations (docs/data.md) from the fetched rows of each endpoint (keyed
    by endpoint key).

    Built as one lazy Polars plan and collected once: a state-year is small, so the fixed cost
    per query, not the row count, is what a national run of 612 state-years pays for.
    """
    fips = STATE_BY_CODE[state_code].fips
    stats: dict[str, int] = {}
    asides: list[pl.DataFrame] = []
    frames: dict[str, pl.LazyFrame] = {}
    for key, result in fetched.items():
        endpoint = ENDPOINTS[key]
        p = parse_rows(
            result.results,
            FIELDS[key],
            endpoint=key,
            fips=fips,
            subgroup_columns=endpoint.subgroup_columns,
            key=("leaid",) if endpoint.level == "district" else SCHOOL_KEYS[key],
        )
        frames[key] = p.frame.lazy()
        asides.append(p.set_aside)
        stats[f"pages.{key}"] = result.pages
        stats[f"rows.{key}"] = result.count
        stats[f"subgroup_rows.{key}"] = p.subgroup_rows

    directory = frames[DISTRICT_DIRECTORY.key]
    tables: list[tuple[str, pl.LazyFrame]] = []
    if FINANCE.key in frames:
        tables.append((FINANCE.key, _expenditure_pp(frames[FINANCE.key])))
    tables += [(k, frames[k]) for k in (ASSESSMENTS.key, GRAD_RATES.key) if k in frames]
    extra: list[pl.LazyFrame] = []
    if CRDC_ABSENTEEISM.key in frames:
        table, extra = _chronic_absenteeism(
            frames[CRDC_ABSENTEEISM.key], frames[CRDC_ENROLLMENT.key]
        )
        tables.append((CRDC_ABSENTEEISM.key, table))
    tables.append((SCHOOL_DIRECTORY.key, _frl_students(frames[SCHOOL_DIRECTORY.key])))

    history = directory
    for _, table in tables:
        history = history.join(table, on="leaid", how="left")
    mentioned = pl.concat([t.select("leaid", endpoint=pl.lit(k)) for k, t in tables])
    orphans = mentioned.join(directory, on="leaid", how="anti")
    reason = pl.lit(f"district not in the {state_code} {year} district directory")
    extra.append(_aside(orphans, pl.col("endpoint"), "leaid", pl.col("leaid"), reason))
    history = _complete(history, {c for _, t in [("", directory), *tables] for c in _names(t)})
    code_columns = [code_column(c) for c in DIRECT_COLUMNS + DERIVED_COLUMNS]
    codes = (
        history.select("leaid", *code_columns)
        .unpivot(index="leaid", variable_name="column_name", value_name="code")
        .filter(pl.col("code").is_not_null())
        .select(
            "leaid",
            year=pl.lit(year),
            state_code=pl.lit(state_code),
            column_name=pl.col("column_name").str.strip_suffix("__code"),
            code="code",
        )
        .cast(DISTRICT_DATA_CODES)  # type: ignore[arg-type]
        .sort("leaid", "column_name")
    )
    history = (
        history.with_columns(
            year=pl.lit(year),
            state_code=pl.lit(state_code),
            fips=pl.lit(fips),
            source=pl.lit(source),
        )
        .select(list(DISTRICT_DATA_HISTORY))
        .cast(DISTRICT_DATA_HISTORY)  # type: ignore[arg-type]
        .sort("leaid")
    )
    history_df, codes_df, extra_df = pl.collect_all(
        [history, codes, pl.concat(extra)], engine="in-memory"
    )
    set_aside = pl.concat([a for a in [*asides, extra_df] if a.height] or [empty_set_aside()])
    stats["districts"] = history_df.height
    stats["codes"] = codes_df.height
    stats["set_aside"] = set_aside.height
    return RawDistrictYear(history=history_df, codes=codes_df, set_aside=set_aside, stats=stats)


SCHOOL_KEYS: dict[str, tuple[str, ...]] = {
    CRDC_ABSENTEEISM.key: ("crdc_id", "ncessch"),
    CRDC_ENROLLMENT.key: ("crdc_id", "ncessch"),
    SCHOOL_DIRECTORY.key: ("ncessch",),
}


def _names(frame: pl.LazyFrame) -> list[str]:
    return frame.collect_schema().names()


def _aside(
    frame: pl.LazyFrame, endpoint: str | pl.Expr, column_name: str, value: pl.Expr, reason: pl.Expr
) -> pl.LazyFrame:
    return frame.select(
        endpoint=pl.lit(endpoint) if isinstance(endpoint, str) else endpoint,
        leaid=pl.col("leaid"),
        column_name=pl.lit(column_name),
        value=value.cast(pl.String),
        reason=reason,
    )


def _expenditure_pp(finance: pl.LazyFrame) -> pl.LazyFrame:
    """``exp_current_elsec_total / enrollment_fall_responsible``; NULL if either is NULL or the
    denominator is ≤ 0. The code of a NULL is the numerator's, else the denominator's."""
    exp, enr = pl.col("exp_total"), pl.col("enrollment_responsible")
    value = pl.when(exp.is_not_null() & (enr > 0)).then(exp / enr)
    return finance.select(
        "leaid",
        value.alias("expenditure_pp"),
        pl.when(value.is_null())
        .then(pl.coalesce(code_column("exp_total"), code_column("enrollment_responsible")))
        .alias(code_column("expenditure_pp")),
    )


def _chronic_absenteeism(
    absent: pl.LazyFrame, enrolled: pl.LazyFrame
) -> tuple[pl.LazyFrame, list[pl.LazyFrame]]:
    """Σ students_chronically_absent / Σ enrollment_crdc × 100 per leaid, over school totals.

    Schools are matched on ``crdc_id`` (else ``ncessch``). Only schools where BOTH counts are
    valid non-negative numbers contribute, to numerator and denominator alike, so a school with
    a suppressed count can neither inflate nor deflate the rate. The rate is NULL when no school
    contributes or their enrolment sums to 0; if such a district had coded values, the most
    frequent code is kept (ties: the most negative, i.e. suppressed before missing).
    A school present in only one of the two endpoints is set aside.
    """
    school = pl.coalesce("crdc_id", "ncessch").alias("school")
    joined = absent.with_columns(school).join(
        enrolled.select(
            school, pl.col("leaid").alias("leaid_e"), "enrolled", code_column("enrolled")
        ),
        on="school",
        how="full",
        coalesce=True,
    )
    only_a = joined.filter(pl.col("leaid_e").is_null())
    only_e = joined.filter(pl.col("leaid").is_null()).with_columns(leaid="leaid_e")
    asides = [
        _aside(
            only_a,
            CRDC_ABSENTEEISM.key,
            "school",
            pl.col("school"),
            pl.lit("school has no CRDC enrollment row"),
        ),
        _aside(
            only_e,
            CRDC_ENROLLMENT.key,
            "school",
            pl.col("school"),
            pl.lit("school has no CRDC chronic-absenteeism row"),
        ),
    ]
    both = joined.filter(pl.col("leaid").is_not_null() & pl.col("leaid_e").is_not_null())
    valid = pl.col("absent").is_not_null() & pl.col("enrolled").is_not_null()
    code = pl.coalesce(code_column("absent"), code_column("enrolled"))
    rate = pl.when(pl.col("den") > 0).then(pl.col("num") / pl.col("den") * 100)
    table = (
        both.group_by("leaid")
        .agg(
            pl.col("absent").filter(valid).sum().alias("num"),
            pl.col("enrolled").filter(valid).sum().alias("den"),
            code.drop_nulls().mode().sort().first().alias("mode_code"),
        )
        .select(
            "leaid",
            rate.alias("chronic_absenteeism_rate"),
            pl.when(rate.is_null())
            .then(pl.col("mode_code"))
            .alias(code_column("chronic_absenteeism_rate")),
        )
    )
    return table, asides


def _frl_students(schools: pl.LazyFrame) -> pl.LazyFrame:
    """Σ free_or_reduced_price_lunch by leaid; NULL when no school of the district has a value
    (a sum of nothing is unknown, not 0), with the most frequent code among its schools."""
    return (
        schools.group_by("leaid")
        .agg(
            pl.col("frl").sum().alias("total"),
            pl.col("frl").count().alias("n"),
            pl.col(code_column("frl")).drop_nulls().mode().sort().first().alias("mode_code"),
        )
        .select(
            "leaid",
            pl.when(pl.col("n") > 0).then(pl.col("total")).alias("frl_students"),
            pl.when(pl.col("n") == 0).then(pl.col("mode_code")).alias(code_column("frl_students")),
        )
    )


def _complete(history: pl.LazyFrame, present: set[str]) -> pl.LazyFrame:
    """Add every value and code column an uncovered endpoint left out, as NULLs."""
    missing = {c: DISTRICT_DATA_HISTORY[c] for c in DIRECT_COLUMNS + DERIVED_COLUMNS}
    missing |= {code_column(c): pl.Int32() for c in DIRECT_COLUMNS + DERIVED_COLUMNS}
    return history.with_columns(
        pl.lit(None, dtype).alias(c) for c, dtype in missing.items() if c not in present
    )
