"""The offline sample: a deterministic national data set, served as Education Data API pages.

Why a transport and not a table: ``EducationDataClient(base_url=SAMPLE_BASE_URL,
transport=SampleTransport())`` sends real HTTP requests through httpx, so the offline default
exercises the same pagination, parsing and derivation code as the real API.

What it mimics (``shared/research/urban_api.md``):
* every state and DC, ``SAMPLE_YEARS`` 2010–2021, ~19,000 districts (HI exactly 1, CA and TX
  ~1,000), ~45,000 schools; skewed enrolments (many small rural districts, a few huge city ones);
  stable ``leaid`` (2-digit fips + 5 digits) with year-to-year drift, openings and closures;
* the API's coverage (finance to 2020, assessments 2010–2018 and 2020, grad rates 2010–2019,
  CRDC 2013/2015/2017/2020/2021), a 500 for any other year, a 404 for an unknown path;
* the envelope ``{count, next, previous, results}``, 10,000-row pages, ``next`` as a full URL
  with the filters, and only the filters each endpoint honours (others silently ignored);
* -1 / -2 / -3 codes, FRL null for whole state-years, CRDC chronic-absenteeism rows without
  leaid/fips (2013), which a ``fips=`` query never returns (they are found by ``crdc_id``),
  6-digit leaids (CRDC chronic absenteeism, as in the real 2013 pages, and the 2014 school
  directory, for fips < 10; CRDC enrolment keeps 7 digits), subgroup rows
  beside the total rows (CRDC ``homeless`` rows in 2020+ pass the server filters), numbers sent
  as strings (CRDC ``enrollment_crdc`` as "412.000" in 2020+: a sample-only assumption), finance
  rows of districts closed the year before, and a handful of impossible values (ELL above
  enrolment, proficiency 140) for the downstream checks to find.

Determinism: every random draw comes from ``random.Random`` seeded by a string naming the state
(and year and table), so output is identical on every run and machine, whatever order the pages
are requested in. No numpy: per-row noise is drawn as Python lists, the arithmetic is Polars.
"""

from __future__ import annotations

import functools
import json
import math
import random
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import polars as pl

from benchmarking_assets.core.geography import STATE_BY_CODE, STATES
from benchmarking_assets.sources.client import EducationDataClient
from benchmarking_assets.sources.coverage import ENDPOINTS, Endpoint, endpoint_for_path

SAMPLE_YEARS: tuple[int, ...] = tuple(range(2010, 2022))
SAMPLE_BASE_URL = "http://sample.invalid/api/v1"
PAGE_SIZE = 10_000
_SEED = "benchmarking-assets-sample-v1"

# Districts per state: roughly proportional to NCES LEA counts (charters included), ~19,000.
LEA_COUNTS: dict[str, int] = {
    "AL": 197, "AK": 59, "AZ": 712, "AR": 318, "CA": 1030, "CO": 285, "CT": 219, "DE": 49,
    "DC": 72, "FL": 76, "GA": 252, "HI": 1, "ID": 197, "IL": 1095, "IN": 460, "IA": 372,
    "KS": 339, "KY": 192, "LA": 219, "ME": 285, "MD": 25, "MA": 449, "MI": 975, "MN": 613,
    "MS": 170, "MO": 624, "MT": 449, "NE": 274, "NV": 20, "NH": 318, "NJ": 756, "NM": 170,
    "NY": 1095, "NC": 361, "ND": 203, "OH": 1183, "OK": 646, "OR": 230, "PA": 865, "RI": 71,
    "SC": 104, "SD": 170, "TN": 164, "TX": 1020, "UT": 175, "VT": 328, "VA": 148, "WA": 361,
    "WV": 62, "WI": 504, "WY": 55,
}  # fmt: skip
# Public-school enrolment per state, thousands (2010s, rounded).
ENROLLMENT_K: dict[str, int] = {
    "AL": 745, "AK": 130, "AZ": 1140, "AR": 495, "CA": 6160, "CO": 910, "CT": 530, "DE": 140,
    "DC": 90, "FL": 2850, "GA": 1770, "HI": 180, "ID": 310, "IL": 1960, "IN": 1050, "IA": 510,
    "KS": 500, "KY": 690, "LA": 710, "ME": 180, "MD": 900, "MA": 950, "MI": 1480, "MN": 890,
    "MS": 470, "MO": 910, "MT": 150, "NE": 330, "NV": 500, "NH": 180, "NJ": 1400, "NM": 330,
    "NY": 2650, "NC": 1550, "ND": 115, "OH": 1700, "OK": 700, "OR": 580, "PA": 1720, "RI": 145,
    "SC": 780, "SD": 140, "TN": 1010, "TX": 5480, "UT": 670, "VT": 85, "VA": 1290, "WA": 1130,
    "WV": 265, "WI": 860, "WY": 95,
}  # fmt: skip
ELL_SHARE: dict[str, float] = {
    "CA": 0.19, "TX": 0.18, "NM": 0.15, "NV": 0.15, "DC": 0.12,
    "CO": 0.11, "WA": 0.11, "IL": 0.11, "FL": 0.10, "AK": 0.11,
}  # fmt: skip
# States whose school FRL counts stop in the sample (community eligibility), from this year on.
FRL_STOPS: dict[str, int] = {"DC": 2016, "DE": 2017, "MA": 2015, "TN": 2017}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_NAMES = _words(
    "Oak Maple Cedar Pine River Lake Hill Valley Spring Fair Green Clear Rock Stone Willow Elm "
    "Ash Birch Bear Eagle Fox Hawk Deer Mill Bridge Port Glen Brook Union Liberty Franklin "
    "Jefferson Madison Lincoln Washington Jackson Clay Marion Greene Warren Monroe Wayne"
)
_SUFFIXES = (
    "School District", "Public Schools", "Unified School District", "County Schools",
    "Community Schools", "Independent School District", "City Schools", "Academy",
)  # fmt: skip


