"""The safe XML factory: hostile documents end in a clear error, quietly and quickly."""

from __future__ import annotations

import io
import resource
import time
from pathlib import Path

import pytest
from lxml import etree
from pytest_httpserver import HTTPServer

from harvester.errors import ParseError
from harvester.xml import (
    ControlCharRepair,
    UnsafeXMLError,
    XMLTooLargeError,
    iterparse,
    make_parser,
    parse,
    release,
    repaired_chunks,
)

EVIL = Path(__file__).resolve().parent.parent / "fixtures" / "xml" / "evil"
EVIL_FILES = sorted(EVIL.glob("*.xml"))


def _evil(path: Path, server: HTTPServer) -> bytes:
    host = f"127.0.0.1:{server.port}"
    return path.read_bytes().replace(b"LOOPBACK", host.encode())


def test_there_are_evil_fixtures() -> None:
    names = {p.stem for p in EVIL_FILES}
    assert {
        "xxe_file",
        "xxe_network",
        "xxe_parameter_entity",
        "billion_laughs",
        "quadratic_blowup",
        "external_dtd",
    } <= names


@pytest.mark.parametrize("path", EVIL_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("mode", ["parse", "stream-bytes", "stream-text"])
def test_evil_documents_are_refused_without_any_request(
    path: Path, mode: str, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/xxe-entity").respond_with_data("LEAKED")
    httpserver.expect_request("/xxe-parameter").respond_with_data('<!ENTITY leak "LEAKED">')
    httpserver.expect_request("/external.dtd").respond_with_data('<!ENTITY leak "LEAKED">')
    data = _evil(path, httpserver)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(UnsafeXMLError) as caught:
        if mode == "parse":
            parse(data, source=path.name)
        elif mode == "stream-bytes":
            list(iterparse(io.BytesIO(data), source=path.name))
        else:
            list(iterparse(io.StringIO(data.decode()), source=path.name))
    assert time.perf_counter() - started < 2.0
    # Expanding any of these would cost hundreds of MB; the refusal costs next to nothing.
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 50_000
    assert "refused" in str(caught.value)
    assert caught.value.source == path.name
    assert httpserver.log == []
    assert b"LEAKED" not in data


def test_no_element_of_a_refused_document_reaches_the_caller() -> None:
    data = (EVIL / "xxe_file.xml").read_bytes()
    seen: list[str] = []
    with pytest.raises(UnsafeXMLError):
        for _event, element in iterparse(io.BytesIO(data), events=("start", "end")):
            seen.append(str(element.tag))
    assert seen == []


def test_plain_doctype_without_entities_is_accepted() -> None:
    root = parse(b"<!DOCTYPE r><r><a>x</a></r>")
    assert root.tag == "r"
    assert root[0].text == "x"


def test_predefined_and_character_entities_still_work() -> None:
    root = parse("<r>&amp;&lt;&#233;&#x4E2D;</r>")
    assert root.text == "&<é中"


def test_not_well_formed_is_a_located_parse_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse(b"<r>\n<a></b></r>", source="page.xml")
    assert caught.value.source == "page.xml"
    assert caught.value.line == 2
    assert "not well-formed" in caught.value.cause


def test_empty_document_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="empty"):
        list(iterparse(io.BytesIO(b"")))


def test_size_cap() -> None:
    data = b"<r>" + b"<a>x</a>" * 1000 + b"</r>"
    with pytest.raises(XMLTooLargeError):
        parse(data, max_bytes=1000)
    with pytest.raises(XMLTooLargeError):
        list(iterparse(io.BytesIO(data), max_bytes=1000))
    assert len(parse(data, max_bytes=len(data))) == 1000


def test_huge_text_node_is_refused_by_libxml2_caps() -> None:
    data = b"<r>" + b"x" * (11 * 1024 * 1024) + b"</r>"
    with pytest.raises(ParseError):
        parse(data)


def test_parser_factory_refuses_unsafe_overrides() -> None:
    with pytest.raises(ValueError, match="safety"):
        make_parser(resolve_entities=True)
    parser = make_parser(recover=True)
    assert isinstance(parser, etree.XMLParser)


def test_streaming_filters_by_tag_and_memory_can_be_released() -> None:
    body = b"<list>" + b"".join(b"<item n='%d'/>" % i for i in range(5000)) + b"</list>"
    count = 0
    largest = 0
    for _event, element in iterparse(io.BytesIO(body), tag="item"):
        count += 1
        parent = element.getparent()
        release(element)
        assert element.getprevious() is None
        largest = max(largest, len(parent))
    assert count == 5000
    assert largest < 5000  # at most one chunk of siblings is alive at a time


def test_control_characters_are_removed_and_counted() -> None:
    repair = ControlCharRepair()
    raw = [b"<r>a\x01b\x0b", b"c&#x", b"1F;d&#12;e&#9;&#x41;</r>"]
    text = b"".join(repaired_chunks(raw, repair))
    assert text == b"<r>abcde&#9;&#x41;</r>"
    assert repair.repaired == 4
    assert parse(text).text == "abcde\tA"


def test_a_comment_before_the_doctype_does_not_hide_it() -> None:
    data = b'<?xml version="1.0"?><!-- <a> --><!DOCTYPE r [<!ENTITY x "y">]><r>&x;</r>'
    with pytest.raises(UnsafeXMLError):
        parse(data)


def test_utf16_documents_are_screened_too() -> None:
    evil = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>'
    with pytest.raises(UnsafeXMLError):
        parse(evil.encode("utf-16"))
    assert parse('<?xml version="1.0" encoding="UTF-16"?><r>é</r>'.encode("utf-16")).text == "é"


@pytest.mark.parametrize(
    "chunks",
    [
        [b"<root><a>1</a><a>2</a><a>3 </b></a><a>4</a></root>"],
        [b"<root><a>1</a>", b"<a>2</a><a>3 </b><a>4</a></root>"],
    ],
)
def test_elements_before_a_syntax_error_reach_the_caller(chunks: list[bytes]) -> None:
    got: list[str | None] = []
    with pytest.raises(ParseError, match="line 1: not well-formed XML: Opening and ending"):
        for _event, element in iterparse(chunks, source="t.xml", tag="a"):
            got.append(element.text)
    assert got == ["1", "2"]
