"""Shared fixtures: warehouses on SQLite and PostgreSQL, one fresh database per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from benchmarking_assets.store.warehouse import WarehouseStore, get_engine
from benchmarking_assets_tests.postgres import find_postgres, with_search_path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Base URL of a reachable PostgreSQL (or a throwaway cluster); fails loudly, naming
    what to install, when there is neither: the PostgreSQL tests are never skipped."""
    url, cluster, reason = find_postgres()
    if url is None:
        pytest.fail(f"PostgreSQL is required: {reason}")
    try:
        yield url
    finally:
        if cluster is not None:
            cluster.stop()


def _postgres_schema_url(base_url: str) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(with_search_path(base_url, "public"))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = with_search_path(base_url, schema)
    try:
        yield url
    finally:
        engine = get_engine(url)
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    yield from _postgres_schema_url(postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty warehouse URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    else:
        base = request.getfixturevalue("postgres_url")
        yield from _postgres_schema_url(base)


@pytest.fixture
def store(warehouse_url: str) -> WarehouseStore:
    """A migrated warehouse on each backend (test runs twice: sqlite, postgresql)."""
    s = WarehouseStore(warehouse_url)
    s.migrate()
    return s
