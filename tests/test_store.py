"""The SQLite store: idempotent upserts, tombstones, checkpoints, quarantine, migrations."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.errors import StoreError
from harvester.model import Name, Provenance, Record
from harvester.store import (
    MIGRATIONS,
    Checkpoint,
    Item,
    Quarantined,
    Store,
    atomic_write,
    content_hash,
)

SOURCE = "http://repo.example/oai"


def rec(title: str, *, year: int = 2020, fetched: int = 1) -> Record:
    return Record(
        type="article-journal",
        title=title,
        author=[Name(family="Doe", given="Jane")],
        issued={"parts": (year,)},
        provenance=[Provenance(source=SOURCE, fetched_at=datetime(2026, 1, fetched, tzinfo=UTC))],
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.sqlite")


def test_new_store_is_wal_and_at_the_latest_schema(store: Store) -> None:
    assert store.version == len(MIGRATIONS)
    mode = store.db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).put(SOURCE, [Item("a", rec("A"))])
    again = Store(path)
    assert again.version == len(MIGRATIONS)
    assert again.counts()["records"] == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_upsert_is_idempotent_by_hash(store: Store) -> None:
    first = store.put(SOURCE, [Item("a", rec("A")), Item("b", rec("B"))])
    assert [c.kind for c in first] == ["added", "added"]
    # The same content fetched again later (new provenance time) changes nothing.
    again = store.put(SOURCE, [Item("a", rec("A", fetched=2)), Item("b", rec("B", fetched=3))])
    assert [c.kind for c in again] == ["unchanged", "unchanged"]
    assert store.counts()["records"] == 2


def test_change_reports_changed_fields(store: Store) -> None:
    store.put(SOURCE, [Item("a", rec("A", year=2020))])
    [change] = store.put(SOURCE, [Item("a", rec("A, revised", year=2021))])
    assert change.kind == "changed"
    assert change.fields == ["issued", "title"]
    stored = store.get(SOURCE, "a")
    assert stored is not None and stored.title == "A, revised"


def test_content_hash_ignores_provenance_only() -> None:
    assert content_hash(rec("A", fetched=1)) == content_hash(rec("A", fetched=9))
    assert content_hash(rec("A")) != content_hash(rec("B"))


def test_tombstones(store: Store) -> None:
    store.put(SOURCE, [Item("a", rec("A"))])
    [gone] = store.put(SOURCE, [Item("a", None, datestamp="2026-01-02")])
    assert gone.kind == "deleted"
    [again] = store.put(SOURCE, [Item("a", None, datestamp="2026-01-02")])
    assert again.kind == "unchanged"
    [unknown] = store.put(SOURCE, [Item("never-seen", None)])
    assert unknown.kind == "deleted"
    assert store.get(SOURCE, "a") is None
    assert store.counts() == {"records": 0, "deleted": 2, "quarantined": 0}
    tombstones = list(store.records(include_deleted=True))
    assert {tuple(r.extra["harvester:status"]) for r in tombstones} == {("deleted",)}
    assert list(store.records()) == []
    [back] = store.put(SOURCE, [Item("a", rec("A"))])
    assert back.kind == "changed" and back.fields == ["deleted"]


def test_commit_page_is_one_transaction_with_its_checkpoint(store: Store) -> None:
    cp = Checkpoint(SOURCE, "oai_dc", token="t1", last_datestamp="2026-01-01")
    bad = Quarantined("c", "invalid record: type", b"<record/>")
    store.commit_page(SOURCE, [Item("a", rec("A")), Item("b", rec("B"))], [bad], cp)
    saved = store.checkpoint(SOURCE, "oai_dc")
    assert saved is not None and saved.token == "t1" and saved.updated_at
    assert store.counts() == {"records": 2, "deleted": 0, "quarantined": 1}
    [q] = store.quarantined()
    assert (q.source_id, q.reason, q.raw) == ("c", "invalid record: type", b"<record/>")

    cp2 = Checkpoint(SOURCE, "oai_dc", token="t2")
    # A failure half-way through a page leaves neither its records nor its checkpoint.
    store.db.execute(
        "CREATE TEMP TRIGGER boom BEFORE INSERT ON records WHEN NEW.source_id = 'e' "
        "BEGIN SELECT RAISE(ABORT, 'boom'); END"
    )
    with pytest.raises(StoreError, match="boom"):
        store.commit_page(SOURCE, [Item("d", rec("D")), Item("e", rec("E"))], [], cp2)
    store.db.execute("DROP TRIGGER boom")
    assert store.get(SOURCE, "d") is None
    saved = store.checkpoint(SOURCE, "oai_dc")
    assert saved is not None and saved.token == "t1"


def test_quarantine_replay_does_not_duplicate(store: Store) -> None:
    bad = Quarantined("c", "broken", b"<x")
    store.commit_page(SOURCE, [], [bad], None)
    store.commit_page(SOURCE, [], [bad], None)
    assert store.counts()["quarantined"] == 1


def test_checkpoints_round_trip(store: Store) -> None:
    cp = Checkpoint(
        SOURCE,
        "marc21",
        "set:a",
        token="tok",
        token_expiry="2026-02-01T00:00:00Z",
        cursor=100,
        complete_list_size=5000,
        ordered=False,
        granularity="YYYY-MM-DD",
        pages=3,
        records=300,
    )
    store.save_checkpoint(cp)
    [loaded] = store.checkpoints()
    assert loaded == cp
    assert store.checkpoint(SOURCE, "marc21", "other") is None


def test_records_since_is_a_change_feed(store: Store) -> None:
    store.put(SOURCE, [Item("a", rec("A")), Item("b", rec("B"))])
    run_id, started = store.start_run("refresh")
    store.put(SOURCE, [Item("a", rec("A2")), Item("b", rec("B"))])
    store.finish_run(run_id, {})
    assert [r.title for r in store.records(since=started)] == ["A2"]
    assert store.last_run_start() == started
    assert len(list(store.records())) == 2


def _hold_lock(
    path: str, ready: multiprocessing.synchronize.Event, done: multiprocessing.synchronize.Event
) -> None:
    other = Store(path)
    other.lock()
    ready.set()
    done.wait(10)
    other.close()


def test_lock_prevents_two_writers(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    ctx = multiprocessing.get_context("fork")
    ready, done = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(path), ready, done))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(StoreError, match="another harvest"):
            Store(path).lock()
    finally:
        done.set()
        holder.join(10)
    mine = Store(path)
    mine.lock()  # free again once the other process is gone
    mine.close()


def test_atomic_write_never_leaves_a_truncated_file(tmp_path: Path) -> None:
    target = tmp_path / "out.ris"
    target.write_text("old complete export\n")

    def crash(out: object) -> None:
        out.write("half of the new")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_text() == "old complete export\n"
    assert sorted(os.listdir(tmp_path)) == ["out.ris"]
    atomic_write(target, lambda out: out.write("new\n"))
    assert target.read_text() == "new\n"


# --- one page in one batch == the same items one at a time ----------------------------------

_TITLES = st.sampled_from(["A", "B", "C"])
_OPS = st.lists(
    st.tuples(
        st.sampled_from(["x", "y", "z"]),
        st.one_of(st.none(), _TITLES),  # None: a tombstone
        st.sampled_from(["2026-01-01", "2026-01-02"]),
    ),
    max_size=12,
)


def _items(ops: list[tuple[str, str | None, str]]) -> list[Item]:
    return [
        Item(sid, rec(title) if title else None, raw=f"<{sid}/>".encode(), datestamp=stamp)
        for sid, title, stamp in ops
    ]


def _state(store: Store) -> list[tuple[object, ...]]:
    return store.db.execute(
        "SELECT source_id, json, raw, hash, datestamp, deleted, sets FROM records "
        "ORDER BY source_id"
    ).fetchall()


@settings(max_examples=40, deadline=None)
@given(before=_OPS, page=_OPS)
def test_a_page_batch_equals_items_one_by_one(
    tmp_path_factory: pytest.TempPathFactory,
    before: list[tuple[str, str | None, str]],
    page: list[tuple[str, str | None, str]],
) -> None:
    """Repeated ids in a page (added then changed, deleted then back...) end as they
    would one item per transaction, with the same change reports."""
    folder = tmp_path_factory.mktemp("batch")
    with Store(folder / "batch.sqlite") as batch, Store(folder / "single.sqlite") as single:
        for store in (batch, single):
            for item in _items(before):
                store.put(SOURCE, [item])
        batched = batch.commit_page(SOURCE, _items(page), [], None)
        singles = [change for item in _items(page) for change in single.put(SOURCE, [item])]
        assert [(c.source_id, c.kind, c.fields) for c in batched] == [
            (c.source_id, c.kind, c.fields) for c in singles
        ]
        assert _state(batch) == _state(single)
