"""The warehouse: one SQLAlchemy URL, SQLite or PostgreSQL, the same results on both.

Everything that touches tables goes through :class:`WarehouseStore`:

* migrations from ``sql/`` applied once each, in name order, under a lock;
* reads into Polars with explicit types, so both backends give identical frames;
* :meth:`WarehouseStore.replace_rows`, the one way to write: delete a partition's rows and
  bulk-insert the new ones in a single transaction (COPY on PostgreSQL, batched
  ``executemany`` on SQLite), so a re-run replaces, never duplicates, and a failure leaves the
  previous rows untouched;
* concurrent writers of one partition take turns: on PostgreSQL each write first takes a
  transaction-level advisory lock per (table, partition) (:func:`partition_locks`), so a second
  run waits for the first to commit and then replaces its rows, instead of failing with a bare
  ``duplicate key``; it gives up after ``lock_timeout_seconds`` saying another run holds the
  partition. SQLite serialises writers itself (one write lock per database);
* every write error names the table and the partition (:class:`WarehouseError`), and text with a
  NUL character is refused on both backends with its row (PostgreSQL cannot store it);
* :meth:`WarehouseStore.participation_lock` serialises every writer of participant-derived data
  with every participation change (a withdrawal wins its races), and
  :meth:`WarehouseStore.write_many` writes inside that transaction; a write with filter ``None``
  only appends, and the append-only tables (:data:`APPEND_ONLY`) refuse deletes;
* :meth:`WarehouseStore.checkpoint` folds SQLite's write-ahead log into the database file at the
  end of each run, so ``warehouse.sqlite`` alone is the whole warehouse.

This module has no Dagster import; the Dagster resource is ``defs.resources.Warehouse``.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SQLITE_BATCH_ROWS = 5_000
_PG_MIGRATION_LOCK = 7_461_203  # arbitrary, constant advisory-lock id for migrations
# A write locks each of its partitions when it names at most this many (table, key) pairs per
# table, else the whole table: bounded lock counts (PostgreSQL's lock table is finite).
_MAX_PARTITION_LOCKS = 16
LOCK_TIMEOUT_SECONDS = 600
_CHECKPOINT_BUSY_MS = 2_000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


class WarehouseError(RuntimeError):
    """A warehouse operation failed; the message names the table and the partition."""


# Tables whose rows are never updated or deleted (also enforced by triggers, sql/0006).
APPEND_ONLY = frozenset({"privacy_noise_ledger", "privacy_audit_log"})


def sql_dir() -> Path:
    """Folder of the versioned DDL: ``BENCHMARKING_SQL_DIR``, else the migrations shipped beside
    this module (a wheel install: ``pyproject.toml`` packages the top-level ``sql/`` as
    ``store/migrations``), else the checkout's ``sql/`` (an editable install).
    """
    override = os.environ.get("BENCHMARKING_SQL_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).resolve().parent / "migrations"
    if any(packaged.glob("*.sql")):
        return packaged
    return Path(__file__).resolve().parents[2] / "sql"


def normalize_url(url: str) -> str:
    """Map ``postgres://`` and bare ``postgresql://`` URLs to the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


SUPPORTED_URLS = "sqlite:///path/to/warehouse.sqlite or postgresql://user@host:5432/db"


