"""Raw-column derivations (docs/data.md): ``parse_rows`` on hand-made rows, then a whole state-
year served by a real HTTP server (``fake_api.FakeApi``) and compared, column by column, with
values worked out by hand in the comments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarking_assets.core.schemas import DISTRICT_DATA_CODES, DISTRICT_DATA_HISTORY
from benchmarking_assets.sources.client import EducationDataClient
from benchmarking_assets.sources.district_year import RawDistrictYear, fetch_district_year
from benchmarking_assets.sources.normalize import Field, parse_rows
from benchmarking_assets_tests.fake_api import FakeApi

FIELDS = [
    Field("lea_name", "lea_name", "text"),
    Field("enrollment", "enrollment", "int"),
    Field("teachers_total_fte", "teachers_fte", "float"),
    Field("lowest_grade_offered", "lowest_grade", "grade"),
]


def parse(rows: list[dict[str, Any]], **kwargs: Any):
    return parse_rows(rows, FIELDS, endpoint="district_directory", fips=1, **kwargs)


def test_leaid_is_zero_filled_and_string_numbers_are_parsed():
    p = parse([{"leaid": "100002", "fips": 1, "enrollment": "29.000", "teachers_total_fte": "2.5"}])
    assert p.frame.row(0, named=True) | {} == {
        "leaid": "0100002",
        "lea_name": None,
        "enrollment": 29,
        "enrollment__code": None,
        "teachers_fte": 2.5,
        "teachers_fte__code": None,
        "lowest_grade": None,
        "lowest_grade__code": None,
    }
    assert p.set_aside.height == 0


def test_a_numeric_leaid_is_zero_filled_too():
    assert parse([{"leaid": 100002, "fips": 1}]).frame["leaid"].to_list() == ["0100002"]


def test_missing_codes_become_null_with_the_code_kept_but_grade_minus_one_is_pre_k():
    rows = [
        {"leaid": "0100001", "fips": 1, "enrollment": -1, "lowest_grade_offered": -1},
        {"leaid": "0100002", "fips": 1, "enrollment": "-2.000", "lowest_grade_offered": -2},
        {"leaid": "0100003", "fips": 1, "enrollment": -3, "teachers_total_fte": -3.0},
    ]
    f = parse(rows).frame
    assert f["enrollment"].to_list() == [None, None, None]
    assert f["enrollment__code"].to_list() == [-1, -2, -3]
    assert f["lowest_grade"].to_list() == [-1, None, None]  # -1 = Pre-K, a real grade
    assert f["lowest_grade__code"].to_list() == [None, -2, None]
    assert f["teachers_fte__code"].to_list() == [None, None, -3]


def test_unusable_values_are_set_aside_with_the_raw_text():
    rows = [
        {"leaid": "0100001", "fips": 1, "enrollment": "n/a"},
        {"leaid": "0100002", "fips": 1, "enrollment": -9},
        {"leaid": "0100003", "fips": 1, "enrollment": 12.5},
        {"leaid": "0100004", "fips": 1, "enrollment": "", "teachers_total_fte": " 3.25 "},
    ]
    p = parse(rows)
    assert p.frame["enrollment"].to_list() == [None, None, None, None]
    assert p.frame["enrollment__code"].to_list() == [None, None, None, None]
    assert p.frame["teachers_fte"].to_list()[3] == 3.25
    assert p.set_aside.sort("leaid").rows() == [
        ("district_directory", "0100001", "enrollment", "n/a", "unparseable number"),
        (
            "district_directory",
            "0100002",
            "enrollment",
            "-9",
            "negative value that is not a missing code (-1/-2/-3)",
        ),
        ("district_directory", "0100003", "enrollment", "12.5", "not a whole number"),
    ]  # "" is a blank (NULL), not an error


def test_rows_without_leaid_of_another_state_or_duplicated_are_set_aside_whole():
    rows = [
        {"leaid": None, "fips": 1, "lea_name": "no id"},
        {"leaid": "   ", "fips": 1, "lea_name": "blank id"},
        {"leaid": "01-0002", "fips": 1, "lea_name": "bad id"},
        {"leaid": "0600001", "fips": 6, "lea_name": "California"},
        {"leaid": "0100005", "fips": 1, "lea_name": "first"},
        {"leaid": "100005", "fips": 1, "lea_name": "again"},
        {"leaid": "0600002", "fips": None, "lea_name": "no fips, leaid says CA"},
    ]
    p = parse(rows)
    assert p.frame["lea_name"].to_list() == ["first"]
    reasons = p.set_aside["reason"].to_list()
    assert reasons == [
        "no leaid",
        "no leaid",
        "malformed leaid (want 7 digits)",
        "row is for fips 6, not 1",
        "duplicate row for leaid; kept the first",
        "row is for fips 06, not 1",
    ]
    # The whole raw row is kept, so nothing is lost.
    assert json.loads(p.set_aside["value"][0]) == {"fips": 1, "lea_name": "no id", "leaid": None}


def test_subgroup_rows_are_dropped_client_side_even_when_the_server_sent_them():
    rows = [
        {"leaid": "0100001", "fips": 1, "race": 99, "sex": 99, "enrollment": 10},
        {"leaid": "0100001", "fips": 1, "race": 1, "sex": 99, "enrollment": 7},
        {"leaid": "0100001", "fips": 1, "race": 99, "sex": "2", "enrollment": 4},
        {"leaid": "0100002", "fips": 1, "race": 99, "sex": None, "enrollment": 3},
    ]
    p = parse(rows, subgroup_columns=("race", "sex", "homeless"))  # homeless: absent, ignored
    assert p.frame.select("leaid", "enrollment").rows() == [("0100001", 10)]
    assert p.subgroup_rows == 3


@settings(max_examples=200, deadline=None)
@given(
    number=st.integers(min_value=0, max_value=10**9),
    form=st.sampled_from(["int", "float", "str", "str3"]),
    digits=st.integers(min_value=1, max_value=99_999),
)
def test_any_count_in_any_spelling_parses_to_itself(number: int, form: str, digits: int):
    sent = {"int": number, "float": float(number), "str": str(number), "str3": f"{number}.000"}
    leaid = f"1{digits:05d}"  # 6 digits: the API's lost leading zero
    p = parse([{"leaid": leaid, "fips": 1, "enrollment": sent[form]}])
    assert p.frame.select("leaid", "enrollment", "enrollment__code").row(0) == (
        "0" + leaid,
        number,
        None,
    )
    assert p.set_aside.height == 0


@given(code=st.sampled_from([-1, -2, -3]), form=st.sampled_from([int, float, str]))
def test_every_missing_code_in_any_spelling_is_kept_as_a_code(code: int, form: type):
    p = parse([{"leaid": "0100001", "fips": 1, "enrollment": form(code)}])
    assert p.frame.select("enrollment", "enrollment__code").row(0) == (None, code)


# -- a whole state-year through a real server -------------------------------------------------
YEAR = 2015
EDFACTS_GROUPS = ("race", "sex", "lep", "homeless", "migrant", "disability",
                  "econ_disadvantaged", "foster_care", "military_connected")  # fmt: skip
GRAD_GROUPS = ("race", "lep", "homeless", "disability", "econ_disadvantaged", "foster_care")


def assessment(leaid: str, math: object, read: object, **groups: int) -> dict[str, Any]:
    row = {"leaid": leaid, "fips": 1, "year": YEAR, "grade_edfacts": 99}
    row |= {g: 99 for g in EDFACTS_GROUPS} | groups
    return row | {"math_test_pct_prof_midpt": math, "read_test_pct_prof_midpt": read}


def grad(leaid: str, rate: object, **groups: int) -> dict[str, Any]:
    row = {"leaid": leaid, "fips": 1, "year": YEAR} | {g: 99 for g in GRAD_GROUPS}
    return row | groups | {"grad_rate_midpt": rate}


def crdc(school: str, leaid: str | None, column: str, value: object, **groups: int):
    row = {"crdc_id": school, "ncessch": school, "leaid": leaid, "fips": 1, "year": YEAR}
    subgroups = {"race": 99, "sex": 99, "disability": 99, "lep": 99, "homeless": 99} | groups
    return row | subgroups | {column: value}


def school(ncessch: str, leaid: str, frl: object) -> dict[str, Any]:
    return {"ncessch": ncessch, "leaid": leaid, "fips": 1, "free_or_reduced_price_lunch": frl}


ABSENT, ENROLLED = "students_chronically_absent", "enrollment_crdc"
S11, S12, S13, S21 = "010000100011", "010000100012", "010000100013", "010000200021"
S31, S32 = "010000300031", "010000300032"

TABLES: dict[str, list[dict[str, Any]]] = {
    f"school-districts/ccd/directory/{YEAR}/": [
        {"leaid": "0100001", "fips": 1, "lea_name": "Alpha City", "enrollment": 1000,
         "spec_ed_students": 120, "english_language_learners": 50, "teachers_total_fte": 62.5,
         "urban_centric_locale": 12, "lowest_grade_offered": -1, "highest_grade_offered": 12},
        # 6-digit leaid, numbers as strings, codes -3 and -1
        {"leaid": "100002", "fips": 1, "lea_name": "Beta County", "enrollment": "400.000",
         "spec_ed_students": -3, "english_language_learners": -1, "teachers_total_fte": "29.000",
         "urban_centric_locale": 42, "lowest_grade_offered": 0, "highest_grade_offered": 8},
        # ELL above enrolment: implausible, kept as sent (the checks downstream flag it)
        {"leaid": "0100003", "fips": 1, "lea_name": "Gamma ISD", "enrollment": 300,
         "spec_ed_students": 40, "english_language_learners": 360, "teachers_total_fte": -2,
         "urban_centric_locale": -1, "lowest_grade_offered": 9, "highest_grade_offered": -3},
        {"leaid": None, "fips": 1, "lea_name": "No Id Academy", "enrollment": 50},
    ],
    f"school-districts/ccd/finance/{YEAR}/": [
        {"leaid": "0100001", "fips": 1, "exp_current_elsec_total": 12_500_000,
         "enrollment_fall_responsible": 1000},
        {"leaid": "0100002", "fips": 1, "exp_current_elsec_total": 5_000_000,
         "enrollment_fall_responsible": 0},
        {"leaid": "0100003", "fips": 1, "exp_current_elsec_total": -1,
         "enrollment_fall_responsible": 300},
        {"leaid": "0199999", "fips": 1, "exp_current_elsec_total": 1,
         "enrollment_fall_responsible": 1},
    ],
    f"school-districts/edfacts/assessments/{YEAR}/grade-99/": [
        assessment("0100001", 55.0, 61.5),
        assessment("0100001", 70.0, 75.0, race=1),
        assessment("0100002", -3, 47.0),
        assessment("0100003", 140.0, "72.5"),
        assessment("0100003", 10.0, 10.0, sex=2),
    ],
    f"school-districts/edfacts/grad-rates/{YEAR}/": [
        grad("0100001", 88),
        grad("0100001", 70, econ_disadvantaged=1),
        grad("0100003", -2),
    ],
    f"schools/crdc/chronic-absenteeism/{YEAR}/race/sex/": [
        crdc(S11, "0100001", ABSENT, 30),
        crdc(S11, "0100001", ABSENT, 16, sex=1),
        crdc(S11, "0100001", ABSENT, 5, homeless=1),  # no homeless filter: client drops it
        crdc(S12, "0100001", ABSENT, -2),
        crdc(S13, "0100001", ABSENT, 20),
        crdc(S21, "0100002", ABSENT, -3),
        # no leaid: its district is its CRDC enrolment row's
        crdc(S31, None, ABSENT, 12),
        # no fips: the state query leaves it out; it is asked for by crdc_id
        crdc(S32, "0100003", ABSENT, 9) | {"fips": None},
    ],
    f"schools/crdc/enrollment/{YEAR}/race/sex/": [
        crdc(S11, "0100001", ENROLLED, 300),
        crdc(S11, "0100001", ENROLLED, 160, sex=1),
        crdc(S12, "0100001", ENROLLED, 250),
        crdc(S13, "0100001", ENROLLED, "200.000"),
        crdc(S21, "100002", ENROLLED, 150),
        crdc(S31, "0100003", ENROLLED, 100),
        crdc(S32, "0100003", ENROLLED, 90),
    ],
    f"schools/ccd/directory/{YEAR}/": [
        school(S11, "0100001", 100),
        school(S12, "0100001", 150),
        school(S13, "0100001", None),
        school(S21, "100002", -1),
        school(S31, "0100003", 60),
        school("019999900001", "0199999", 5),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def derived() -> Iterator[tuple[RawDistrictYear, FakeApi]]:
    with FakeApi(page_size=2) as api:
        for path, rows in TABLES.items():
            api.add(path, rows)
        with EducationDataClient(api.base_url, pace_seconds=0, max_concurrency=3) as client:
            yield fetch_district_year(client, "AL", YEAR, source="api"), api


def test_history_has_the_contract_schema_and_one_row_per_directory_district(derived):
    raw, _ = derived
    assert raw.history.schema == pl.Schema(DISTRICT_DATA_HISTORY)
    assert raw.codes.schema == pl.Schema(DISTRICT_DATA_CODES)
    assert raw.history["leaid"].to_list() == ["0100001", "0100002", "0100003"]


def test_every_column_of_every_district_matches_the_hand_computation(derived):
    raw, _ = derived
    rows = {r["leaid"]: r for r in raw.history.iter_rows(named=True)}
    common = {"year": 2015, "state_code": "AL", "fips": 1, "source": "api"}
    assert rows["0100001"] == common | {
        "leaid": "0100001",
        "lea_name": "Alpha City",
        "enrollment": 1000,
        "spec_ed_students": 120,
        "ell_students": 50,
        "teachers_fte": 62.5,
        # schools S11 and S13 have both counts (S12's absentee count is -2):
        # (30 + 20) / (300 + 200) × 100 = 10.0; the sex=1 and homeless=1 rows are not totals
        "chronic_absenteeism_rate": 10.0,
        "graduation_rate": 88.0,  # the econ_disadvantaged=1 row (70) is a subgroup
        "math_proficiency": 55.0,  # not the race=1 row's 70
        "read_proficiency": 61.5,
        "expenditure_pp": 12_500.0,  # 12,500,000 / 1,000
        "frl_students": 250,  # 100 + 150 + NULL
        "urban_centric_locale": 12,
        "lowest_grade": -1,  # Pre-K
        "highest_grade": 12,
    }
    assert rows["0100002"] == common | {
        "leaid": "0100002",  # sent as "100002"
        "lea_name": "Beta County",
        "enrollment": 400,  # "400.000"
        "spec_ed_students": None,  # -3
        "ell_students": None,  # -1
        "teachers_fte": 29.0,  # "29.000"
        "chronic_absenteeism_rate": None,  # its only school: -3
        "graduation_rate": None,  # no row at all
        "math_proficiency": None,  # -3
        "read_proficiency": 47.0,
        "expenditure_pp": None,  # 5,000,000 / 0: no denominator
        "frl_students": None,  # its only school: -1
        "urban_centric_locale": 42,
        "lowest_grade": 0,
        "highest_grade": 8,
    }
    assert rows["0100003"] == common | {
        "leaid": "0100003",
        "lea_name": "Gamma ISD",
        "enrollment": 300,
        "spec_ed_students": 40,
        "ell_students": 360,  # more than enrolment: kept as sent
        "teachers_fte": None,  # -2
        # S31's absentee row has no leaid (taken from its enrolment row), S32's no fips (the
        # state query never sees it; the crdc_id query does): (12 + 9) / (100 + 90) × 100
        "chronic_absenteeism_rate": pytest.approx(2100 / 190),
        "graduation_rate": None,  # -2
        "math_proficiency": 140.0,  # impossible: kept as sent
        "read_proficiency": 72.5,  # "72.5"
        "expenditure_pp": None,  # numerator -1
        "frl_students": 60,
        "urban_centric_locale": None,  # -1
        "lowest_grade": 9,
        "highest_grade": None,  # -3
    }


def test_codes_say_which_missing_code_stood_behind_each_null(derived):
    raw, _ = derived
    got = sorted(raw.codes.select("leaid", "column_name", "code").rows())
    assert got == [
        ("0100002", "chronic_absenteeism_rate", -3),
        ("0100002", "ell_students", -1),
        ("0100002", "frl_students", -1),
        ("0100002", "math_proficiency", -3),
        ("0100002", "spec_ed_students", -3),
        ("0100003", "expenditure_pp", -1),
        ("0100003", "graduation_rate", -2),
        ("0100003", "highest_grade", -3),
        ("0100003", "teachers_fte", -2),
        ("0100003", "urban_centric_locale", -1),
    ]
    assert set(raw.codes["year"]) == {2015} and set(raw.codes["state_code"]) == {"AL"}


def test_unusable_rows_are_set_aside_with_reasons(derived):
    raw, _ = derived
    got = sorted(raw.set_aside.select("endpoint", "leaid", "reason").rows(), key=str)
    assert got == sorted(
        [
            ("district_directory", None, "no leaid"),
            ("finance", "0199999", "district not in the AL 2015 district directory"),
            ("school_directory", "0199999", "district not in the AL 2015 district directory"),
        ],
        key=str,
    )
    assert raw.stats["set_aside"] == 3


def test_every_page_was_fetched_with_the_state_and_subgroup_filters(derived):
    raw, api = derived
    # Directory: 4 rows at 2 per page → 2 pages; CRDC absenteeism after race=99&sex=99 on the
    # server: S11, S11 homeless, S12, S13, S21, S31 = 6 rows → 3 pages, then S32 by crdc_id.
    assert raw.stats["pages.district_directory"] == 2
    assert raw.stats["pages.crdc_absenteeism"] == 4
    assert raw.stats["rows.crdc_absenteeism"] == 7
    assert raw.stats["subgroup_rows.crdc_absenteeism"] == 1  # the homeless=1 row
    assert raw.stats["crdc_recovery.attributed_rows"] == 1  # S31
    assert raw.stats["crdc_recovery.recovered_rows"] == 1  # S32
    pages = [r.params for r in api.requests_for("chronic-absenteeism")]
    assert [p.get("page") for p in pages] == [None, "2", "3", None]
    assert all(
        p["fips"] == "1" and p["race"] == "99" and p["sex"] == "99" and p["lep"] == "99"
        for p in pages[:3]
    )
    # the enrolled school the state query did not return, asked for by id, without fips
    assert "fips" not in pages[3] and pages[3]["crdc_id"] == S32
    # only the columns the derivations read that the endpoint has are asked for
    assert pages[0]["fields"] == (
        "leaid,fips,race,sex,disability,lep,homeless,crdc_id,ncessch,students_chronically_absent"
    )
    # assessments: every subgroup filter the endpoint honours is sent
    first = api.requests_for("assessments")[0].params
    assert {k: first[k] for k in ("race", "sex", "migrant", "military_connected")} == {
        "race": "99",
        "sex": "99",
        "migrant": "99",
        "military_connected": "99",
    }


def test_uncovered_endpoints_are_not_asked():
    with FakeApi(page_size=50) as api:
        api.add(
            "school-districts/ccd/directory/2021/",
            TABLES[f"school-districts/ccd/directory/{YEAR}/"],
        )
        api.add("schools/ccd/directory/2021/", [])
        api.add("schools/crdc/chronic-absenteeism/2021/race/sex/", [])
        api.add("schools/crdc/enrollment/2021/race/sex/", [])
        with EducationDataClient(api.base_url, pace_seconds=0) as client:
            raw = fetch_district_year(client, "AL", 2021, source="api")
        asked = sorted({r.path.split("/2021")[0] for r in api.requests})
    # 2021: no finance (to 2020), no assessments (2020), no grad rates (to 2019)
    assert asked == [
        "school-districts/ccd/directory",
        "schools/ccd/directory",
        "schools/crdc/chronic-absenteeism",
        "schools/crdc/enrollment",
    ]
    assert raw.history["expenditure_pp"].null_count() == 3
    assert raw.codes.filter(pl.col("column_name") == "expenditure_pp").height == 0


def test_unknown_state_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown state code 'XX'"):
        fetch_district_year(EducationDataClient("http://127.0.0.1:9"), "XX", 2015, source="api")
