"""Peer cohorts: criteria, bands, the widening ladder and a disjoint assignment (pure Polars).

Criteria (docs/privacy.md), each a column computed per district and year by :func:`district_keys`:

* ``size_band`` from enrollment: small < 2,500 ≤ medium < 10,000 ≤ large < 50,000 ≤ very_large;
* ``locale`` from ``urban_centric_locale``: 11–13 city, 21–23 suburb, 31–33 town, 41–43 rural;
* ``frl_band``: quartile (q1 lowest … q4 highest) of FRL % = frl_students / enrollment × 100.
  The cut points are the **national** 25th/50th/75th percentiles of that year over districts
  with a value, computed with linear interpolation (Hyndman–Fan type 7, ``interpolation=
  "linear"``, the same as PostgreSQL ``percentile_cont``); a value equal to a cut point goes to
  the lower band (q1 = FRL % ≤ p25);
* ``grade_span`` from lowest/highest grade (−1 = PK, 0 = K … 13): elementary when the highest
  grade ≤ 8, secondary when the lowest grade ≥ 6 (and the highest ≥ 9), unified when it runs
  from ≤ 5 to ≥ 9;
* geography: ``state_code``, widened to the census ``region`` on the ladder.

A missing input gives the level ``unknown``, which is a level like any other: every district
gets a key, so every district can be placed.

**The ladder** (finest first; criteria switched off in :class:`PeerCriteria` are left out and
duplicate steps dropped): 0 all criteria within the state → 1 the census region instead of the
state → 2 drop grade span → 3 drop FRL band → 4 drop locale → 5 national, size band only →
6 national. Each step's key is a function of the previous one (region is a function of state,
the rest drop a column), so the cells form a tree.

**Disjoint assignment** (:func:`assign_cohorts`): cells of step 0 with ≥ k districts become
cohorts; the districts of smaller cells are pooled with the other left-over districts that share
the key of step 1; pools of ≥ k become cohorts; and so on up the ladder. A cohort made at step
i is "key_i minus the cells already published at finer steps". What is still below k at the
top (fewer than k districts nationally left over) is merged into the smallest cohort (ties by
cohort id) and flagged ``merged_leftover``; only if the whole input has fewer than k districts
is everything suppressed. Because cohorts are disjoint and each has ≥ k members, no published
cohort is a small difference of two others — the differencing attack that overlapping
"finest level reaching k" cohorts allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from benchmarking_assets.core.geography import STATES

SIZE_BANDS = ("small", "medium", "large", "very_large")
SIZE_LIMITS = (2_500, 10_000, 50_000)
LOCALES = ("city", "suburb", "town", "rural")
GRADE_SPANS = ("elementary", "secondary", "unified")
FRL_BANDS = ("q1", "q2", "q3", "q4")
UNKNOWN = "unknown"
REGION_BY_STATE = {s.code: s.region for s in STATES}
STATE_NAME = {s.code: s.name for s in STATES}
KEY_COLUMNS = ("state_code", "region", "size_band", "locale", "frl_band", "grade_span")


@dataclass(frozen=True)
class PeerCriteria:
    """Which criteria define peers; the default uses all five."""

    size: bool = True
    locale: bool = True
    frl: bool = True
    grade_span: bool = True
    geography: bool = True


@dataclass(frozen=True)
class LadderStep:
    level: int
    name: str
    keys: tuple[str, ...]


def ladder(criteria: PeerCriteria = PeerCriteria()) -> tuple[LadderStep, ...]:
    """The widening steps for these criteria, finest first, the last one national."""
    allowed = {
        "state_code": criteria.geography,
        "region": criteria.geography,
        "size_band": criteria.size,
        "locale": criteria.locale,
        "frl_band": criteria.frl,
        "grade_span": criteria.grade_span,
    }
    traits = ("size_band", "locale", "frl_band", "grade_span")
    raw = (
        ("all criteria within the state", ("state_code", *traits)),
        ("census region instead of state", ("region", *traits)),
        ("drop grade span", ("region", "size_band", "locale", "frl_band")),
        ("drop FRL band", ("region", "size_band", "locale")),
        ("drop locale", ("region", "size_band")),
        ("national, size band", ("size_band",)),
        ("national", ()),
    )  # fmt: skip
    steps: list[LadderStep] = []
    for name, keys in raw:
        kept = tuple(k for k in keys if allowed[k])
        if steps and steps[-1].keys == kept:
            continue
        steps.append(LadderStep(len(steps), name, kept))
    return tuple(steps)


def frl_cut_points(districts: pl.DataFrame) -> tuple[float, float, float] | None:
    """National p25/p50/p75 of FRL % (linear interpolation); None without any value."""
    pct = _frl_pct(districts).drop_nulls()
    if pct.len() == 0:
        return None
    return tuple(float(pct.quantile(q, interpolation="linear")) for q in (0.25, 0.5, 0.75))  # type: ignore[return-value]


def _frl_pct(districts: pl.DataFrame) -> pl.Series:
    return districts.select(
        pl.when(pl.col("enrollment") > 0)
        .then(pl.col("frl_students") / pl.col("enrollment") * 100)
        .alias("frl_pct")
    ).to_series()


def district_keys(districts: pl.DataFrame) -> pl.DataFrame:
    """One row per district: leaid plus every criterion column (``unknown`` where missing).

    ``districts`` has the ``district_data_history`` columns of one year.
    """
    cuts = frl_cut_points(districts)
    enr, loc = pl.col("enrollment"), pl.col("urban_centric_locale")
    lo, hi = pl.col("lowest_grade"), pl.col("highest_grade")
    frl = pl.col("frl_pct")
    size = (
        pl.when(enr.is_null() | (enr < 0))
        .then(pl.lit(UNKNOWN))
        .when(enr < SIZE_LIMITS[0])
        .then(pl.lit("small"))
        .when(enr < SIZE_LIMITS[1])
        .then(pl.lit("medium"))
        .when(enr < SIZE_LIMITS[2])
        .then(pl.lit("large"))
        .otherwise(pl.lit("very_large"))
    )
    locale = (
        pl.when(loc.is_between(11, 13))
        .then(pl.lit("city"))
        .when(loc.is_between(21, 23))
        .then(pl.lit("suburb"))
        .when(loc.is_between(31, 33))
        .then(pl.lit("town"))
        .when(loc.is_between(41, 43))
        .then(pl.lit("rural"))
        .otherwise(pl.lit(UNKNOWN))
    )
    valid_grades = lo.is_between(-1, 13) & hi.is_between(-1, 13) & (lo <= hi)
    span = (
        pl.when(~valid_grades.fill_null(False))
        .then(pl.lit(UNKNOWN))
        .when(hi <= 8)
        .then(pl.lit("elementary"))
        .when(lo >= 6)
        .then(pl.lit("secondary"))
        .otherwise(pl.lit("unified"))
    )
    if cuts is None:
        band = pl.lit(UNKNOWN)
    else:
        band = (
            pl.when(frl.is_null())
            .then(pl.lit(UNKNOWN))
            .when(frl <= cuts[0])
            .then(pl.lit("q1"))
            .when(frl <= cuts[1])
            .then(pl.lit("q2"))
            .when(frl <= cuts[2])
            .then(pl.lit("q3"))
            .otherwise(pl.lit("q4"))
        )
    return (
        districts.with_columns(_frl_pct(districts))
        .select(
            "leaid",
            pl.col("state_code"),
            pl.col("state_code").replace_strict(REGION_BY_STATE, default=UNKNOWN).alias("region"),
            size.alias("size_band"),
            locale.alias("locale"),
            band.alias("frl_band"),
            span.alias("grade_span"),
        )
        .sort("leaid")
    )


def cohort_label(step: LadderStep, key_values: dict[str, str]) -> str:
    """``L3:region=South|size_band=small|locale=rural``; ``L6:national`` at the top."""
    if not step.keys:
        return f"L{step.level}:national"
    return f"L{step.level}:" + "|".join(f"{k}={key_values[k]}" for k in step.keys)


def _label_expr(step: LadderStep) -> pl.Expr:
    """The :func:`cohort_label` of each row, as an expression."""
    if not step.keys:
        return pl.lit(f"L{step.level}:national")
    return pl.lit(f"L{step.level}:") + pl.concat_str(
        [pl.lit(f"{c}=") + pl.col(c) for c in step.keys], separator="|"
    )


ASSIGNMENT_SCHEMA: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    "cohort_id": pl.String(),
    "ladder_level": pl.Int32(),
    "ladder_step": pl.String(),
    "merged_leftover": pl.Int32(),
}


def assign_cohorts(
    keys: pl.DataFrame, k: int, steps: tuple[LadderStep, ...]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Partition the districts of ``keys`` into cohorts of ≥ k (see the module docstring).

    Returns ``(assigned, suppressed)``: ``assigned`` has :data:`ASSIGNMENT_SCHEMA`; every row
    of ``keys`` is in exactly one of the two, and ``suppressed`` is empty unless ``keys`` has
    fewer than ``k`` rows.
    """
    if k < 1:
        raise ValueError(f"the minimum cohort size must be ≥ 1, got {k}")
    if keys.height < k:
        return pl.DataFrame(schema=ASSIGNMENT_SCHEMA), keys.select("leaid")
    pending = keys
    parts: list[pl.DataFrame] = []
    for step in steps:
        if pending.height == 0:
            break
        cols = list(step.keys)
        if cols:
            sizes = pending.group_by(cols).agg(pl.len().alias("_n"))
            big = sizes.filter(pl.col("_n") >= k).drop("_n")
            taken = pending.join(big, on=cols, how="semi")
            pending = pending.join(big, on=cols, how="anti")
        else:
            enough = pending.height >= k
            taken, pending = (pending, pending.clear()) if enough else (pending.clear(), pending)
        if taken.height:
            parts.append(
                taken.select(
                    "leaid",
                    _label_expr(step).alias("cohort_id"),
                    pl.lit(step.level, pl.Int32).alias("ladder_level"),
                    pl.lit(step.name).alias("ladder_step"),
                    pl.lit(0, pl.Int32).alias("merged_leftover"),
                )
            )
    assigned = (
        pl.concat(parts).cast(ASSIGNMENT_SCHEMA)
        if parts
        else pl.DataFrame(schema=ASSIGNMENT_SCHEMA)
    )
    if pending.height:
        smallest = (
            assigned.group_by("cohort_id", "ladder_level", "ladder_step")
            .agg(pl.len().alias("_n"))
            .sort("_n", "cohort_id")
            .row(0, named=True)
        )
        extra = pending.select(
            "leaid",
            pl.lit(smallest["cohort_id"]).alias("cohort_id"),
            pl.lit(smallest["ladder_level"], pl.Int32).alias("ladder_level"),
            pl.lit(smallest["ladder_step"]).alias("ladder_step"),
            pl.lit(1, pl.Int32).alias("merged_leftover"),
        )
        assigned = pl.concat([assigned, extra.cast(ASSIGNMENT_SCHEMA)])
    return assigned.sort("leaid"), pl.DataFrame(schema={"leaid": pl.String()})


