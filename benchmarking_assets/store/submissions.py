"""Private submissions in the warehouse: inbox files ingested, consented contributions read,
expired or unconsented submissions purged (no Dagster).

:func:`ingest_file` validates one inbox file (:mod:`benchmarking_assets.core.submissions`) and
writes its accepted rows, the lines it accepted, its file record and an audit entry in one
transaction. A file with bad rows is moved to ``inbox/quarantine/`` with
``<name>.reasons.txt`` beside it and its valid rows are kept; a clean file is deleted once its
rows are in the warehouse (the warehouse is the system of record, so no private copy lingers).

**Re-sending.** "Already ingested" means "ingesting it again would change nothing", not "these
bytes were seen before". A re-sent file (same SHA-256) is validated again against today's
registry, and each accepted row is written unless the warehouse already holds that row from
this file, or holds a row for the same (leaid, year, metric) received at or after this file was
first received (a later correction is never reverted by re-sending an older file). So a file
whose rows were rejected because its district was not enrolled yet is accepted when re-sent
after enrolment, and a file re-sent after a withdrawal and re-enrolment or a retention purge
brings its rows back; re-sending an ingested file unchanged writes nothing.

**Nothing outside the inbox is read, moved or written.** Files are opened relative to the
inbox directory with ``O_NOFOLLOW`` and checked with ``fstat``: a symbolic link, a FIFO or
device, a file with other hard links (it may be a file elsewhere) or a file over
``SUBMISSIONS_MAX_FILE_BYTES`` is not read but moved, as it is (a link stays a link), into
quarantine with the reason. ``quarantine/`` must be a real directory of the inbox; quarantined
names never overwrite an earlier file (``name``, ``name.1``, ``name.2``, … reserved with
``O_EXCL``). Run-config paths must name files directly in the inbox (:func:`inbox_names`).
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from benchmarking_assets.core.catalog import CATEGORIES
from benchmarking_assets.core.submissions import ParsedFile, Registry, parse_bytes
from benchmarking_assets.store import audit, participation
from benchmarking_assets.store.raw import known_districts
from benchmarking_assets.store.warehouse import WarehouseStore, utc_now

SUBMISSION_SUFFIXES = (".csv", ".json")
QUARANTINE = "quarantine"
MAX_INBOX_FILES = 10_000  # files taken per listing; the rest wait for the next run
_MAX_NAME_ATTEMPTS = 1_000  # name, name.1, … name.999 in quarantine
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class InboxLimits:
    """Bounds on one inbox file (``SUBMISSIONS_MAX_FILE_BYTES``, ``SUBMISSIONS_MAX_ROWS``)."""

    max_file_bytes: int = 10_000_000
    max_rows: int = 100_000


class InboxError(ValueError):
    """A requested file is not in the inbox, or the inbox's quarantine cannot be used safely."""


def _is_candidate(name: str) -> bool:
    return Path(name).suffix.lower() in SUBMISSION_SUFFIXES and not name.startswith(".")


def inbox_files(inbox: Path, limit: int = MAX_INBOX_FILES) -> list[Path]:
    """Regular files waiting at the top of the inbox (never followed through a symbolic link;
    hidden and partial files skipped), in name order, at most ``limit``."""
    return [inbox / name for name in _listing(inbox, limit, regular_only=True)]


def inbox_entries(inbox: Path, limit: int = MAX_INBOX_FILES) -> list[Path]:
    """Every submission-named entry at the top of the inbox, regular or not (a symbolic link, a
    FIFO): what a whole-inbox run handles, the irregular ones by quarantining them unread."""
    return [inbox / name for name in _listing(inbox, limit, regular_only=False)]


def _listing(inbox: Path, limit: int, regular_only: bool) -> list[str]:
    if not inbox.is_dir():
        return []
    names = []
    with os.scandir(inbox) as entries:
        for entry in entries:
            if not _is_candidate(entry.name) or entry.is_dir(follow_symlinks=False):
                continue
            if regular_only and not entry.is_file(follow_symlinks=False):
                continue
            names.append(entry.name)
    return sorted(names)[:limit]


def inbox_names(inbox: Path, files: Sequence[str]) -> list[Path]:
    """Run-config ``files`` as paths of the inbox, or :class:`InboxError` naming the first one
    that is not directly in it (nothing is read, moved or deleted outside the inbox)."""
    root = Path(os.path.realpath(inbox))
    paths = []
    for i, entry in enumerate(files):
        path = Path(entry)
        where = path if path.is_absolute() else inbox / path
        parent = Path(os.path.realpath(where.parent))
        if parent != root or path.name in ("", ".", "..") or not _is_candidate(path.name):
            raise InboxError(
                f"files[{i}] = {entry!r} is not a .csv or .json file directly in the inbox "
                f"{inbox}: only inbox files are ingested"
            )
        paths.append(inbox / path.name)
    return paths