def safe_url(url: str) -> str:
    """``url`` with any password masked, for messages (a URL that does not parse is not shown:
    it may hold a password in a place the parser did not recognise)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(a URL that does not parse)"


def check_database_url(url: str) -> str:
    """The warehouse URL, or ``ValueError`` saying what is wrong with it.

    Refused: anything but SQLite and PostgreSQL (``mysql://``), misspelt schemes
    (``postgress://``, with the nearest supported one suggested), drivers the bulk loader does not
    speak (PostgreSQL is written with psycopg 3's COPY), an in-memory SQLite database (it keeps
    nothing once the run's connections close) and a SQLite file that cannot be created
    (:func:`benchmarking_assets.store.paths.check_local_path`).
    """
    import difflib

    from benchmarking_assets.store.paths import check_local_path

    text = url.strip()
    if not text:
        raise ValueError(f"is empty; want {SUPPORTED_URLS}")
    try:
        parsed = sa.engine.make_url(normalize_url(text))
    except Exception as exc:
        raise ValueError(
            f"is not a database URL ({type(exc).__name__}); want {SUPPORTED_URLS}"
        ) from None
    # From the text, not get_driver_name(): that imports the dialect, which fails for "postgress"
    backend, _, driver = parsed.drivername.partition("+")
    driver = driver or {"sqlite": "pysqlite", "postgresql": "psycopg2"}.get(backend, "")
    if backend not in ("sqlite", "postgresql"):
        close = difflib.get_close_matches(backend, ["postgresql", "sqlite"], n=1)
        hint = f" (did you mean {close[0]}://?)" if close else ""
        raise ValueError(f"scheme {backend!r} is not supported{hint}; want {SUPPORTED_URLS}")
    if backend == "postgresql":
        if driver != "psycopg":
            raise ValueError(
                f"driver {driver!r} is not supported: the warehouse loads through psycopg 3 "
                "(write postgresql:// or postgresql+psycopg://)"
            )
        return text
    if driver != "pysqlite":
        raise ValueError(f"SQLite driver {driver!r} is not supported (write sqlite:///path)")
    database = parsed.database or ""
    memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if memory or parsed.query.get("mode") == "memory":
        raise ValueError(
            "is an in-memory SQLite database, which keeps nothing once the run ends; "
            "name a file, e.g. sqlite:///./data/warehouse.sqlite"
        )
    try:
        check_local_path(database, "file")
    except ValueError as exc:
        raise ValueError(f"SQLite file {database}: {exc}") from None
    return text


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise WarehouseError(f"not a valid SQL identifier: {name!r}")
    return name


def get_engine(url: str) -> Engine:
    """One engine per URL per process (engines own connection pools)."""
    url = normalize_url(url)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                path = sa.engine.make_url(url).database
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                engine = sa.create_engine(url, connect_args={"timeout": 60})
                sa.event.listen(engine, "connect", _sqlite_on_connect)
            else:
                engine = sa.create_engine(url, pool_pre_ping=True)
            _engines[url] = engine
        return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the UI read while a run writes; NORMAL sync is safe with WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class WarehouseStore:
    """Typed reads and atomic partition writes against one warehouse URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = get_engine(url)
        self.dialect = self.engine.dialect.name  # "sqlite" | "postgresql"
        self._migrated = False

    # ------------------------------------------------------------------ migrations
    def migrate(self) -> list[str]:
        """Apply every ``sql/*.sql`` file not applied yet; returns the versions applied."""
        files = sorted(sql_dir().glob("*.sql"))
        if not files:
            raise WarehouseError(f"no migrations found in {sql_dir()}")
        applied_now: list[str] = []
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            conn.execute(
                sa.text(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    "version TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
            )
            done = {
                row[0] for row in conn.execute(sa.text("SELECT version FROM schema_migrations"))
            }
            for path in files:
                version = path.stem
                if version in done:
                    continue
                for statement in split_statements(path.read_text(encoding="utf-8"), self.dialect):
                    conn.exec_driver_sql(statement)
                conn.execute(
                    sa.text("INSERT INTO schema_migrations (version, applied_at) VALUES (:v, :t)"),
                    {"v": version, "t": utc_now()},
                )
                applied_now.append(version)
        self._migrated = True
        return applied_now

    def ensure_migrated(self) -> None:
        if not self._migrated:
            self.migrate()

    def table_names(self) -> list[str]:
        return sorted(sa.inspect(self.engine).get_table_names())

    # ------------------------------------------------------------------ reads
    def read_df(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        schema: Mapping[str, pl.DataType] | None = None,
        conn: Connection | None = None,
    ) -> pl.DataFrame:
        """Run a query and return a Polars frame.

        With ``schema`` the columns are cast to it (and the query must return exactly those
        columns), so SQLite's loose typing and PostgreSQL's give the same frame. With
        ``conn`` the query runs in that (open) transaction, e.g. under the participation lock.
        """
        with self._connection(conn) as c:
            result = c.execute(sa.text(sql), dict(params or {}))
            columns = list(result.keys())
            # The DBAPI cursor's plain tuples: SQLAlchemy's Row objects cost more than the
            # query itself on large reads.
            rows = result.cursor.fetchall() if result.cursor is not None else []
        if schema is not None:
            missing = [c for c in schema if c not in columns]
            if missing:
                raise WarehouseError(f"query did not return the columns {missing}")
            frame = pl.DataFrame(
                rows,
                schema={c: schema.get(c, pl.String()) for c in columns},
                orient="row",
                strict=False,
            )
            return frame.select(list(schema))
        return pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)

    def read_table(
        self,
        table: str,
        schema: Mapping[str, pl.DataType],
        where: Mapping[str, Any] | None = None,
        order_by: Sequence[str] = (),
        conn: Connection | None = None,
    ) -> pl.DataFrame:
        """Read the columns of ``schema`` from ``table``, optionally filtered like replace_rows."""
        cols = ", ".join(_check_identifier(c) for c in schema)
        clause, params = where_clause(where or {})
        order = f" ORDER BY {', '.join(_check_identifier(c) for c in order_by)}" if order_by else ""
        sql = f"SELECT {cols} FROM {_check_identifier(table)}{clause}{order}"
        return self.read_df(sql, params, schema=schema, conn=conn)

    def scalar(
        self, sql: str, params: Mapping[str, Any] | None = None, conn: Connection | None = None
    ) -> Any:
        with self._connection(conn) as c:
            return c.execute(sa.text(sql), dict(params or {})).scalar()

    @contextmanager
    def _connection(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as fresh:
            yield fresh

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        with self.engine.begin() as conn:
            return conn.execute(sa.text(sql), dict(params or {})).rowcount

    # ------------------------------------------------------------------ writes
    def replace_rows(self, table: str, df: pl.DataFrame, where: Mapping[str, Any]) -> int:
        """Atomically replace the rows of ``table`` matching ``where`` with ``df``.

        ``where`` maps columns to a value or a list of values (``IN``). Delete and insert run
        in one transaction: readers see the old rows or the new ones, never a half-written
        partition, and on any error the old rows stay.
        """
        return self.replace_many([(table, df, where)])

    def replace_many(
        self, writes: Sequence[tuple[str, pl.DataFrame, Mapping[str, Any] | None]]
    ) -> int:
        """Several :meth:`replace_rows` in one transaction: all land or none do.

        A write whose filter is ``None`` only appends (the append-only tables). On PostgreSQL
        the partitions are locked first (see the module docstring), so concurrent writers of a
        partition run one after the other."""
        _check_writes(writes)
        current = _Current(writes)
        try:
            with self.transaction() as conn:
                self._write(conn, writes, current)
        except sa.exc.DBAPIError as exc:
            raise _write_error(exc.orig, *current.at) from exc
        except self.engine.dialect.dbapi.Error as exc:  # COPY and executemany raise these bare
            raise _write_error(exc, *current.at) from exc
        return sum(df.height for _, df, _ in writes)

    def write_many(
        self, conn: Connection, writes: Sequence[tuple[str, pl.DataFrame, Mapping[str, Any] | None]]
    ) -> int:
        """:meth:`replace_many` inside the caller's open transaction ``conn`` (the caller's
        transaction commits or rolls back everything)."""
        _check_writes(writes)
        current = _Current(writes)
        try:
            self._write(conn, writes, current)
        except sa.exc.DBAPIError as exc:
            raise _write_error(exc.orig, *current.at) from exc
        except self.engine.dialect.dbapi.Error as exc:
            raise _write_error(exc, *current.at) from exc
        return sum(df.height for _, df, _ in writes)

    def _write(
        self,
        conn: Connection,
        writes: Sequence[tuple[str, pl.DataFrame, Mapping[str, Any] | None]],
        current: _Current,
    ) -> None:
        if self.dialect == "postgresql":
            self._lock_partitions(conn, [(t, df, w) for t, df, w in writes if w is not None])
        for table, df, where in writes:
            current.at = (table, where or {})
            if where is not None:
                self._delete(conn, table, where)
            self.bulk_insert(conn, table, df)

    def _lock_partitions(
        self, conn: Connection, writes: Sequence[tuple[str, pl.DataFrame, Mapping[str, Any]]]
    ) -> None:
        if not writes:
            return  # appends only: they replace nothing, so they need no partition's turn
        exclusive, shared = partition_locks([(table, where) for table, _, where in writes])
        conn.execute(sa.text(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_SECONDS)}s'"))
        # One order for every writer (sorted keys), so two writers never wait on each other.
        for key in sorted(shared | exclusive):
            fn = "pg_advisory_xact_lock" if key in exclusive else "pg_advisory_xact_lock_shared"
            conn.execute(sa.text(f"SELECT {fn}(:k)"), {"k": key})

    # ------------------------------------------------------------------ participation lock
    @contextmanager
    def participation_lock(self, bump: bool = False) -> Iterator[Connection]:
        """A write transaction that holds the participation lock from its first statement.

        Every writer of participant-derived data, and every participation change, runs its
        reads-that-matter and its writes inside this, so a withdrawal and a writer are
        serialised: whichever takes the lock second sees the other's committed result.
        SQLite: ``BEGIN IMMEDIATE`` reserves the single writer slot (WAL readers go on);
        PostgreSQL: ``SELECT … FOR UPDATE`` on the one ``participation_state`` row, before any
        other statement, so later statements of the transaction see rows committed while it
        waited (READ COMMITTED). ``bump`` counts a participation change.
        """
        with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                conn.exec_driver_sql("SELECT generation FROM participation_state WHERE id = 1")
            else:
                conn.execute(
                    sa.text("SELECT generation FROM participation_state WHERE id = 1 FOR UPDATE")
                )
            if bump:
                conn.execute(
                    sa.text(
                        "UPDATE participation_state SET generation = generation + 1 WHERE id = 1"
                    )
                )
            yield conn

    def participation_generation(self) -> int:
        """How many participation changes have been committed (enroll, settings, withdraw)."""
        return int(self.scalar("SELECT generation FROM participation_state WHERE id = 1") or 0)

    def checkpoint(self) -> None:
        """SQLite: copy the write-ahead log into the database file and truncate it (no-op on
        PostgreSQL). Without it the newest writes live only in ``warehouse.sqlite-wal`` while a
        process keeps a connection open, and a copy of ``warehouse.sqlite`` alone misses them.
        Best effort: while another run is writing, the log is folded in as far as it can be and
        that run's own checkpoint finishes the job."""
        if self.dialect != "sqlite":
            return
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            # a short wait: a checkpoint must not hold up a run's end behind another run
            raw.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_BUSY_MS}")
            try:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                raw.execute("PRAGMA busy_timeout = 60000")

    def append_rows(self, table: str, df: pl.DataFrame) -> int:
        with self.transaction() as conn:
            self.bulk_insert(conn, table, df)
        return df.height

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _delete(self, conn: Connection, table: str, where: Mapping[str, Any]) -> int:
        if table in APPEND_ONLY:
            raise WarehouseError(f"{table} is append-only: its rows are never deleted or replaced")
        clause, params = where_clause(where)
        return conn.execute(
            sa.text(f"DELETE FROM {_check_identifier(table)}{clause}"), params
        ).rowcount

    def bulk_insert(self, conn: Connection, table: str, df: pl.DataFrame) -> None:
        """Insert ``df`` inside the caller's transaction: COPY (PostgreSQL) or batches (SQLite)."""
        if df.height == 0:
            return
        table = _check_identifier(table)
        columns = [_check_identifier(c) for c in df.columns]
        if self.dialect == "postgresql":
            _copy_into(conn, table, columns, df)
        else:
            _insert_batches(conn, table, columns, df)


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set | frozenset | range) else [value]


def partition_locks(
    writes: Sequence[tuple[str, Mapping[str, Any]]],
) -> tuple[set[int], set[int]]:
    """PostgreSQL advisory-lock keys for writes ``(table, where)``: ``(exclusive, shared)``.

    Per table, each partition key (one value per ``where`` column: the product of the lists) is
    locked exclusively, with the table's own key shared; a write naming more than
    :data:`_MAX_PARTITION_LOCKS` partitions of a table locks the table's key exclusively
    instead, which also excludes every partition writer of that table."""
    by_table: dict[str, set[tuple[Any, ...]]] = {}
    for table, where in writes:
        columns = sorted(where)
        combos = {()}
        for column in columns:
            combos = {(*c, (column, v)) for c in combos for v in _values(where[column])}
            if len(combos) > _MAX_PARTITION_LOCKS:
                break
        by_table.setdefault(table, set()).update(combos)
    exclusive: set[int] = set()
    shared: set[int] = set()
    for table, combos in by_table.items():
        if len(combos) > _MAX_PARTITION_LOCKS:
            exclusive.add(_lock_key(table))
            continue
        shared.add(_lock_key(table))
        exclusive.update(_lock_key(table, combo) for combo in combos)
    return exclusive, shared - exclusive


def _lock_key(table: str, combo: tuple[Any, ...] = ()) -> int:
    import hashlib

    digest = hashlib.blake2b(repr((table, combo)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _where_text(where: Mapping[str, Any]) -> str:
    parts = []
    for column, value in where.items():
        values = _values(value)
        shown = ", ".join(map(str, values[:5]))
        if len(values) > 5:
            shown += f", … ({len(values)})"
        parts.append(f"{column}={shown}" if len(values) == 1 else f"{column} in [{shown}]")
    return " ".join(parts)


def _write_error(exc: BaseException, table: str, where: Mapping[str, Any]) -> WarehouseError:
    """The driver's error in words that name the table and partition being written."""
    sqlstate = getattr(exc, "sqlstate", None)
    detail = str(getattr(getattr(exc, "diag", None), "message_detail", None) or "")
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    partition = f"{table} ({_where_text(where)})"
    if sqlstate == "55P03":  # lock_not_available: lock_timeout expired
        return WarehouseError(
            f"{partition}: another run has held this partition for more than "
            f"{LOCK_TIMEOUT_SECONDS} s; nothing was written, try again when it has finished"
        )
    if sqlstate == "23505" or "UNIQUE constraint failed" in message:
        return WarehouseError(
            f"{partition}: duplicate key, a row with this key is already there or twice in "
            f"the write ({detail or message}); nothing was written"
        )
    return WarehouseError(f"{partition}: the write failed, nothing was written: {message}")


class _Current:
    """The write in progress, for the error message (table, partition)."""

    def __init__(self, writes: Sequence[tuple[str, pl.DataFrame, Mapping[str, Any] | None]]):
        self.at: tuple[str, Mapping[str, Any]] = (
            (writes[0][0], writes[0][2] or {}) if writes else ("", {})
        )


def _check_writes(writes: Sequence[tuple[str, pl.DataFrame, Mapping[str, Any] | None]]) -> None:
    """Before anything is written: every filter names a partition (``None``: append only), no
    row lies outside it, no text holds a NUL."""
    for table, df, where in writes:
        if where is not None and not where:
            raise WarehouseError(f"replace_many({table}) needs a partition filter")
        if where is not None:
            _check_rows_inside(table, df, where)
        _check_text(table, df, where or {})


def _check_text(table: str, df: pl.DataFrame, where: Mapping[str, Any]) -> None:
    """Refuse text PostgreSQL cannot store (NUL), on both backends alike, naming the row."""
    for column, dtype in df.schema.items():
        if dtype != pl.String:
            continue
        bad = df.with_row_index("__row").filter(pl.col(column).str.contains("\x00", literal=True))
        if bad.height:
            row = bad.row(0, named=True)
            keys = {c: row[c] for c in where if c in row}
            raise WarehouseError(
                f"{table} ({_where_text(where)}): row {row['__row']} {keys} has a NUL character "
                f"in {column}; text with NUL cannot be stored (clean it where it is read in)"
            )


def _check_rows_inside(table: str, df: pl.DataFrame, where: Mapping[str, Any]) -> None:
    """Refuse rows outside the partition being replaced: they would survive the next delete."""
    for column, value in where.items():
        if column not in df.columns or df.height == 0:
            continue
        allowed = _values(value)
        outside = df.filter(~pl.col(column).is_in(allowed))
        if outside.height:
            raise WarehouseError(
                f"{table}: {outside.height} row(s) have {column}={outside[column][0]!r}, "
                f"outside the partition being replaced ({column} in {allowed})"
            )


def _copy_into(conn: Connection, table: str, columns: list[str], df: pl.DataFrame) -> None:
    # CSV through COPY is ~40x faster than executemany; NULLs are written as \N, which no
    # real value can be (we quote every string).
    buffer = io.BytesIO()
    df.write_csv(buffer, include_header=False, null_value="\\N", quote_style="non_numeric")
    raw = conn.connection.dbapi_connection
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    with raw.cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(buffer.getvalue())


def _insert_batches(conn: Connection, table: str, columns: list[str], df: pl.DataFrame) -> None:
    placeholders = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        for start in range(0, df.height, _SQLITE_BATCH_ROWS):
            batch = df.slice(start, _SQLITE_BATCH_ROWS)
            cursor.executemany(sql, batch.rows())
    finally:
        cursor.close()


def where_clause(where: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{"state_code": "CA", "year": [2018, 2019]}`` → SQL ``WHERE`` text and bind params."""
    if not where:
        return "", {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, (column, value) in enumerate(where.items()):
        column = _check_identifier(column)
        if isinstance(value, list | tuple | set | frozenset | range):
            values = list(value)
            if not values:
                parts.append("1 = 0")
                continue
            names = [f"w{i}_{j}" for j in range(len(values))]
            parts.append(f"{column} IN ({', '.join(':' + n for n in names)})")
            params.update(zip(names, values, strict=True))
        elif value is None:
            parts.append(f"{column} IS NULL")
        else:
            parts.append(f"{column} = :w{i}")
            params[f"w{i}"] = value
    return " WHERE " + " AND ".join(parts), params


def split_statements(script: str, dialect: str) -> list[str]:
    """Split a DDL file on ``;`` at line ends, dropping ``--`` comments.

    A line ``-- dialect: postgresql`` (or ``sqlite``) makes the following statement apply to
    that backend only, for the rare DDL the two cannot share.
    """
    statements: list[str] = []
    current: list[str] = []
    only_for: str | None = None
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith("-- dialect:"):
            only_for = stripped.split(":", 1)[1].strip()
            continue
        if stripped.startswith("--"):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statement = "\n".join(current).strip().rstrip(";").strip()
            if statement and (only_for is None or only_for == dialect):
                statements.append(statement)
            current, only_for = [], None
    tail = "\n".join(current).strip()
    if tail and (only_for is None or only_for == dialect):
        statements.append(tail)
    return statements


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
