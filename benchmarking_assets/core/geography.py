"""States, FIPS codes and census regions: the fixed reference data every layer shares."""

from __future__ import annotations

from typing import NamedTuple


class State(NamedTuple):
    code: str
    fips: int
    name: str
    region: str  # census region: Northeast, Midwest, South, West


STATES: tuple[State, ...] = (
    State("AL", 1, "Alabama", "South"),
    State("AK", 2, "Alaska", "West"),
    State("AZ", 4, "Arizona", "West"),
    State("AR", 5, "Arkansas", "South"),
    State("CA", 6, "California", "West"),
    State("CO", 8, "Colorado", "West"),
    State("CT", 9, "Connecticut", "Northeast"),
    State("DE", 10, "Delaware", "South"),
    State("DC", 11, "District of Columbia", "South"),
    State("FL", 12, "Florida", "South"),
    State("GA", 13, "Georgia", "South"),
    State("HI", 15, "Hawaii", "West"),
    State("ID", 16, "Idaho", "West"),
    State("IL", 17, "Illinois", "Midwest"),
    State("IN", 18, "Indiana", "Midwest"),
    State("IA", 19, "Iowa", "Midwest"),
    State("KS", 20, "Kansas", "Midwest"),
    State("KY", 21, "Kentucky", "South"),
    State("LA", 22, "Louisiana", "South"),
    State("ME", 23, "Maine", "Northeast"),
    State("MD", 24, "Maryland", "South"),
    State("MA", 25, "Massachusetts", "Northeast"),
    State("MI", 26, "Michigan", "Midwest"),
    State("MN", 27, "Minnesota", "Midwest"),
    State("MS", 28, "Mississippi", "South"),
    State("MO", 29, "Missouri", "Midwest"),
    State("MT", 30, "Montana", "West"),
    State("NE", 31, "Nebraska", "Midwest"),
    State("NV", 32, "Nevada", "West"),
    State("NH", 33, "New Hampshire", "Northeast"),
    State("NJ", 34, "New Jersey", "Northeast"),
    State("NM", 35, "New Mexico", "West"),
    State("NY", 36, "New York", "Northeast"),
    State("NC", 37, "North Carolina", "South"),
    State("ND", 38, "North Dakota", "Midwest"),
    State("OH", 39, "Ohio", "Midwest"),
    State("OK", 40, "Oklahoma", "South"),
    State("OR", 41, "Oregon", "West"),
    State("PA", 42, "Pennsylvania", "Northeast"),
    State("RI", 44, "Rhode Island", "Northeast"),
    State("SC", 45, "South Carolina", "South"),
    State("SD", 46, "South Dakota", "Midwest"),
    State("TN", 47, "Tennessee", "South"),
    State("TX", 48, "Texas", "South"),
    State("UT", 49, "Utah", "West"),
    State("VT", 50, "Vermont", "Northeast"),
    State("VA", 51, "Virginia", "South"),
    State("WA", 53, "Washington", "West"),
    State("WV", 54, "West Virginia", "South"),
    State("WI", 55, "Wisconsin", "Midwest"),
    State("WY", 56, "Wyoming", "West"),
)

STATE_CODES: tuple[str, ...] = tuple(s.code for s in STATES)
STATE_BY_CODE: dict[str, State] = {s.code: s for s in STATES}
STATE_BY_FIPS: dict[int, State] = {s.fips: s for s in STATES}

FIRST_YEAR = 2010
