"""The API endpoints this package reads: which years each covers, which filters it honours and
which of its variables this package asks for.

The table here is the *shipped* coverage (Portal release 26, 2026 catalog): the offline sample
serves exactly it, so a gap in the sample is a gap the real API has too. With the real API the
same fields are read from the API's own metadata endpoints instead (``api-endpoints``,
``api-endpoint-varlist``; :mod:`benchmarking_assets.sources.catalog`), so a year the Portal adds
or a variable it drops is noticed rather than guessed (``docs/data-sources.md``).

Either way the client asks an endpoint only for years it covers: the real API answers 500 for
any other year, indistinguishable from a real fault.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from benchmarking_assets.core.geography import FIRST_YEAR


@dataclass(frozen=True)
class Endpoint:
    """One data endpoint: where it lives, what it covers, and how to pick its total rows."""

    key: str
    path_template: str  # relative to the base URL, with "{year}"; ends in "/"
    years: frozenset[int]
    filters: frozenset[str]  # query variables the API honours; any other is silently ignored
    subgroup_columns: tuple[str, ...] = ()  # all must be 99 on an all-students / total row
    level: str = "district"  # "district" or "school"
    # Variables of the endpoint ``fields=`` may ask for. Shipped: the ones this package reads,
    # checked against the Portal's varlist; from the API: the varlist's full list.
    variables: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Every filter is a variable; the shipped table lists the rest in ``variables``.
        object.__setattr__(self, "variables", self.variables | self.filters)

    def path(self, year: int) -> str:
        return self.path_template.format(year=year)

    def covers(self, year: int) -> bool:
        return year in self.years

    def total_filters(self) -> dict[str, int]:
        """The subgroup = 99 filters worth sending; the API ignores the ones it doesn't know."""
        return {c: 99 for c in self.subgroup_columns if c in self.filters}

    def years_text(self) -> str:
        """The covered years as ranges, e.g. ``1991, 1994–2020`` (for messages)."""
        return years_text(self.years)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _span(first: int, last: int) -> frozenset[int]:
    return frozenset(range(first, last + 1))


DISTRICT_DIRECTORY = Endpoint(
    key="district_directory",
    path_template="school-districts/ccd/directory/{year}/",
    years=_span(1986, 2024),
    filters=_words(
        "leaid year fips state_leaid state_location urban_centric_locale cbsa cbsa_type csa "
        "necta congress_district_id bureau_indian_education agency_level"
    ),
    variables=_words(
        "lea_name enrollment spec_ed_students english_language_learners teachers_total_fte "
        "lowest_grade_offered highest_grade_offered"
    ),
)
FINANCE = Endpoint(
    key="finance",
    path_template="school-districts/ccd/finance/{year}/",
    years=frozenset({1991}) | _span(1994, 2020),
    filters=frozenset({"year", "leaid", "fips"}),
    variables=_words("exp_current_elsec_total enrollment_fall_responsible"),
)
ASSESSMENTS = Endpoint(
    key="assessments",
    path_template="school-districts/edfacts/assessments/{year}/grade-99/",
    years=_span(2009, 2018) | {2020},
    filters=_words(
        "leaid leaid_num year fips grade_edfacts race sex lep homeless migrant disability "
        "econ_disadvantaged foster_care military_connected"
    ),
    subgroup_columns=(
        "grade_edfacts",
        "race",
        "sex",
        "lep",
        "homeless",
        "migrant",
        "disability",
        "econ_disadvantaged",
        "foster_care",
        "military_connected",
    ),
    variables=_words("math_test_pct_prof_midpt read_test_pct_prof_midpt"),
)
GRAD_RATES = Endpoint(
    key="grad_rates",
    path_template="school-districts/edfacts/grad-rates/{year}/",
    years=_span(2010, 2019),
    filters=_words(
        "leaid year fips leaid_num race lep homeless disability econ_disadvantaged foster_care"
    ),
    subgroup_columns=(
        "race",
        "lep",
        "homeless",
        "disability",
        "econ_disadvantaged",
        "foster_care",
    ),
    variables=_words("grad_rate_midpt"),
)
# CRDC enrollment (the denominator of chronic absenteeism) stops a year before absenteeism:
# the 2026 catalog has no 2022 enrollment (docs/data-sources.md, "2022").
CRDC_ABSENTEEISM = Endpoint(
    key="crdc_absenteeism",
    path_template="schools/crdc/chronic-absenteeism/{year}/race/sex/",
    years=frozenset({2013, 2015, 2017, 2020, 2021, 2022}),
    filters=_words("crdc_id year ncessch leaid fips sex race disability lep"),
    # `homeless` appears in newer years and is not a filter: it is only ever filtered here.
    # The 2024 varlist lacks it; a 2026 probe of the live API lists it (docs/data-sources.md).
    subgroup_columns=("race", "sex", "disability", "lep", "homeless"),
    level="school",
    variables=_words("students_chronically_absent homeless"),
)
CRDC_ENROLLMENT = Endpoint(
    key="crdc_enrollment",
    path_template="schools/crdc/enrollment/{year}/race/sex/",
    years=frozenset({2011, 2013, 2015, 2017, 2020, 2021}),
    filters=_words("crdc_id year ncessch leaid fips sex race disability lep"),
    subgroup_columns=("race", "sex", "disability", "lep", "homeless"),
    level="school",
    variables=_words("enrollment_crdc"),  # no `homeless` in the varlist
)
SCHOOL_DIRECTORY = Endpoint(
    key="school_directory",
    path_template="schools/ccd/directory/{year}/",
    years=_span(1986, 2024),
    filters=_words("ncessch year leaid fips state_location urban_centric_locale"),
    level="school",
    variables=_words("free_or_reduced_price_lunch"),
)

