"""Private keys for keyed digests (``privacy_secrets``), and the digests built from them.

Anything that must be stable (a run key, a cursor, the lookup key of a stored noise draw) yet
must not let anyone test a guess of what it was computed from is an HMAC-SHA256 with a
32-byte random key kept in the private table ``privacy_secrets``. A plain SHA-256 of a one-row
submission file, or of a group's values, is recovered by hashing every candidate value; an
HMAC is not, without the key (docs/privacy.md §3). Keys are created on first use and never
rotated silently: rotating ``input_digest`` forfeits every stored draw (everything is redrawn
and charged).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from benchmarking_assets.core.dp import keyed_digest
from benchmarking_assets.store.warehouse import WarehouseStore

INPUT_DIGEST_KEY = "input_digest"  # dp_noise_draws.input_digest
IDENTIFIER_KEY = "identifiers"  # run keys, cursors, tags shown in the Dagster UI


def private_key(store: WarehouseStore, name: str, conn: Connection | None = None) -> bytes:
    """The key called ``name``, created (32 random bytes) the first time it is asked for."""
    found = store.scalar(
        "SELECT value FROM privacy_secrets WHERE name = :n", {"n": name}, conn=conn
    )
    if found is None:
        insert = sa.text(
            "INSERT INTO privacy_secrets (name, value) VALUES (:n, :v) "
            "ON CONFLICT (name) DO NOTHING"
        )
        params = {"n": name, "v": secrets.token_hex(32)}
        if conn is not None:
            conn.execute(insert, params)
        else:
            with store.transaction() as fresh:
                fresh.execute(insert, params)
        # Two processes may race to create it; both then read the one that won.
        found = store.scalar(
            "SELECT value FROM privacy_secrets WHERE name = :n", {"n": name}, conn=conn
        )
    return bytes.fromhex(found)


def private_digest(store: WarehouseStore, *parts: object) -> str:
    """A keyed digest of ``parts`` for identifiers visible outside the warehouse."""
    return keyed_digest(private_key(store, IDENTIFIER_KEY), *parts)


def file_digest(store: WarehouseStore, content: bytes | None, *drop: object) -> str:
    """The keyed digest of one drop of an inbox file: its bytes (None: not read) and what tells
    this drop from a later one of the same bytes (``drop``, e.g. inode and change time). A run
    key that identifies the drop without letting anyone test a guess of its content."""
    mac = hmac.new(private_key(store, IDENTIFIER_KEY), digestmod=hashlib.sha256)
    mac.update(b"file:" + repr(drop).encode() + b"\0")
    mac.update(b"unread" if content is None else b"content:" + content)
    return mac.hexdigest()
