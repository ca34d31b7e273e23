"""Warehouse layer: DDL migrations, typed reads, atomic partition writes."""

from benchmarking_assets.warehouse.resource import Warehouse
from benchmarking_assets.warehouse.store import WarehouseError, WarehouseStore, where_clause

__all__ = ["Warehouse", "WarehouseError", "WarehouseStore", "where_clause"]
