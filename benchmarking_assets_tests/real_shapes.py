"""Small invented fixtures in the shapes of real Education Data Portal responses.

The shapes (keys, value types, quirks) are those of the real pages saved on 2024-06-12 and the
2026 catalog described in ``docs/data-sources.md``; every id and number is made up: Connecticut
(fips 9), districts ``0999901`` Alpha and ``0999902`` Beta, schools ``09999…``. What each
quirk is, and where the real data shows it:

* catalog: ``endpoint_id`` int, ``years_available`` a display string with ``&ndash;`` and
  "and", ``{grade_edfacts}`` in a URL, one URL without its trailing slash;
* varlist: every value a string (``"endpoint_id": "37"``, ``"is_filter": "None"``), and no
  ``homeless`` on the CRDC endpoints (the 2024 varlist);
* CRDC chronic absenteeism 2013: 6-digit leaids (``"999901"``), no ``homeless`` column, and a
  school whose ``leaid`` and ``fips`` are null (so ``?fips=9`` never returns it), first;
* CRDC enrollment 2013: 7-digit leaids, and a pseudo-school with ``ncessch`` and ``leaid`` "";
* EDFacts midpoints as floats on a .0/.5 grid, grad rates as ints with a null cohort row;
* 2022: CRDC chronic absenteeism exists (with ``homeless``), CRDC enrollment does not.
"""

from __future__ import annotations

from typing import Any

from benchmarking_assets_tests.fake_api import FakeApi, catalog_record, varlist_row

FIPS = 9
ALPHA, BETA = "0999901", "0999902"
A1, A2, A_PSEUDO = "099990100001", "099990100002", "099990199999"
B1, B2 = "099990200001", "099990200002"
NO_ID = "099990199998"  # an enrollment pseudo-school with no ncessch and no leaid

CATALOG: list[dict[str, Any]] = [
    catalog_record(54, "/api/v1/school-districts/ccd/directory/{year}/", "1986&ndash;2022"),
    catalog_record(29, "/api/v1/school-districts/ccd/finance/{year}/", "1991, 1994&ndash;2020"),
    catalog_record(
        80,
        "/api/v1/school-districts/edfacts/assessments/{year}/{grade_edfacts}/",
        "2009&ndash;2018, 2020",
    ),
    # no trailing slash, as 10 of the 123 real URLs
    catalog_record(101, "/api/v1/school-districts/edfacts/grad-rates/{year}", "2010&ndash;2019"),
    catalog_record(
        37,
        "/api/v1/schools/crdc/chronic-absenteeism/{year}/race/sex/",
        "2013, 2015, 2017, 2020, 2021, 2022",
    ),
    catalog_record(
        60, "/api/v1/schools/crdc/enrollment/{year}/race/sex/", "2011, 2013, 2015, 2017, and 2021"
    ),
    catalog_record(24, "/api/v1/schools/ccd/directory/{year}/", "1986&ndash;2022"),
    catalog_record(3, "/api/v1/college-university/ipeds/directory/{year}/", "1980&ndash;2022"),
]
# Note: CRDC enrollment lists "2011, 2013, 2015, 2017, and 2021" (no 2020) to show that every
# year comes from the catalog; 2022 is in neither that list nor the 2026 catalog.


def _variables(endpoint_id: int, filters: str, others: str) -> list[dict[str, str]]:
    return [varlist_row(endpoint_id, v, True) for v in filters.split()] + [
        varlist_row(endpoint_id, v, False) for v in others.split()
    ]


