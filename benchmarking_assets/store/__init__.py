"""Every read and write of the warehouse: the store, and the services that change its tables.

No Dagster here: these functions are called by the Dagster definitions, the CLI and the tests
alike, and take a :class:`WarehouseStore` (plus plain settings) as their arguments.
"""

from benchmarking_assets.store.warehouse import WarehouseError, WarehouseStore, where_clause

__all__ = ["WarehouseError", "WarehouseStore", "where_clause"]
