"""The one XML parser factory of the project: every XML byte goes through here.

lxml (libxml2) is configured so that a hostile document cannot read files, reach the
network or expand entities: ``resolve_entities=False``, ``no_network=True``,
``load_dtd=False``, ``dtd_validation=False`` and ``huge_tree=False`` (libxml2's own caps
on text node size and nesting depth stay on). On top of that a document whose DOCTYPE
declares entities, or points at an external DTD, is refused outright before any of its
elements reach the caller (XXE, billion laughs and quadratic blowup all need entity
declarations), and every input has a byte cap.

Streaming is a pull parser fed in chunks, so a file-like of bytes or of text (the
format readers get decoded text) is read with the same safety and flat memory.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, TypeAlias

from harvester.errors import ParseError

# lxml ships no type information; importing it as a module object keeps mypy strict
# usable without stubs (and without a type: ignore that stubs would make stale).
etree: Any = importlib.import_module("lxml.etree")

MAX_DOCUMENT_BYTES = 512 * 1024 * 1024
"""Default cap on one document: far above any OAI page or MARCXML file we expect."""

CHUNK_SIZE = 64 * 1024

SAFE_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_blank_text": False,
}

Element: TypeAlias = Any
"""An lxml element (``lxml.etree._Element``)."""


class UnsafeXMLError(ParseError):
    """The document uses a DTD feature we refuse (entity declarations, external DTD)."""


class XMLTooLargeError(ParseError):
    """The document is larger than the byte cap for this input."""


def make_parser(**overrides: Any) -> Any:
    """A fresh lxml parser with the safe options (``overrides`` may only add, e.g. recover)."""
    options = {**SAFE_OPTIONS, **overrides}
    for key in ("resolve_entities", "no_network", "load_dtd", "dtd_validation", "huge_tree"):
        if options[key] != SAFE_OPTIONS[key]:
            raise ValueError(f"{key} cannot be changed: it is a safety setting")
    return etree.XMLParser(**options)


def _check_doctype(tree: Any, source: str) -> None:
    """Refuse entity declarations and external DTDs, whatever the parser would do."""
    info = tree.docinfo
    if not info.doctype:
        return
    if info.system_url or info.public_id:
        raise UnsafeXMLError(
            f"refused: the DOCTYPE names an external DTD ({info.system_url or info.public_id})",
            source=source,
        )
    dtd = info.internalDTD
    if dtd is not None:
        names = [entity.name for entity in dtd.iterentities()]
        if names:
            shown = ", ".join(str(n) for n in names[:5])
            raise UnsafeXMLError(f"refused: the DOCTYPE declares entities ({shown})", source=source)


MAX_PROLOG_CHARS = 1024 * 1024
_ROOT_START = re.compile(r"<[^!?\s]")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_EXTERNAL_ID = re.compile(r"<!DOCTYPE\s+[^\s\[>]+\s+(?:SYSTEM|PUBLIC)\b")


def _head_text(parts: list[bytes | str]) -> str:
    if isinstance(parts[0], str):
        return "".join(parts)  # type: ignore[arg-type]
    data = b"".join(parts)  # type: ignore[arg-type]
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:2] in (b"<\x00", b"\x00<"):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="replace")


def _screen_prolog(parts: list[bytes | str], source: str, *, final: bool) -> bool:
    """True once the root element has started and nothing before it is refused.

    Raises:
        UnsafeXMLError: the prolog declares entities, names an external DTD, or is huge.
    """
    # Comments may hold "<" text that is no tag ("<!-- <a> -->"): drop them first.
    head = _COMMENT.sub("", _head_text(parts))
    # The prolog ends at the first tag that is not a declaration, comment or PI; inside
    # a DOCTYPE internal subset every "<" starts "<!" or "<?", so the scan is safe.
    match = _ROOT_START.search(head)
    if match is None and not final:
        if len(head) > MAX_PROLOG_CHARS:
            raise UnsafeXMLError("refused: the prolog is larger than 1 MB", source=source)
        return False
    prolog = head if match is None else head[: match.start()]
    if "<!ENTITY" in prolog:
        raise UnsafeXMLError("refused: the DOCTYPE declares entities", source=source)
    if _EXTERNAL_ID.search(prolog):
        raise UnsafeXMLError("refused: the DOCTYPE names an external DTD", source=source)
    return True


def _syntax_error(exc: Any, source: str) -> ParseError:
    line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
    return ParseError(f"not well-formed XML: {exc.msg}", source=source, line=line)


def parse(
    data: bytes | str, *, source: str = "<xml>", max_bytes: int = MAX_DOCUMENT_BYTES
) -> Element:
    """Parse a whole document and return its root element.

    Bytes are parsed in one call to libxml2 after the same prolog screening the
    streaming parser does (about half the cost of feeding a pull parser: an OAI-PMH page
    is parsed whole anyway); text goes through :func:`iterparse`.

    Raises:
        XMLTooLargeError: ``data`` is longer than ``max_bytes``.
        UnsafeXMLError: the DOCTYPE declares entities or names an external DTD.
        ParseError: the document is not well-formed.
    """
    if len(data) > max_bytes:
        raise XMLTooLargeError(f"document larger than {max_bytes} bytes", source=source)
    if isinstance(data, bytes):
        if not data:
            raise ParseError("the document is empty (no root element)", source=source)
        size = CHUNK_SIZE
        # The prolog is screened before libxml2 sees it, as in iterparse().
        while not _screen_prolog([data[:size]], source, final=size >= len(data)):
            size *= 4
        try:
            root: Element = etree.fromstring(data, make_parser())
        except etree.XMLSyntaxError as exc:
            raise _syntax_error(exc, source) from exc
        if root is None:
            raise ParseError("the document is empty (no root element)", source=source)
        _check_doctype(root.getroottree(), source)
        return root
    for _event, element in iterparse(_chunks(data), source=source, max_bytes=max_bytes):
        root = element.getroottree().getroot()
    return root


def _chunks(data: bytes | str) -> Iterator[bytes | str]:
    for start in range(0, len(data), CHUNK_SIZE):
        yield data[start : start + CHUNK_SIZE]


def read_chunks(stream: IO[bytes] | IO[str], size: int = CHUNK_SIZE) -> Iterator[bytes | str]:
    """Chunks of a file-like, bytes or text, until it is exhausted."""
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


def iterparse(
    chunks: Iterable[bytes | str] | IO[bytes] | IO[str],
    *,
    events: tuple[str, ...] = ("end",),
    tag: str | Sequence[str] | None = None,
    source: str = "<xml>",
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> Iterator[tuple[str, Element]]:
    """Stream ``(event, element)`` pairs from chunks or a file-like, safely.

    ``tag`` (one or several ``{namespace}name``) lets libxml2 skip events for every
    other element, which is most of the cost of streaming. The prolog is screened
    before the parser sees it, and the DOCTYPE checked again at the first event, before
    anything reaches the caller. Callers free elements they are done with
    (:func:`release`) to keep memory flat.

    Raises:
        XMLTooLargeError, UnsafeXMLError, ParseError: as for :func:`parse`.
    """
    if hasattr(chunks, "read"):
        chunks = read_chunks(chunks)  # type: ignore[arg-type]
    parser = etree.XMLPullParser(events=events, tag=tag, **SAFE_OPTIONS)
    checked = False
    seen = 0
    prolog: list[bytes | str] = []
    prolog_done = False
    try:
        for chunk in chunks:
            seen += len(chunk)
            if seen > max_bytes:
                raise XMLTooLargeError(f"document larger than {max_bytes} bytes", source=source)
            if not prolog_done:
                # libxml2 checks declared entities (and may expand them) while it parses
                # the DTD, before we see any event: inspect the prolog text first.
                prolog.append(chunk)
                prolog_done = _screen_prolog(prolog, source, final=False)
                if not prolog_done:
                    continue
                chunk = chunk[:0].join(prolog)  # type: ignore[arg-type]
                prolog = []
            failure: etree.XMLSyntaxError | None = None
            try:
                parser.feed(chunk)
            except etree.XMLSyntaxError as exc:
                # The elements completed before the error in this chunk are good: the
                # caller gets them before the error, so one bad record loses no others.
                failure = exc
            for item in parser.read_events():
                if not checked:
                    _check_doctype(item[1].getroottree(), source)
                    checked = True
                yield item
            if failure is not None:
                raise failure
        if not seen:
            raise ParseError("the document is empty (no root element)", source=source)
        if not prolog_done and prolog:
            _screen_prolog(prolog, source, final=True)
            parser.feed(prolog[0][:0].join(prolog))  # type: ignore[arg-type]
        root = parser.close()
        if not checked:
            _check_doctype(root.getroottree(), source)
        yield from parser.read_events()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, source) from exc


def release(element: Element) -> None:
    """Free an element the caller is done with, and the siblings already passed."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