_CRDC_FILTERS = "crdc_id year ncessch leaid fips sex race disability lep"
VARLIST: list[dict[str, str]] = [
    *_variables(
        54,
        "leaid year fips state_leaid state_location urban_centric_locale cbsa cbsa_type csa "
        "necta congress_district_id bureau_indian_education agency_level",
        "lea_name enrollment spec_ed_students english_language_learners teachers_total_fte "
        "lowest_grade_offered highest_grade_offered number_of_schools",
    ),
    *_variables(29, "year leaid fips", "exp_current_elsec_total enrollment_fall_responsible"),
    *_variables(
        80,
        "leaid leaid_num year fips grade_edfacts race sex lep homeless migrant disability "
        "econ_disadvantaged foster_care military_connected",
        "math_test_pct_prof_midpt read_test_pct_prof_midpt",
    ),
    *_variables(
        101,
        "leaid year fips leaid_num race lep homeless disability econ_disadvantaged foster_care",
        "grad_rate_midpt cohort_num",
    ),
    *_variables(37, _CRDC_FILTERS, "students_chronically_absent"),
    *_variables(60, _CRDC_FILTERS, "enrollment_crdc psenrollment_crdc"),
    *_variables(
        24,
        "ncessch year leaid fips state_location urban_centric_locale",
        "free_or_reduced_price_lunch direct_certification enrollment",
    ),
]

_EDFACTS_GROUPS = ("race", "sex", "lep", "homeless", "migrant", "disability",
                   "econ_disadvantaged", "foster_care", "military_connected")  # fmt: skip
_GRAD_GROUPS = ("race", "lep", "homeless", "disability", "econ_disadvantaged", "foster_care")
_CRDC_GROUPS = ("race", "sex", "disability", "lep")


def _district(leaid: str, year: int, **values: Any) -> dict[str, Any]:
    return {"year": year, "leaid": leaid, "leaid_num": int(leaid), "fips": FIPS} | values


def _assessment(leaid: str, math: float, read: float, **groups: int) -> dict[str, Any]:
    row = {"ncessch_num": None, "leaid": leaid, "leaid_num": int(leaid), "year": 2013,
           "fips": FIPS, "grade_edfacts": 99} | {g: 99 for g in _EDFACTS_GROUPS}  # fmt: skip
    return row | groups | {"math_test_pct_prof_midpt": math, "read_test_pct_prof_midpt": read}


def _grad(leaid: str, rate: int | None, cohort: int | None, **groups: int) -> dict[str, Any]:
    row = {"cohort_num": cohort, "fips": FIPS, "grad_rate_midpt": rate, "leaid": leaid}
    return row | {g: 99 for g in _GRAD_GROUPS} | groups | {"year": 2013}


def _crdc(crdc_id: str, ncessch: str, leaid: str | None, year: int, **values: Any):
    fips = None if leaid is None else FIPS
    row = {"crdc_id": crdc_id, "ncessch": ncessch, "fips": fips, "leaid": leaid, "year": year}
    return row | {g: 99 for g in _CRDC_GROUPS} | values


