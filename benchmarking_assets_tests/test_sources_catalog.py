"""Reading the API's catalog (pure): ``years_available`` strings, endpoint URLs, varlists."""

from __future__ import annotations

import pytest

from benchmarking_assets.sources.catalog import (
    coverage_from_metadata,
    parse_years_available,
    url_shape,
)
from benchmarking_assets.sources.client import EducationDataResponseError
from benchmarking_assets.sources.coverage import SHIPPED, years_text
from benchmarking_assets.sources.district_year import fields_param
from benchmarking_assets_tests.real_shapes import CATALOG, VARLIST

URL = "http://api.test/api/v1/api-endpoints/"


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("1986&ndash;1988", {1986, 1987, 1988}),
        ("2013, 2015", {2013, 2015}),
        ("1991, 1994&ndash;1996", {1991, 1994, 1995, 1996}),
        ("2009&ndash;2010, 2020", {2009, 2010, 2020}),
        ("1991, 1993, 1995, 1997, and 1999&ndash;2000", {1991, 1993, 1995, 1997, 1999, 2000}),
        ("2011 – 2012", {2011, 2012}),  # a real en dash, spaced
    ],
)
def test_years_available_strings_of_the_real_catalog_parse(text: str, years: set[int]):
    assert parse_years_available(text) == years


@pytest.mark.parametrize("text", ["", None, "2013, soon", "2015&ndash;2013", "13&ndash;15", 2013])
def test_a_years_available_string_that_cannot_be_read_is_an_error_quoting_it(text: object):
    with pytest.raises(ValueError, match="years_available"):
        parse_years_available(text)


def test_endpoint_urls_match_with_or_without_prefix_slash_and_grade_placeholder():
    shipped = url_shape("school-districts/edfacts/assessments/{year}/grade-99/")
    real = url_shape("/api/v1/school-districts/edfacts/assessments/{year}/{grade_edfacts}/")
    assert shipped == real
    assert url_shape("/api/v1/school-districts/edfacts/grad-rates/{year}") == url_shape(
        "school-districts/edfacts/grad-rates/{year}/"
    )


def test_coverage_from_the_metadata_rows():
    varlists = {
        key: [r for r in VARLIST if r["endpoint_id"] == str(number)]
        for key, number in (
            ("district_directory", 54), ("finance", 29), ("assessments", 80),
            ("grad_rates", 101), ("crdc_absenteeism", 37), ("crdc_enrollment", 60),
            ("school_directory", 24),
        )
    }  # fmt: skip
    coverage = coverage_from_metadata(CATALOG, varlists, catalog_url=URL)
    assert years_text(coverage["finance"].years) == "1991, 1994–2020"
    assert years_text(coverage["crdc_absenteeism"].years) == "2013, 2015, 2017, 2020–2022"
    assert coverage["grad_rates"].path(2015) == "school-districts/edfacts/grad-rates/2015/"
    # fields= asks the CRDC endpoints for no homeless (their varlist lacks it); the shipped
    # table asks chronic absenteeism for it
    assert "homeless" not in fields_param(coverage["crdc_absenteeism"]).split(",")
    assert "homeless" in fields_param(SHIPPED["crdc_absenteeism"]).split(",")
    assert "homeless" not in fields_param(SHIPPED["crdc_enrollment"]).split(",")
    assert coverage["crdc_absenteeism"].total_filters() == {
        "race": 99, "sex": 99, "disability": 99, "lep": 99
    }  # fmt: skip

    without = [r for r in CATALOG if r["endpoint_id"] != 60]
    with pytest.raises(EducationDataResponseError, match="schools/crdc/enrollment") as err:
        coverage_from_metadata(without, varlists, catalog_url=URL)
    assert err.value.url == URL
    with pytest.raises(EducationDataResponseError, match="lists no variables for finance"):
        coverage_from_metadata(CATALOG, varlists | {"finance": []}, catalog_url=URL)
    garbled = [dict(r, years_available="soon") if r["endpoint_id"] == 29 else r for r in CATALOG]
    with pytest.raises(EducationDataResponseError, match=r"record 29 \(finance\)"):
        coverage_from_metadata(garbled, varlists, catalog_url=URL)