def _rng(*parts: object) -> random.Random:
    return random.Random(":".join(map(str, (_SEED, *parts))))


# -- the stable roster -------------------------------------------------------------------------
@functools.cache
def roster(state_code: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(districts, schools) of one state: identities and base traits, drawn once and cached."""
    fips = STATE_BY_CODE[state_code].fips
    rng = _rng("roster", state_code)
    n = LEA_COUNTS[state_code]
    mean = ENROLLMENT_K[state_code] * 1000 / n
    sigma = 0.0 if n == 1 else (0.9 if n < 100 else 1.25)
    mu = math.log(mean) - sigma**2 / 2
    spend = rng.uniform(9_500, 19_000)
    math_c, read_shift = rng.uniform(30, 60), rng.uniform(-3, 8)
    frl_c, ptr_c = rng.uniform(0.3, 0.6), rng.uniform(13, 21)
    ell_c = ELL_SHARE.get(state_code, rng.uniform(0.02, 0.08))
    numbers = [30] if n == 1 else sorted(rng.sample(range(100, 99_999), n))
    d: dict[str, list[Any]] = {k: [] for k in _DISTRICT_COLUMNS}
    s: dict[str, list[Any]] = {k: [] for k in ("ncessch", "leaid", "weight", "level", "tilt")}
    city = rng.randrange(n)
    for i, num in enumerate(numbers):
        enr = max(15.0, rng.lognormvariate(mu, sigma))
        if n >= 150 and i == city:
            enr = mean * rng.uniform(40, 100)
        frl = min(0.95, max(0.03, rng.gauss(frl_c, 0.15)))
        span = rng.random()
        low, high = (-1, 12) if span < 0.55 else (0, 12) if span < 0.82 else (0, 8)
        if span >= 0.95:
            low, high = (9, 12) if span < 0.98 else (-1, 5)
        if n == 1 or i == city:  # a state-wide or big-city district teaches every grade
            low, high = -1, 12
        leaid = f"{fips:02d}{num:05d}"
        first = rng.randint(2011, 2021) if rng.random() < 0.015 else 2010
        last = rng.randint(2010, 2020) if first == 2010 and rng.random() < 0.015 else 2099
        values = {
            "leaid": leaid,
            "lea_name": f"{rng.choice(_NAMES)} {rng.choice(_NAMES)} {rng.choice(_SUFFIXES)}",
            "locale": _locale(rng, enr),
            "base_enr": enr,
            "growth": rng.uniform(-0.02, 0.025),
            "swd": rng.uniform(0.08, 0.20),
            "ell": min(0.4, ell_c * rng.lognormvariate(0, 0.6)),
            "ptr": ptr_c * rng.uniform(0.8, 1.2),
            "spend": spend * rng.uniform(0.85, 1.3) * (1.1 if enr < 500 else 1.0),
            "math": math_c + 30 * (0.5 - frl) + rng.gauss(0, 6),
            "read": math_c + read_shift + 30 * (0.5 - frl) + rng.gauss(0, 6),
            "grad": 94 - 18 * frl + rng.gauss(0, 3),
            "absent": 6 + 22 * frl + rng.gauss(0, 3),
            "frl": frl,
            "low": low,
            "high": high,
            "first": first,
            "last": last,
        }
        for k, v in values.items():
            d[k].append(v)
        k_schools = min(40, max(1, round(enr / 1300 * rng.uniform(0.7, 1.3))))
        for j in range(k_schools):
            s["ncessch"].append(f"{leaid}{(j + 1) * 7 + rng.randrange(7):05d}")
            s["leaid"].append(leaid)
            s["weight"].append(rng.uniform(0.5, 1.5))
            s["level"].append(1 if j < 0.6 * k_schools or high <= 8 else 3 if low >= 9 else 2)
            s["tilt"].append(rng.uniform(0.8, 1.2))
    d["fips"] = [fips] * n
    s["fips"] = [fips] * len(s["leaid"])
    return pl.DataFrame(d), pl.DataFrame(s)


@functools.cache
def national_roster() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every state's roster, in ``STATES`` order (each still drawn from its own seed)."""
    parts = [roster(s.code) for s in STATES]
    return pl.concat([d for d, _ in parts]), pl.concat([s for _, s in parts])


def _noise_columns(tag: str, year: int, names: Sequence[str], level: str) -> dict[str, pl.Series]:
    """Uniform noise per roster row (level "district" or "school"), drawn per state from a seed
    naming the table, state and year: a state's values never depend on the other states."""
    columns: dict[str, list[float]] = {name: [] for name in names}
    for state in STATES:
        districts, schools = roster(state.code)
        n = districts.height if level == "district" else schools.height
        rng = _rng(tag, state.code, year)
        for name in names:
            columns[name] += [rng.random() for _ in range(n)]
    return {name: pl.Series(name, values, dtype=pl.Float64) for name, values in columns.items()}


def _per_state(tag: str, year: int, chance: float, level: str = "district") -> list[str]:
    """One roster id per state, for the states where a rare quirk strikes this year."""
    picked = []
    for state in STATES:
        districts, schools = roster(state.code)
        ids = districts["leaid"] if level == "district" else schools["ncessch"]
        rng = _rng(tag, "pick", state.code, year)
        if rng.random() < chance:
            picked.append(ids[rng.randrange(len(ids))])
    return picked


_DISTRICT_COLUMNS = _words(
    "leaid lea_name locale base_enr growth swd ell ptr spend math read grad absent frl low high "
    "first last"
)


def _locale(rng: random.Random, enrollment: float) -> int:
    if enrollment > 50_000:
        return rng.choice((11, 11, 12, 21))
    if enrollment > 10_000:
        return rng.choice((12, 13, 21, 21, 22))
    if enrollment > 2_500:
        return rng.choice((13, 21, 22, 23, 31, 32))
    return rng.choice((31, 32, 33, 41, 41, 42, 42, 43))


# -- one year, all states ----------------------------------------------------------------------
# Tables are built for the whole nation per year and split by state when served: a state-year
# is small, and Polars' fixed cost per query, paid once per year instead of 51 times, is what
# makes the national sample quick to serve.
@functools.lru_cache(maxsize=4)
def year_tables(year: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(districts, schools) open in ``year`` with this year's values, before any API quirk."""
    districts, schools = national_roster()
    t = year - 2010
    shifts = []
    for state in STATES:
        rng = _rng("shift", state.code, year)
        shifts.append(rng.uniform(-3, 3) - (6 if year >= 2015 and rng.random() < 0.5 else 0))
    shift = pl.DataFrame({"fips": [s.fips for s in STATES], "shift": shifts})
    noise = _noise_columns("year", year, [f"u{i}" for i in range(8)], "district")
    enr = (pl.col("base_enr") * (1 + pl.col("growth")) ** t * (0.98 + 0.04 * pl.col("u0"))).round()
    ptr_noise = 0.97 + 0.06 * pl.col("u3")
    d = (
        districts.lazy()
        .with_columns(**noise)
        .filter((pl.col("first") <= year) & (pl.col("last") >= year))
        .join(shift.lazy(), on="fips", how="left")
        .with_columns(enrollment=enr.cast(pl.Int64))
        .with_columns(
            spec_ed=(pl.col("enrollment") * (pl.col("swd") + 0.01 * (pl.col("u1") - 0.5))).round(),
            ell_n=(pl.col("enrollment") * (pl.col("ell") * (0.9 + 0.2 * pl.col("u2")))).round(),
            teachers=(pl.col("enrollment") / (pl.col("ptr") * ptr_noise)).round(1),
            spend_y=pl.col("spend") * 1.03**t * (0.96 + 0.08 * pl.col("u4")),
            math_y=(pl.col("math") + pl.col("shift") + 6 * (pl.col("u5") - 0.5)).clip(2, 98),
            read_y=(pl.col("read") + pl.col("shift") + 6 * (pl.col("u6") - 0.5)).clip(2, 98),
            grad_y=(pl.col("grad") + 0.4 * t + 4 * (pl.col("u7") - 0.5)).clip(45, 99),
            absent_y=(pl.col("absent") * (1.35 if year >= 2020 else 1.0)).clip(1, 60),
        )
        .collect(engine="in-memory")
    )
    share = pl.col("weight") / pl.col("weight").sum().over("leaid")
    absent = pl.col("crdc_enr") * pl.col("absent_y") / 100 * pl.col("tilt")
    s = (
        schools.lazy()
        .with_columns(**_noise_columns("year-schools", year, ["u0", "u1"], "school"))
        .join(d.lazy().select("leaid", "enrollment", "frl", "absent_y", "low", "high"), on="leaid")
        .with_columns(school_enr=(pl.col("enrollment") * share).round().cast(pl.Int64))
        .with_columns(
            frl_n=(pl.col("school_enr") * (pl.col("frl") * pl.col("tilt")).clip(0, 1)).round(),
            crdc_enr=(pl.col("school_enr") * (0.98 + 0.04 * pl.col("u0"))).round(),
        )
        .with_columns(
            absent_n=(absent * (0.9 + 0.2 * pl.col("u1"))).round().clip(0, pl.col("crdc_enr"))
        )
        .collect(engine="in-memory")
    )
    return d, s


def _with_noise(
    frame: pl.DataFrame, key: str, year: int, tag: str, names: Sequence[str]
) -> pl.LazyFrame:
    """``frame`` (a year table) with roster-level noise for table ``tag`` joined on ``key``."""
    districts, schools = national_roster()
    level, ids = (
        ("district", districts["leaid"]) if key == "leaid" else ("school", schools["ncessch"])
    )
    noise = pl.DataFrame([ids, *_noise_columns(tag, year, names, level).values()])
    return frame.lazy().join(noise.lazy(), on=key, how="left")


def _coded(value: pl.Expr, u: pl.Expr, missing: float, na: float, suppressed: float) -> pl.Expr:
    """Replace a share of values by -1 (missing), -2 (not applicable) or -3 (suppressed)."""
    return (
        pl.when(u < missing)
        .then(-1)
        .when(u < missing + na)
        .then(-2)
        .when(u < missing + na + suppressed)
        .then(-3)
        .otherwise(value)
    )


def _code(u: pl.Expr, missing: float, na: float, suppressed: float) -> pl.Expr:
    """A -1/-2/-3 code for a share of rows (NULL elsewhere), to apply to several columns."""
    return _coded(pl.lit(None, pl.Int64), u, missing, na, suppressed)


def _band(lf: pl.LazyFrame, value: str, n: str, prefix: str) -> pl.LazyFrame:
    """EDFacts range reporting: exact above 300 students, else 5/10/20/50-point bands.

    Adds ``{prefix}_low`` and ``{prefix}_high`` in small steps (big nested expressions make
    Polars' planner, not the data, the cost)."""
    width = (
        pl.when(pl.col(n) > 300)
        .then(1)
        .when(pl.col(n) > 100)
        .then(5)
        .when(pl.col(n) > 40)
        .then(10)
        .when(pl.col(n) > 15)
        .then(20)
        .otherwise(50)
    )
    low = (pl.col(value) / pl.col("_w")).floor() * pl.col("_w")
    high = (pl.col(f"{prefix}_low") + pl.col("_w") - 1).clip(upper_bound=100)
    return (
        lf.with_columns(_w=width)
        .with_columns(low.cast(pl.Int64).alias(f"{prefix}_low"))
        .with_columns(high.cast(pl.Int64).alias(f"{prefix}_high"))
        .drop("_w")
    )


# -- API rows per endpoint (whole nation, one year; "__fips" says whose row it is) ------------
def _district_directory(year: int) -> pl.DataFrame:
    d, s = year_tables(year)
    bad_ell = _per_state("ell>enrollment", year, 0.2)
    counts = s.lazy().group_by("leaid").agg(pl.len().alias("n_schools"))
    lf = _with_noise(d, "leaid", year, "district_directory", [f"c{i}" for i in range(6)])
    lf = lf.join(counts, on="leaid", how="left")
    empty = pl.col("c2").is_between(0.002, 0.004)  # a district reporting no students
    enr = pl.when(empty).then(0).otherwise(pl.col("enrollment"))
    spec_ed = pl.when(empty).then(0).otherwise(pl.col("spec_ed"))
    teachers = pl.when(empty).then(0.0).otherwise(pl.col("teachers"))
    ell = (
        pl.when(pl.col("leaid").is_in(bad_ell))
        .then((pl.col("enrollment") * 1.25).round())
        .when(empty)
        .then(0)
        .otherwise("ell_n")
    )
    codes = {s.fips: s.code for s in STATES}
    return lf.select(
        __fips="fips",
        year=pl.lit(year),
        leaid="leaid",
        state_leaid=pl.format(
            "{}-{}", pl.col("fips").replace_strict(codes), pl.col("leaid").str.slice(2)
        ),
        lea_name="lea_name",
        fips="fips",
        agency_type=pl.when(pl.col("base_enr") < 400).then(7).otherwise(1),
        urban_centric_locale=_coded(pl.col("locale"), pl.col("c0"), 0.002, 0, 0),
        lowest_grade_offered="low",
        highest_grade_offered=_coded(pl.col("high"), pl.col("c1"), 0, 0.002, 0),
        number_of_schools=pl.col("n_schools").fill_null(0),
        enrollment=_coded(enr, pl.col("c2"), 0.002, 0, 0),
        spec_ed_students=_coded(spec_ed.cast(pl.Int64), pl.col("c3"), 0.004, 0.002, 0.01),
        english_language_learners=_coded(ell.cast(pl.Int64), pl.col("c4"), 0.01, 0.004, 0.01),
        teachers_total_fte=_coded(teachers, pl.col("c5"), 0.005, 0, 0),
    ).collect(engine="in-memory")


def _finance(year: int) -> pl.DataFrame:
    d, _ = year_tables(year)
    districts, _ = national_roster()
    # Districts open this year, plus those closed last year that still file (late F-33s).
    rows = (
        districts.lazy()
        .with_columns(**_noise_columns("finance", year, ["c0", "c1", "c2"], "district"))
        .filter((pl.col("first") <= year) & (pl.col("last") >= year - 1))
        .filter(pl.col("c2") > 0.02)  # some districts file no F-33 that year
        .join(d.lazy().select("leaid", "enrollment", "spend_y"), on="leaid", how="left")
        .with_columns(
            enrollment=pl.coalesce(pl.col("enrollment"), pl.col("base_enr").round()),
            spend_y=pl.coalesce("spend_y", pl.col("spend") * 1.03 ** (year - 2010)),
        )
    )
    resp = (pl.col("enrollment") * (0.97 + 0.06 * pl.col("c0"))).round().cast(pl.Int64)
    resp = pl.when(pl.col("c1").is_between(0.99, 0.993)).then(0).otherwise(resp)
    rows = rows.with_columns(resp=resp).with_columns(
        exp=(pl.col("spend_y") * pl.col("resp")).round().cast(pl.Int64),
        code=_code(pl.col("c1"), 0.008, 0.002, 0),
    )
    return rows.select(
        __fips="fips",
        year=pl.lit(year),
        leaid="leaid",
        censusid=pl.format("{}5{}", pl.col("leaid").str.slice(0, 2), pl.col("leaid").str.slice(2)),
        fips="fips",
        enrollment_fall_responsible=_coded(pl.col("resp"), pl.col("c2"), 0.024, 0.003, 0),
        exp_current_elsec_total=pl.coalesce("code", "exp"),
        exp_total=pl.coalesce(pl.col("code"), (pl.col("exp") * 1.12).round().cast(pl.Int64)),
        rev_total=(pl.col("exp") * 1.1).round().cast(pl.Int64),
    ).collect(engine="in-memory")


_EDFACTS_SUBGROUPS = ("lep", "homeless", "migrant", "disability", "econ_disadvantaged",
                      "foster_care", "military_connected")  # fmt: skip


def _assessments(year: int) -> pl.DataFrame:
    d, _ = year_tables(year)
    too_high = _per_state("proficiency>100", year, 0.08)
    lf = (
        _with_noise(d, "leaid", year, "assessments", ["c0", "c1"])
        .filter(pl.col("enrollment") > 0)
        .with_columns(n=(pl.col("enrollment") * 0.45).round().cast(pl.Int64).clip(lower_bound=1))
    )
    lf = _band(_band(lf, "read_y", "n", "read"), "math_y", "n", "math")
    suppressed = (pl.col("n") < 20) & (pl.col("c1") < 0.6)
    lf = lf.with_columns(
        code=pl.when(suppressed).then(-3).otherwise(_code(pl.col("c0"), 0.003, 0.005, 0)),
        read_mid=(pl.col("read_low") + pl.col("read_high")) / 2,
        math_mid=pl.when(pl.col("leaid").is_in(too_high))
        .then(140.0)
        .otherwise((pl.col("math_low") + pl.col("math_high")) / 2),
    )
    # Subgroup rows beside each total row: white students (scoring higher) and girls.
    groups = pl.LazyFrame({"race": [99, 1, 99], "sex": [99, 99, 2], "bonus": [0.0, 5.0, 0.0]})
    lf = lf.join(groups, how="cross")
    cols: dict[str, pl.Expr] = {}
    for subject in ("read", "math"):
        mid = (pl.col(f"{subject}_mid") + pl.col("bonus")).clip(upper_bound=100)
        mid = pl.when(pl.col("bonus") > 0).then(mid).otherwise(pl.col(f"{subject}_mid"))
        cols[f"{subject}_test_num_valid"] = pl.col("n")
        cols[f"{subject}_test_pct_prof_low"] = pl.coalesce("code", f"{subject}_low")
        cols[f"{subject}_test_pct_prof_high"] = pl.coalesce("code", f"{subject}_high")
        cols[f"{subject}_test_pct_prof_midpt"] = pl.coalesce(pl.col("code"), mid)
    return lf.select(
        __fips="fips",
        leaid="leaid",
        leaid_num=pl.col("leaid").cast(pl.Int64),
        year=pl.lit(year),
        lea_name="lea_name",
        fips="fips",
        grade_edfacts=pl.lit(99),
        race="race",
        sex="sex",
        **{c: pl.lit(99) for c in _EDFACTS_SUBGROUPS},
        **cols,
    ).collect(engine="in-memory")


_GRAD_SUBGROUPS = ("lep", "homeless", "disability", "foster_care")


def _grad_rates(year: int) -> pl.DataFrame:
    d, _ = year_tables(year)
    cohort = (pl.col("enrollment") / 13 * (0.9 + 0.2 * pl.col("c0"))).round().cast(pl.Int64)
    lf = (
        _with_noise(d, "leaid", year, "grad_rates", ["c0", "c1"])
        .filter((pl.col("high") >= 12) & (pl.col("enrollment") > 0))
        .with_columns(cohort=cohort.clip(lower_bound=1))
    )
    lf = _band(lf, "grad_y", "cohort", "grad")
    suppressed = (pl.col("cohort") < 20) & (pl.col("c1") < 0.5)
    lf = lf.with_columns(
        code=pl.when(suppressed).then(-3).otherwise(_code(pl.col("c1"), 0, 0.503, 0)),
        reported=pl.col("c1") <= 0.997,  # else no cohort reported: every field null
        grad_mid=(pl.col("grad_low") + pl.col("grad_high")) // 2,
    )
    # A subgroup row beside each total row: economically disadvantaged students.
    lf = lf.join(pl.LazyFrame({"econ_disadvantaged": [99, 1]}), how="cross")
    when = pl.when(pl.col("reported"))
    return lf.select(
        __fips="fips",
        leaid="leaid",
        year=pl.lit(year),
        fips="fips",
        leaid_num=pl.col("leaid").cast(pl.Int64),
        lea_name="lea_name",
        race=pl.lit(99),
        econ_disadvantaged="econ_disadvantaged",
        **{c: pl.lit(99) for c in _GRAD_SUBGROUPS},
        cohort_num=when.then(pl.col("cohort")),
        grad_rate_low=when.then(pl.coalesce("code", "grad_low")),
        grad_rate_high=when.then(pl.coalesce("code", "grad_high")),
        grad_rate_midpt=when.then(pl.coalesce("code", "grad_mid")),
    ).collect(engine="in-memory")


def _crdc(year: int, *, absenteeism: bool) -> pl.DataFrame:
    _, s = year_tables(year)
    no_id = (pl.col("c1") < 0.015) if absenteeism and year == 2013 else pl.lit(False)
    # CRDC chronic absenteeism drops the leading zero (the real 2013 pages: "100002"), CRDC
    # enrolment keeps it ("0100002").
    six_digits = pl.col("leaid").str.slice(1)
    leaid = pl.col("leaid")
    if absenteeism:
        leaid = pl.when(pl.col("fips") < 10).then(six_digits).otherwise(leaid)
    if absenteeism:
        tag, count, value = "crdc_absenteeism", "students_chronically_absent", pl.col("absent_n")
        rates = (0.002, 0.02, 0.002)
    else:
        tag, count, value = "crdc_enrollment", "enrollment_crdc", pl.col("crdc_enr")
        rates = (0.002, 0.005, 0.0)
    # Subgroup rows beside each school's total: boys, girls (and homeless students, 2020+).
    groups = {"sex": [99, 1, 2], "homeless": [99, 99, 99], "share": [1.0, 0.52, 0.48]}
    if absenteeism and year >= 2020:
        groups = {k: [*v, x] for (k, v), x in zip(groups.items(), (99, 1, 0.03), strict=True)}
    part = (value * pl.col("share")).round().cast(pl.Int64)
    lf = (
        _with_noise(s, "ncessch", year, tag, ["c0", "c1"])
        .join(pl.LazyFrame(groups), how="cross")
        .with_columns(n=_coded(part, pl.col("c0"), *rates))
    )
    out: dict[str, pl.Expr] = {
        "__fips": pl.col("fips"),
        "crdc_id": pl.col("ncessch"),
        "ncessch": pl.col("ncessch"),
        "year": pl.lit(year),
        "fips": pl.when(~no_id).then(pl.col("fips")),
        "leaid": pl.when(~no_id).then(leaid),
        "race": pl.lit(99),
        "sex": pl.col("sex"),
        "disability": pl.lit(99),
        "lep": pl.lit(99),
    }
    if year >= 2020:
        out["homeless"] = pl.col("homeless")
    if absenteeism or year < 2020:
        out[count] = pl.col("n")
    else:  # decimals as strings, as the API sends its other CRDC counts
        out[count] = pl.format("{}.000", pl.col("n"))
    if not absenteeism:
        out["psenrollment_crdc"] = pl.lit(-2)
    return lf.select(**out).collect(engine="in-memory")


def _school_directory(year: int) -> pl.DataFrame:
    _, s = year_tables(year)
    frl_null = [st.fips for st in STATES if year >= _frl_stop(st.code)]
    frl_known = ~pl.col("fips").is_in(frl_null)
    frl = pl.col("frl_n").cast(pl.Int64)
    free = (frl * 0.85).round().cast(pl.Int64)
    level = pl.col("level")
    leaid = pl.col("leaid")
    if year == 2014:  # the 2014 school directory lost the leading zero
        leaid = pl.when(pl.col("fips") < 10).then(leaid.str.slice(1)).otherwise(leaid)
    # The fields the pipeline reads and their neighbours, not all 52 (names, addresses, ...).
    return (
        _with_noise(s, "ncessch", year, "school_directory", ["frl0"])
        .select(
            __fips="fips",
            year=pl.lit(year),
            ncessch="ncessch",
            leaid=leaid,
            fips="fips",
            school_level=level,
            lowest_grade_offered=pl.when(level == 1)
            .then(pl.col("low").clip(upper_bound=0))
            .when(level == 2)
            .then(6)
            .otherwise(9),
            highest_grade_offered=pl.when(level == 1)
            .then(pl.col("high").clip(upper_bound=5))
            .when(level == 2)
            .then(8)
            .otherwise(12),
            teachers_fte=(pl.col("school_enr") / 16).round(),
            enrollment="school_enr",
            free_lunch=pl.when(frl_known).then(free),
            reduced_price_lunch=pl.when(frl_known).then(frl - free),
            free_or_reduced_price_lunch=pl.when(frl_known).then(
                _coded(frl, pl.col("frl0"), 0.01, 0.002, 0.003)
            ),
            direct_certification=(frl * 0.6).round().cast(pl.Int64),
        )
        .collect(engine="in-memory")
    )


def _frl_stop(state_code: str) -> int:
    """First year whose school FRL counts are all null in this state (9999: never)."""
    gap = _rng("frl-gap", state_code)
    return FRL_STOPS.get(state_code, gap.randint(2016, 2024) if gap.random() < 0.2 else 9999)


_BUILDERS = {
    "district_directory": _district_directory,
    "finance": _finance,
    "assessments": _assessments,
    "grad_rates": _grad_rates,
    "crdc_absenteeism": functools.partial(_crdc, absenteeism=True),
    "crdc_enrollment": functools.partial(_crdc, absenteeism=False),
    "school_directory": _school_directory,
}


@functools.lru_cache(maxsize=8)
def _national_rows(endpoint_key: str, year: int) -> pl.DataFrame:
    """The whole nation's rows for one endpoint and year, with ``__fips`` naming the state."""
    if year not in SAMPLE_YEARS:
        return pl.DataFrame({"__fips": []}, schema={"__fips": pl.Int64()})
    frame = _BUILDERS[endpoint_key](year)
    # Row order by id, the total row before its subgroup rows (99 sorts first descending):
    # joins do not keep order, and the pages must be the same on every run.
    key = {"crdc_absenteeism": "crdc_id", "crdc_enrollment": "crdc_id"}.get(endpoint_key)
    key = key or ("ncessch" if endpoint_key == "school_directory" else "leaid")
    groups = [c for c in ENDPOINTS[endpoint_key].subgroup_columns if c in frame.columns]
    return frame.sort([key, *groups], descending=[False] + [True] * len(groups))


@functools.lru_cache(maxsize=32)
def _rows_by_state(
    endpoint_key: str,
    year: int,
    filters: tuple[tuple[str, str], ...] = (),
    fields: tuple[str, ...] = ("",),
) -> dict[int | None, pl.DataFrame]:
    """Rows per state fips after the (non-fips) filters and the ``fields=`` projection (an
    unknown column comes back blank, as in the API): done once per year, not per state."""
    frame = _national_rows(endpoint_key, year)
    predicates = []
    for column, values in filters:
        if column not in frame.columns:
            continue
        if frame.schema[column].is_numeric():
            numbers = [int(v) for v in values.split(",") if v.strip().lstrip("-").isdigit()]
            predicates.append(pl.col(column).is_in(numbers))
        else:
            predicates.append(pl.col(column).is_in(values.split(",")))
    if predicates:
        frame = frame.filter(*predicates)
    if "fips" in frame.columns:  # a row whose fips is null is in no state's ?fips= answer
        frame = frame.with_columns(
            __fips=pl.when(pl.col("fips").is_not_null()).then(pl.col("__fips"))
        )
    if fields != ("",):
        frame = frame.select(
            "__fips", *(pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in fields)
        )
    parts = frame.partition_by("__fips", as_dict=True, include_key=False, maintain_order=True)
    return {None if k[0] is None else int(k[0]): v for k, v in parts.items()}  # type: ignore[call-overload]


def api_rows(endpoint_key: str, state_code: str, year: int) -> pl.DataFrame:
    """Every row the API holds for one endpoint, state and year (subgroup rows included),
    those whose own fips is null too (which a ``?fips=`` query does not return)."""
    frame = _national_rows(endpoint_key, year)
    if frame.height == 0:
        return pl.DataFrame()
    fips = STATE_BY_CODE[state_code].fips
    return frame.filter(pl.col("__fips") == fips).drop("__fips")


# -- serving pages -----------------------------------------------------------------------------
class SampleTransport(httpx.BaseTransport):
    """Answers API requests from the sample, exactly as the API would (see module docstring)."""

    def __init__(self, page_size: int = PAGE_SIZE) -> None:
        self.page_size = page_size
        self._lock = threading.Lock()
        self._filtered: dict[tuple[object, ...], pl.DataFrame] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        marker = path.find("/api/v1/")
        match = endpoint_for_path(path[marker + 8 :]) if marker >= 0 else None
        if match is None:
            return _error(404, {"detail": "Not found."})
        endpoint, year = match
        if not endpoint.covers(year):
            return _error(500, "<h1>Server Error (500)</h1>")
        query = list(request.url.params.multi_items())
        page_text = dict(query).get("page", "1")
        if not page_text.isdigit() or int(page_text) < 1:
            return _error(404, {"detail": "Invalid page."})
        page = int(page_text)
        filters = tuple(sorted((k, v) for k, v in query if k in endpoint.filters and k != "year"))
        fields = dict(query).get("fields", "")
        frame = self._frame(endpoint, year, filters, tuple(dict.fromkeys(fields.split(","))))
        start = (page - 1) * self.page_size
        if page > 1 and start >= frame.height:
            return _error(404, {"detail": "Invalid page."})
        rows = frame.slice(start, self.page_size)
        base = f"{request.url.scheme}://{request.url.netloc.decode()}{path}"
        others = [(k, v) for k, v in query if k != "page"]

        def link(n: int) -> str | None:
            if n < 1 or (n - 1) * self.page_size >= frame.height:
                return None
            return f"{base}?{urlencode(sorted([*others, ('page', str(n))]))}"

        body = (
            f'{{"count":{frame.height},"next":{json.dumps(link(page + 1))},'
            f'"previous":{json.dumps(link(page - 1))},"results":'
            f"{rows.write_json() if rows.height else '[]'}}}"
        )
        return httpx.Response(
            200, content=body.encode(), headers={"Content-Type": "application/json"}
        )

    def _frame(
        self,
        endpoint: Endpoint,
        year: int,
        filters: tuple[tuple[str, str], ...],
        fields: tuple[str, ...],
    ) -> pl.DataFrame:
        key = (endpoint.key, year, filters, fields)
        with self._lock:
            cached = self._filtered.get(key)
        if cached is not None:
            return cached
        fips_values = dict(filters).get("fips")
        by_state = _rows_by_state(
            endpoint.key, year, tuple((k, v) for k, v in filters if k != "fips"), fields
        )
        if fips_values is None:
            frames = list(by_state.values())
        else:
            wanted_fips = [int(f) for f in fips_values.split(",") if f.strip().isdigit()]
            frames = [by_state[f] for f in wanted_fips if f in by_state]
        frame = frames[0] if len(frames) == 1 else pl.concat(frames) if frames else pl.DataFrame()
        with self._lock:
            if len(self._filtered) >= 16:
                self._filtered.pop(next(iter(self._filtered)))
            self._filtered[key] = frame
        return frame


def _error(status: int, body: object) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers={"Content-Type": "text/html"})
    return httpx.Response(status, json=body)


def sample_client(**options: object) -> EducationDataClient:
    """A client wired to the sample: no pacing (there is no server to be polite to)."""
    options.setdefault("pace_seconds", 0.0)
    return EducationDataClient(SAMPLE_BASE_URL, transport=SampleTransport(), **options)  # type: ignore[arg-type]
