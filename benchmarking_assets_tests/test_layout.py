"""The package as the architecture says: an installable wheel, a core without Dagster, one
metric catalog, one leaid rule, import contracts kept."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import polars as pl
import pytest

from benchmarking_assets.core import catalog
from benchmarking_assets.core.ids import leaid_expr, normalize_leaid

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEAVY = ("dagster", "reportlab", "opendp")


@pytest.mark.parametrize(
    "module",
    [
        "benchmarking_assets.core.catalog",
        "benchmarking_assets.core.benchmarks",
        "benchmarking_assets.core.dp",
        "benchmarking_assets.core.peer_groups",
        "benchmarking_assets.core.suppression",
        "benchmarking_assets.core.submissions",
        "benchmarking_assets.core.reports.insights",
    ],
)
def test_core_modules_import_without_dagster_reportlab_or_opendp(module: str) -> None:
    probe = (
        f"import sys, {module}\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "", f"{module} loads {out.stdout.strip()}"


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ])
    folders = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "benchmarking_assets").rglob("__init__.py")
    }
    assert folders <= listed, f"add to [tool.setuptools] packages: {sorted(folders - listed)}"
    assert "benchmarking_assets.store.migrations" in listed  # sql/, shipped in the wheel


def test_import_contracts_hold() -> None:
    out = subprocess.run(
        [str(BIN / "lint-imports")], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "0 broken" in out.stdout


def test_one_catalog_holds_every_metric_once() -> None:
    names = [m.name for m in (*catalog.PUBLIC_METRICS, *catalog.PRIVATE_METRICS)]
    assert len(names) == len(set(names)) == 18
    assert {m.name for m in catalog.PUBLIC_METRICS} == {
        "absenteeism", "graduation", "student_teacher_ratio", "swd_pct", "ell_pct",
        "math_proficiency", "read_proficiency", "expenditure_pp",
    }  # fmt: skip
    for m in catalog.PRIVATE_METRICS:
        assert m.category in catalog.CATEGORIES and m.lower < m.upper and m.label
    for m in catalog.PUBLIC_METRICS:
        assert m.trend is not None and m.state_column.startswith("avg_") and m.label


CASES = [
    ("0100005", "0100005"),
    ("100005", "0100005"),  # the lost leading zero
    (" 0601234 ", "0601234"),
    (100005, "0100005"),
    ("12345", None),  # too short: no two-digit state
    ("01234567", None),
    ("01-0002", None),
    ("01x0001", None),
    ("०१००००५", None),  # Devanagari digits are not an NCES id
    ("", None),
    (None, None),
    (100005.0, None),
    (True, None),
]


@pytest.mark.parametrize(("value", "want"), CASES)
def test_one_leaid_rule_for_values_and_columns(value: object, want: str | None) -> None:
    assert normalize_leaid(value) == want
    if isinstance(value, str) or value is None:
        column = pl.DataFrame({"v": [value]}, schema={"v": pl.String()})
        assert column.select(leaid_expr(pl.col("v")))["v"].to_list() == [want]


def test_wheel_installs_and_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    """``pip install`` of the built wheel (how an image installs it) finds its migrations."""
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (wheel,) = dist.glob("benchmarking_assets-*.whl")
    venv = tmp_path / "venv"
    # The test's own interpreter's packages serve the dependencies (no download); the
    # project itself comes only from the wheel.
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    venv_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # The checkout's editable install must not leak in: only the outer venv's third-party
    # packages are visible, through a .pth that skips the editable finder.
    (Path(venv_site) / "outer_site.pth").write_text(site + "\n")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
         str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "DATABASE_URL")}
    env |= {"BENCHMARKING_DATA_DIR": str(outside / "data"), "PYTHONNOUSERSITE": "1"}
    where = subprocess.run(
        [str(python), "-c", "import benchmarking_assets; print(benchmarking_assets.__file__)"],
        cwd=outside, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(str(venv)), f"imported the checkout, not the wheel: {where}"
    demo = subprocess.run(
        [str(venv / "bin" / "benchmarking"), "demo", "--states", "CA,TX", "--years", "2018-2019"],
        cwd=outside, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-4000:]
    assert "Demo finished" in demo.stdout
    assert "no migrations found" not in demo.stdout + demo.stderr
    warehouse = outside / "data" / "warehouse.sqlite"
    assert warehouse.exists()
    import sqlite3

    with sqlite3.connect(warehouse) as con:
        loaded = con.execute(
            "SELECT state_code, year, COUNT(*) FROM district_data_history GROUP BY 1, 2"
        ).fetchall()
        migrations = [r[0] for r in con.execute("SELECT version FROM schema_migrations")]
    assert sorted((s, y) for s, y, _ in loaded) == [
        ("CA", 2018), ("CA", 2019), ("TX", 2018), ("TX", 2019)
    ]  # fmt: skip
    assert all(n > 0 for *_, n in loaded)
    assert migrations == sorted(p.stem for p in (REPO / "sql").glob("*.sql"))
