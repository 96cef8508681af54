"""The fetch-ahead pipeline on its own: order, fallbacks, hung and crashing workers.

A real repository on loopback; the work functions are small test functions run in real
forked workers (the harvest's own work function is covered by tests/test_harvest.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from harvester.http import HttpClient, HttpSettings
from harvester.oai import OAIClient
from harvester.oai.client import Page, ResumptionToken, parse_records_page
from harvester.oai.pipeline import Pipeline, WorkerCrashed
from tests.oai_server import FakeRepository, make_records


@dataclass
class Got:
    token: ResumptionToken | None
    repaired: int
    ids: list[str]
    where: str


def in_worker(body: bytes, url: str, fetched: datetime) -> Got:
    page = parse_records_page(body, url)
    return Got(page.token, page.repaired, [r.header.identifier for r in page.items], "worker")


def in_parent(page: Page, fetched: datetime) -> Got:
    return Got(page.token, page.repaired, [r.header.identifier for r in page.items], "parent")


def failing(body: bytes, url: str, fetched: datetime) -> Got:
    raise RuntimeError("a bug in the work function")


def hanging(body: bytes, url: str, fetched: datetime) -> Got:
    time.sleep(60)
    raise AssertionError("unreachable")


def _client(server: HTTPServer) -> OAIClient:
    settings = HttpSettings(default_rate=0, backoff_base=0.01, backoff_max=0.05, timeout=10)
    return OAIClient(f"http://127.0.0.1:{server.port}/oai", http=HttpClient(settings))


def _first_token(client: OAIClient) -> str:
    page = client.request_page(
        {"verb": "ListRecords", "metadataPrefix": "oai_dc"}, "record", "ListRecords"
    )
    assert page.token is not None
    return page.token.value


def _live_children() -> list[int]:
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


@pytest.mark.parametrize("workers", [1, 3])
def test_pages_come_in_list_order(httpserver: HTTPServer, workers: int) -> None:
    records = make_records(1000)
    httpserver.expect_request("/oai").respond_with_handler(
        FakeRepository(records, page_size=50).handle
    )
    with _client(httpserver) as client:
        token = _first_token(client)
        with Pipeline(client, workers, in_worker, in_parent) as pipeline:
            pages = list(pipeline.pages(token))
            assert len(set(pipeline.worker_pids)) == workers
    assert [i for page in pages for i in page.ids] == [r.identifier for r in records[50:]]
    assert {page.where for page in pages} == {"worker"}
    assert pages[-1].token is not None and pages[-1].token.value == ""
    assert _live_children() == []


def test_a_failing_work_function_falls_back_to_this_process(httpserver: HTTPServer) -> None:
    records = make_records(300)
    httpserver.expect_request("/oai").respond_with_handler(
        FakeRepository(records, page_size=100).handle
    )
    with _client(httpserver) as client:
        token = _first_token(client)
        with Pipeline(client, 2, failing, in_parent) as pipeline:
            pages = list(pipeline.pages(token))
    assert [page.where for page in pages] == ["parent", "parent"]
    assert [i for page in pages for i in page.ids] == [r.identifier for r in records[100:]]


def test_a_hung_worker_is_killed_and_reported(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oai").respond_with_handler(
        FakeRepository(make_records(300), page_size=100).handle
    )
    with _client(httpserver) as client:
        token = _first_token(client)
        started = time.monotonic()
        with (
            Pipeline(client, 2, hanging, in_parent, page_timeout=0.5) as pipeline,
            pytest.raises(WorkerCrashed, match="gave no answer for 0 s"),
        ):
            list(pipeline.pages(token))
        assert time.monotonic() - started < 10
    assert _live_children() == []
