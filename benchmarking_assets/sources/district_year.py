"""Fetch every endpoint of one state and year and derive one ``district_data_history`` frame.

The derivations are SPEC §2.1, in one place, so the API and the offline sample go through the
same code. The district set is the district directory's: a district that another endpoint
mentions but the directory does not is set aside with a reason, never added half-empty.

An endpoint that does not cover the year (finance after 2020, CRDC in odd years, ...) is not
asked at all; its columns are NULL without a code, because "no collection that year" is not
one of the API's -1/-2/-3 codes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from benchmarking_assets.geography import STATE_BY_CODE
from benchmarking_assets.sources.client import EducationDataClient, FetchResult
from benchmarking_assets.sources.coverage import (
    ASSESSMENTS,
    CRDC_ABSENTEEISM,
    CRDC_ENROLLMENT,
    DISTRICT_DIRECTORY,
    FINANCE,
    GRAD_RATES,
    SCHOOL_DIRECTORY,
    Endpoint,
)
from benchmarking_assets.sources.normalize import (
    Field,
    Parsed,
    code_column,
    dedupe,
    empty_set_aside,
    parse_rows,
    set_aside_rows,
)
from benchmarking_assets.warehouse.schema import DISTRICT_DATA_CODES, DISTRICT_DATA_HISTORY

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


def fetch_district_year(
    client: EducationDataClient, state_code: str, year: int, *, source: str
) -> RawDistrictYear:
    """Fetch the endpoints of one state-year (in parallel, bounded by the client) and derive."""
    state = STATE_BY_CODE.get(state_code)
    if state is None:
        raise ValueError(f"unknown state code {state_code!r}; want one of the 50 states or DC")
    endpoints = endpoints_for_year(year)

    def fetch(endpoint: Endpoint) -> FetchResult:
        params = {"fips": state.fips, **endpoint.total_filters()}
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
    """SPEC §2.1 derivations from the fetched rows of each endpoint (keyed by endpoint key)."""
    fips = STATE_BY_CODE[state_code].fips
    stats: dict[str, int] = {}
    asides: list[pl.DataFrame] = []
    parsed: dict[str, Parsed] = {}
    for key, result in fetched.items():
        from benchmarking_assets.sources.coverage import ENDPOINTS

        p = parse_rows(
            result.results,
            FIELDS[key],
            endpoint=key,
            fips=fips,
            subgroup_columns=ENDPOINTS[key].subgroup_columns,
        )
        parsed[key] = p
        asides.append(p.set_aside)
        stats[f"pages.{key}"] = result.pages
        stats[f"rows.{key}"] = result.count
        stats[f"subgroup_rows.{key}"] = p.subgroup_rows

    directory, aside = dedupe(parsed[DISTRICT_DIRECTORY.key].frame, "leaid", DISTRICT_DIRECTORY.key)
    asides.append(aside)
    known = directory.select("leaid")
    history = directory

    def district_table(key: str, table: pl.DataFrame) -> pl.DataFrame:
        """Left-join a per-leaid table; set aside its districts absent from the directory."""
        nonlocal history
        asides.append(_not_in_directory(key, table, known, state_code, year))
        history = history.join(table, on="leaid", how="left")
        return history

    if FINANCE.key in parsed:
        finance, aside = dedupe(parsed[FINANCE.key].frame, "leaid", FINANCE.key)
        asides.append(aside)
        district_table(FINANCE.key, _expenditure_pp(finance))
    for key in (ASSESSMENTS.key, GRAD_RATES.key):
        if key in parsed:
            table, aside = dedupe(parsed[key].frame, "leaid", key)
            asides.append(aside)
            district_table(key, table)
    if CRDC_ABSENTEEISM.key in parsed:
        table, crdc_asides = _chronic_absenteeism(
            parsed[CRDC_ABSENTEEISM.key].frame, parsed[CRDC_ENROLLMENT.key].frame
        )
        asides += crdc_asides
        district_table(CRDC_ABSENTEEISM.key, table)
    schools, aside = dedupe(parsed[SCHOOL_DIRECTORY.key].frame, "ncessch", SCHOOL_DIRECTORY.key)
    asides.append(aside)
    district_table(SCHOOL_DIRECTORY.key, _frl_students(schools))

    history = _complete(history)
    codes = pl.concat(
        [
            history.filter(pl.col(code_column(c)).is_not_null()).select(
                "leaid", pl.lit(c).alias("column_name"), pl.col(code_column(c)).alias("code")
            )
            for c in DIRECT_COLUMNS + DERIVED_COLUMNS
        ]
    )
    codes = codes.with_columns(year=pl.lit(year), state_code=pl.lit(state_code))
    codes = codes.select(list(DISTRICT_DATA_CODES)).cast(DISTRICT_DATA_CODES)  # type: ignore[arg-type]
    history = history.with_columns(
        year=pl.lit(year), state_code=pl.lit(state_code), fips=pl.lit(fips), source=pl.lit(source)
    )
    history = history.select(list(DISTRICT_DATA_HISTORY)).cast(DISTRICT_DATA_HISTORY)  # type: ignore[arg-type]
    set_aside = pl.concat([a for a in asides if a.height] or [empty_set_aside()])
    stats["districts"] = history.height
    stats["codes"] = codes.height
    stats["set_aside"] = set_aside.height
    return RawDistrictYear(history=history, codes=codes, set_aside=set_aside, stats=stats)


def _expenditure_pp(finance: pl.DataFrame) -> pl.DataFrame:
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
    absent: pl.DataFrame, enrolled: pl.DataFrame
) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Σ students_chronically_absent / Σ enrollment_crdc × 100 per leaid, over school totals.

    Schools are matched on ``crdc_id`` (else ``ncessch``). Only schools where BOTH counts are
    valid non-negative numbers contribute, to numerator and denominator alike, so a school with
    a suppressed count cannot inflate or deflate the rate. The rate is NULL when no school
    contributes or their enrolment sums to 0; if such a district had coded values, the most
    frequent code is kept (ties: the most negative, i.e. suppressed before missing).
    A school present in only one of the two endpoints is set aside.
    """
    key = pl.coalesce("crdc_id", "ncessch").alias("school")
    a, aside_a = dedupe(absent.with_columns(key), "school", CRDC_ABSENTEEISM.key)
    e, aside_e = dedupe(enrolled.with_columns(key), "school", CRDC_ENROLLMENT.key)
    joined = a.join(
        e.select("school", pl.col("leaid").alias("leaid_e"), "enrolled", code_column("enrolled")),
        on="school",
        how="full",
        coalesce=True,
    )
    only_a = joined.filter(pl.col("leaid_e").is_null() & pl.col("leaid").is_not_null())
    only_e = joined.filter(pl.col("leaid").is_null())
    asides = [
        aside_a,
        aside_e,
        set_aside_rows(
            CRDC_ABSENTEEISM.key,
            only_a["leaid"],
            "school",
            only_a["school"],
            "school has no CRDC enrollment row",
        ),
        set_aside_rows(
            CRDC_ENROLLMENT.key,
            only_e["leaid_e"],
            "school",
            only_e["school"],
            "school has no CRDC chronic-absenteeism row",
        ),
    ]
    both = joined.filter(pl.col("leaid").is_not_null() & pl.col("leaid_e").is_not_null())
    valid = pl.col("absent").is_not_null() & pl.col("enrolled").is_not_null()
    code = pl.coalesce(code_column("absent"), code_column("enrolled"))
    per_district = both.group_by("leaid").agg(
        pl.col("absent").filter(valid).sum().alias("num"),
        pl.col("enrolled").filter(valid).sum().alias("den"),
        code.drop_nulls().mode().sort().first().alias("mode_code"),
    )
    rate = pl.when(pl.col("den") > 0).then(pl.col("num") / pl.col("den") * 100)
    table = per_district.select(
        "leaid",
        rate.alias("chronic_absenteeism_rate"),
        pl.when(rate.is_null())
        .then(pl.col("mode_code"))
        .alias(code_column("chronic_absenteeism_rate")),
    )
    return table, asides


def _frl_students(schools: pl.DataFrame) -> pl.DataFrame:
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
            pl.when(pl.col("n") == 0)
            .then(pl.col("mode_code"))
            .alias(code_column("frl_students")),
        )
    )


def _not_in_directory(
    endpoint: str, table: pl.DataFrame, known: pl.DataFrame, state_code: str, year: int
) -> pl.DataFrame:
    orphans = table.join(known, on="leaid", how="anti")
    if not orphans.height:
        return empty_set_aside()
    return set_aside_rows(
        endpoint,
        orphans["leaid"],
        "leaid",
        orphans["leaid"],
        f"district not in the {state_code} {year} district directory",
    )


def _complete(history: pl.DataFrame) -> pl.DataFrame:
    """Add every value and code column an uncovered endpoint left out, as NULLs."""
    missing = {
        c: DISTRICT_DATA_HISTORY[c]
        for c in DIRECT_COLUMNS + DERIVED_COLUMNS
        if c not in history.columns
    }
    missing |= {
        code_column(c): pl.Int32()
        for c in DIRECT_COLUMNS + DERIVED_COLUMNS
        if code_column(c) not in history.columns
    }
    return history.with_columns(pl.lit(None, dtype).alias(c) for c, dtype in missing.items())
