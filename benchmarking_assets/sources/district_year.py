"""Fetch every endpoint of one state and year and derive one ``district_data_history`` frame.

The derivations of docs/data.md live here, in one place, so the API and the offline sample go
through the same code. The district set is the district directory's: a district that another
endpoint mentions but the directory does not is set aside with a reason, never added half-
empty.

An endpoint that does not cover the year (finance after 2020, CRDC in odd years, ...) is not
asked at all; its columns are NULL without a code, because "no collection that year" is not
one of the API's -1/-2/-3 codes. Which years an endpoint covers, and which variables it has,
comes from a :class:`Coverage` (the shipped table, or the API's own catalog).

Two cases are recorded as partition-level notes in ``set_aside`` (``leaid`` NULL), so a reader
of ``data_quality_issues`` sees why a column the Portal seems to offer is NULL
(``docs/data-sources.md``): a year with CRDC chronic absenteeism but no CRDC enrollment (2022:
the rate has no denominator), and a variable we read that the endpoint's varlist lacks.

CRDC chronic-absenteeism rows whose ``leaid`` and ``fips`` are null (2013: 4.7 % of a national
slice) are never returned by a state-filtered request; :func:`recover_crdc_absenteeism` asks for
them by ``crdc_id`` and attributes them through the school's CRDC enrollment row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from benchmarking_assets.core.geography import STATE_BY_CODE
from benchmarking_assets.core.schemas import DISTRICT_DATA_CODES, DISTRICT_DATA_HISTORY
from benchmarking_assets.sources.client import EducationDataClient, FetchResult
from benchmarking_assets.sources.coverage import (
    ASSESSMENTS,
    CRDC_ABSENTEEISM,
    CRDC_ENROLLMENT,
    DISTRICT_DIRECTORY,
    FINANCE,
    GRAD_RATES,
    SCHOOL_DIRECTORY,
    SHIPPED,
    Endpoint,
)
from benchmarking_assets.sources.normalize import (
    Field,
    code_column,
    empty_set_aside,
    parse_rows,
    set_aside_rows,
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


def endpoints_for_year(year: int, coverage: Mapping[str, Endpoint] = SHIPPED) -> list[Endpoint]:
    """The endpoints to ask for ``year``: only those that cover it (CRDC needs both halves:
    absenteeism without its enrollment denominator is not fetched, see :func:`coverage_notes`)."""
    c = coverage
    wanted = [c[e.key] for e in (DISTRICT_DIRECTORY, FINANCE, ASSESSMENTS, GRAD_RATES)]
    wanted.append(c[SCHOOL_DIRECTORY.key])
    if c[CRDC_ABSENTEEISM.key].covers(year) and c[CRDC_ENROLLMENT.key].covers(year):
        wanted += [c[CRDC_ABSENTEEISM.key], c[CRDC_ENROLLMENT.key]]
    return [e for e in wanted if e.key == DISTRICT_DIRECTORY.key or e.covers(year)]


def fields_param(endpoint: Endpoint) -> str:
    """The API's ``fields=`` projection: the columns the derivations read that the endpoint has.

    Directory pages are ~70 columns wide (~12 MB per 10,000 rows), so this saves transfer and
    parsing. Only the endpoint's variables are asked for (CRDC enrollment has no ``homeless``):
    an API that honours ``fields`` answers an unknown one with a blank, and a blank subgroup
    column would otherwise look like a subgroup row. An API that ignores ``fields`` still works
    (we pick our columns out anyway).
    """
    wanted = [
        "leaid",
        "fips",
        *endpoint.subgroup_columns,
        *(f.source for f in FIELDS[endpoint.key]),
    ]
    return ",".join(v for v in dict.fromkeys(wanted) if v in endpoint.variables)


def fetch_district_year(
    client: EducationDataClient,
    state_code: str,
    year: int,
    *,
    source: str,
    coverage: Mapping[str, Endpoint] = SHIPPED,
    project_fields: bool = True,
    recover_crdc: bool = True,
) -> RawDistrictYear:
    """Fetch the endpoints of one state-year (in parallel, bounded by the client) and derive.

    ``project_fields=False`` stops sending ``fields=`` (see :func:`fields_param`);
    ``recover_crdc=False`` skips :func:`recover_crdc_absenteeism`."""
    state = STATE_BY_CODE.get(state_code)
    if state is None:
        raise ValueError(f"unknown state code {state_code!r}; want one of the 50 states or DC")
    endpoints = endpoints_for_year(year, coverage)

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
    recovery: dict[str, int] = {}
    if recover_crdc and CRDC_ABSENTEEISM.key in fetched:
        fetched[CRDC_ABSENTEEISM.key], recovery = recover_crdc_absenteeism(
            client,
            coverage[CRDC_ABSENTEEISM.key],
            year,
            state.fips,
            fetched[CRDC_ABSENTEEISM.key],
            fetched[CRDC_ENROLLMENT.key],
            project_fields=project_fields,
        )
    raw = derive_district_year(fetched, state_code, year, source=source, coverage=coverage)
    raw.stats.update(recovery)
    return raw


RECOVERY_CHUNK = 100  # crdc_ids per request: ~1,300 characters of query string
MAX_RECOVERY_REQUESTS = 20  # 2,000 schools per state-year; the worst state of 2013 needs ~200


def recover_crdc_absenteeism(
    client: EducationDataClient,
    endpoint: Endpoint,
    year: int,
    fips: int,
    absent: FetchResult,
    enrolled: FetchResult,
    *,
    project_fields: bool = True,
) -> tuple[FetchResult, dict[str, int]]:
    """Chronic-absenteeism rows of this state's schools that lack their district.

    In the real 2013 data 474 of 10,000 rows (a national race × sex slice) have ``leaid`` and
    ``fips`` null, so ``?fips=F`` never returns them, while the same school's CRDC enrollment
    row has both. So a school's district is taken from its CRDC enrollment row (matched on
    ``crdc_id``) when its absenteeism row has none, and every school enrolled in this state but
    missing from the absenteeism rows is asked for by ``crdc_id`` (a filter of the endpoint;
    comma = OR; no ``fips``). Bounded: ``MAX_RECOVERY_REQUESTS`` requests of ``RECOVERY_CHUNK``
    ids; schools beyond are counted in ``crdc_recovery.skipped`` and stay set aside.
    """
    owners: dict[str, dict[str, Any]] = {}
    for row in enrolled.results:
        crdc_id, leaid = row.get("crdc_id"), row.get("leaid")
        ours = str(row.get("fips")) == str(fips)  # a server ignoring ?fips= sends the nation
        if ours and isinstance(crdc_id, str) and crdc_id and str(leaid or "").strip():
            owners.setdefault(crdc_id, row)
    if not owners:
        return absent, {}

    def attribute(row: dict[str, Any]) -> dict[str, Any] | None:
        """The row with its school's district filled in, or None when it is not ours."""
        crdc_id = row.get("crdc_id")
        owner = owners.get(crdc_id) if isinstance(crdc_id, str) else None
        no_leaid, no_fips = row.get("leaid") in (None, ""), row.get("fips") is None
        if owner is None or not (no_leaid or no_fips):
            return None  # complete rows are the state query's; unknown schools are not ours
        if not no_fips and str(row.get("fips")) != str(fips):
            return None  # another state's row: left as it is, and set aside as such
        return {**row, "leaid": owner.get("leaid") if no_leaid else row["leaid"], "fips": fips}

    rows: list[dict[str, Any]] = []
    attributed = 0
    for row in absent.results:
        fixed = attribute(row)
        attributed += fixed is not None
        rows.append(row if fixed is None else fixed)
    have = {r.get("crdc_id") for r in absent.results}
    ids = sorted(i for i in owners if i not in have)
    chunks = [ids[i : i + RECOVERY_CHUNK] for i in range(0, len(ids), RECOVERY_CHUNK)]
    asked = chunks[:MAX_RECOVERY_REQUESTS] if "crdc_id" in endpoint.filters else []
    recovered = pages = 0
    for chunk in asked:  # without the crdc_id filter the request would be the whole nation
        params: dict[str, str | int] = {**endpoint.total_filters(), "crdc_id": ",".join(chunk)}
        if project_fields:
            params["fields"] = fields_param(endpoint)
        result = client.fetch_endpoint(endpoint, year, params)
        pages += result.pages
        for row in result.results:
            fixed = attribute(row)
            if fixed is not None:
                rows.append(fixed)
                recovered += 1
    stats = {
        "crdc_recovery.attributed_rows": attributed,
        "crdc_recovery.requests": len(asked),
        "crdc_recovery.recovered_rows": recovered,
        "crdc_recovery.skipped_schools": len(ids) - sum(len(c) for c in asked),
    }
    merged = FetchResult(url=absent.url, count=len(rows), pages=absent.pages + pages, results=rows)
    return merged, stats


