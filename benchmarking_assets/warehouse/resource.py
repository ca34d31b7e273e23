"""The warehouse as a Dagster resource (configured from ``DATABASE_URL``)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from benchmarking_assets.warehouse.store import WarehouseStore


class Warehouse(dg.ConfigurableResource):
    """SQLite file by default, PostgreSQL with a ``postgresql://`` URL; migrated on start."""

    database_url: str = Field(
        description="SQLAlchemy URL of the warehouse (sqlite:///… or postgresql://…).",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        applied = self.store().migrate()
        if applied and context.log:
            context.log.info(f"warehouse migrations applied: {', '.join(applied)}")

    def store(self) -> WarehouseStore:
        return WarehouseStore(self.database_url)
