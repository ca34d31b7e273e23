"""Find a PostgreSQL server for the tests, or start a throwaway one from installed binaries.

Order: ``TEST_DATABASE_URL`` (default the machine's server at 127.0.0.1:5432, database
``test``); if that does not answer, a temporary cluster made with ``initdb`` from the
installed PostgreSQL binaries (as pytest-postgresql does). When neither is possible the
PostgreSQL tests fail, naming what to install; they are never skipped.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/test"
INSTALL_HINT = (
    "PostgreSQL is not reachable at {url} and no PostgreSQL binaries were found to start a "
    "throwaway cluster. Install it (Debian/Ubuntu: `apt-get install postgresql`) or point "
    "TEST_DATABASE_URL at a server you can create schemas in."
)


def _driver_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def can_connect(url: str) -> bool:
    engine = sa.create_engine(_driver_url(url), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder; ``stop()`` removes it."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = shutil.which("initdb") or (bins[-1] if bins else None)
        if not initdb:
            raise FileNotFoundError("initdb")
        self.bindir = Path(initdb).parent
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: run the cluster as postgres
            shutil.chown(self.dir, user="postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ]
        )
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(self.dir / "log"),
                "-w",
                "start",
            ]
        )
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        for _ in range(50):
            if can_connect(self.url):
                break
            time.sleep(0.2)

    def _run(self, cmd: list[str]) -> None:
        subprocess.run(self._as_user + cmd, check=True, capture_output=True)

    def stop(self) -> None:
        try:
            self._run(
                [
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.dir / "data"),
                    "-m",
                    "immediate",
                    "stop",
                ]
            )
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def find_postgres() -> tuple[str | None, ThrowawayCluster | None, str | None]:
    """Return (url, cluster-to-stop, reason-if-none)."""
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_URL)
    if can_connect(url):
        return url, None, None
    try:
        cluster = ThrowawayCluster()
    except FileNotFoundError as exc:
        if exc.filename in (None, "initdb"):  # no PostgreSQL binaries at all
            return None, None, INSTALL_HINT.format(url=url)
        return None, None, f"{url} is not reachable and starting a throwaway cluster failed: {exc}"
    except (subprocess.CalledProcessError, KeyError, PermissionError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return (
            None,
            None,
            (
                f"{url} is not reachable and starting a throwaway cluster failed: {exc} "
                f"{detail.decode(errors='replace').strip()}"
            ),
        )
    return cluster.url, cluster, None


def with_search_path(url: str, schema: str) -> str:
    """A URL whose connections use ``schema`` first (one schema per test)."""
    sep = "&" if "?" in url else "?"
    return f"{_driver_url(url)}{sep}options=-csearch_path%3D{schema}"
