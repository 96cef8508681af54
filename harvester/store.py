"""The embedded store: one SQLite file (WAL) holding harvested records and harvest state.

Records are keyed by ``(source, source_id)`` (for OAI-PMH: the base URL and the OAI
identifier) and hold the normalised JSON (``Record.model_dump_json(by_alias=True)``), the
raw payload, a content hash, the datestamp and provenance. The hash covers the record
without its provenance (which carries fetch times), so replaying a page changes nothing:
an upsert with an equal hash is ``unchanged``. Deletions are tombstones, never row
removals, so a change feed can carry them.

Durability: :meth:`Store.commit_page` writes a page's records, quarantined records and
the harvest checkpoint in one transaction. Killing the process at any moment leaves the
store at the end of some page, with the checkpoint pointing at the next one: nothing lost,
nothing duplicated. Exports are written to a temporary file in the target folder,
fsynced and renamed into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from harvester.errors import StoreError
from harvester.model import Provenance, Record

_VOLATILE = {"provenance"}

# Each entry upgrades the schema by one version (PRAGMA user_version); never edit a
# released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE records (
        source      TEXT NOT NULL,
        source_id   TEXT NOT NULL,
        json        TEXT,
        raw         BLOB,
        raw_format  TEXT,
        hash        TEXT NOT NULL,
        datestamp   TEXT,
        deleted     INTEGER NOT NULL DEFAULT 0,
        sets        TEXT NOT NULL DEFAULT '[]',
        provenance  TEXT,
        first_seen  TEXT NOT NULL,
        changed_at  TEXT NOT NULL,
        PRIMARY KEY (source, source_id)
    );
    CREATE INDEX records_changed_at ON records (changed_at);
    CREATE TABLE checkpoints (
        endpoint           TEXT NOT NULL,
        prefix             TEXT NOT NULL,
        set_spec           TEXT NOT NULL DEFAULT '',
        status             TEXT NOT NULL,
        token              TEXT,
        token_expiry       TEXT,
        cursor             INTEGER,
        complete_list_size INTEGER,
        last_datestamp     TEXT,
        harvest_from       TEXT,
        harvest_until      TEXT,
        ordered            INTEGER NOT NULL DEFAULT 1,
        granularity        TEXT,
        pages              INTEGER NOT NULL DEFAULT 0,
        records            INTEGER NOT NULL DEFAULT 0,
        started_at         TEXT,
        updated_at         TEXT,
        PRIMARY KEY (endpoint, prefix, set_spec)
    );
    CREATE TABLE quarantine (
        id          INTEGER PRIMARY KEY,
        source      TEXT NOT NULL,
        source_id   TEXT,
        reason      TEXT NOT NULL,
        raw         BLOB,
        at          TEXT NOT NULL,
        UNIQUE (source, source_id, reason)
    );
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        summary     TEXT
    );
    """,
)


def now() -> str:
    """UTC now, ISO 8601 with microseconds: sortable as text, so SQL compares it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalised_json(record: Record) -> str:
    """The stored form: ``model_dump_json(by_alias=True)`` without provenance.

    Provenance (fetch times) lives in its own column, so the JSON is exactly what the
    content hash covers: one serialisation per record, not two.
    """
    return record.model_dump_json(by_alias=True, exclude=_VOLATILE)


def content_hash(record: Record | str) -> str:
    """SHA-256 of the record's normalised JSON (provenance excluded: fetch times vary)."""
    data = record if isinstance(record, str) else normalised_json(record)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


DELETED_HASH = "deleted"


@dataclass
class Checkpoint:
    """Where a harvest of one (endpoint, prefix, set) stands.

    ``status`` is ``running`` while a list is being paged (``token`` is the next page) and
    ``complete`` after it ended; ``last_datestamp`` is the highest datestamp stored and
    ``ordered`` says whether the server has so far sent datestamps in order (only then is
    restarting from ``last_datestamp`` lossless).
    """

    endpoint: str
    prefix: str
    set_spec: str = ""
    status: str = "running"
    token: str | None = None
    token_expiry: str | None = None
    cursor: int | None = None
    complete_list_size: int | None = None
    last_datestamp: str | None = None
    harvest_from: str | None = None
    harvest_until: str | None = None
    ordered: bool = True
    granularity: str | None = None
    pages: int = 0
    records: int = 0
    started_at: str | None = None
    updated_at: str | None = None


