"""Harvesting into the store: completeness, faults, resume after a kill, incremental runs.

Every repository here is a real HTTP server on 127.0.0.1; the client is never patched.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester.cli import main
from harvester.harvest import HarvestSummary, harvest, harvest_safely
from harvester.http import HttpClient, HttpSettings
from harvester.oai import OAIClient
from harvester.store import Checkpoint, Store
from tests.conftest import CORPUS, ROOT
from tests.oai_server import FakeRecord, FakeRepository, make_records, pyoai_handler, pyoai_server


def fast() -> HttpSettings:
    return HttpSettings(
        default_rate=0, backoff_base=0.01, backoff_max=0.05, retry_after_max=0.05, timeout=10
    )


def url(server: HTTPServer) -> str:
    return f"http://127.0.0.1:{server.port}/oai"


def run(store: Store, server: HTTPServer, **options: object) -> HarvestSummary:
    with OAIClient(url(server), http=HttpClient(fast())) as client:
        return harvest(store, client, **options)  # type: ignore[arg-type]


def by_id(store: Store) -> dict[str, str]:
    """source_id -> content hash (the endpoint part of the key differs between servers)."""
    return {key[1]: digest for key, digest in store.hashes().items()}


def baseline(records: list[FakeRecord], tmp_path: Path, server: HTTPServer) -> dict[str, str]:
    """The store an undisturbed harvest of ``records`` ends with."""
    repo = FakeRepository([r for r in records if not r.broken])
    server.expect_request("/clean/oai").respond_with_handler(repo.handle)
    with (
        Store(tmp_path / "baseline.sqlite") as store,
        OAIClient(f"http://127.0.0.1:{server.port}/clean/oai", http=HttpClient(fast())) as client,
    ):
        harvest(store, client)
        return by_id(store)


def test_complete_harvest_with_tombstones(httpserver: HTTPServer, tmp_path: Path) -> None:
    records = make_records(1000, deleted_every=10)
    repo = FakeRepository(records, page_size=100)
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver)
        assert summary.added == 900
        assert summary.deleted == 100
        assert summary.pages == 10
        assert summary.exit_code == 0
        assert store.counts(url(httpserver)) == {"records": 900, "deleted": 100, "quarantined": 0}
        cp = store.checkpoint(url(httpserver), "oai_dc")
        assert cp is not None
        assert cp.status == "complete" and cp.token is None
        assert cp.last_datestamp == records[-1].datestamp
        stored = store.get(url(httpserver), "oai:test:000000")
        assert stored is not None
        assert stored.title == "Title 0"
        assert stored.type == "article-journal"
        assert {(i.scheme, i.value) for i in stored.identifiers} >= {("oai", "oai:test:000000")}
        assert stored.provenance[0].source == url(httpserver)


def test_faults_end_identical_to_an_undisturbed_harvest(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    records = make_records(900, deleted_every=7)
    records[555].broken = True  # invalid XML in one record
    repo = FakeRepository(
        records,
        page_size=100,
        unavailable={2: "1", 6: "Wed, 21 Oct 2015 07:28:00 GMT"},
        expire_token_at={5},
        drop_at={9},
    )
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    expected = baseline(records, tmp_path, httpserver)
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver)
        assert summary.token_restarts == 1
        assert summary.quarantined == 1
        assert summary.exit_code == 1  # partial: one record needs a person's look
        [bad] = store.quarantined()
        assert bad.source_id == "oai:test:000555"
        assert "not well-formed" in bad.reason
        assert bad.raw is not None and b"unclosed" in bad.raw
        assert by_id(store) == expected
        assert len(expected) == 899


def test_bad_resumption_token_restarts_from_the_checkpointed_datestamp(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    records = make_records(500)
    repo = FakeRepository(records, page_size=100, expire_token_at={3})
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver)
        assert summary.token_restarts == 1
        restart = [entry for entry in repo.log if "from" in entry]
        # Two pages (200 records) were stored: the list restarts at the 200th datestamp.
        assert restart == [
            {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": records[199].datestamp}
        ]
        assert summary.added == 500
        assert summary.unchanged == 1  # the one-record overlap, deduplicated by hash
        assert len(by_id(store)) == 500


def test_unordered_server_restarts_from_the_harvest_start(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    records = make_records(300)
    records.reverse()  # newest first: a datestamp restart would lose the older ones
    repo = FakeRepository(records, page_size=100, expire_token_at={3})
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver)
        assert summary.token_restarts == 1
        assert not any("from" in entry for entry in repo.log)
        assert len(by_id(store)) == 300
        assert summary.added == 300


def test_crash_then_rerun_resumes_from_the_checkpoint(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    records = make_records(700, deleted_every=9)
    repo = FakeRepository(records, page_size=100)
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    expected = baseline(records, tmp_path, httpserver)

    class Crash(Exception):
        pass

    def crash_after_three(cp: Checkpoint, page: object) -> None:
        if cp.pages == 3:
            raise Crash

    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(Crash):
            run(store, httpserver, progress=crash_after_three)
        cp = store.checkpoint(url(httpserver), "oai_dc")
        assert cp is not None and cp.status == "running" and cp.pages == 3
        before = repo.list_requests
        summary = run(store, httpserver)
        assert summary.resumed == [url(httpserver)]
        assert repo.list_requests - before == 4  # pages 4..7 only
        assert by_id(store) == expected


def test_incremental_rerun_fetches_only_what_changed(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    records = make_records(300)
    repo = FakeRepository(records, page_size=100)
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    with Store(tmp_path / "s.sqlite") as store:
        run(store, httpserver)
        records[10].title = "Title 10, corrected"
        records[10].datestamp = "2020-02-01T00:00:00Z"
        records[20].deleted = True
        records[20].datestamp = "2020-02-01T00:00:01Z"
        records.append(FakeRecord("oai:test:new", "2020-02-02T00:00:00Z", "Brand new"))
        repo.log.clear()
        summary = run(store, httpserver)
        listing = [entry for entry in repo.log if entry.get("verb") == "ListRecords"]
        assert listing[0]["from"] == records[299].datestamp
        assert summary.added == 1
        assert summary.changed == {"oai:test:000010": ["title"]}
        assert summary.deleted == 1
        assert summary.unchanged == 1  # the overlap record


@pytest.mark.corpus
def test_real_recorded_pages_into_the_store(httpserver: HTTPServer, tmp_path: Path) -> None:
    sickle = CORPUS / "sickle" / "sickle" / "tests" / "sample_data"
    httpserver.expect_request(
        "/oai", query_string={"verb": "ListRecords", "metadataPrefix": "oai_dc"}
    ).respond_with_data((sickle / "ListRecords.xml").read_bytes(), content_type="text/xml")
    for name in ("ListRecords2.xml", "ListRecords3.xml", "ListRecords4.xml"):
        httpserver.expect_request(
            "/oai", query_string={"verb": "ListRecords", "resumptionToken": name}
        ).respond_with_data((sickle / name).read_bytes(), content_type="text/xml")
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver)
        assert summary.pages == 4
        # Seven records with two identifiers, repeated across pages, and one deleted
        # header that lost its identifier (quarantined, not dropped).
        assert (summary.added, summary.deleted, summary.unchanged) == (1, 1, 5)
        assert summary.quarantined == 1
        [bad] = store.quarantined()
        assert bad.reason == "record header without an identifier"
        assert set(by_id(store)) == {"oai:test.example.com:1585310", "oai:test.example.com:1585322"}


@pytest.mark.corpus
def test_real_marc21_page_into_the_store(httpserver: HTTPServer, tmp_path: Path) -> None:
    body = (CORPUS / "vufindharvest" / "tests" / "fixtures" / "marc.xml").read_bytes()
    httpserver.expect_request(
        "/oai", query_string={"verb": "ListRecords", "metadataPrefix": "marc21"}
    ).respond_with_data(body, content_type="text/xml")
    # The recorded page carries a token; the "next page" says the list is done.
    httpserver.expect_request("/oai").respond_with_data(
        (
            CORPUS / "sickle" / "sickle" / "tests" / "sample_data" / "noRecordsMatch.xml"
        ).read_bytes(),
        content_type="text/xml",
    )
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver, prefix="marc21")
        assert summary.added + summary.deleted == 100
        record = store.get(url(httpserver), "oai:urm_publish:9925821506101791")
        assert record is not None
        assert record.title == "Der Soldat, oder, Abhandlung vom Kriegs-Stand"
        assert record.publisher_place == "Bern"


# --- the peer: pyoai's BatchingServer -----------------------------------------------------


def test_pyoai_peer_harvested_completely(httpserver: HTTPServer, tmp_path: Path) -> None:
    records = make_records(2000, deleted_every=25)
    peer = pyoai_server(records, batch_size=100)
    httpserver.expect_request("/oai").respond_with_handler(pyoai_handler(peer))
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver)
        assert summary.pages == 20
        assert summary.added == 1920
        assert summary.deleted == 80
        hashes = by_id(store)
        assert sorted(hashes) == sorted(r.identifier for r in records)
        assert sum(1 for h in hashes.values() if h == "deleted") == 80
        sample = store.get(url(httpserver), "oai:test:000123")
        assert sample is not None and sample.title == "Title 123"
        assert sample.author[0].family == "Doe"


def test_pyoai_peer_set_and_from(httpserver: HTTPServer, tmp_path: Path) -> None:
    records = make_records(400, deleted_every=50)
    peer = pyoai_server(records, batch_size=100)
    httpserver.expect_request("/oai").respond_with_handler(pyoai_handler(peer))
    with Store(tmp_path / "s.sqlite") as store:
        summary = run(store, httpserver, set_="even", from_="2020-01-01T03:00:00Z")
        expected = {r.identifier for r in records[180:] if "even" in r.sets}
        assert set(by_id(store)) == expected
        assert summary.added + summary.deleted == len(expected)
        cp = store.checkpoint(url(httpserver), "oai_dc", "even")
        assert cp is not None and cp.granularity == "YYYY-MM-DDThh:mm:ssZ"


# --- the command line: SIGKILL, refresh, export, status -----------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harvester", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.parametrize("jobs", [0, 2])
def test_sigkill_at_a_random_page_then_rerun(
    httpserver: HTTPServer, tmp_path: Path, jobs: int
) -> None:
    seed = random.randrange(1_000_000)
    kill_at = random.Random(seed).randint(7, 10)
    records = make_records(1200, deleted_every=11)
    repo = FakeRepository(records, page_size=100)
    victim: list[subprocess.Popen[bytes]] = []

    def handle(request: Request) -> Response:
        if victim and repo.list_requests + 1 == kill_at:
            victim[0].send_signal(signal.SIGKILL)
            victim[0].wait(10)
        return repo.handle(request)

    httpserver.expect_request("/oai").respond_with_handler(handle)
    expected = baseline(records, tmp_path, httpserver)
    store_path = tmp_path / "killed.sqlite"
    args = ("harvest", url(httpserver), "--store", str(store_path), "--rate", "0", "-j", str(jobs))
    victim.append(_cli(*args, "-q"))
    victim[0].wait(30)
    assert victim[0].returncode == -signal.SIGKILL, f"seed {seed}"
    victim.clear()
    # Its worker processes end too (their pipes closed with it), freeing the store lock.
    deadline = time.monotonic() + 10
    while _processes_using(store_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_using(store_path) == set()
    with Store(store_path) as store:
        cp = store.checkpoint(url(httpserver), "oai_dc")
        # Pages before the one being fetched are committed, but for those fetched ahead:
        # one without workers, up to the pipeline's look-ahead (2 per worker + 1) with.
        ahead = 1 if jobs == 0 else 2 * jobs + 2
        assert cp is not None and kill_at - 1 - ahead <= cp.pages <= kill_at - 1, f"seed {seed}"
    rerun = _cli(*args)
    _out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err.decode()
    assert "resuming at page" in err.decode()
    with Store(store_path) as store:
        assert by_id(store) == expected, f"seed {seed}"


def _processes_using(store: Path) -> set[int]:
    """Live processes whose command line names ``store`` (a harvest and its workers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(store).encode() in command and state != "Z":
            found.add(int(entry.name))
    return found


def test_cli_refresh_export_status(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = make_records(250, deleted_every=50)
    repo = FakeRepository(records, page_size=100)
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    store = str(tmp_path / "s.sqlite")
    common = ["--store", store, "--rate", "0", "--max-wait", "0.05"]
    assert main(["harvest", url(httpserver), *common, "--json", str(tmp_path / "h.json")]) == 0
    first = json.loads((tmp_path / "h.json").read_text())
    assert (first["added"], first["deleted"], first["failed"]) == (245, 5, 0)

    between = datetime.now(UTC).isoformat()
    records[3].title = "Title 3 revised"
    records[3].datestamp = "2020-03-01T00:00:00Z"
    records[4].deleted = True
    records[4].datestamp = "2020-03-01T00:00:00Z"
    capsys.readouterr()
    report = tmp_path / "refresh.json"
    assert main(["refresh", *common, "--json", str(report)]) == 0
    summary = json.loads(report.read_text())
    assert summary["changed_fields"] == {"oai:test:000003": ["title"]}
    assert (summary["added"], summary["deleted"], summary["quarantined"]) == (0, 1, 0)
    assert "0 added, 1 changed, 1 deleted" in capsys.readouterr().err

    out = tmp_path / "changed.jsonl"
    assert (
        main(["export", "--to", "jsonl", "--store", store, "--changed-only", "-o", str(out)]) == 0
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["title"] for line in lines] == ["Title 3 revised"]
    assert (
        main(
            [
                "export",
                "--to",
                "jsonl",
                "--store",
                store,
                "--changed-only",
                "--include-deleted",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    statuses = [
        json.loads(line).get("extra", {}).get("harvester:status")
        for line in out.read_text().splitlines()
    ]
    assert statuses.count(["deleted"]) == 1 and len(statuses) == 2
    assert (
        main(["export", "--to", "jsonl", "--store", store, "--since", "2000-01-01", "-o", str(out)])
        == 0
    )
    assert len(out.read_text().splitlines()) == 244
    since = ["--since", between, "--include-deleted", "-o", str(out)]
    assert main(["export", "--to", "jsonl", "--store", store, *since]) == 0
    changed = [json.loads(line) for line in out.read_text().splitlines()]
    by_title = {r["title"]: r.get("extra", {}).get("harvester:status") for r in changed}
    assert by_title == {"Title 3 revised": None, "Title 4": ["deleted"]}

    capsys.readouterr()
    assert main(["status", "--store", store]) == 0
    text = capsys.readouterr().out
    assert url(httpserver) in text
    assert "status: complete (last run:" in text
    assert "244 record(s), 6 deleted, 0 quarantined" in text


def test_cli_harvest_failure_is_fatal_and_keeps_nothing_half_done(
    httpserver: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    httpserver.expect_request("/oai").respond_with_data("down", status=503)
    store = str(tmp_path / "s.sqlite")
    code = main(["harvest", url(httpserver), "--store", store, "--rate", "0", "--max-wait", "0.01"])
    assert code == 2
    assert "503" in capsys.readouterr().err
    with Store(store) as opened:
        # Registered all the same, so that a later run or refresh resumes it.
        [cp] = opened.checkpoints()
        assert (cp.status, cp.pages, cp.token) == ("running", 0, None)
        assert opened.counts() == {"records": 0, "deleted": 0, "quarantined": 0}


def test_cli_store_from_environment(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = FakeRepository(make_records(5))
    httpserver.expect_request("/oai").respond_with_handler(repo.handle)
    path = tmp_path / "env" / "store.sqlite"
    monkeypatch.setenv("HARVESTER_STORE", str(path))
    assert main(["harvest", url(httpserver), "--rate", "0", "-q"]) == 0
    with Store(path) as store:
        assert store.counts()["records"] == 5


# --- worker processes: same store, crashes reported, wrong token guesses thrown away ------


def _rows(store: Store) -> list[tuple[object, ...]]:
    """Every stored column but the times of this run (provenance, first seen, changed at)."""
    return store.db.execute(
        "SELECT source_id, json, raw, raw_format, hash, datestamp, deleted, sets "
        "FROM records ORDER BY source_id"
    ).fetchall()


def test_workers_store_exactly_what_one_process_stores(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    stores = {}
    summaries = {}
    for jobs in (0, 2):
        records = make_records(1200, deleted_every=7)
        records[555].broken = True
        records[1001].title = "Control\x01 character"  # repaired in a worker, counted here
        repo = FakeRepository(
            records,
            page_size=100,
            unavailable={3: "0"},
            expire_token_at={6},
            drop_at={9},
        )
        httpserver.expect_request(f"/{jobs}/oai").respond_with_handler(repo.handle)
        with (
            Store(tmp_path / f"{jobs}.sqlite") as store,
            OAIClient(
                f"http://127.0.0.1:{httpserver.port}/{jobs}/oai", http=HttpClient(fast())
            ) as client,
        ):
            summaries[jobs] = harvest(store, client, workers=jobs)
            stores[jobs] = _rows(store)
            assert [q.source_id for q in store.quarantined()] == ["oai:test:000555"]
    assert stores[2] == stores[0]
    assert len(stores[0]) == 1199
    one, two = summaries[0], summaries[2]
    assert (two.added, two.deleted, two.unchanged, two.quarantined, two.token_restarts) == (
        one.added,
        one.deleted,
        one.unchanged,
        one.quarantined,
        one.token_restarts,
    )
    assert two.repaired_characters == one.repaired_characters == 1


def _live_children() -> list[int]:
    """This test process's child processes that have not ended (its workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if int(ppid) == os.getpid() and state != "Z":
            found.append(int(entry.name))
    return found


def test_a_crashed_worker_is_reported_and_the_rerun_completes(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    records = make_records(1000, deleted_every=9)
    repo = FakeRepository(records, page_size=100)
    killed: list[int] = []

    def handle(request: Request) -> Response:
        if repo.list_requests + 1 == 5 and not killed:
            # Workers exist from the second page on; kill one as the fifth is asked for.
            for pid in _live_children():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
        return repo.handle(request)

    httpserver.expect_request("/oai").respond_with_handler(handle)
    expected = baseline(records, tmp_path, httpserver)
    with Store(tmp_path / "s.sqlite") as store:
        started = time.monotonic()
        with OAIClient(url(httpserver), http=HttpClient(fast())) as client:
            summary = harvest_safely(store, client, workers=2)
        assert time.monotonic() - started < 20  # reported, not waited for
        assert killed
        assert summary.failed == 1 and summary.exit_code == 2
        [message] = summary.errors
        assert f"worker process {killed[0]} was killed by SIGKILL" in message
        assert _live_children() == []  # the other worker was ended too
        cp = store.checkpoint(url(httpserver), "oai_dc")
        assert cp is not None and cp.status == "running" and 1 <= cp.pages < 10
        again = run(store, httpserver)
        assert again.resumed == [url(httpserver)]
        assert by_id(store) == expected


def test_wrong_token_guesses_are_thrown_away(httpserver: HTTPServer, tmp_path: Path) -> None:
    records = make_records(600, deleted_every=13)
    repo = FakeRepository(records, page_size=100)
    decoy = "<!-- <resumptionToken/> --><![CDATA[<resumptionToken>fake</resumptionToken>]]>"
    faked: list[int] = []

    def handle(request: Request) -> Response:
        if request.args.get("resumptionToken") == "fake":
            faked.append(1)
            return Response("no such token", status=500)  # a failed guess is no failure
        response = repo.handle(request)
        body = response.get_data(as_text=True)
        # Pages 2 and 4 end with a comment that hides their token from the guess; every
        # page ends with text that looks like a token ("fake"), the last one included.
        number = repo.list_requests
        tail = decoy if number not in (2, 4) else decoy[decoy.index("-->") + 3 :] + decoy[:30]
        response.set_data(body.replace("</ListRecords>", f"{tail}</ListRecords>"))
        return response

    httpserver.expect_request("/oai").respond_with_handler(handle)
    expected = baseline(records, tmp_path, httpserver)
    with Store(tmp_path / "s.sqlite") as store:
        with OAIClient(url(httpserver), http=HttpClient(fast())) as client:
            summary = harvest(store, client, workers=2)
        assert summary.pages == 6
        assert summary.errors == [] and summary.token_restarts == 0
        assert by_id(store) == expected
        cp = store.checkpoint(url(httpserver), "oai_dc")
        assert cp is not None and cp.status == "complete"
    asked = [entry.get("resumptionToken") for entry in repo.log]
    # Every real page once; the guesses of "fake" were asked (and failed) in between.
    assert sorted(t for t in asked if t) == sorted(set(repo.served_tokens))
    assert faked