def coverage_notes(
    coverage: Mapping[str, Endpoint], year: int, fetched: Sequence[str]
) -> pl.DataFrame:
    """Partition-level notes (``leaid`` NULL) for columns the coverage leaves NULL though the
    Portal seems to offer them; the ``set_aside`` schema."""
    frames: list[pl.DataFrame] = []
    absent, enrolled = coverage[CRDC_ABSENTEEISM.key], coverage[CRDC_ENROLLMENT.key]
    if absent.covers(year) and not enrolled.covers(year):
        frames.append(
            set_aside_rows(
                CRDC_ENROLLMENT.key,
                [None],
                "chronic_absenteeism_rate",
                [None],
                f"CRDC enrollment, the denominator of chronic_absenteeism_rate, is not published "
                f"for {year} (covered: {enrolled.years_text()}; coverage from "
                f"{coverage_origin(coverage)}): the rate is NULL for every district, and CRDC "
                f"chronic absenteeism {year} is not fetched (docs/data-sources.md, 2022)",
            )
        )
    for key in fetched:
        endpoint = coverage[key]
        for f in FIELDS[key]:
            if f.source not in endpoint.variables:
                frames.append(
                    set_aside_rows(
                        key,
                        [None],
                        f.source,
                        [None],
                        f"variable {f.source} is not in the endpoint's varlist "
                        f"({coverage_origin(coverage)}): not requested, and what is derived from "
                        f"it ({f.name}) is NULL",
                    )
                )
    return pl.concat(frames) if frames else empty_set_aside()


def coverage_origin(coverage: Mapping[str, Endpoint]) -> str:
    return str(getattr(coverage, "origin", "shipped table"))


def derive_district_year(
    fetched: dict[str, FetchResult],
    state_code: str,
    year: int,
    *,
    source: str,
    coverage: Mapping[str, Endpoint] = SHIPPED,
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
        endpoint = coverage[key]
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
    notes = coverage_notes(coverage, year, list(fetched))
    set_aside = pl.concat(
        [a for a in [*asides, extra_df, notes] if a.height] or [empty_set_aside()]
    )
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