ENDPOINTS: dict[str, Endpoint] = {
    e.key: e
    for e in (
        DISTRICT_DIRECTORY,
        FINANCE,
        ASSESSMENTS,
        GRAD_RATES,
        CRDC_ABSENTEEISM,
        CRDC_ENROLLMENT,
        SCHOOL_DIRECTORY,
    )
}


@dataclass(frozen=True)
class Coverage(Mapping[str, Endpoint]):
    """The endpoints by key, as one source knows them, and where that knowledge came from."""

    endpoints: Mapping[str, Endpoint]
    origin: str  # "shipped table" or the metadata URL it was read from
    notes: tuple[str, ...] = field(default=())  # how it differs from the shipped table

    def __getitem__(self, key: str) -> Endpoint:
        return self.endpoints[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.endpoints)

    def __len__(self) -> int:
        return len(self.endpoints)

    def api_years(self, first_year: int = FIRST_YEAR) -> list[int]:
        """Years the pipeline can load: the district directory defines a year."""
        return sorted(y for y in self[DISTRICT_DIRECTORY.key].years if y >= first_year)


SHIPPED = Coverage(ENDPOINTS, origin="shipped table (benchmarking_assets/sources/coverage.py)")


def years_text(years: frozenset[int] | set[int]) -> str:
    """``{1991, 1994, 1995, 1996}`` → ``"1991, 1994–1996"``; ``"none"`` when empty."""
    ordered = sorted(years)
    if not ordered:
        return "none"
    runs: list[list[int]] = [[ordered[0], ordered[0]]]
    for year in ordered[1:]:
        if year == runs[-1][1] + 1:
            runs[-1][1] = year
        else:
            runs.append([year, year])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def endpoint_for_path(
    path: str, endpoints: Mapping[str, Endpoint] = ENDPOINTS
) -> tuple[Endpoint, int] | None:
    """Match a request path (relative to the base URL) to an endpoint and year, or None."""
    parts = path.strip("/").split("/")
    for endpoint in endpoints.values():
        template = endpoint.path_template.strip("/").split("/")
        if len(template) != len(parts):
            continue
        year: int | None = None
        for want, got in zip(template, parts, strict=True):
            if want == "{year}":
                if not got.isdigit():
                    break
                year = int(got)
            elif want != got:
                break
        else:
            if year is not None:
                return endpoint, year
    return None


def api_years(first_year: int = FIRST_YEAR) -> list[int]:
    """Years the shipped table says the API has (the district directory defines a year)."""
    return SHIPPED.api_years(first_year)