# ----------------------------------------------------------------------------------------
# Private groups: who a district's private values are compared with (docs/privacy.md §5).
#
# Private metrics are platform metrics, so the state matters most: the private ladder widens
# within the state before it leaves it, unlike the public ladder, which goes to the region at
# its first step. Each key is a function of the previous one (region is a function of state,
# the others drop a column), so the cells form a tree and left-overs pool upward in it.


def private_ladder(criteria: PeerCriteria = PeerCriteria()) -> tuple[LadderStep, ...]:
    """P0 the district's own peer key (the public ladder's finest cell) → P1 state, size,
    locale → P2 state, size → P3 state → P4 census region → P5 national; switched-off criteria
    are left out and duplicate steps dropped."""
    allowed = {
        "state_code": criteria.geography,
        "region": criteria.geography,
        "size_band": criteria.size,
        "locale": criteria.locale,
        "frl_band": criteria.frl,
        "grade_span": criteria.grade_span,
    }
    raw = (
        ("your peer criteria within the state",
         ("state_code", "size_band", "locale", "frl_band", "grade_span")),
        ("state, size and locale", ("state_code", "size_band", "locale")),
        ("state and size", ("state_code", "size_band")),
        ("state", ("state_code",)),
        ("census region", ("region",)),
        ("national", ()),
    )  # fmt: skip
    steps: list[LadderStep] = []
    for name, keys in raw:
        kept = tuple(k for k in keys if allowed[k])
        if steps and steps[-1].keys == kept:
            continue
        steps.append(LadderStep(len(steps), name, kept))
    return tuple(steps)


