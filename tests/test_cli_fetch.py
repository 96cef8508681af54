"""``harvester fetch`` on the command line: inputs, outputs, report, exit codes.

Most tests run the command with the test-only sources of ``tests/test_fetch.py`` (the
registry is injectable); the end-to-end tests at the bottom use the real registry with
base URLs pointed at loopback through ``HARVESTER_<SOURCE>_URL``.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester.cli import _parser, main
from harvester.cli_fetch import read_targets, run_fetch
from harvester.sources import Source
from harvester.sources._base import DEFAULT_URLS
from tests.recorded import base_url, load, serve
from tests.test_fetch import TEST_SOURCES


@pytest.fixture
def loopback(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    """Point the services at the test server; no retry waits, no pacing on loopback."""
    url = base_url(httpserver)
    monkeypatch.setenv("HARVESTER_CROSSREF_URL", url)
    monkeypatch.setenv("HARVESTER_EUTILS_URL", url)
    return httpserver


def cli(argv: list[str], sources: tuple[Source, ...] | None = TEST_SOURCES) -> int:
    args = _parser().parse_args(["fetch", *argv])
    return run_fetch(args, sources=sources)


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _no_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The user's own settings (config file, environment) must not leak into the tests.
    monkeypatch.setenv("HOME", str(tmp_path))
    names = ["HARVESTER_CONFIG", "HARVESTER_MAILTO", "HARVESTER_NCBI_API_KEY", "HARVESTER_CONTACT"]
    names += [f"HARVESTER_{name.upper()}_URL" for name in DEFAULT_URLS]
    for name in names:
        monkeypatch.delenv(name, raising=False)


def test_targets_from_arguments_files_and_stdin_in_order(
    loopback: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("a", "b", "c", "d"):
        serve(loopback, f"/works/10.1000/{name}", "fetch", "work")
    listing = tmp_path / "dois.txt"
    listing.write_text("# my list\n\n10.1000/b\n  https://doi.org/10.1000/c  \n", "utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("10.1000/d\n# done\n"))
    assert cli(["10.1000/a", "-i", str(listing), "-i", "-", "--to", "jsonl"]) == 0
    out, err = capsys.readouterr()
    records = jsonl(out)
    assert [r["id"] for r in records] == ["10.1000/a", "10.1000/b", "10.1000/c", "10.1000/d"]
    assert "provenance" not in records[0] and "field-sources" not in records[0]
    assert err.strip().splitlines()[-1].startswith("harvester: fetched 4 of 4 target(s)")


def test_failures_exit_1_and_the_report_lists_them(
    loopback: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(loopback, "/works/10.1000/a", "fetch", "work")
    serve(loopback, "/works/10.1000/gone", "fetch", "notfound")
    serve(loopback, "/works/10.1000/wall", "fetch", "challenge")
    out_file, report_file = tmp_path / "out.bib", tmp_path / "report.json"
    argv = ["10.1000/a", "10.1000/gone", "10.1000/wall", "nonsense", "--to", "bibtex"]
    code = cli([*argv, "-o", str(out_file), "--report", str(report_file)])
    assert code == 1
    assert out_file.read_text("utf-8").count("@article{") == 1
    report = json.loads(report_file.read_text("utf-8"))
    failures = {f["target"]: f for f in report["failures"]}
    assert set(failures) == {"10.1000/gone", "10.1000/wall", "nonsense"}
    gone = failures["10.1000/gone"]
    assert (gone["source"], gone["status"], gone["reason"]) == ("test-registry", 404, "not-found")
    assert gone["url"].endswith("/works/10.1000/gone")
    assert failures["10.1000/wall"]["reason"] == "blocked"
    assert failures["nonsense"]["reason"] == "bad-target"
    assert report["summary"]["failed_by_reason"] == {"bad-target": 1, "blocked": 1, "not-found": 1}
    assert report["summary"]["fetched"] == 1 and report["records_written"] == 1
    err = capsys.readouterr().err
    assert "harvester: error: 10.1000/gone: not-found (HTTP 404)" in err
    assert "failed 3 (bad-target 1, blocked 1, not-found 1)" in err
    assert list(tmp_path.glob(".out.bib*")) == []  # no temporary file left behind


def test_enrich_with_provenance_and_conflicts_in_the_report(
    loopback: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(loopback, "/Record/1", "fetch", "catalogue")
    serve(loopback, "/works/10.3892/etm.2017.4687", "fetch", "work")
    report_file = tmp_path / "report.json"
    target = f"{base_url(loopback)}/Record/1"
    argv = [target, "--to", "jsonl", "--enrich", "--provenance", "--report", str(report_file)]
    assert cli(argv) == 0
    (record,) = jsonl(capsys.readouterr().out)
    assert record["publisher"] == "Spandidos Publications"
    assert record["field-sources"]["publisher"]["source"] == "test-registry"
    assert record["field-sources"]["keywords"]["source"] == "test-catalogue"
    assert [p["source"] for p in record["provenance"]] == ["test-catalogue", "test-registry"]
    report = json.loads(report_file.read_text("utf-8"))
    (conflict,) = report["conflicts"]
    assert conflict["target"] == target and conflict["field"] == "volume"
    assert conflict["kept"] == {"source": "test-registry", "value": "14"}
    assert conflict["other"] == {"source": "test-catalogue", "value": "13"}
    assert report["summary"]["enriched"] == 1


def test_quiet_prints_errors_only(loopback: HTTPServer, capsys: pytest.CaptureFixture[str]) -> None:
    serve(loopback, "/works/10.1000/a", "fetch", "work")
    assert cli(["10.1000/a", "pmid:", "--to", "ris", "-q"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("TY  - JOUR")
    assert err.splitlines() == [
        "harvester: error: pmid:: bad-target: not a URL, DOI, pmid:, pmcid: or isbn: "
        "target: 'pmid:'"
    ]


def test_mailto_reaches_the_user_agent(
    loopback: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    serve(loopback, "/works/10.1000/a", "fetch", "work")
    assert cli(["10.1000/a", "--to", "jsonl", "--mailto", "librarian@example.org"]) == 0
    (request, _), *_ = loopback.log
    assert "mailto:librarian@example.org" in request.headers["User-Agent"]


@pytest.mark.parametrize(
    "argv",
    [
        ["10.1000/a", "--to", "bibtex", "--provenance"],
        ["10.1000/a", "--to", "jsonl", "--concurrency", "0"],
        ["--to", "jsonl"],
        ["-i", "/no/such/list.txt", "--to", "jsonl"],
        ["10.1000/a", "--to", "no-such-format"],
        ["10.1000/a"],
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], loopback: HTTPServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fetch", *argv]) == 2
    assert capsys.readouterr().err.startswith(("harvester: ", "usage: "))
    assert loopback.log == []


def test_read_targets_skips_blanks_and_comments(tmp_path: Path) -> None:
    listing = tmp_path / "t.txt"
    listing.write_bytes(b"\xef\xbb\xbf10.1/a\r\n\r\n   # note\r\npmid:1\n")
    assert list(read_targets([str(listing)])) == ["10.1/a", "pmid:1"]


# --- End to end: the real registry, base URLs from the environment -------------------------

SEED_DOI = "10.3892/etm.2017.4687"
VUFIND_RECORD = "/vufind/Record/oai:spandidos:etm.2017.4687"


def serve_crossref(server: HTTPServer, *dois: str) -> None:
    for doi in dois:
        serve(server, f"/works/{doi}/agency", "crossref", "agency-crossref")
        serve(server, f"/works/{doi}", "crossref", "seed")


def test_real_doi_source_404_reported_without_retry_order_kept(
    loopback: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "10.3892/etm.2017.0000"
    serve_crossref(loopback, SEED_DOI, "10.3892/etm.2017.4688")
    serve(loopback, f"/works/{missing}/agency", "crossref", "agency-crossref")
    serve(loopback, f"/works/{missing}", "crossref", "not-found")
    report_file = tmp_path / "report.json"
    argv = ["fetch", f"https://doi.org/{SEED_DOI}", missing, "doi:10.3892/etm.2017.4688"]
    assert main([*argv, "--to", "csl-json", "--report", str(report_file), "-q"]) == 1
    items = json.loads(capsys.readouterr().out)
    assert [item["DOI"] for item in items] == [SEED_DOI, SEED_DOI]
    assert items[0]["publisher"] == "Spandidos Publications"
    (failure,) = json.loads(report_file.read_text("utf-8"))["failures"]
    assert failure["target"] == missing and failure["index"] == 1
    assert (failure["source"], failure["status"], failure["reason"]) == ("doi", 404, "not-found")
    assert [r.path for r, _ in loopback.log].count(f"/works/{missing}") == 1


def test_enrich_seed_vufind_page_from_recorded_crossref(
    loopback: HTTPServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = f"{VUFIND_RECORD}/Export"
    serve(loopback, VUFIND_RECORD, "vufind", "seed-page")
    serve(loopback, export, "vufind", "seed-marcxml", query={"style": "MARCXML"})
    serve(loopback, export, "vufind", "seed-ris", query={"style": "RIS"})
    serve(loopback, export, "vufind", "seed-bibtex", query={"style": "BibTeX"})
    serve(loopback, "/vufind/api/v1/record", "vufind", "seed-api")
    serve_crossref(loopback, SEED_DOI)
    page = base_url(loopback) + VUFIND_RECORD
    report_file = tmp_path / "report.json"

    assert main(["fetch", page, "--to", "jsonl", "--provenance", "-q"]) == 0
    (plain,) = jsonl(capsys.readouterr().out)
    assert "publisher" not in plain  # the catalogue does not give it

    argv = ["fetch", page, "--to", "jsonl", "--enrich", "--provenance", "--report"]
    assert main([*argv, str(report_file), "-q"]) == 0
    (record,) = jsonl(capsys.readouterr().out)
    assert record["publisher"] == "Spandidos Publications"
    sources = record["field-sources"]
    assert sources["publisher"]["source"] == "crossref"
    assert sources["title"]["source"].startswith("vufind")
    assert sources["abstract"]["source"] == "vufind:description"
    for name in ("volume", "issue", "page", "issued", "type"):  # the registry's fields
        assert sources[name]["source"] == "crossref", name
    # Every field of the record names where it came from.
    filled = {key.replace("-", "_") for key in record} - {"id", "extra", "provenance"}
    assert filled - {"field_sources"} <= set(sources)
    provenance = [p["source"] for p in record["provenance"]]
    assert provenance[-1] == "crossref" and provenance[0].startswith("vufind")
    crossref = next(p for p in record["provenance"] if p["source"] == "crossref")
    assert crossref["url"].endswith(f"/works/{SEED_DOI}") and crossref["content_hash"]
    report = json.loads(report_file.read_text("utf-8"))
    assert report["summary"]["enriched"] == 1 and report["failures"] == []
    assert all(c["target"] == page for c in report["conflicts"])


def test_ctrl_c_cancels_cleanly_and_leaves_no_partial_output(tmp_path: Path) -> None:
    body, _, headers = load("crossref", "agency-crossref")
    arrived = threading.Event()

    def slow(request: Request) -> Response:
        arrived.set()
        time.sleep(3)
        return Response(body, headers=headers)

    server = HTTPServer(host="127.0.0.1", threaded=True)
    server.expect_request(re.compile(r"/works/.+")).respond_with_handler(slow)
    server.start()
    try:
        out = tmp_path / "out.jsonl"
        env = {**os.environ, "HARVESTER_CROSSREF_URL": base_url(server), "HOME": str(tmp_path)}
        env.pop("HARVESTER_CONFIG", None)
        argv = [sys.executable, "-m", "harvester", "fetch", SEED_DOI, "--to", "jsonl"]
        proc = subprocess.Popen(
            [*argv, "-o", str(out)],
            env=env,
            stderr=subprocess.PIPE,
            cwd=Path(__file__).parent.parent,
        )
        assert arrived.wait(30), "the fetch never reached the server"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        server.clear()
        server.stop()
    assert proc.returncode == 130, err
    assert b"harvester: interrupted" in err and b"Traceback" not in err
    assert list(tmp_path.glob("*out.jsonl*")) == []
