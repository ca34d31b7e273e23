"""Time and peak memory of the benchmarks computation (state, district and outlier tables).

    python perf/bench_benchmarks.py            # scales 1, 10, 100 + pandas comparison
    python perf/bench_benchmarks.py --scales 1 10

Data: the national offline sample (every state, 2010–2021, ~225,000 district-years; built once
and cached by ``benchmarking_assets_tests.reference_sql.sample_history``), and the same cloned
10× and 100× with jitter (new leaids, counts and rates scaled by ±10 % per clone and year),
written as one Parquet file per year. Each scale runs in a fresh subprocess that scans those
files lazily and computes every year, a year at a time, exactly as the assets do; it reports
compute time and its own peak RSS (VmHWM). Preparing the clones is not timed.

The comparison is the straightforward pandas implementation (groupby-apply per state, per
district and per group, merges for the prior year) of the state and district tables on the 1×
sample, timed against Polars doing the same work in the same process; its output is checked
against the Polars output before the ratio is printed.

Targets (issue): 1× under 1 s of compute; 100× under 60 s and under 4 GiB; ≥ 10× faster than
pandas.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarking_assets.core.benchmarks import (  # noqa: E402
    HISTORY_COLUMNS,
    compute_district_benchmarks,
    compute_district_outliers,
    compute_state_benchmarks,
    history_years_needed,
)


def prepare(scale: int, folder: Path) -> int:
    """Write the ``scale``× history as one Parquet file per year; returns the row count."""
    from benchmarking_assets_tests.reference_sql import sample_history

    base = sample_history().select(HISTORY_COLUMNS)
    folder.mkdir(parents=True, exist_ok=True)
    rows = 0
    clones = pl.DataFrame({"clone": pl.arange(0, scale, eager=True).cast(pl.Int32)})
    for year in sorted(base["year"].unique()):
        frame = base.filter(pl.col("year") == year).join(clones, how="cross")
        frame = _jitter(frame) if scale > 1 else frame.drop("clone")
        frame.write_parquet(folder / f"{year}.parquet")
        rows += frame.height
    return rows


def _jitter(frame: pl.DataFrame) -> pl.DataFrame:
    """Clone k keeps clone 0 as is; the others get ±10 % noise per clone, district and year."""
    u = (
        pl.struct("leaid", "year", "clone").hash(seed=7).cast(pl.Float64) / float(2**64) - 0.5
    ) * 0.2
    factor = pl.when(pl.col("clone") == 0).then(1.0).otherwise(1.0 + u)
    counts = ["enrollment", "spec_ed_students", "ell_students"]
    rates = ["chronic_absenteeism_rate", "graduation_rate", "math_proficiency", "read_proficiency"]
    return frame.with_columns(
        (pl.col("leaid") + pl.col("clone").cast(pl.String).str.zfill(3)).alias("leaid"),
        *[(pl.col(c) * factor).round().cast(pl.Int64).alias(c) for c in counts],
        (pl.col("teachers_fte") * factor).alias("teachers_fte"),
        (pl.col("expenditure_pp") * factor).alias("expenditure_pp"),
        *[(pl.col(c) * factor).clip(0, 100).alias(c) for c in rates],
    ).drop("clone")


def compute_all_years(folder: Path) -> dict[str, float]:
    """Every year, a year at a time, from a lazy scan (what the child process measures)."""
    years = sorted(int(p.stem) for p in folder.glob("*.parquet"))
    start = time.perf_counter()
    districts = outliers = 0
    for year in years:
        # Like the assets' SQL (WHERE year BETWEEN year − 7 AND year): only the files needed.
        needed = [folder / f"{y}.parquet" for y in history_years_needed(year) if y in years]
        history = pl.scan_parquet(needed)
        states = compute_state_benchmarks(history, year)
        districts += compute_district_benchmarks(history, states, year).height
        outliers += compute_district_outliers(history, year).height
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "district_years": districts, "outlier_rows": outliers}


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- the straightforward pandas way
def pandas_year(df, year: int):  # type: ignore[no-untyped-def]
    """state_benchmarks and district_benchmarks of one year, written the obvious pandas way."""
    import pandas as pd

    def values(frame):  # type: ignore[no-untyped-def]
        out = frame[["leaid", "state_code", "enrollment"]].copy()
        e = frame["enrollment"]
        pos = e > 0
        out["swd_pct"] = (frame["spec_ed_students"] / e * 100).where(pos)
        out["ell_pct"] = (frame["ell_students"] / e * 100).where(pos)
        t = frame["teachers_fte"]
        out["student_teacher_ratio"] = (e / t).where(pos & (t > 0))
        out["absenteeism"] = frame["chronic_absenteeism_rate"]
        out["graduation"] = frame["graduation_rate"]
        for c in ("math_proficiency", "read_proficiency", "expenditure_pp"):
            out[c] = frame[c]
        return out

    metrics = [
        "absenteeism", "graduation", "student_teacher_ratio", "swd_pct", "ell_pct",
        "math_proficiency", "read_proficiency", "expenditure_pp",
    ]  # fmt: skip
    cur = values(df[df["year"] == year])

    def averages(g):  # type: ignore[no-untyped-def]
        row = {"district_count": len(g)}
        row["avg_enrollment"] = g.loc[g["enrollment"] > 0, "enrollment"].mean()
        for m in metrics:
            ok = g[(g["enrollment"] > 0) & g[m].notna()]
            w = ok["enrollment"].sum()
            row[m] = (ok["enrollment"] * ok[m]).sum() / w if w > 0 else None
        return pd.Series(row)

    states = cur.groupby("state_code").apply(averages, include_groups=False)
    states.loc["US"] = averages(cur)

    prior = values(df[df["year"] == year - 3])
    raw_prior = df[df["year"] == year - 3][["leaid", "spec_ed_students", "ell_students"]]
    raw_cur = df[df["year"] == year][["leaid", "spec_ed_students", "ell_students"]]
    out = cur.merge(raw_cur, on="leaid").merge(
        prior.merge(raw_prior, on="leaid"), on="leaid", how="left", suffixes=("", "_prior")
    )
    for m in metrics:
        out[f"{m}_vs_state"] = out[m] - out["state_code"].map(states[m])
        out[f"{m}_vs_national"] = out[m] - states.loc["US", m]

        def quartile(g, m=m):  # type: ignore[no-untyped-def]
            n = g.notna().sum()
            p = (g.rank(method="min") - 1) / (n - 1) if n >= 4 else g * float("nan")
            labels = pd.Series(None, index=g.index, dtype=object)
            labels[p >= 0] = "well_below"
            labels[p >= 0.25] = "below"
            labels[p >= 0.5] = "above"
            labels[p >= 0.75] = "well_above"
            return labels

        out[f"{m}_quartile_state"] = out.groupby("state_code")[m].transform(quartile)
    for base, col in (
        ("spec_ed_students", "swd"),
        ("ell_students", "ell"),
        ("expenditure_pp", "expenditure_pp"),
    ):
        p = out[f"{base}_prior"]
        out[f"{col}_trend_3yr"] = ((out[base] - p) / p * 100).where(p != 0)
    for m in ("graduation", "student_teacher_ratio", "math_proficiency", "read_proficiency"):
        out[f"{m}_trend_3yr"] = out[m] - out[f"{m}_prior"]

    obs = df[(df["year"] <= year) & df["chronic_absenteeism_rate"].notna()]

    def absenteeism(g):  # type: ignore[no-untyped-def]
        g = g.sort_values("year")
        if len(g) < 2:
            return float("nan")
        (y0, v0), (y1, v1) = g[["year", "chronic_absenteeism_rate"]].iloc[-2:].to_numpy()
        return v1 - v0 if y1 >= year - 3 and y1 - y0 <= 4 else float("nan")

    if len(obs):
        trend = obs.groupby("leaid").apply(absenteeism, include_groups=False)
    else:
        trend = pd.Series(dtype=float)
    out["absenteeism_trend_3yr"] = out["leaid"].map(trend)
    return states, out


def run_pandas(folder: Path) -> dict[str, float]:
    import pandas as pd

    # (No pyarrow in the environment: hand pandas NumPy columns; nullable ints become floats,
    # as they would in a straightforward pandas script.)
    source = pl.read_parquet(folder / "*.parquet")
    df = pd.DataFrame({c: source[c].to_numpy() for c in source.columns})
    years = sorted(df["year"].unique())
    start = time.perf_counter()
    results = {int(y): pandas_year(df, int(y)) for y in years}
    seconds = time.perf_counter() - start
    # The same work in Polars (state and district tables, no outliers), in this process.
    history = pl.scan_parquet(folder / "*.parquet")
    start = time.perf_counter()
    for y in years:
        compute_district_benchmarks(history, compute_state_benchmarks(history, int(y)), int(y))
    polars_seconds = time.perf_counter() - start
    # Honesty check: the pandas numbers are the Polars numbers.
    year = 2019
    states = compute_state_benchmarks(history, year)
    polars_rows = compute_district_benchmarks(history, states, year)
    _, frame = results[year]
    columns = ["leaid", "graduation_vs_state", "swd_trend_3yr", "absenteeism_trend_3yr"]
    theirs = pl.DataFrame(
        {c: pl.Series(frame[c].to_numpy(), nan_to_null=True) for c in columns}
        | {
            "math_proficiency_quartile_state": [
                x if isinstance(x, str) else None
                for x in frame["math_proficiency_quartile_state"].tolist()
            ]
        }
    )
    merged = polars_rows.join(theirs, on="leaid", suffix="_pd")
    for col in ("graduation_vs_state", "swd_trend_3yr", "absenteeism_trend_3yr"):
        diff = (merged[col] - merged[f"{col}_pd"].cast(pl.Float64)).abs().max()
        assert diff is None or diff < 1e-6, (col, diff)
    same = merged["math_proficiency_quartile_state"].eq_missing(
        merged["math_proficiency_quartile_state_pd"]
    )
    assert same.all(), "pandas and Polars quartiles differ"
    return {
        "seconds": seconds,
        "polars_seconds": polars_seconds,
        "district_years": sum(len(r[1]) for r in results.values()),
    }


def child(folder: Path, pandas: bool) -> None:
    result = run_pandas(folder) if pandas else compute_all_years(folder)
    result["peak_mib"] = peak_rss_mib()
    print(json.dumps(result))


def measure(folder: Path, pandas: bool = False) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(folder)] + (["--pandas"] if pandas else [])
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--child", type=Path)
    parser.add_argument("--pandas", action="store_true")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench-bm")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.pandas)
        return
    print(
        f"{'scale':>6} {'district-years':>15} {'compute s':>10} {'rows/s':>12} {'peak MiB':>9}",
        flush=True,
    )
    first: dict[str, float] | None = None
    for scale in args.scales:
        folder = args.workdir / f"x{scale}"
        if not folder.exists():
            prepare(scale, folder)
        r = measure(folder)
        first = r if scale == 1 else first
        print(
            f"{scale:>5}× {int(r['district_years']):>15,} {r['seconds']:>10.2f} "
            f"{r['district_years'] / r['seconds']:>12,.0f} {r['peak_mib']:>9.0f}",
            flush=True,
        )
    if first is not None:
        p = measure(args.workdir / "x1", pandas=True)
        print(
            f"pandas 1× (state + district tables): {p['seconds']:.2f} s, peak "
            f"{p['peak_mib']:.0f} MiB; Polars, same work: {p['polars_seconds']:.2f} s → "
            f"{p['seconds'] / p['polars_seconds']:.0f}× faster (outputs checked equal on 2019)"
        )


if __name__ == "__main__":
    main()