def describe_cell(key_values: dict[str, str]) -> str:
    """A ladder cell in words: ``in California: small, rural districts``,
    ``in the West region``, ``nationwide`` (what follows "Participants")."""
    traits = [
        key_values[c].replace("_", " ") if c != "frl_band" else f"FRL {key_values[c]}"
        for c in ("size_band", "locale", "frl_band", "grade_span")
        if c in key_values
    ]
    if "state_code" in key_values:
        place = "in " + STATE_NAME.get(key_values["state_code"], key_values["state_code"])
    elif "region" in key_values:
        place = f"in the {key_values['region']} region"
    else:
        place = "nationwide"
    return f"{place}: {', '.join(traits)} districts" if traits else place


@dataclass
class _Group:
    level: int
    key_values: dict[str, str]
    members: set[str] = field(default_factory=set)

    @property
    def group_id(self) -> str:
        if not self.key_values:
            return f"P{self.level}:national"
        return f"P{self.level}:" + "|".join(f"{k}={v}" for k, v in self.key_values.items())


PRIVATE_GROUP_SCHEMA: dict[str, pl.DataType] = {
    "leaid": pl.String(),
    "metric": pl.String(),
    "group_id": pl.String(),
    "group_label": pl.String(),
    "ladder_level": pl.Int32(),
    "n": pl.Int64(),
}