def tables_2013() -> dict[str, list[dict[str, Any]]]:
    absent = "students_chronically_absent"
    return {
        "school-districts/ccd/directory/2013/": [
            _district(ALPHA, 2013, lea_name="Alpha Public Schools", enrollment=1200,
                      spec_ed_students=150, english_language_learners=60,
                      teachers_total_fte=80.5, urban_centric_locale=21,
                      lowest_grade_offered=-1, highest_grade_offered=12),
            _district(BETA, 2013, lea_name="Beta Regional", enrollment=730,
                      spec_ed_students=-2, english_language_learners=-1,
                      teachers_total_fte=48.0, urban_centric_locale=41,
                      lowest_grade_offered=0, highest_grade_offered=8),
        ],
        "school-districts/ccd/finance/2013/": [
            _district(ALPHA, 2013, exp_current_elsec_total=15_470_000.0,
                      enrollment_fall_responsible=1200),
            _district(BETA, 2013, exp_current_elsec_total=-3.0, enrollment_fall_responsible=730),
        ],
        "school-districts/edfacts/assessments/2013/grade-99/": [
            _assessment(ALPHA, 62.0, 67.0),
            _assessment(ALPHA, 74.5, 80.0, race=1),
            _assessment(BETA, 24.5, -3.0),
        ],
        "school-districts/edfacts/grad-rates/2013/": [
            _grad(ALPHA, 92, 101),
            _grad(ALPHA, -3, 12, race=1),
            _grad(BETA, None, None),  # no cohort: every grad field null
        ],
        "schools/crdc/chronic-absenteeism/2013/race/sex/": [
            # nulls first, as the real page is ordered; ?fips=9 never returns this row
            _crdc(B2, B2, None, 2013, **{absent: 20}),
            _crdc(A1, A1, ALPHA[1:], 2013, **{absent: 60}),
            _crdc(A1, A1, ALPHA[1:], 2013, **{absent: 20, "race": 1, "sex": 1}),
            _crdc(A_PSEUDO, A2, ALPHA[1:], 2013, **{absent: 15}),
            _crdc(B1, B1, BETA[1:], 2013, **{absent: -2}),
        ],
        "schools/crdc/enrollment/2013/race/sex/": [
            _crdc(A1, A1, ALPHA, 2013, enrollment_crdc=700, psenrollment_crdc=-2),
            _crdc(NO_ID, "", "", 2013, enrollment_crdc=0, psenrollment_crdc=-2) | {"fips": FIPS},
            _crdc(A_PSEUDO, A2, ALPHA, 2013, enrollment_crdc=480, psenrollment_crdc=-2),
            _crdc(B1, B1, BETA, 2013, enrollment_crdc=250, psenrollment_crdc=-2),
            _crdc(B2, B2, BETA, 2013, enrollment_crdc=50, psenrollment_crdc=-2),
        ],
        "schools/ccd/directory/2013/": [
            {"ncessch": A1, "year": 2013, "leaid": ALPHA, "fips": FIPS, "county_code": "09003",
             "teachers_fte": 46, "free_or_reduced_price_lunch": 350, "virtual": None},
            {"ncessch": A2, "year": 2013, "leaid": ALPHA, "fips": FIPS, "county_code": "09003",
             "teachers_fte": 30, "free_or_reduced_price_lunch": -2, "virtual": None},
            {"ncessch": B1, "year": 2013, "leaid": BETA, "fips": FIPS, "county_code": "09005",
             "teachers_fte": 21, "free_or_reduced_price_lunch": 100, "virtual": None},
            {"ncessch": B2, "year": 2013, "leaid": BETA, "fips": FIPS, "county_code": "09005",
             "teachers_fte": 5, "free_or_reduced_price_lunch": None, "virtual": None},
        ],
    }  # fmt: skip


def tables_2022() -> dict[str, list[dict[str, Any]]]:
    absent = "students_chronically_absent"
    return {
        "school-districts/ccd/directory/2022/": [
            _district(ALPHA, 2022, lea_name="Alpha Public Schools", enrollment=1150,
                      spec_ed_students=170, english_language_learners=75,
                      teachers_total_fte=79.0, urban_centric_locale=21,
                      lowest_grade_offered=-1, highest_grade_offered=12),
            _district(BETA, 2022, lea_name="Beta Regional", enrollment=700,
                      spec_ed_students=95, english_language_learners=12,
                      teachers_total_fte=47.5, urban_centric_locale=41,
                      lowest_grade_offered=0, highest_grade_offered=8),
        ],
        # FRL stopped (null) in 2022; direct certification took its place
        "schools/ccd/directory/2022/": [
            {"ncessch": A1, "year": 2022, "leaid": ALPHA, "fips": FIPS,
             "free_or_reduced_price_lunch": None, "direct_certification": 210, "enrollment": 680},
            {"ncessch": B1, "year": 2022, "leaid": BETA, "fips": FIPS,
             "free_or_reduced_price_lunch": None, "direct_certification": 90, "enrollment": 300},
        ],
        # published, and never asked for: it has no enrollment denominator in 2022
        "schools/crdc/chronic-absenteeism/2022/race/sex/": [
            _crdc(A1, A1, ALPHA, 2022, homeless=99, **{absent: 150}),
            _crdc(A1, A1, ALPHA, 2022, homeless=1, **{absent: 9}),
        ],
    }  # fmt: skip


def serve(api: FakeApi) -> None:
    """Load the real-shape catalog, varlist and the 2013 and 2022 tables into ``api``."""
    api.catalog = [dict(r) for r in CATALOG]
    api.varlist = [dict(r) for r in VARLIST]
    for tables in (tables_2013(), tables_2022()):
        for path, rows in tables.items():
            api.add(path, rows)
