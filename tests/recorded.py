"""Recorded HTTP responses as plain files, served by pytest-httpserver on loopback.

A case is ``fixtures/http/<source>/<case>.body`` plus ``<case>.headers.json``: a JSON
object with ``status`` and the response headers (``Content-Type`` and any other).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Response

HTTP = Path(__file__).resolve().parent.parent / "fixtures" / "http"


def load(source: str, case: str) -> tuple[bytes, int, dict[str, str]]:
    """Body, status and headers of a recorded case."""
    meta: dict[str, Any] = json.loads((HTTP / source / f"{case}.headers.json").read_text())
    status = int(meta.pop("status", 200))
    headers = {str(k): str(v) for k, v in meta.items()}
    return (HTTP / source / f"{case}.body").read_bytes(), status, headers


def serve(
    server: HTTPServer,
    uri: str,
    source: str,
    case: str,
    *,
    query: dict[str, str] | str | None = None,
    times: int | None = None,
) -> None:
    """Answer requests for ``uri`` (and ``query``) with a recorded case."""
    body, status, headers = load(source, case)
    content_type = headers.pop("Content-Type", headers.pop("content-type", None))
    if times == 1:
        handler = server.expect_oneshot_request(uri, query_string=query)
    else:
        handler = server.expect_request(uri, query_string=query)
    handler.respond_with_data(body, status=status, headers=headers, content_type=content_type)


def base_url(server: HTTPServer) -> str:
    """Loopback by address: "localhost" may try ::1 first and cost a timeout."""
    return f"http://127.0.0.1:{server.port}"


def respond(
    source: str, case: str, *, status: int | None = None, headers: dict[str, str] | None = None
) -> Response:
    """A fresh werkzeug response for a recorded case, for handlers that answer in turn;
    ``status`` and ``headers`` override or add to the recorded ones."""
    body, recorded_status, recorded_headers = load(source, case)
    recorded_headers.update(headers or {})
    content_type = recorded_headers.pop("Content-Type", recorded_headers.pop("content-type", None))
    response = Response(body, status=status or recorded_status, content_type=content_type)
    for name, value in recorded_headers.items():
        response.headers[name] = value
    return response
