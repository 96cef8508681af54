"""Test repositories served on loopback: a scriptable OAI-PMH repository with faults, and
pyoai's ``BatchingServer`` (a peer implementation nobody here wrote).

The scriptable one exists because the faults must happen at chosen moments: a 503 with
``Retry-After`` on some pages, a token that expires once, a connection dropped in the
middle of a body, a record that is not well-formed XML, control characters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from werkzeug import Request, Response

OAI_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    "<responseDate>2026-01-01T00:00:00Z</responseDate>"
)


@dataclass
class FakeRecord:
    identifier: str
    datestamp: str
    title: str
    sets: tuple[str, ...] = ()
    deleted: bool = False
    creator: str = "Doe, Jane"
    year: str = "2020"
    broken: bool = False
    """Serialise this record as XML that is not well-formed."""

    def xml(self) -> str:
        sets = "".join(f"<setSpec>{escape(s)}</setSpec>" for s in self.sets)
        status = ' status="deleted"' if self.deleted else ""
        header = (
            f"<header{status}><identifier>{escape(self.identifier)}</identifier>"
            f"<datestamp>{self.datestamp}</datestamp>{sets}</header>"
        )
        if self.deleted:
            return f"<record>{header}</record>"
        title = escape(self.title)
        if self.broken:
            title += "<b>unclosed"
        return (
            f"<record>{header}<metadata>"
            '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{title}</dc:title><dc:creator>{escape(self.creator)}</dc:creator>"
            f"<dc:date>{self.year}</dc:date><dc:type>info:eu-repo/semantics/article</dc:type>"
            f"<dc:identifier>https://example.org/{escape(self.identifier)}</dc:identifier>"
            "</oai_dc:dc></metadata></record>"
        )


def make_records(count: int, *, deleted_every: int = 0, day: int = 1) -> list[FakeRecord]:
    """``count`` records with increasing datestamps (one a minute from ``day``)."""
    records = []
    for i in range(count):
        minute = i % 60
        hour = (i // 60) % 24
        stamp = f"2020-01-{day + i // 1440:02d}T{hour:02d}:{minute:02d}:00Z"
        records.append(
            FakeRecord(
                identifier=f"oai:test:{i:06d}",
                datestamp=stamp,
                title=f"Title {i}",
                sets=("even",) if i % 2 == 0 else ("odd",),
                deleted=bool(deleted_every) and i % deleted_every == deleted_every - 1,
            )
        )
    return records


@dataclass
class FakeRepository:
    """An OAI-PMH repository over a list of records, with scripted faults.

    Faults are keyed by the 1-based number of the ListRecords request and fire once.
    """

    records: list[FakeRecord]
    page_size: int = 100
    granularity: str = "YYYY-MM-DDThh:mm:ssZ"
    unavailable: dict[int, str] = field(default_factory=dict)
    """request number -> Retry-After value for a 503."""
    expire_token_at: set[int] = field(default_factory=set)
    drop_at: set[int] = field(default_factory=set)
    control_chars: bool = False
    drop_with_length: bool = True
    generation: int = 0
    list_requests: int = 0
    served_tokens: list[str] = field(default_factory=list)
    log: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        args = {k: v for k, v in request.args.items()}
        with self.lock:
            self.log.append(args)
            return self._handle(args)

    def _xml(self, body: str) -> Response:
        return Response(OAI_HEAD + body + "</OAI-PMH>", content_type="text/xml; charset=utf-8")

    def _error(self, code: str, message: str) -> Response:
        return self._xml(f'<error code="{code}">{escape(message)}</error>')

    def _handle(self, args: dict[str, str]) -> Response:
        verb = args.get("verb")
        if verb == "Identify":
            return self._xml(
                "<Identify><repositoryName>Fake</repositoryName>"
                "<baseURL>http://localhost/oai</baseURL><protocolVersion>2.0</protocolVersion>"
                "<adminEmail>a@example.org</adminEmail>"
                "<earliestDatestamp>2020-01-01T00:00:00Z</earliestDatestamp>"
                f"<deletedRecord>persistent</deletedRecord><granularity>{self.granularity}"
                "</granularity></Identify>"
            )
        if verb != "ListRecords":
            return self._error("badVerb", f"not here: {verb}")
        self.list_requests += 1
        number = self.list_requests
        if number in self.unavailable:
            return Response(
                "busy", status=503, headers={"Retry-After": self.unavailable.pop(number)}
            )
        token = args.get("resumptionToken")
        if token:
            try:
                generation, offset, from_, until, set_, prefix = token.split("|")
            except ValueError:
                return self._error("badResumptionToken", "cannot read the token")
            if number in self.expire_token_at or int(generation) != self.generation:
                self.expire_token_at.discard(number)
                return self._error("badResumptionToken", "expired")
            start = int(offset)
        else:
            from_ = args.get("from", "")
            until = args.get("until", "")
            set_ = args.get("set", "")
            prefix = args.get("metadataPrefix", "")
            start = 0
        if prefix != "oai_dc":
            return self._error("cannotDisseminateFormat", prefix)
        selected = [r for r in self.records if self._matches(r, from_, until, set_)]
        if not selected:
            return self._error("noRecordsMatch", "nothing")
        page = selected[start : start + self.page_size]
        body = "".join(r.xml() for r in page)
        if self.control_chars and start == 0:
            body = body.replace("Title 0<", "Title\x01 0\x0b<", 1)
        end = start + self.page_size
        if end < len(selected):
            value = f"{self.generation}|{end}|{from_}|{until}|{set_}|{prefix}"
            self.served_tokens.append(value)
            token_xml = (
                f'<resumptionToken completeListSize="{len(selected)}" cursor="{start}">'
                f"{escape(value)}</resumptionToken>"
            )
        else:
            token_xml = f'<resumptionToken completeListSize="{len(selected)}" cursor="{start}"/>'
        text = OAI_HEAD + f"<ListRecords>{body}{token_xml}</ListRecords></OAI-PMH>"
        if number in self.drop_at:
            self.drop_at.discard(number)
            data = text.encode()
            return Response(
                _dropping(data),
                content_type="text/xml",
                headers={"Content-Length": str(len(data))} if self.drop_with_length else {},
            )
        return Response(text, content_type="text/xml; charset=utf-8")

    def _matches(self, record: FakeRecord, from_: str, until: str, set_: str) -> bool:
        stamp = record.datestamp[: len(from_)] if from_ else record.datestamp
        if from_ and stamp < from_:
            return False
        if until and record.datestamp[: len(until)] > until:
            return False
        return not set_ or set_ in record.sets


def _dropping(body: bytes) -> Iterator[bytes]:
    """Send half the body, then fail: the server closes the connection mid-body."""
    yield body[: len(body) // 2]
    raise ConnectionAbortedError("dropped on purpose")


# --- pyoai, the peer --------------------------------------------------------------------


def pyoai_server(records: list[FakeRecord], batch_size: int = 100) -> Any:
    """pyoai's BatchingServer over ``records`` (its resumption code needs cgi.parse_qs)."""
    import urllib.parse
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import cgi

        if not hasattr(cgi, "parse_qs"):
            cgi.parse_qs = urllib.parse.parse_qs  # type: ignore[attr-defined]
        from oaipmh import common, metadata, server

    class Backend:
        """pyoai's IBatchingOAI interface over the fake records."""

        def identify(self) -> Any:
            return common.Identify(
                repositoryName="pyoai peer",
                baseURL="http://127.0.0.1/oai",
                protocolVersion="2.0",
                adminEmails=["peer@example.org"],
                earliestDatestamp=datetime(2020, 1, 1),
                deletedRecord="persistent",
                granularity="YYYY-MM-DDThh:mm:ssZ",
                compression=["identity"],
            )

        def _select(
            self, from_: datetime | None, until: datetime | None, set_: str | None
        ) -> list[FakeRecord]:
            out = []
            for record in records:
                stamp = datetime.strptime(record.datestamp, "%Y-%m-%dT%H:%M:%SZ")
                if from_ is not None and stamp < from_:
                    continue
                if until is not None and stamp > until:
                    continue
                if set_ and set_ not in record.sets:
                    continue
                out.append(record)
            return out

        def _entry(self, record: FakeRecord) -> tuple[Any, Any, None]:
            stamp = datetime.strptime(record.datestamp, "%Y-%m-%dT%H:%M:%SZ")
            header = common.Header(
                None, record.identifier, stamp, list(record.sets), record.deleted
            )
            if record.deleted:
                return header, None, None
            fields = {
                "title": [record.title],
                "creator": [record.creator],
                "date": [record.year],
                "type": ["info:eu-repo/semantics/article"],
                "identifier": [f"https://example.org/{record.identifier}"],
            }
            return header, common.Metadata(None, fields), None

        def listRecords(
            self,
            metadataPrefix: str,
            set: str | None = None,
            from_: datetime | None = None,
            until: datetime | None = None,
            cursor: int = 0,
            batch_size: int = 10,
        ) -> list[Any]:
            selected = self._select(from_, until, set)
            return [self._entry(r) for r in selected[cursor : cursor + batch_size]]

        def listIdentifiers(
            self,
            metadataPrefix: str,
            set: str | None = None,
            from_: datetime | None = None,
            until: datetime | None = None,
            cursor: int = 0,
            batch_size: int = 10,
        ) -> list[Any]:
            return [
                e[0]
                for e in self.listRecords(metadataPrefix, set, from_, until, cursor, batch_size)
            ]

        def listMetadataFormats(self, identifier: str | None = None) -> list[Any]:
            return [
                (
                    "oai_dc",
                    "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
                    "http://www.openarchives.org/OAI/2.0/oai_dc/",
                )
            ]

        def listSets(self, cursor: int = 0, batch_size: int = 10) -> list[Any]:
            return [("even", "Even records", ""), ("odd", "Odd records", "")][cursor:][:batch_size]

        def getRecord(self, metadataPrefix: str, identifier: str) -> Any:
            for record in records:
                if record.identifier == identifier:
                    return self._entry(record)
            from oaipmh import error

            raise error.IdDoesNotExistError(identifier)

    registry = metadata.MetadataRegistry()
    registry.registerWriter("oai_dc", server.oai_dc_writer)
    return server.BatchingServer(Backend(), registry, resumption_batch_size=batch_size)


def pyoai_handler(peer: Any) -> Any:
    """A pytest-httpserver handler that answers with pyoai's XML."""

    def handle(request: Request) -> Response:
        args = {k: v for k, v in request.args.items()}
        body = peer.handleRequest(args)
        return Response(body, content_type="text/xml; charset=utf-8")

    return handle


def query(params: dict[str, str]) -> str:
    return urlencode(params)