def validation_registry(store: WarehouseStore) -> Registry:
    """The known districts and what each participant shares: what validation must know."""
    return Registry(known_districts(store), participation.active_shares(store))


# ------------------------------------------------------------------------ the inbox, safely
@contextmanager
def _directory(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


def read_inbox_file(inbox_fd: int, name: str, max_bytes: int) -> tuple[bytes | None, str | None]:
    """``(content, None)``, or ``(None, why it is not read)`` for a file that is not a regular
    file of its own in the inbox or is larger than ``max_bytes``."""
    data, refusal, _ = read_inbox_drop(inbox_fd, name, max_bytes)
    return data, refusal


def read_inbox_drop(
    inbox_fd: int, name: str, max_bytes: int
) -> tuple[bytes | None, str | None, os.stat_result | None]:
    """:func:`read_inbox_file` plus the ``fstat`` of what was opened (None for a link)."""
    try:
        fd = os.open(
            name,
            os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY,
            dir_fd=inbox_fd,
        )
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "is a symbolic link; it was not followed or read", None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "is not a regular file; it was not read", info
        if info.st_nlink > 1:
            return None, (
                f"has {info.st_nlink} hard links (it may be a file outside the inbox); "
                "it was not read"
            ), info
        if info.st_size > max_bytes:
            return None, _too_large(info.st_size, max_bytes), info
        chunks, size = [], 0
        while size <= max_bytes:  # bounded: at most max_bytes + 1 bytes are read
            chunk = os.read(fd, min(_READ_CHUNK, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:  # it grew while we read it
            return None, _too_large(size, max_bytes), info
        return b"".join(chunks), None, info
    finally:
        os.close(fd)


@dataclass(frozen=True)
class InboxDrop:
    """One regular file waiting in the inbox, as ingestion would read it.

    ``identity`` tells this drop from a later re-send of the same bytes under the same name:
    the file's device, inode and status-change time (set by the kernel when the file is created
    or renamed into the inbox; ``cp -p`` or ``touch`` cannot set it back), size and
    modification time. ``content`` is None for a file ingestion refuses unread (too large,
    other hard links); its run quarantines it with the reason."""

    name: str
    content: bytes | None
    identity: tuple[int, ...]


def inbox_drops(inbox: Path, max_bytes: int, limit: int = MAX_INBOX_FILES) -> Iterator[InboxDrop]:
    """The regular files of :func:`inbox_files`, each read at most ``max_bytes`` (never
    through a link), one at a time; a file gone or replaced by a link meanwhile is skipped."""
    names = [path.name for path in inbox_files(inbox, limit)]
    if not names:
        return
    with _directory(inbox) as inbox_fd:
        for name in names:
            try:
                data, _, info = read_inbox_drop(inbox_fd, name, max_bytes)
            except FileNotFoundError:
                continue
            if info is None or not stat.S_ISREG(info.st_mode):
                continue
            identity = (info.st_dev, info.st_ino, info.st_ctime_ns, info.st_size,
                        info.st_mtime_ns)  # fmt: skip
            yield InboxDrop(name, data, identity)


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"is {size:,} bytes, more than SUBMISSIONS_MAX_FILE_BYTES = {max_bytes:,}; it was not "
        "read (split it into smaller files)"
    )


def _quarantine_dir(inbox_fd: int) -> int:
    """The inbox's own ``quarantine/`` directory (created if missing), never a link elsewhere."""
    with suppress(FileExistsError):
        os.mkdir(QUARANTINE, 0o700, dir_fd=inbox_fd)
    try:
        return os.open(
            QUARANTINE, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=inbox_fd
        )
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InboxError(
                "inbox/quarantine is not a directory of the inbox (a symbolic link or a file); "
                "nothing is moved or written there until it is removed"
            ) from None
        raise


def _create_new(dir_fd: int, name: str) -> int | None:
    """A new empty file ``name`` (never through a link, never over a file), or None if taken."""
    try:
        return os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
    except FileExistsError:
        return None


def quarantine_file(inbox: Path, name: str, reasons: str) -> str:
    """Move inbox file ``name`` into ``quarantine/`` with its reasons; returns its new name.

    The names are reserved first with ``O_EXCL`` (the file's as an empty placeholder that the
    rename then replaces), so an earlier quarantined file is never overwritten."""
    with _directory(inbox) as inbox_fd:
        q_fd = _quarantine_dir(inbox_fd)
        try:
            stem, suffix = os.path.splitext(name)
            for attempt in range(_MAX_NAME_ATTEMPTS):
                target = name if attempt == 0 else f"{stem}.{attempt}{suffix}"
                placeholder = _create_new(q_fd, target)
                if placeholder is None:
                    continue
                os.close(placeholder)
                notes = _create_new(q_fd, f"{target}.reasons.txt")
                if notes is None:
                    os.unlink(target, dir_fd=q_fd)
                    continue
                with os.fdopen(notes, "w", encoding="utf-8") as handle:
                    handle.write(reasons)
                os.rename(name, target, src_dir_fd=inbox_fd, dst_dir_fd=q_fd)
                return target
            raise InboxError(
                f"quarantine already holds {_MAX_NAME_ATTEMPTS} files named like {name}"
            )
        finally:
            os.close(q_fd)


def _remove(inbox: Path, name: str) -> None:
    with _directory(inbox) as inbox_fd, suppress(FileNotFoundError):
        os.unlink(name, dir_fd=inbox_fd)


# ------------------------------------------------------------------------ ingestion
def ingest_file(
    store: WarehouseStore,
    path: Path,
    registry: Registry,
    limits: InboxLimits | None = None,
) -> dict[str, Any]:
    """Ingest one inbox file (``path`` = inbox / name) atomically; returns a count summary.

    Rows, accepted lines, file record and audit entry land in one transaction; then the file is
    deleted (every line accepted) or quarantined with its reasons.

    ``registry`` is what the caller read before; the rows are re-validated against the
    registry as it stands under the participation lock when they are written, so a district
    that withdrew (or stopped sharing) meanwhile gets nothing inserted."""
    limits = limits or InboxLimits()
    inbox, name = path.parent, path.name
    with _directory(inbox) as inbox_fd:
        os.close(_quarantine_dir(inbox_fd))  # usable before anything is written, or refused
        data, refusal = read_inbox_file(inbox_fd, name, limits.max_file_bytes)
    if refusal is not None:
        return _refuse(store, inbox, name, refusal)
    assert data is not None
    parsed = parse_bytes(name, data, registry, limits.max_rows)
    with store.participation_lock() as conn:
        shares_now = participation.active_shares(store, conn=conn)
        if shares_now != dict(registry.shares):
            registry = replace(registry, shares=shares_now)
            parsed = parse_bytes(name, data, registry, limits.max_rows)
        first_received = store.scalar(
            "SELECT received_at FROM benchmark_submission_files WHERE file_sha256 = :s",
            {"s": parsed.sha256},
            conn=conn,
        )
        new = parsed.accepted
        if first_received is not None:
            new = _not_held(store, parsed, str(first_received), conn)
        unchanged = first_received is not None and new.height == 0 and parsed.rejected.height == 0
        if not unchanged:
            summary, writes = _writes(parsed, new, name, first_received)
            store.write_many(conn, writes)
    if unchanged:
        _remove(inbox, name)
        return {"file": name, "status": "already_ingested", "accepted": 0, "rejected": 0,
                "accepted_before": parsed.accepted.height}  # fmt: skip
    if parsed.rejected.height:
        summary["quarantined_as"] = quarantine_file(inbox, name, parsed.reasons_text)
    else:
        _remove(inbox, name)
    return summary


_HELD_SCHEMA = {
    "leaid": pl.String(),
    "year": pl.Int32(),
    "metric": pl.String(),
    "held_sha256": pl.String(),
    "held_received_at": pl.String(),
}
_LEAID_BATCH = 500


def _not_held(
    store: WarehouseStore, parsed: ParsedFile, first_received: str, conn: Connection | None = None
) -> pl.DataFrame:
    """The accepted rows of a re-sent file that the warehouse does not already hold from it
    and that no row received since the file was first received supersedes."""
    leaids = sorted(set(parsed.accepted["leaid"].to_list()))
    held = [pl.DataFrame(schema=_HELD_SCHEMA)]
    for start in range(0, len(leaids), _LEAID_BATCH):  # bounded IN lists
        batch = leaids[start : start + _LEAID_BATCH]
        params = {f"l{i}": leaid for i, leaid in enumerate(batch)}
        held.append(
            store.read_df(
                "SELECT leaid, year, metric, file_sha256 AS held_sha256, "
                "received_at AS held_received_at FROM benchmark_metric_submissions "
                f"WHERE leaid IN ({', '.join(':' + p for p in params)})",
                params,
                schema=_HELD_SCHEMA,
                conn=conn,
            )
        )
    joined = parsed.accepted.join(
        pl.concat(held), on=["leaid", "year", "metric"], how="left", nulls_equal=False
    )
    keep = pl.col("held_sha256").is_null() | (
        (pl.col("held_sha256") != parsed.sha256) & (pl.col("held_received_at") < first_received)
    )
    return joined.filter(keep).select(parsed.accepted.columns)


def _writes(
    parsed: ParsedFile, new: pl.DataFrame, name: str, first_received: str | None
) -> tuple[dict[str, Any], list[tuple[str, pl.DataFrame, dict[str, Any] | None]]]:
    now = utc_now()
    rows = new.with_columns(file_sha256=pl.lit(parsed.sha256), received_at=pl.lit(now)).select(
        "leaid", "year", "category", "metric", "value", "file_sha256", "line", "received_at"
    )
    status = "rejected" if parsed.file_error else ("partial" if parsed.rejected.height else "ok")
    counts = {"accepted": rows.height, "rejected": parsed.rejected.height}
    if first_received is not None:  # a re-send: what it had already given is not counted again
        counts["accepted_before"] = parsed.accepted.height - rows.height
    writes: list[tuple[str, pl.DataFrame, dict[str, Any] | None]] = []
    for (leaid, year), part in rows.group_by("leaid", "year", maintain_order=True):
        where = {"leaid": leaid, "year": year, "metric": part["metric"].to_list()}
        writes.append(("benchmark_metric_submissions", part, where))
    # received_at stays the first receipt: it is what "a later correction" is measured against
    record = pl.DataFrame(
        [{"file_sha256": parsed.sha256, "file_name": name, "received_at": first_received or now,
          "rows_accepted": parsed.accepted.height, "rows_rejected": counts["rejected"],
          "status": status}]
    )  # fmt: skip
    writes.append(("benchmark_submission_files", record, {"file_sha256": parsed.sha256}))
    errors = dict(parsed.rejected.group_by("error").len().sort("error").rows())
    details = {"file": name, "sha256": parsed.sha256, **counts, "errors": errors}
    writes.append(audit.audit_write("submissions.ingest", details, actor="inbox"))
    return {"file": name, "status": status, **counts, "errors": errors}, writes


def _refuse(store: WarehouseStore, inbox: Path, name: str, reason: str) -> dict[str, Any]:
    """A file that is not read: quarantined as it is, with the reason, and audited."""
    moved = quarantine_file(inbox, name, f"{name}: {reason}\n")
    details = {"file": name, "reason": reason, "quarantined_as": moved}
    store.replace_many([audit.audit_write("submissions.refuse", details, actor="inbox")])
    return {"file": name, "status": "refused", "accepted": 0, "rejected": 0, "reason": reason,
            "quarantined_as": moved}  # fmt: skip


def _shared(category: str) -> str:
    """SQL: the participant ``p`` shares the submission's ``category`` column."""
    return " OR ".join(f"({category} = '{c}' AND p.shares_{c} = 1)" for c in CATEGORIES)


_SHARED = _shared("s.category")


def consented_contributions(
    store: WarehouseStore, year: int, conn: Connection | None = None
) -> pl.DataFrame:
    """Submissions of the year from current participants, in categories they still share."""
    return store.read_df(
        "SELECT s.leaid, s.category, s.metric, s.value FROM benchmark_metric_submissions s "
        f"JOIN benchmark_participants p ON p.leaid = s.leaid WHERE s.year = :y AND ({_SHARED})",
        {"y": year},
        schema={"leaid": pl.String(), "category": pl.String(), "metric": pl.String(),
                "value": pl.Float64()},
        conn=conn,
    )  # fmt: skip


def purge_expired(store: WarehouseStore, retention_days: int, inbox: Path) -> dict[str, int]:
    """Delete expired or no-longer-consented submissions and old quarantined files."""
    if retention_days < 1:
        raise ValueError(f"DATA_RETENTION_DAYS must be ≥ 1, got {retention_days}")
    max_age = retention_days * 86_400
    cutoff = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - max_age))
    condition = (
        "received_at < :c OR NOT EXISTS (SELECT 1 FROM benchmark_participants p WHERE "
        f"p.leaid = benchmark_metric_submissions.leaid AND ({_shared('category')}))"
    )
    with store.transaction() as conn:
        purged = conn.execute(
            sa.text(f"DELETE FROM benchmark_metric_submissions WHERE {condition}"), {"c": cutoff}
        ).rowcount
        entry = audit.audit_frame(
            "retention.purge", {"cutoff": cutoff, "submissions": purged}, actor="dagster"
        )
        store.bulk_insert(conn, "privacy_audit_log", entry)
    files = 0
    quarantine = inbox / QUARANTINE
    if quarantine.is_dir() and not quarantine.is_symlink():
        with os.scandir(quarantine) as entries:
            for entry in entries:  # a link is removed as a link: its target is never touched
                old = entry.stat(follow_symlinks=False).st_mtime < time.time() - max_age
                if old and not entry.is_dir(follow_symlinks=False):
                    os.unlink(entry.path)
                    files += 1
    return {"submissions_purged": int(purged), "quarantine_files_purged": files}
