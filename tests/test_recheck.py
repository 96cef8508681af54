"""Refresh re-checks the store's DOIs against Crossref, cheaply when nothing changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from harvester.cli import main
from harvester.http import HostPolicy, HttpSettings
from harvester.model import Identifier, Record
from harvester.recheck import recheck_store
from harvester.sources._base import SourceSettings
from harvester.store import Item, Store
from tests.recorded import HTTP, base_url

SEED_DOI = "10.3892/etm.2017.4687"
OTHER_DOI = "10.3892/etm.2017.9999"
UNKNOWN_DOI = "10.5281/zenodo.1234"  # a DataCite DOI: Crossref says 404


def _work(doi: str, title: str | None = None) -> dict[str, Any]:
    payload = json.loads((HTTP / "crossref" / "seed.body").read_bytes())
    message: dict[str, Any] = copy.deepcopy(payload["message"])
    message["DOI"] = doi
    if title is not None:
        message["title"] = [title]
    return message


def _envelope(kind: str, message: object) -> str:
    return json.dumps({"status": "ok", "message-type": kind, "message": message})


class Crossref:
    """A loopback Crossref: works by DOI with ETags, the filtered list, a request log."""

    def __init__(self, server: HTTPServer) -> None:
        self.works = {SEED_DOI: _work(SEED_DOI), OTHER_DOI: _work(OTHER_DOI)}
        self.updated: set[str] = set()
        self.refuse_filter = False
        self.broken: set[str] = set()
        self.log: list[tuple[str, dict[str, list[str]], str | None]] = []
        server.expect_request("/works").respond_with_handler(self.listing)
        for doi in (SEED_DOI, OTHER_DOI, UNKNOWN_DOI):
            server.expect_request(f"/works/{doi}").respond_with_handler(self.one)

    def etag(self, doi: str) -> str:
        return f'"{doi}-{self.works[doi]["title"][0][:12]}"'

    def one(self, request: Request) -> Response:
        doi = request.path.removeprefix("/works/")
        self.log.append((request.path, parse_qs(request.query_string.decode()), None))
        if doi in self.broken:
            return Response('{"status":"ok","mess', content_type="application/json")
        if doi not in self.works:
            return Response('"Resource not found."', status=404, content_type="text/plain")
        tag = self.etag(doi)
        self.log[-1] = (*self.log[-1][:2], request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == tag:
            return Response(status=304, headers={"ETag": tag})
        return Response(
            _envelope("work", self.works[doi]),
            content_type="application/json",
            headers={"ETag": tag},
        )

    def listing(self, request: Request) -> Response:
        query = parse_qs(request.query_string.decode())
        self.log.append((request.path, query, None))
        if self.refuse_filter:
            return Response('{"status":"failed"}', status=400, content_type="application/json")
        filters = query["filter"][0].split(",")
        asked = [f.removeprefix("doi:") for f in filters if f.startswith("doi:")]
        assert any(f.startswith("from-update-date:") for f in filters)
        items = [self.works[d] for d in asked if d in self.updated and d in self.works]
        return Response(
            _envelope("work-list", {"items": items, "total-results": len(items)}),
            content_type="application/json",
        )


@pytest.fixture
def crossref(httpserver: HTTPServer) -> Crossref:
    return Crossref(httpserver)


def _store(path: Path) -> Store:
    store = Store(path)
    items = [
        Item(
            source_id=f"oai:{i}",
            record=Record(title=f"T{i}", identifiers=[Identifier(scheme="doi", value=doi)]),
        )
        for i, doi in enumerate([SEED_DOI, UNKNOWN_DOI, OTHER_DOI, SEED_DOI.upper()])
    ]
    store.put("oai", items)
    return store


def _settings(server: HTTPServer) -> SourceSettings:
    return SourceSettings(urls={"crossref": base_url(server)})


def _recheck(store: Store, server: HTTPServer) -> Any:
    return recheck_store(
        store,
        settings=_settings(server),
        http=HttpSettings(backoff_base=0.01, max_attempts=2),
        hosts={"127.0.0.1": HostPolicy(rate=0, concurrency=8)},
    )


def test_first_check_fetches_each_doi_once_and_stores_crossref_records(
    tmp_path: Path, httpserver: HTTPServer, crossref: Crossref
) -> None:
    with _store(tmp_path / "s.db") as store:
        assert store.stored_dois(exclude_source="crossref") == [SEED_DOI, UNKNOWN_DOI, OTHER_DOI]
        summary = _recheck(store, httpserver)
        assert (summary.checked, summary.added, summary.failed) == (3, 2, {})
        assert summary.not_at_crossref == [UNKNOWN_DOI]
        assert summary.requests == 3
        stored = store.get("crossref", SEED_DOI)
        assert stored is not None and stored.publisher == "Spandidos Publications"
        assert [p.source for p in stored.provenance] == ["crossref"]
        checks = store.doi_checks()
        assert checks[SEED_DOI].etag == crossref.etag(SEED_DOI)
        assert checks[UNKNOWN_DOI].status == "not-found"


def test_later_checks_ask_one_filtered_query_and_report_exactly_the_changed(
    tmp_path: Path, httpserver: HTTPServer, crossref: Crossref
) -> None:
    with _store(tmp_path / "s.db") as store:
        _recheck(store, httpserver)
        crossref.log.clear()
        quiet = _recheck(store, httpserver)
        assert (quiet.added, quiet.changed, quiet.unchanged) == (0, {}, 2)
        assert [path for path, _q, _h in crossref.log] == ["/works"]  # one request, 2 DOIs
        crossref.works[OTHER_DOI]["title"] = ["A corrected title"]
        crossref.updated.add(OTHER_DOI)
        crossref.log.clear()
        changed = _recheck(store, httpserver)
        assert list(changed.changed) == [OTHER_DOI]
        assert "title" in changed.changed[OTHER_DOI]
        assert changed.unchanged == 1
        assert changed.not_at_crossref == [UNKNOWN_DOI]  # not asked again
        assert len(crossref.log) == 1
        record = store.get("crossref", OTHER_DOI)
        assert record is not None and record.title == "A corrected title"


def test_where_the_filter_is_refused_each_doi_is_revalidated_with_its_etag(
    tmp_path: Path, httpserver: HTTPServer, crossref: Crossref
) -> None:
    with _store(tmp_path / "s.db") as store:
        _recheck(store, httpserver)
        crossref.refuse_filter = True
        crossref.works[SEED_DOI]["page"] = "1538-1547"
        crossref.works[SEED_DOI]["title"] = ["Changed so the ETag changes"]
        crossref.log.clear()
        summary = _recheck(store, httpserver)
        conditional = {path: tag for path, _q, tag in crossref.log if path != "/works"}
        assert conditional[f"/works/{OTHER_DOI}"] == crossref.etag(OTHER_DOI)
        assert conditional[f"/works/{SEED_DOI}"] is not None
        assert list(summary.changed) == [SEED_DOI]
        assert {"page", "title"} <= set(summary.changed[SEED_DOI])
        assert summary.unchanged == 1  # the 304


def test_refresh_command_rechecks_dois_and_reports_them_for_cron(
    tmp_path: Path,
    httpserver: HTTPServer,
    crossref: Crossref,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "s.db"
    _store(path).close()
    monkeypatch.setenv("HARVESTER_CROSSREF_URL", base_url(httpserver))
    monkeypatch.delenv("HARVESTER_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no user config file
    report = tmp_path / "refresh.json"
    # No OAI endpoint registered: the DOIs alone are worth a refresh.
    assert main(["refresh", "--store", str(path), "-q", "--json", str(report)]) == 0
    document = json.loads(report.read_text())
    assert document["added"] == 2
    assert document["dois"]["not_at_crossref"] == [UNKNOWN_DOI]
    crossref.broken.add(OTHER_DOI)  # the server now fails for one DOI: a partial failure
    crossref.refuse_filter = True
    assert main(["refresh", "--store", str(path), "-q", "--json", str(report)]) == 1
    document = json.loads(report.read_text())
    assert list(document["dois"]["failures"]) == [OTHER_DOI]
    assert "truncated JSON" in document["dois"]["failures"][OTHER_DOI]
    assert main(["refresh", "--store", str(path), "-q", "--no-dois"]) == 2