@dataclass
class Item:
    """One record (or tombstone, ``record=None``) to store."""

    source_id: str
    record: Record | None
    raw: bytes | None = None
    raw_format: str | None = None
    datestamp: str | None = None
    sets: Sequence[str] = ()


@dataclass
class Quarantined:
    """A record that could not be read or mapped: kept with its reason and raw payload."""

    source_id: str | None
    reason: str
    raw: bytes | None


@dataclass
class Change:
    """What one upsert did: ``added``, ``changed`` (with fields), ``deleted``, ``unchanged``."""

    source_id: str
    kind: str
    fields: list[str] = field(default_factory=list)


def _changed_fields(old_json: str | None, new_json: str) -> list[str]:
    if not old_json:
        return []
    old = json.loads(old_json)
    fresh = json.loads(new_json)
    return sorted(k for k in set(old) | set(fresh) if old.get(k) != fresh.get(k))


class Store:
    """An open store; use as a context manager or call :meth:`close`.

    Raises:
        StoreError: the file cannot be opened, or was written by a newer version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at commit
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        self._lock_file: TextIO | None = None

    # --- schema ------------------------------------------------------------------------

    @property
    def version(self) -> int:
        row = self.db.execute("PRAGMA user_version").fetchone()
        return int(row[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this harvester "
                f"({len(MIGRATIONS)})"
            )
        for number, script in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.transaction():
                for statement in script.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    # --- plumbing ----------------------------------------------------------------------

    def close(self) -> None:
        self.unlock()
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot start a transaction: {exc}") from exc
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: commit failed: {exc}") from exc

    def lock(self) -> None:
        """Take the store's writer lock (one harvest or refresh at a time).

        Raises:
            StoreError: another process holds it.
        """
        if self._lock_file is not None:
            return
        handle = open(f"{self.path}.lock", "w")  # noqa: SIM115 - held until unlock()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise StoreError(
                f"{self.path}: another harvest or refresh is running on this store"
            ) from exc
        self._lock_file = handle

    def unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # --- records -----------------------------------------------------------------------

    def _existing(self, source: str, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
        """``source_id -> (hash, json, deleted, datestamp)`` for the ids already stored."""
        found: dict[str, tuple[Any, ...]] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" for _ in chunk)
            for row in self.db.execute(
                "SELECT source_id, hash, json, deleted, datestamp FROM records "
                f"WHERE source=? AND source_id IN ({marks})",
                [source, *chunk],
            ):
                found[row[0]] = row[1:]
        return found

    def _row(self, source: str, source_id: str) -> tuple[Any, ...] | None:
        row = self.db.execute(
            "SELECT hash, json, deleted, datestamp FROM records WHERE source=? AND source_id=?",
            (source, source_id),
        ).fetchone()
        return tuple(row) if row else None

    def _upsert_all(self, source: str, items: Sequence[Item], stamp: str) -> list[Change]:
        known = self._existing(source, [item.source_id for item in items])
        done: set[str] = set()
        changes = []
        for item in items:
            # One query for the page; an identifier repeated within it is looked up again.
            if item.source_id in done:
                row = self._row(source, item.source_id)
            else:
                row = known.get(item.source_id)
            changes.append(self._upsert(source, item, stamp, row))
            done.add(item.source_id)
        return changes

    def _upsert(self, source: str, item: Item, stamp: str, row: tuple[Any, ...] | None) -> Change:
        sets = json.dumps(list(item.sets))
        if item.record is None:
            if row is not None and row[2]:
                return Change(item.source_id, "unchanged")
            if row is None:
                self.db.execute(
                    "INSERT INTO records (source, source_id, json, raw, raw_format, hash, "
                    "datestamp, deleted, sets, first_seen, changed_at) "
                    "VALUES (?, ?, NULL, ?, ?, ?, ?, 1, ?, ?, ?)",
                    (
                        source,
                        item.source_id,
                        item.raw,
                        item.raw_format,
                        DELETED_HASH,
                        item.datestamp,
                        sets,
                        stamp,
                        stamp,
                    ),
                )
            else:
                self.db.execute(
                    "UPDATE records SET deleted=1, hash=?, raw=?, datestamp=?, sets=?, "
                    "changed_at=? WHERE source=? AND source_id=?",
                    (DELETED_HASH, item.raw, item.datestamp, sets, stamp, source, item.source_id),
                )
            return Change(item.source_id, "deleted")
        record = item.record
        document = normalised_json(record)
        digest = content_hash(document)
        provenance = json.dumps([p.model_dump(mode="json") for p in record.provenance])
        if row is None:
            self.db.execute(
                "INSERT INTO records (source, source_id, json, raw, raw_format, hash, datestamp, "
                "deleted, sets, provenance, first_seen, changed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    source,
                    item.source_id,
                    document,
                    item.raw,
                    item.raw_format,
                    digest,
                    item.datestamp,
                    sets,
                    provenance,
                    stamp,
                    stamp,
                ),
            )
            return Change(item.source_id, "added")
        if row[0] == digest and not row[2]:
            if row[3] != item.datestamp:
                # A new datestamp with the same content: keep it current, report nothing.
                self.db.execute(
                    "UPDATE records SET datestamp=?, raw=?, sets=? WHERE source=? AND source_id=?",
                    (item.datestamp, item.raw, sets, source, item.source_id),
                )
            return Change(item.source_id, "unchanged")
        fields = _changed_fields(row[1], document) if not row[2] else ["deleted"]
        self.db.execute(
            "UPDATE records SET json=?, raw=?, raw_format=?, hash=?, datestamp=?, deleted=0, "
            "sets=?, provenance=?, changed_at=? WHERE source=? AND source_id=?",
            (
                document,
                item.raw,
                item.raw_format,
                digest,
                item.datestamp,
                sets,
                provenance,
                stamp,
                source,
                item.source_id,
            ),
        )
        return Change(item.source_id, "changed", fields)

    def put(self, source: str, items: Sequence[Item]) -> list[Change]:
        """Upsert records outside any harvest (one transaction)."""
        with self.transaction():
            stamp = now()
            return self._upsert_all(source, items, stamp)

    def commit_page(
        self,
        source: str,
        items: Sequence[Item],
        quarantined: Sequence[Quarantined],
        checkpoint: Checkpoint | None,
    ) -> list[Change]:
        """Store one page's records, quarantine and checkpoint in a single transaction."""
        try:
            with self.transaction():
                stamp = now()
                changes = self._upsert_all(source, items, stamp)
                for bad in quarantined:
                    self.db.execute(
                        "INSERT INTO quarantine (source, source_id, reason, raw, at) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, source_id, reason) "
                        "DO UPDATE SET raw=excluded.raw, at=excluded.at",
                        (source, bad.source_id, bad.reason, bad.raw, stamp),
                    )
                if checkpoint is not None:
                    checkpoint.updated_at = stamp
                    self._save_checkpoint(checkpoint)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store a page: {exc}") from exc
        return changes

    def get(self, source: str, source_id: str) -> Record | None:
        row = self.db.execute(
            "SELECT json, provenance FROM records WHERE source=? AND source_id=? AND deleted=0",
            (source, source_id),
        ).fetchone()
        if not row or not row[0]:
            return None
        record = Record.model_validate_json(row[0])
        if row[1]:
            record.provenance = [Provenance(**p) for p in json.loads(row[1])]
        return record

    def hashes(self, source: str | None = None) -> dict[tuple[str, str], str]:
        """``(source, source_id) -> content hash`` for every record and tombstone."""
        query = "SELECT source, source_id, hash FROM records"
        rows = (
            self.db.execute(query + " WHERE source=?", (source,))
            if source
            else self.db.execute(query)
        )
        return {(r[0], r[1]): r[2] for r in rows}

    def counts(self, source: str | None = None) -> dict[str, int]:
        where, args = (" WHERE source=?", (source,)) if source else ("", ())
        live, deleted = self.db.execute(
            f"SELECT COALESCE(SUM(deleted=0), 0), COALESCE(SUM(deleted=1), 0) FROM records{where}",
            args,
        ).fetchone()
        quarantined = self.db.execute(f"SELECT COUNT(*) FROM quarantine{where}", args).fetchone()[0]
        return {"records": live, "deleted": deleted, "quarantined": quarantined}

    def quarantined(self, source: str | None = None) -> list[Quarantined]:
        where, args = (" WHERE source=?", (source,)) if source else ("", ())
        return [
            Quarantined(r[0], r[1], r[2])
            for r in self.db.execute(
                f"SELECT source_id, reason, raw FROM quarantine{where} ORDER BY id", args
            )
        ]

    def records(
        self,
        *,
        since: str | None = None,
        include_deleted: bool = False,
        source: str | None = None,
    ) -> Iterator[Record]:
        """Stream stored records in change order; tombstones as records marked deleted.

        A tombstone carries ``extra["harvester:status"] == ["deleted"]`` and the last
        known content, if any, so a change feed can tell a catalogue what to remove.
        """
        clauses, args = [], []
        if since is not None:
            clauses.append("changed_at >= ?")
            args.append(since)
        if not include_deleted:
            clauses.append("deleted = 0")
        if source is not None:
            clauses.append("source = ?")
            args.append(source)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        cursor = self.db.execute(
            f"SELECT source, source_id, json, deleted, provenance FROM records{where} "
            "ORDER BY changed_at, source, source_id",
            args,
        )
        for source_name, source_id, document, deleted, provenance in cursor:
            if document:
                record = Record.model_validate_json(document)
                if provenance:
                    record.provenance = [Provenance(**p) for p in json.loads(provenance)]
            else:
                record = Record(
                    id=source_id,
                    provenance=[Provenance(source=source_name, source_id=source_id)],
                )
            if deleted:
                record.extra["harvester:status"] = ["deleted"]
            yield record

    # --- checkpoints -------------------------------------------------------------------

    def _save_checkpoint(self, cp: Checkpoint) -> None:
        data = asdict(cp)
        data["ordered"] = int(cp.ordered)
        columns = ", ".join(data)
        marks = ", ".join("?" for _ in data)
        self.db.execute(
            f"INSERT OR REPLACE INTO checkpoints ({columns}) VALUES ({marks})",
            list(data.values()),
        )

    def save_checkpoint(self, cp: Checkpoint) -> None:
        with self.transaction():
            cp.updated_at = now()
            self._save_checkpoint(cp)

    def checkpoint(self, endpoint: str, prefix: str, set_spec: str = "") -> Checkpoint | None:
        row = self.db.execute(
            "SELECT * FROM checkpoints WHERE endpoint=? AND prefix=? AND set_spec=?",
            (endpoint, prefix, set_spec),
        ).fetchone()
        return self._checkpoint_from_row(row) if row else None

    def _checkpoint_from_row(self, row: Sequence[Any]) -> Checkpoint:
        names = [d[0] for d in self.db.execute("SELECT * FROM checkpoints LIMIT 0").description]
        data = dict(zip(names, row, strict=True))
        data["ordered"] = bool(data["ordered"])
        return Checkpoint(**data)

    def checkpoints(self) -> list[Checkpoint]:
        rows = self.db.execute(
            "SELECT * FROM checkpoints ORDER BY endpoint, prefix, set_spec"
        ).fetchall()
        return [self._checkpoint_from_row(r) for r in rows]

    # --- runs --------------------------------------------------------------------------

    def start_run(self, kind: str) -> tuple[int, str]:
        stamp = now()
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO runs (kind, started_at) VALUES (?, ?)", (kind, stamp)
            )
        return int(cursor.lastrowid or 0), stamp

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        with self.transaction():
            self.db.execute(
                "UPDATE runs SET finished_at=?, summary=? WHERE id=?",
                (now(), json.dumps(summary), run_id),
            )

    def last_run_start(self) -> str | None:
        row = self.db.execute(
            "SELECT started_at FROM runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return str(row[0]) if row else None


def atomic_write(target: str | Path, write: Callable[[TextIO], object]) -> None:
    """Write a file so that a crash never leaves it truncated.

    The content goes to a temporary file in the target's folder, is fsynced, then
    renamed over the target (atomic on POSIX), and the folder is fsynced.
    """
    path = Path(target)
    folder = path.parent if str(path.parent) else Path(".")
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