def _contains(outer: _Group, inner: _Group) -> bool:
    """``inner``'s cell lies inside ``outer``'s: the ladder is a tree, so the keys decide."""
    values = dict(inner.key_values)
    if "state_code" in values:
        values.setdefault("region", REGION_BY_STATE.get(values["state_code"], UNKNOWN))
    return inner.level < outer.level and all(
        values.get(k) == v for k, v in outer.key_values.items()
    )


def _label(group: _Group, groups: list[_Group]) -> str:
    """Truthful: the cell, minus the (outermost) other groups formed inside it."""
    inner = [o for o in groups if o is not group and _contains(group, o)]
    outermost = [o for o in inner if not any(p is not o and _contains(p, o) for p in inner)]
    text = f"Participants {describe_cell(group.key_values)}"
    if not outermost:
        return text
    same_place = "state_code" in group.key_values
    parts = sorted(
        describe_cell(o.key_values).split(": ", 1)[-1] if same_place
        else describe_cell(o.key_values).replace("in ", "those in ", 1)
        for o in outermost
    )  # fmt: skip
    return f"{text} except {'; '.join(parts)}"


def _group_metric(placed: pl.DataFrame, n_min: int, steps: tuple[LadderStep, ...]) -> list[_Group]:
    """The disjoint groups of one metric's placed contributors (see plan_private_groups)."""
    groups: list[_Group] = []
    pending = placed
    for step in steps:
        if pending.height == 0:
            break
        cols = list(step.keys)
        if cols:
            cells = pending.group_by(cols).agg(pl.col("leaid")).sort(cols)
            totals = dict(placed.group_by(cols).len().select(
                pl.concat_str(cols, separator="|"), "len").iter_rows())  # fmt: skip
            for cell in cells.iter_rows(named=True):
                values = {c: str(cell[c]) for c in cols}
                left = set(cell["leaid"])
                if len(left) < n_min and cols == ["state_code"]:
                    left = _reclaim(groups, _Group(step.level, values), left, n_min,
                                    totals["|".join(values.values())])  # fmt: skip
                if len(left) >= n_min:
                    groups.append(_Group(step.level, values, left))
        elif pending.height >= n_min:
            groups.append(_Group(step.level, {}, set(pending["leaid"].to_list())))
        taken = {m for g in groups for m in g.members}
        pending = pending.filter(~pl.col("leaid").is_in(list(taken)))
    left = set(pending["leaid"].to_list())
    top = steps[-1].level
    while left and groups:
        # Never merge left-overs into an unrelated group: dissolve the coarsest (then the
        # smallest) group into them and publish the national remainder.
        coarsest = max(groups, key=lambda g: (g.level, -len(g.members), g.group_id))
        groups.remove(coarsest)
        left |= coarsest.members
        if len(left) >= n_min:
            groups.append(_Group(top, {}, left))
            left = set()
    return groups


