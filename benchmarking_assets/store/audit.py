"""The privacy audit log (``docs/privacy.md``): who did what, when, to which district.

Entries are written in the same transaction as the change they describe (``audit_write``
returns a ``replace_many`` item), so a change without its audit entry cannot happen. The
details are JSON and hold counts, categories, years and cohort ids — never a private value.
The log is kept on withdrawal and retention purges; it is the one table that still names a
withdrawn district.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy.engine import Connection

from benchmarking_assets.store.warehouse import WarehouseStore

AUDIT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "occurred_at": pl.String(),
    "actor": pl.String(),
    "action": pl.String(),
    "leaid": pl.String(),
    "details": pl.String(),
}


def default_actor() -> str:
    """``BENCHMARKING_ACTOR``, else the OS user name."""
    try:
        return os.environ.get("BENCHMARKING_ACTOR") or getpass.getuser()
    except Exception:  # no user database entry in some containers
        return "unknown"


def audit_frame(
    action: str, details: dict[str, Any], leaid: str | None = None, actor: str | None = None
) -> pl.DataFrame:
    row = {
        "event_id": uuid.uuid4().hex,
        "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),  # sortable
        "actor": actor or default_actor(),
        "action": action,
        "leaid": leaid,
        "details": json.dumps(details, sort_keys=True, default=str),
    }
    return pl.DataFrame([row], schema=AUDIT_SCHEMA)


def audit_write(
    action: str, details: dict[str, Any], leaid: str | None = None, actor: str | None = None
) -> tuple[str, pl.DataFrame, None]:
    """A ``replace_many`` item appending one entry (the log is append-only: no delete)."""
    return ("privacy_audit_log", audit_frame(action, details, leaid, actor), None)


def read_log(
    store: WarehouseStore, leaid: str | None = None, conn: Connection | None = None
) -> pl.DataFrame:
    where = {"leaid": leaid} if leaid else None
    return store.read_table(
        "privacy_audit_log", AUDIT_SCHEMA, where=where, order_by=("occurred_at", "event_id"),
        conn=conn,
    )  # fmt: skip