# XML 1.0 allows only TAB, LF and CR below 0x20. Servers still send the others (raw or
# as character references) inside titles pasted from word processors; libxml2 rightly
# refuses them, so the OAI layer deletes them first and counts what it deleted.
_ILLEGAL_BYTES = bytes(c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D))
_ILLEGAL_REFS = re.compile(
    rb"&#(?:x0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F])|0*(?:[0-8]|1[124-9]|2[0-9]|3[01]));"
)


class ControlCharRepair:
    """Delete characters XML 1.0 forbids from a UTF-8 byte stream, counting them.

    A character reference cut between two chunks is carried over to the next chunk.
    """

    def __init__(self) -> None:
        self.repaired = 0
        self._carry = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._carry + chunk
        self._carry = b""
        amp = data.rfind(b"&", max(0, len(data) - 12))
        if amp != -1 and b";" not in data[amp:]:
            data, self._carry = data[:amp], data[amp:]
        cleaned = data.translate(None, _ILLEGAL_BYTES)
        self.repaired += len(data) - len(cleaned)
        if b"&#" in cleaned:
            cleaned, count = _ILLEGAL_REFS.subn(b"", cleaned)
            self.repaired += count
        return cleaned

    def flush(self) -> bytes:
        rest, self._carry = self._carry, b""
        return rest.translate(None, _ILLEGAL_BYTES)


def repaired_chunks(chunks: Iterable[bytes], repair: ControlCharRepair) -> Iterator[bytes]:
    """``chunks`` with forbidden control characters removed (counted in ``repair``)."""
    for chunk in chunks:
        cleaned = repair.feed(chunk)
        if cleaned:
            yield cleaned
    rest = repair.flush()
    if rest:
        yield rest