def _reclaim(
    groups: list[_Group], cell: _Group, left: set[str], n_min: int, total: int
) -> set[str]:
    """A state with ≥ n_min contributors keeps all of them: its left-overs take back the
    smallest finer groups inside it until they reach n_min (instead of leaving the state)."""
    if total < n_min:
        return left
    inner = sorted((g for g in groups if _contains(cell, g)), key=lambda g: (len(g.members),
                   g.group_id))  # fmt: skip
    for g in inner:
        if len(left) >= n_min:
            break
        groups.remove(g)
        left = left | g.members
    return left


def plan_private_groups(
    contributors: pl.DataFrame, keys: pl.DataFrame, n_min: int, steps: tuple[LadderStep, ...]
) -> pl.DataFrame:
    """Disjoint groups of each private metric's contributors (:data:`PRIVATE_GROUP_SCHEMA`).

    ``contributors``: ``leaid, metric``; ``keys``: the :func:`district_keys` columns of the
    year (a contributor without a key row cannot be placed and is left out). Per metric,
    finest step first: a cell whose not-yet-grouped contributors number ≥ ``n_min`` becomes a
    group; the rest pool upward — except that a state with ≥ ``n_min`` contributors keeps all of
    them (its left-overs take back the smallest finer groups inside it, see :func:`_reclaim`),
    so a district is compared outside its state only when its state has too few contributors
    (or when the whole rest of the country does). What is still below ``n_min`` after the
    national step is never
    merged into an unrelated group: the coarsest (then smallest) group dissolves into that
    remainder, until the remainder reaches ``n_min`` and becomes a national group "except" the
    others. If the whole metric has fewer than ``n_min``, nothing is grouped.

    The plan reads only public keys and who contributed, never a value, so the groups are
    data-independent and the draws over them compose in parallel.
    """
    if n_min < 1:
        raise ValueError(f"n_min must be ≥ 1, got {n_min}")
    rows: list[dict[str, object]] = []
    for metric in sorted(contributors["metric"].unique().to_list()):
        members = contributors.filter(pl.col("metric") == metric).select("leaid").unique()
        placed = keys.join(members, on="leaid", how="semi").sort("leaid")
        if placed.height < n_min:
            continue
        groups = _group_metric(placed, n_min, steps)
        for g in groups:
            label = _label(g, groups)
            rows += [
                {"leaid": m, "metric": metric, "group_id": g.group_id, "group_label": label,
                 "ladder_level": g.level, "n": len(g.members)}
                for m in sorted(g.members)
            ]  # fmt: skip
    if not rows:
        return pl.DataFrame(schema=PRIVATE_GROUP_SCHEMA)
    return pl.DataFrame(rows, schema=PRIVATE_GROUP_SCHEMA).sort("metric", "group_id", "leaid")
