"""The embedded store: one SQLite file (WAL) holding harvested records and harvest state.

Records are keyed by ``(source, source_id)`` (for OAI-PMH: the base URL and the OAI
identifier) and hold the normalised JSON (``Record.model_dump_json(by_alias=True)``), the
raw payload, a content hash, the datestamp and provenance. The hash covers the record
without its provenance (which carries fetch times), so replaying a page changes nothing:
an upsert with an equal hash is ``unchanged``. Deletions are tombstones, never row
removals, so a change feed can carry them.

Durability: :meth:`Store.commit_page` writes a page's records, quarantined records and
the harvest checkpoint in one transaction. The journal is a WAL with
``synchronous=NORMAL``:

- a process killed at any moment (SIGKILL, OOM killer, a crash) loses nothing it
  committed: a commit has written its WAL frames to the operating system before it
  returns, and the next open replays them. The store is at the end of some page, with
  the checkpoint pointing at the next one: nothing lost, nothing duplicated;
- on power loss or an OS crash, the last pages committed before the WAL's last fsync
  (at each WAL checkpoint) may be lost, but never half of one: WAL frames are
  checksummed and a transaction without its commit frame is ignored, so the store
  comes back at the end of an earlier page, with that page's checkpoint. The rerun
  fetches those pages again and the idempotent upserts store them once.
  ``synchronous=FULL`` would fsync at every commit to keep them too: a cost of an
  fsync per page for records a rerun fetches again in seconds.

Exports are written to a temporary file in the target folder, fsynced and renamed into
place.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
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
    """
    CREATE TABLE doi_checks (
        doi           TEXT PRIMARY KEY,
        etag          TEXT,
        last_modified TEXT,
        checked_at    TEXT NOT NULL,
        status        TEXT
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

Row = tuple[str, str | None, bytes | None, str | None, str, str | None, str, str | None]
"""A record ready to store: ``(source_id, JSON or None for a tombstone, raw, raw_format,
hash, datestamp, sets JSON, provenance JSON)``. Plain strings and bytes, so a worker
process can make it and send it cheaply."""

_IN_CHUNK = 500
PAGE_SIZE = 8192
WAL_RESTART_PAGES = 8192
"""A WAL longer than this many pages (64 MB) after a passive checkpoint gets a blocking
one."""
_INSERT = (
    "INSERT INTO records (source, source_id, json, raw, raw_format, hash, datestamp, "
    "deleted, sets, provenance, first_seen, changed_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)"
)
_INSERT_TOMBSTONE = (
    "INSERT INTO records (source, source_id, json, raw, raw_format, hash, datestamp, "
    "deleted, sets, first_seen, changed_at) VALUES (?, ?, NULL, ?, ?, ?, ?, 1, ?, ?, ?)"
)
_BURY = (
    "UPDATE records SET deleted=1, hash=?, raw=?, datestamp=?, sets=?, changed_at=? "
    "WHERE source=? AND source_id=?"
)
_RESTAMP = "UPDATE records SET datestamp=?, raw=?, sets=? WHERE source=? AND source_id=?"
_UPDATE = (
    "UPDATE records SET json=?, raw=?, raw_format=?, hash=?, datestamp=?, deleted=0, "
    "sets=?, provenance=?, changed_at=? WHERE source=? AND source_id=?"
)


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
class DoiCheck:
    """When a DOI was last checked against Crossref, with the validators (ETag,
    Last-Modified) for a conditional re-check and the answer's status."""

    doi: str
    etag: str | None
    last_modified: str | None
    checked_at: str
    status: str | None = None


@dataclass
class Change:
    """What one upsert did: ``added``, ``changed`` (with fields), ``deleted``, ``unchanged``."""

    source_id: str
    kind: str
    fields: list[str] = field(default_factory=list)


def item_row(item: Item) -> Row:
    """The stored form of an :class:`Item` (serialised once, hashed once)."""
    sets = json.dumps(list(item.sets)) if item.sets else "[]"
    record = item.record
    if record is None:
        return (item.source_id, None, item.raw, item.raw_format, DELETED_HASH, item.datestamp,
                sets, None)  # fmt: skip
    document = normalised_json(record)
    provenance = json.dumps([p.model_dump(mode="json") for p in record.provenance])
    return (item.source_id, document, item.raw, item.raw_format, content_hash(document),
            item.datestamp, sets, provenance)  # fmt: skip


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
            if self.version == 0:
                # A new file: records are ~2-3 kB (JSON + raw XML), so 4 kB pages hold one
                # each, half empty. Only settable before the first table and before WAL.
                self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from exc
        self._lock_file: TextIO | None = None
        self._checkpointer: _Checkpointer | None = None

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
        self.stop_background_checkpoints()
        self.unlock()
        self.db.close()

    def background_checkpoints(self) -> None:
        """Copy the WAL into the database from a thread of its own, not in ``COMMIT``.

        A checkpoint ends with an fsync (the one durability point of WAL with
        ``synchronous=NORMAL``); run inside the committing thread, as SQLite does by
        default every 1,000 WAL pages, it stalls a harvest every few pages. Here commits
        only append to the WAL and a second connection checkpoints (``PASSIVE``: it
        never blocks the writer) after each page. Undone by
        :meth:`stop_background_checkpoints` and :meth:`close`.
        """
        if self._checkpointer is not None:
            return
        self.db.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = _Checkpointer(self.path)
        self._checkpointer.start()

    def stop_background_checkpoints(self) -> None:
        if self._checkpointer is None:
            return
        self._checkpointer.finish()
        self._checkpointer = None
        self.db.execute("PRAGMA wal_autocheckpoint=1000")

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

    def _existing(self, source: str, ids: Sequence[str]) -> dict[str, tuple[str, int, str | None]]:
        """``source_id -> (hash, deleted, datestamp)`` for the ids already stored."""
        found: dict[str, tuple[str, int, str | None]] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = list(ids[start : start + _IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                "SELECT source_id, hash, deleted, datestamp FROM records "
                f"WHERE source=? AND source_id IN ({marks})",
                [source, *chunk],
            ):
                found[row[0]] = (row[1], row[2], row[3])
        return found

    def _documents(self, source: str, ids: Sequence[str]) -> dict[str, str | None]:
        """``source_id -> stored JSON`` (for the changed-fields report of changed records)."""
        found: dict[str, str | None] = {}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = list(ids[start : start + _IN_CHUNK])
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT source_id, json FROM records WHERE source=? AND source_id IN ({marks})",
                [source, *chunk],
            ):
                found[row[0]] = row[1]
        return found

    def _apply_rows(self, source: str, rows: Sequence[Row], stamp: str) -> list[Change]:
        """Upsert a page of rows: one lookup of the stored hashes, one executemany per
        kind of statement, old JSON read only for the records that changed."""
        ids = [row[0] for row in rows]
        known = self._existing(source, ids)
        repeated = len(set(ids)) != len(ids)  # then statements must run in page order
        ops: list[tuple[str, tuple[Any, ...]]] = []
        changes: list[Change] = []
        # Changed records: (change, id, new JSON, old JSON when this page wrote it first).
        diffs: list[tuple[Change, str, str, str | None]] = []
        written: dict[str, str | None] = {}  # JSON this page already wrote, by id
        for source_id, document, raw, raw_format, digest, datestamp, sets, provenance in rows:
            state = known.get(source_id)
            if document is None:
                if state is not None and state[1]:
                    changes.append(Change(source_id, "unchanged"))
                    continue
                if state is None:
                    ops.append(
                        (
                            _INSERT_TOMBSTONE,
                            (source, source_id, raw, raw_format, DELETED_HASH, datestamp, sets,
                             stamp, stamp),
                        )
                    )  # fmt: skip
                else:
                    ops.append(
                        (_BURY, (DELETED_HASH, raw, datestamp, sets, stamp, source, source_id))
                    )
                known[source_id] = (DELETED_HASH, 1, datestamp)
                written.setdefault(source_id, None)
                changes.append(Change(source_id, "deleted"))
                continue
            if state is None:
                ops.append(
                    (
                        _INSERT,
                        (source, source_id, document, raw, raw_format, digest, datestamp, sets,
                         provenance, stamp, stamp),
                    )
                )  # fmt: skip
                known[source_id] = (digest, 0, datestamp)
                written[source_id] = document
                changes.append(Change(source_id, "added"))
                continue
            if state[0] == digest and not state[1]:
                if state[2] != datestamp:
                    # A new datestamp with the same content: keep it current, report nothing.
                    ops.append((_RESTAMP, (datestamp, raw, sets, source, source_id)))
                    known[source_id] = (digest, 0, datestamp)
                changes.append(Change(source_id, "unchanged"))
                continue
            change = Change(source_id, "changed", ["deleted"] if state[1] else [])
            if not state[1]:
                diffs.append((change, source_id, document, written.get(source_id)))
            ops.append(
                (
                    _UPDATE,
                    (document, raw, raw_format, digest, datestamp, sets, provenance, stamp,
                     source, source_id),
                )
            )  # fmt: skip
            known[source_id] = (digest, 0, datestamp)
            written[source_id] = document
            changes.append(change)
        if diffs:
            stored = self._documents(source, [d[1] for d in diffs if d[3] is None])
            for change, source_id, document, earlier in diffs:
                change.fields = _changed_fields(earlier or stored.get(source_id), document)
        self._execute(ops, in_order=repeated)
        return changes

    def _execute(self, ops: list[tuple[str, tuple[Any, ...]]], *, in_order: bool) -> None:
        """Run ``ops`` with one executemany per statement; ``in_order`` keeps the order
        of statements (needed when one id comes twice in a page)."""
        if not ops:
            return
        if in_order:
            batch: list[tuple[Any, ...]] = []
            current = ops[0][0]
            for sql, params in ops:
                if sql != current:
                    self.db.executemany(current, batch)
                    batch, current = [], sql
                batch.append(params)
            self.db.executemany(current, batch)
            return
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        for sql, params in ops:
            grouped.setdefault(sql, []).append(params)
        for sql, batch in grouped.items():
            self.db.executemany(sql, batch)

    def put(self, source: str, items: Sequence[Item]) -> list[Change]:
        """Upsert records outside any harvest (one transaction)."""
        rows = [item_row(item) for item in items]
        try:
            with self.transaction():
                return self._apply_rows(source, rows, now())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store records: {exc}") from exc

    def commit_page(
        self,
        source: str,
        items: Sequence[Item],
        quarantined: Sequence[Quarantined],
        checkpoint: Checkpoint | None,
    ) -> list[Change]:
        """Store one page's records, quarantine and checkpoint in a single transaction."""
        return self.commit_rows(source, [item_row(item) for item in items], quarantined, checkpoint)

    def commit_rows(
        self,
        source: str,
        rows: Sequence[Row],
        quarantined: Sequence[Quarantined],
        checkpoint: Checkpoint | None,
    ) -> list[Change]:
        """:meth:`commit_page` for rows already serialised (:func:`item_row`), as the
        harvest's worker processes make them.

        Raises:
            StoreError: SQLite failed; nothing of the page (nor its checkpoint) is kept.
        """
        try:
            with self.transaction():
                stamp = now()
                changes = self._apply_rows(source, rows, stamp)
                if quarantined:
                    self.db.executemany(
                        "INSERT INTO quarantine (source, source_id, reason, raw, at) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (source, source_id, reason) "
                        "DO UPDATE SET raw=excluded.raw, at=excluded.at",
                        [
                            (source, bad.source_id, bad.reason, bad.raw, stamp)
                            for bad in quarantined
                        ],
                    )
                if checkpoint is not None:
                    checkpoint.updated_at = stamp
                    self._save_checkpoint(checkpoint)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store a page: {exc}") from exc
        if self._checkpointer is not None:
            self._checkpointer.wake.set()
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

    # --- DOI re-checks -----------------------------------------------------------------

    def stored_dois(self, *, exclude_source: str | None = None) -> list[str]:
        """The DOIs of live records, each once, in the order they were first stored."""
        rows = self.db.execute(
            "SELECT lower(json_extract(j.value, '$.value')) AS doi "
            "FROM records, json_each(records.json, '$.identifiers') AS j "
            "WHERE records.deleted = 0 AND records.source IS NOT ? "
            "AND json_extract(j.value, '$.scheme') = 'doi' "
            "GROUP BY doi ORDER BY min(records.rowid)",
            (exclude_source,),
        )
        return [str(row[0]) for row in rows if row[0]]

    def doi_checks(self) -> dict[str, DoiCheck]:
        return {
            row[0]: DoiCheck(*row)
            for row in self.db.execute(
                "SELECT doi, etag, last_modified, checked_at, status FROM doi_checks"
            )
        }

    def save_doi_checks(self, checks: Sequence[DoiCheck]) -> None:
        try:
            with self.transaction():
                self.db.executemany(
                    "INSERT INTO doi_checks (doi, etag, last_modified, checked_at, status) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (doi) DO UPDATE SET "
                    "etag=excluded.etag, last_modified=excluded.last_modified, "
                    "checked_at=excluded.checked_at, status=excluded.status",
                    [(c.doi, c.etag, c.last_modified, c.checked_at, c.status) for c in checks],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot save DOI checks: {exc}") from exc


class _Checkpointer(threading.Thread):
    """Checkpoints the WAL on request, on a connection of its own (see
    :meth:`Store.background_checkpoints`)."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="store-checkpoint", daemon=True)
        self.path = path
        self.wake = threading.Event()
        self._stopping = False

    def run(self) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                if self._stopping:
                    return
                try:
                    _busy, log, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if log > WAL_RESTART_PAGES and done < log:
                        # The writer kept ahead of every passive pass: wait for a gap
                        # and restart the WAL, so it cannot grow with the harvest.
                        db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                except sqlite3.Error:
                    continue  # the next page tries again; close() checkpoints anyway
        finally:
            db.close()

    def finish(self) -> None:
        self._stopping = True
        self.wake.set()
        self.join(timeout=60)


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
