"""The API endpoints this package reads, which years each covers and which filters it honours.

One table serves both sides: the client asks an endpoint only for years it covers (the real API
answers 500 for any other year, indistinguishable from a real fault, so we never ask), and the
offline sample serves exactly the same coverage and filters, so a gap in the sample is a gap the
real API has too. Years and filters are from ``shared/research/urban_api.md`` §1 (Portal
release 26); coverage drifts upward over time, so update the table when the Portal adds years.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def path(self, year: int) -> str:
        return self.path_template.format(year=year)

    def covers(self, year: int) -> bool:
        return year in self.years

    def total_filters(self) -> dict[str, int]:
        """The subgroup = 99 filters worth sending; the API ignores the ones it doesn't know."""
        return {c: 99 for c in self.subgroup_columns if c in self.filters}


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
)
FINANCE = Endpoint(
    key="finance",
    path_template="school-districts/ccd/finance/{year}/",
    years=frozenset({1991}) | _span(1994, 2020),
    filters=frozenset({"year", "leaid", "fips"}),
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
)
_CRDC_YEARS = frozenset({2013, 2015, 2017, 2020, 2021, 2022})
CRDC_ABSENTEEISM = Endpoint(
    key="crdc_absenteeism",
    path_template="schools/crdc/chronic-absenteeism/{year}/race/sex/",
    years=_CRDC_YEARS,
    filters=_words("crdc_id year ncessch leaid fips sex race disability lep"),
    # `homeless` appears in newer years and is not a filter: it is only ever filtered here.
    subgroup_columns=("race", "sex", "disability", "lep", "homeless"),
    level="school",
)
CRDC_ENROLLMENT = Endpoint(
    key="crdc_enrollment",
    path_template="schools/crdc/enrollment/{year}/race/sex/",
    years=frozenset({2011}) | _CRDC_YEARS,
    filters=_words("crdc_id year ncessch leaid fips sex race disability lep"),
    subgroup_columns=("race", "sex", "disability", "lep", "homeless"),
    level="school",
)
SCHOOL_DIRECTORY = Endpoint(
    key="school_directory",
    path_template="schools/ccd/directory/{year}/",
    years=_span(1986, 2024),
    filters=_words("ncessch year leaid fips state_location urban_centric_locale"),
    level="school",
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


def endpoint_for_path(path: str) -> tuple[Endpoint, int] | None:
    """Match a request path (relative to the base URL) to an endpoint and year, or None."""
    parts = path.strip("/").split("/")
    for endpoint in ENDPOINTS.values():
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
    """Years the pipeline can ask of the real API: the district directory defines a year."""
    return sorted(y for y in DISTRICT_DIRECTORY.years if y >= first_year)
