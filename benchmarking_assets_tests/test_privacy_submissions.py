"""Each bad submission gets its own clear error, names file, line and value, and keeps the
valid rows."""

from __future__ import annotations

import json

import pytest

from benchmarking_assets.core.submissions import Registry, parse_bytes

REGISTRY = Registry(
    districts=frozenset({"0100001", "0100002", "0600001"}),
    shares={"0100001": frozenset({"engagement", "ai_tutor"}), "0600001": frozenset({"academic"})},
    last_year=2024,
)
HEADER = "leaid,year,category,metric,value\n"
GOOD = "0100001,2021,engagement,avg_session_minutes,31.5\n"


def parse(body: str, name: str = "s.csv") -> tuple[list[tuple], list[tuple]]:
    parsed = parse_bytes(name, body.encode(), REGISTRY)
    return parsed.accepted.rows(), parsed.rejected.select("line", "error", "reason").rows()


def test_valid_file_is_accepted_with_padding_and_bounds_inclusive() -> None:
    accepted, rejected = parse(
        HEADER + GOOD + "100001,2021,ai_tutor,learning_gain_pts,-50\n"
        "0600001,2020,ACADEMIC,growth_percentile,100\n"
    )
    assert rejected == []
    assert accepted == [
        ("0100001", 2021, "engagement", "avg_session_minutes", 31.5, 2),
        ("0100001", 2021, "ai_tutor", "learning_gain_pts", -50.0, 3),
        ("0600001", 2020, "academic", "growth_percentile", 100.0, 4),
    ]


@pytest.mark.parametrize(
    ("line", "error", "fragment"),
    [
        ("0100001,2021,engagement,avg_session_minutes,abc", "non_numeric", "value 'abc'"),
        ("0100001,2021,engagement,avg_session_minutes,nan", "non_numeric", "not a finite"),
        ("0100001,2021,engagement,avg_session_minutes,", "value", "is empty"),
        ("0100001,2021,engagement,avg_session_minutes,241", "out_of_bounds", "[0, 240] minutes"),
        ("0100001,2021,engagement,no_such_metric,5", "unknown_metric", "'no_such_metric'"),
        ("0100001,2021,ai_tutor,avg_session_minutes,5", "category", "belongs to category"),
        ("0999999,2021,engagement,avg_session_minutes,5", "unknown_district", "0999999"),
        ("0100002,2021,engagement,avg_session_minutes,5", "not_participant", "0100002"),
        ("0100001,2021,operational,teacher_adoption_pct,5", "category_not_shared", "operational"),
        ("01x0001,2021,engagement,avg_session_minutes,5", "leaid", "'01x0001'"),
        ("0100001,20x1,engagement,avg_session_minutes,5", "year", "'20x1'"),
        ("0100001,2009,engagement,avg_session_minutes,5", "year", "2009"),
        ("0100001,2021,engagement,avg_session_minutes,5,extra", "columns", "found 6"),
        ("0100001,2021,engagement,avg_session_minutes,99", "duplicate", "duplicate of line 2"),
    ],
)
def test_each_bad_row_has_its_own_error_and_the_good_row_is_kept(
    line: str, error: str, fragment: str
) -> None:
    accepted, rejected = parse(HEADER + GOOD + line + "\n")
    assert [r[-1] for r in accepted] == [2]  # the valid row survives
    assert len(rejected) == 1
    got_line, got_error, reason = rejected[0]
    assert (got_line, got_error) == (3, error)
    assert reason.startswith("s.csv line 3: ")
    assert fragment in reason


@pytest.mark.parametrize(
    ("body", "error", "fragment"),
    [
        (b"", "empty", "the file is empty"),
        (HEADER.encode(), "empty", "no rows"),
        (b"leaid,year,category,metric,val\n" + GOOD.encode(), "columns", "unexpected: val"),
        (HEADER.encode() + "0100001,2021,engagement,caf\xe9,1\n".encode("latin-1"), "encoding",
         "byte 0xe9"),
    ],
)  # fmt: skip
def test_whole_file_errors(body: bytes, error: str, fragment: str) -> None:
    parsed = parse_bytes("bad.csv", body, REGISTRY)
    assert parsed.file_error == error
    assert parsed.accepted.height == 0
    assert parsed.rejected["line"].to_list() == [0]
    assert fragment in parsed.rejected["reason"][0]
    assert parsed.reasons_text.startswith("bad.csv: ")


def test_json_records_and_errors() -> None:
    body = json.dumps(
        {
            "submissions": [
                {"leaid": "0100001", "year": 2021, "category": "ai_tutor",
                 "metric": "mastery_rate_pct", "value": 64.5},
                {"leaid": "0100001", "year": 2021, "category": "ai_tutor",
                 "metric": "mastery_rate_pct", "value": "x"},
                {"leaid": "0100001", "year": 2021, "metric": "mastery_rate_pct", "value": 1},
            ]
        }
    )  # fmt: skip
    accepted, rejected = parse(body, "s.json")
    assert [r[:5] for r in accepted] == [("0100001", 2021, "ai_tutor", "mastery_rate_pct", 64.5)]
    assert [(r[0], r[1]) for r in rejected] == [(2, "non_numeric"), (3, "columns")]
    assert "missing: category" in rejected[1][2]
    parsed = parse_bytes("t.json", b"[{", REGISTRY)
    assert parsed.file_error == "json" and "malformed JSON at line 1" in parsed.reasons_text


def test_same_bytes_same_hash() -> None:
    a = parse_bytes("a.csv", (HEADER + GOOD).encode(), REGISTRY)
    b = parse_bytes("renamed.csv", (HEADER + GOOD).encode(), REGISTRY)
    assert a.sha256 == b.sha256
