"""Landing pages: the metadata a publisher or catalogue embeds in its HTML (read only).

A landing page often says what it is several times over, in vocabularies of different
quality. Each vocabulary is one *layer* (one function that returns a ``Record`` or
``None``), and :func:`combine` merges them in this order, the first layer that has a
field giving it (``harvester.merge``, every layer of kind ``embedded``):

1. Highwire Press ``citation_*`` (Google Scholar's tags: the richest and most common);
2. Dublin Core ``DC.*`` / ``dc.*`` / ``DCTERMS.*`` (also VuFind's ``DC.citation.*``);
3. PRISM ``prism.*``;
4. EPrints ``eprints.*``, then bepress ``bepress_citation_*``;
5. COinS: OpenURL 1.0 KEV in the ``title`` of ``span.Z3988``;
6. schema.org JSON-LD (``ScholarlyArticle``, ``Article``, ``Book``, ``Chapter``,
   ``CreativeWork``...; ``@graph`` and ``mainEntity`` followed; broken JSON-LD with JS
   comments, trailing commas or raw control characters is repaired, never fatal);
7. schema.org RDFa (``vocab``/``typeof``/``property``, as VuFind writes its record page)
   and microdata (``itemscope``/``itemprop``);
8. Open Graph last: it describes a web page for sharing, so it only fills what nothing
   else gave.

A later layer that plainly describes another work (another DOI, or a different title:
COinS spans of cited references, a publisher's JSON-LD ``Organization``) is left out
and named in ``extra["html-meta:skipped"]``. Every filled field keeps a ``FieldSource``
naming its layer (``embedded:highwire``...) and the raw tag values. Tags of a known
vocabulary that map to no field are kept in ``extra`` as ``html-meta:<tag name>``.

Facts the mapping relies on: VuFind writes Highwire dates as ``MM/DD/YYYY`` (PHP
``date('m/d/Y', strtotime($date))``; a date strtotime cannot read becomes
``01/01/1970``, which is therefore not taken as a date), one ``citation_issn`` and one
``citation_author`` per value, and uses ``eprints.number`` for the *volume* (so an
``eprints.number`` without ``eprints.volume`` is kept in ``extra``, not guessed).

Security: pages are parsed by lxml's HTML parser with ``no_network``, without comments
or processing instructions, with libxml2's size limits on, and only the first
:data:`MAX_HTML_CHARS` characters are read.
"""

from __future__ import annotations

import codecs
import importlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import parse_qsl, urljoin

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.formats._base import Format, ReadResult
from harvester.formats.oai_dc import dc_type
from harvester.merge import Layer, merge
from harvester.model import FieldSource, Identifier, IdentifierKind, Name, Record
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import (
    classify_identifier,
    parse_doi,
    parse_isbns,
    parse_issns,
    parse_pmcid,
    parse_pmid,
    parse_url,
)
from harvester.normalize.names import parse_name
from harvester.normalize.pages import normalize_pages
from harvester.normalize.text import clean_text

# lxml ships no type information (see harvester/xml.py).
_lxml_html: Any = importlib.import_module("lxml.html")
_etree: Any = importlib.import_module("lxml.etree")

NAME = "html-meta"
EXTRA = "html-meta:"
MAX_HTML_CHARS = 8 * 1024 * 1024
"""Only this much of a page is parsed: metadata sits in the head and near the top."""

Element = Any
"""An lxml HTML element."""

__all__ = [
    "FORMAT",
    "LAYERS",
    "Page",
    "bepress",
    "coins",
    "coins_fields",
    "combine",
    "dublin_core",
    "eprints",
    "highwire",
    "json_ld",
    "json_ld_objects",
    "load_page",
    "microdata",
    "open_graph",
    "parse_html",
    "prism",
    "rdfa",
    "read",
    "record_from_html",
    "sniff",
]


# --- Parsing --------------------------------------------------------------------------------

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
# Bounded, so a head full of unclosed "<meta" costs linear time.
_META_CHARSET = re.compile(rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode_html(data: bytes, charset: str | None = None) -> str:
    """Text of an HTML page: BOM, then the HTTP charset, then ``<meta charset>``, then UTF-8.

    Bytes that are not valid in the chosen encoding become U+FFFD; a page that is not
    UTF-8 and declares nothing is read as Windows-1252, as browsers do.
    """
    for bom, bom_encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(bom_encoding, errors="replace")
    declared = charset
    if declared is None:
        match = _META_CHARSET.search(data[:4096])
        declared = match.group(1).decode("ascii") if match else None
    if declared:
        name: str | None
        try:
            name = codecs.lookup(declared).name
        except LookupError:
            name = None
        if name is not None:
            # Pages that say latin-1 mean Windows-1252 (WHATWG encoding standard).
            if name in ("latin-1", "iso8859-1", "ascii"):
                name = "cp1252"
            return data.decode(name, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _parser() -> Any:
    return _lxml_html.HTMLParser(
        no_network=True,
        remove_comments=True,
        remove_pis=True,
        huge_tree=False,
        recover=True,
    )


def parse_html(html: bytes | str, *, charset: str | None = None) -> Element | None:
    """The root element of a page, or None for a page with no elements at all.

    Only the first :data:`MAX_HTML_CHARS` characters are parsed.
    """
    text = decode_html(html, charset) if isinstance(html, bytes) else html
    text = _XML_DECLARATION.sub("", text[:MAX_HTML_CHARS], count=1)
    # Characters XML forbids make libxml2 stop; they are never metadata.
    text = text.translate(_CONTROL_DELETE)
    if not text.strip():
        return None
    try:
        root = _lxml_html.document_fromstring(text, parser=_parser())
    except (_etree.ParserError, _etree.XMLSyntaxError, ValueError):
        return None
    return root


_CONTROL_DELETE = {c: None for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}


# --- The page: meta tags and friends, read once -----------------------------------------------


@dataclass
class Page:
    """What the layers read from one parsed page."""

    root: Element
    url: str | None = None
    meta: list[tuple[str, str, str]] = field(default_factory=list)
    """``(lower-case name, name as written, content)`` for every ``<meta>`` with content."""

    def with_prefix(self, *prefixes: str) -> list[tuple[str, str, str]]:
        """The meta tags whose lower-case name starts with one of ``prefixes``."""
        return [m for m in self.meta if m[0].startswith(prefixes)]

    def resolve(self, link: str) -> str:
        """``link`` made absolute against the page URL (and its ``<base href>``)."""
        base = self.url or ""
        bases = self.root.xpath("//base[@href]/@href")
        if bases:
            base = urljoin(base, str(bases[0]))
        return urljoin(base, link) if base else link


def load_page(root: Element, url: str | None = None) -> Page:
    """Read the meta tags of a parsed page once, for all layers."""
    meta: list[tuple[str, str, str]] = []
    for element in root.iter("meta"):
        name = element.get("name") or element.get("property")
        content = element.get("content")
        if not name or content is None:
            continue
        text = clean_text(content, multiline=True)
        if text:
            key = clean_text(name).lower()
            meta.append((key, clean_text(name), text))
    return Page(root=root, url=url, meta=meta)


def _page(tree: Element | Page) -> Page:
    return tree if isinstance(tree, Page) else load_page(tree)


# --- Building one layer's record -------------------------------------------------------------


# VuFind's date('m/d/Y', strtotime($date)) when strtotime fails ("c2017", "[2017?]").
_EPOCH_ARTEFACTS = frozenset({"01/01/1970", "01-01-1970"})
_URLISH = re.compile(r"^(?:https?://|www\.|/)", re.I)


class _Builder:
    """Collects one layer's fields with their raw tag values; first value set wins."""

    def __init__(self, layer: str) -> None:
        self.source = f"embedded:{layer}"
        self.data: dict[str, Any] = {}
        self.raws: dict[str, list[str]] = {}
        self.names: dict[str, list[Name]] = {"author": [], "editor": [], "translator": []}
        self.identifiers: list[Identifier] = []
        self.keywords: list[str] = []
        self.extra: dict[str, list[str]] = {}
        self._seen: set[tuple[str, str]] = set()
        self._names_seen: set[tuple[str, Name]] = set()

    def raw(self, name: str, raw: str) -> None:
        if (name, raw) not in self._seen:
            self._seen.add((name, raw))
            self.raws.setdefault(name, []).append(raw)

    def set(self, name: str, value: Any, raw: str) -> None:
        """Fill ``name``; a second, different value is kept in ``extra``, not dropped."""
        if value in (None, "", []):
            return
        if name in self.data:
            if value != self.data[name] and raw not in self.raws.get(name, []):
                self.keep_raw(raw)
            return
        self.data[name] = value
        self.raw(name, raw)

    def keep_raw(self, raw: str) -> None:
        """Keep a ``"tag: value"`` raw text in ``extra`` under its tag."""
        tag, _, value = raw.partition(": ")
        if value:
            self.keep(tag, value)

    def text(self, name: str, value: str | None, raw: str | None = None) -> None:
        if value:
            self.set(name, value, raw if raw is not None else value)

    def date(self, value: str | None, raw: str) -> None:
        if not value:
            return
        if value.strip() in _EPOCH_ARTEFACTS:
            self.keep("epoch-date", value)
            return
        parsed = parse_date(value)
        known = self.data.get("issued")
        if known is not None and not known.parts and parsed is not None and parsed.parts:
            # A real date beats a literal one ("Forthcoming") from an earlier tag.
            for old in self.raws.pop("issued", []):
                self.keep_raw(old)
            del self.data["issued"]
        if "issued" in self.data:
            if raw not in self.raws.get("issued", []):
                self.keep_raw(raw)  # an online date beside the publication date
            return
        if parsed is not None:
            self.set("issued", parsed, raw)

    def name(self, role: str, value: str, raw: str) -> None:
        text = clean_text(value)
        tag = raw.split(": ", 1)[0] if ": " in raw else role
        if not text or _URLISH.match(text) or "@" in text.split(" ")[0]:
            # Profile links and e-mail addresses are not names.
            if text:
                self.keep(tag, text)
            return
        try:
            name = parse_name(text)
        except ValueError:
            self.keep(tag, text)
            return
        self.add_name(role, name)
        self.raw(role, raw)

    def add_name(self, role: str, name: Name) -> None:
        if (role, name) not in self._names_seen:
            self._names_seen.add((role, name))
            self.names[role].append(name)

    def identifier(self, ident: Identifier | None, raw: str) -> None:
        if ident is None:
            return
        if all((i.scheme, i.value) != (ident.scheme, ident.value) for i in self.identifiers):
            self.identifiers.append(ident)
        self.raw("identifiers", raw)

    def doi(self, value: str, raw: str) -> None:
        doi = parse_doi(value)
        if doi is not None:
            self.identifier(Identifier(scheme="doi", value=doi), raw)
        else:
            self.keep("doi", value)

    def issns(self, value: str, raw: str, kind: IdentifierKind | None = None) -> None:
        found = parse_issns(value)
        for ident in found:
            self.identifier(ident.model_copy(update={"kind": kind}) if kind else ident, raw)
        if not found:
            self.keep("issn", value)

    def isbns(self, value: str, raw: str) -> None:
        found = parse_isbns(value)
        for ident in found:
            self.identifier(ident, raw)
        if not found:
            self.keep("isbn", value)

    def scheme(self, scheme: str, value: str | None, raw: str) -> None:
        if not value:
            return
        try:
            ident = Identifier.model_validate({"scheme": scheme, "value": value})
        except ValidationError:
            self.keep(scheme, value)
            return
        self.identifier(ident, raw)

    def any_identifier(self, value: str, raw: str) -> None:
        ident = classify_identifier(value)
        if ident is None:
            self.keep("identifier", value)
        else:
            self.identifier(ident, raw)

    def keyword_list(self, value: str, raw: str, *, commas: bool = False) -> None:
        pieces = re.split(r"[;,]" if commas else r";", value)
        for piece in pieces:
            text = clean_text(piece)
            if text and text not in self.keywords:
                self.keywords.append(text)
                self.raw("keywords", raw)

    def pages(self, first: str | None, last: str | None, raw: str | None = None) -> None:
        """``first-last`` as the page range (``raw``: when not recorded already)."""
        if not first or "page" in self.data:
            return
        text = f"{first}-{last}" if last and last != first else first
        self.data["page"] = normalize_pages(text) or text
        if raw:
            self.raw("page", raw)

    def keep(self, key: str, value: str) -> None:
        known = self.extra.setdefault(EXTRA + key, [])
        if value not in known:
            known.append(value)

    def empty(self) -> bool:
        return not (self.data or self.identifiers or self.keywords or any(self.names.values()))

    def build(self) -> Record | None:
        """The layer's record, or None when the layer said nothing bibliographic."""
        if self.empty():
            return None
        data = dict(self.data)
        for role, names in self.names.items():
            if names:
                data[role] = names
        if self.identifiers:
            data["identifiers"] = self.identifiers
        if self.keywords:
            data["keywords"] = self.keywords
        for _attempt in range(len(data) + 1):
            sources = {
                name: FieldSource(
                    source=self.source, raw="\n".join(self.raws.get(name, [])) or None
                )
                for name in data
                if name != "type"
            }
            try:
                return Record(**data, extra=self.extra, field_sources=sources)
            except ValidationError as exc:
                bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]} & set(data)
                if not bad:
                    raise
                for name in bad:
                    value = data.pop(name)
                    self.keep(name, "\n".join(self.raws.get(name, [])) or str(value))
        return None


def _raw(name: str, value: str) -> str:
    return f"{name}: {value}"


# --- Highwire Press and bepress ---------------------------------------------------------------


def _citation_tags(page: Page, prefix: str, layer: str) -> Record | None:
    """Highwire-style tags (``citation_*``; bepress adds its own prefix to the same names)."""
    tags = page.with_prefix(prefix)
    if not tags:
        return None
    b = _Builder(layer)
    cut = len(prefix)
    first_page: str | None = None
    last_page: str | None = None
    kinds: set[str] = set()
    for key, name, value in tags:
        field_name = key[cut:]
        raw = _raw(name, value)
        handler = _CITATION.get(field_name)
        if handler is not None:
            handler(b, value, raw)
        elif field_name == "firstpage":
            first_page = first_page or value
            b.raw("page", raw)
        elif field_name == "lastpage":
            last_page = last_page or value
            b.raw("page", raw)
        elif field_name in _CITATION_DATES:
            continue  # read below, in order of preference
        elif field_name in _CITATION_KIND_TAGS:
            kinds.add(field_name)
            _CITATION_KIND_TAGS[field_name](b, value, raw)
        elif field_name.endswith("_url"):
            b.keep(name, page.resolve(value))  # citation_pdf_url="/pdf/42": made absolute
        else:
            b.keep(name, value)
    for date_name in _CITATION_DATES:
        for key, name, value in tags:
            if key[cut:] == date_name:
                b.date(value, _raw(name, value))
    b.pages(first_page, last_page)
    b.set("type", _citation_type(b, kinds), "")
    return b.build()


def _names(role: str) -> Callable[[_Builder, str, str], None]:
    def handle(b: _Builder, value: str, raw: str) -> None:
        # One tag per name is the rule; some sites put a ";"-separated list in one tag.
        for piece in value.split(";") if ";" in value else [value]:
            if piece.strip():
                b.name(role, piece, raw)

    return handle


def _text(name: str) -> Callable[[_Builder, str, str], None]:
    return lambda b, value, raw: b.text(name, value, raw)


_CITATION: dict[str, Callable[[_Builder, str, str], None]] = {
    "title": _text("title"),
    "author": _names("author"),
    "authors": _names("author"),
    "editor": _names("editor"),
    "journal_title": _text("container_title"),
    "journal_abbrev": _text("container_title_short"),
    "series_title": _text("collection_title"),
    "volume": _text("volume"),
    "issue": _text("issue"),
    "publisher": _text("publisher"),
    "language": _text("language"),
    "abstract": _text("abstract"),
    "keywords": lambda b, v, r: b.keyword_list(v, r),
    "keyword": lambda b, v, r: b.keyword_list(v, r),
    "doi": lambda b, v, r: b.doi(v, r),
    "issn": lambda b, v, r: b.issns(v, r),
    "eissn": lambda b, v, r: b.issns(v, r, "electronic"),
    "pissn": lambda b, v, r: b.issns(v, r, "print"),
    "isbn": lambda b, v, r: b.isbns(v, r),
    "pmid": lambda b, v, r: b.scheme("pmid", parse_pmid(v), r),
    "pmcid": lambda b, v, r: b.scheme("pmcid", parse_pmcid(v), r),
    "arxiv_id": lambda b, v, r: b.scheme("arxiv", v, r),
    "technical_report_number": _text("number"),
    "edition": _text("edition"),
    "num_pages": _text("number_of_pages"),
}
# Tags that also say what kind of work the page is.
_CITATION_KIND_TAGS: dict[str, Callable[[_Builder, str, str], None]] = {
    "conference_title": _text("container_title"),
    "conference": _text("container_title"),
    "inbook_title": _text("container_title"),
    "book_title": _text("container_title"),
    "dissertation_institution": _text("publisher"),
    "dissertation_name": lambda b, v, r: b.keep("dissertation_name", v),
    "technical_report_institution": _text("publisher"),
    "patent_number": _text("number"),
}
_CITATION_DATES = ("publication_date", "date", "cover_date", "year", "online_date")


def _citation_type(b: _Builder, kinds: set[str]) -> str:
    if kinds & {"conference_title", "conference"}:
        return "paper-conference"
    if kinds & {"dissertation_institution", "dissertation_name"}:
        return "thesis"
    if "patent_number" in kinds:
        return "patent"
    if "technical_report_institution" in kinds or "number" in b.data:
        return "report"
    if kinds & {"inbook_title", "book_title"}:
        return "chapter"
    if "container_title" in b.data or "volume" in b.data or "issue" in b.data:
        return "article-journal"
    if any(i.scheme == "isbn" for i in b.identifiers):
        return "book"
    if any(i.scheme == "issn" for i in b.identifiers):
        return "article-journal"
    return "document"


def highwire(tree: Element | Page) -> Record | None:
    """The Highwire Press ``citation_*`` layer (Google Scholar's inclusion tags)."""
    return _citation_tags(_page(tree), "citation_", "highwire")


def bepress(tree: Element | Page) -> Record | None:
    """The bepress ``bepress_citation_*`` layer (Digital Commons): Highwire names, prefixed."""
    return _citation_tags(_page(tree), "bepress_citation_", "bepress")


# --- Dublin Core --------------------------------------------------------------------------------

# Where the oai_dc reader's ``dc_type`` (shared, so both read DC types alike) is too coarse.
_DC_TYPES = {"image.moving": "motion_picture", "movingimage": "motion_picture"}


def _dc_element(key: str) -> str:
    """``dc.date.issued`` -> ``date.issued``; ``dcterms.issued`` -> ``issued``."""
    return key.split(".", 1)[1] if "." in key else key


def dublin_core(tree: Element | Page) -> Record | None:
    """The Dublin Core layer: ``DC.*`` elements and ``DCTERMS.*`` terms, any case.

    VuFind's extensions (``DC.issued``, ``DC.relation.ispartof``, ``DC.citation.volume``,
    ``.issue``, ``.spage``, ``.epage``) are read as well.
    """
    page = _page(tree)
    tags = page.with_prefix("dc.", "dcterms.")
    if not tags:
        return None
    b = _Builder("dublin-core")
    spage = epage = None
    dates: dict[str, tuple[str, str]] = {}
    for key, name, value in tags:
        element = _dc_element(key)
        raw = _raw(name, value)
        if element == "title":
            b.text("title", value, raw)
        elif element in ("creator", "creator.personalname"):
            b.name("author", value, raw)
        elif element in ("date", "issued", "date.issued", "created", "date.created", "available"):
            dates.setdefault(element, (value, raw))
        elif element == "publisher":
            b.text("publisher", value, raw)
        elif element in ("language", "language.iso"):
            b.text("language", value, raw)
        elif element in ("description", "abstract", "description.abstract"):
            b.text("abstract", value, raw)
        elif element in ("subject", "subject.keywords"):
            b.keyword_list(value, raw)
        elif element in ("identifier", "identifier.doi", "identifier.uri", "identifier.isbn",
                         "identifier.issn", "identifier.citation"):  # fmt: skip
            if element != "identifier.citation":
                b.any_identifier(value, raw)
            else:
                b.keep(name, value)
        elif element in ("relation.ispartof", "ispartof", "source", "relation.ispartofseries"):
            if element == "relation.ispartofseries":
                b.text("collection_title", value, raw)
            elif element == "source" and classify_identifier(value) is not None:
                b.keep(name, value)
            else:
                b.text("container_title", value, raw)
        elif element == "citation.volume":
            b.text("volume", value, raw)
        elif element == "citation.issue":
            b.text("issue", value, raw)
        elif element == "citation.spage":
            spage = spage or value
            b.raw("page", raw)
        elif element == "citation.epage":
            epage = epage or value
            b.raw("page", raw)
        elif element == "type":
            csl_type = _DC_TYPES.get(value.lower()) or dc_type([value])
            if csl_type is not None:
                b.set("type", csl_type, raw)
            else:
                b.keep(name, value)
        else:
            b.keep(name, value)
    for preferred in ("issued", "date.issued", "date", "created", "date.created", "available"):
        if preferred in dates:
            value, raw = dates[preferred]
            b.date(value, raw)
    b.pages(spage, epage)
    if "type" not in b.data and ("container_title" in b.data or "volume" in b.data):
        b.set("type", "article-journal", "")
    return b.build()


# --- PRISM ------------------------------------------------------------------------------------


def prism(tree: Element | Page) -> Record | None:
    """The PRISM layer (``prism.*``: publication name, volume, number, pages, dates, ids)."""
    page = _page(tree)
    tags = page.with_prefix("prism.")
    if not tags:
        return None
    b = _Builder("prism")
    start = end = None
    dates: list[tuple[str, str]] = []
    for key, name, value in tags:
        element = key[len("prism.") :]
        raw = _raw(name, value)
        if element == "title":
            b.text("title", value, raw)
        elif element == "publicationname":
            b.text("container_title", value, raw)
        elif element == "volume":
            b.text("volume", value, raw)
        elif element in ("number", "issueidentifier", "issue"):
            b.text("issue", value, raw)
        elif element == "startingpage":
            start = start or value
            b.raw("page", raw)
        elif element == "endingpage":
            end = end or value
            b.raw("page", raw)
        elif element == "pagerange":
            b.text("page", normalize_pages(value) or value, raw)
        elif element in ("publicationdate", "coverdate", "coverdisplaydate", "onlinedate"):
            dates.append((value, raw))
        elif element == "doi":
            b.doi(value, raw)
        elif element == "issn":
            b.issns(value, raw)
        elif element == "eissn":
            b.issns(value, raw, "electronic")
        elif element == "isbn":
            b.isbns(value, raw)
        elif element in ("keyword", "keywords"):
            b.keyword_list(value, raw)
        elif element == "edition":
            b.text("edition", value, raw)
        elif element == "publisher":
            b.text("publisher", value, raw)
        else:
            b.keep(name, value)
    for value, raw in dates:
        b.date(value, raw)
    b.pages(start, end)
    if "container_title" in b.data or "volume" in b.data:
        b.set("type", "article-journal", "")
    return b.build()


# --- EPrints ------------------------------------------------------------------------------------

_EPRINTS_TYPES = {
    "article": "article-journal", "book": "book", "book_section": "chapter",
    "conference_item": "paper-conference", "thesis": "thesis", "monograph": "report",
    "patent": "patent", "dataset": "dataset", "image": "graphic", "video": "motion_picture",
    "audio": "song", "other": "document",
}  # fmt: skip


def eprints(tree: Element | Page) -> Record | None:
    """The EPrints layer (``eprints.*``, as EPrints repositories and VuFind write it)."""
    page = _page(tree)
    tags = page.with_prefix("eprints.")
    if not tags:
        return None
    b = _Builder("eprints")
    has_volume = any(key == "eprints.volume" for key, _, _ in tags)
    container_kind: str | None = None
    for key, name, value in tags:
        element = key[len("eprints.") :]
        raw = _raw(name, value)
        if element == "title":
            b.text("title", value, raw)
        elif element == "creators_name":
            b.name("author", value, raw)
        elif element == "editors_name":
            b.name("editor", value, raw)
        elif element == "date":
            b.date(value, raw)
        elif element == "publication":
            b.text("container_title", value, raw)
        elif element in ("book_title", "event_title"):
            container_kind = container_kind or element
            b.text("container_title", value, raw)
        elif element == "volume":
            b.text("volume", value, raw)
        elif element == "number" and has_volume:
            b.text("issue", value, raw)
        elif element == "pagerange":
            b.text("page", normalize_pages(value) or value, raw)
        elif element == "pages":
            b.text("number_of_pages", value, raw)
        elif element in ("publisher", "institution"):
            b.text("publisher", value, raw)
        elif element == "place_of_pub":
            b.text("publisher_place", value, raw)
        elif element == "series":
            b.text("collection_title", value, raw)
        elif element == "issn":
            b.issns(value, raw)
        elif element == "isbn":
            b.isbns(value, raw)
        elif element in ("id_number", "doi"):
            b.any_identifier(value, raw)
        elif element == "abstract":
            b.text("abstract", value, raw)
        elif element == "keywords":
            b.keyword_list(value, raw, commas=";" not in value)
        elif element == "type":
            eprints_type = _EPRINTS_TYPES.get(value.lower())
            if eprints_type is not None:
                b.set("type", eprints_type, raw)
            else:
                b.keep(name, value)
        else:
            # eprints.number without eprints.volume lands here: VuFind writes the volume
            # there, EPrints the issue; we do not guess.
            b.keep(name, value)
    if "type" not in b.data and "container_title" in b.data:
        kind = {"book_title": "chapter", "event_title": "paper-conference"}
        b.set("type", kind.get(container_kind or "", "article-journal"), "")
    return b.build()


# --- COinS (OpenURL 1.0 KEV in span.Z3988) -----------------------------------------------------


def coins_fields(title: str) -> dict[str, list[str]]:
    """The KEV pairs of one COinS ``title``, keys as written (``rft.atitle``, ``rft_id``...).

    PHP's array syntax (``rft_id[0]``, ``rft.au[]``, as VuFind's ``http_build_query``
    writes repeated keys) is folded into the plain key.
    """
    out: dict[str, list[str]] = {}
    for key, value in parse_qsl(title, keep_blank_values=False):
        # KEV keys are case-sensitive by the letter of Z39.88; pages are not so careful.
        base = re.sub(r"\[\d*\]$", "", key.strip()).lower()
        text = clean_text(value)
        if base and text:
            out.setdefault(base, []).append(text)
    return out


def coins_spans(root: Element) -> list[dict[str, list[str]]]:
    """Every COinS span of the page, in order."""
    found = []
    for span in root.iter("span"):
        classes = (span.get("class") or "").split()
        title = span.get("title")
        if "Z3988" in classes and title:
            fields = coins_fields(title)
            if fields:
                found.append(fields)
    return found


_COINS_GENRES = {
    "article": "article-journal", "journal": "periodical", "issue": "periodical",
    "book": "book", "bookitem": "chapter", "proceeding": "paper-conference",
    "conference": "paper-conference", "report": "report", "document": "document",
    "preprint": "article", "unknown": "document", "dissertation": "thesis",
}  # fmt: skip


def _coins_record(kev: dict[str, list[str]]) -> Record | None:
    b = _Builder("coins")

    def first(*keys: str) -> tuple[str | None, str]:
        for key in keys:
            values = kev.get(key)
            if values:
                return values[0], _raw(key, values[0])
        return None, ""

    fmt = (kev.get("rft_val_fmt") or [""])[0].lower()
    genre = (kev.get("rft.genre") or [""])[0].lower()
    if fmt.endswith(":dissertation"):
        genre = genre or "dissertation"
    title, raw = (
        first("rft.atitle", "rft.btitle", "rft.title")
        if genre != "journal"
        else (first("rft.jtitle", "rft.title"))
    )
    b.text("title", title, raw)
    if genre in ("bookitem", "proceeding", "conference"):
        b.text("container_title", *first("rft.btitle", "rft.jtitle", "rft.title"))
    elif genre != "journal":
        container, raw = first("rft.jtitle", "rft.stitle")
        if container != title:
            b.text("container_title", container, raw)
    b.text("container_title_short", *first("rft.stitle"))
    b.text("collection_title", *first("rft.series"))
    for key in ("rft.volume", "rft.issue", "rft.edition", "rft.pub", "rft.place", "rft.tpages"):
        value, raw = first(key)
        target = {"rft.pub": "publisher", "rft.place": "publisher_place",
                  "rft.tpages": "number_of_pages"}.get(key, key[4:])  # fmt: skip
        b.text(target, value, raw)
    if "rft.publisher" in kev:
        b.text("publisher", *first("rft.publisher"))
    pages, raw = first("rft.pages")
    if pages:
        b.text("page", normalize_pages(pages) or pages, raw)
    spage, raw_s = first("rft.spage")
    epage, raw_e = first("rft.epage")
    if spage:
        b.pages(spage, epage, "\n".join(r for r in (raw_s, raw_e) if r))
    date, raw = first("rft.date")
    b.date(date, raw)
    _coins_authors(b, kev)
    for value in kev.get("rft.creator", []):
        b.name("author", value, _raw("rft.creator", value))
    for key in ("rft.language", "rft.lang"):
        b.text("language", *first(key))
    for value in kev.get("rft.issn", []):
        b.issns(value, _raw("rft.issn", value))
    for value in kev.get("rft.eissn", []):
        b.issns(value, _raw("rft.eissn", value), "electronic")
    for value in kev.get("rft.isbn", []):
        b.isbns(value, _raw("rft.isbn", value))
    for key in ("rft_id", "rft.identifier"):
        for value in kev.get(key, []):
            b.any_identifier(
                re.sub(r"(?i)^info:(doi|pmid|pmcid)/", r"\1:", value), _raw(key, value)
            )
    for value in kev.get("rft.subject", []):
        b.keyword_list(value, _raw("rft.subject", value))
    b.text("abstract", *first("rft.description"))
    kind = _COINS_GENRES.get(genre)
    if kind is None and fmt.endswith(":book"):
        kind = "book"
    elif kind is None and fmt.endswith(":journal"):
        kind = "article-journal"
    if kind is not None:
        b.set("type", kind, _raw("rft.genre", genre) if genre else _raw("rft_val_fmt", fmt))
    # Context keys, and VuFind's rft.format (its own format label, which rft.genre says).
    known = {
        "ctx_ver", "ctx_enc", "rfr_id", "rft_val_fmt", "url_ver", "url_ctx_fmt", "rft.genre",
        "rft.format",
    }  # fmt: skip
    used = {
        "rft.atitle", "rft.btitle", "rft.title", "rft.jtitle", "rft.stitle", "rft.series",
        "rft.volume", "rft.issue", "rft.edition", "rft.pub", "rft.publisher", "rft.place",
        "rft.tpages", "rft.pages", "rft.spage", "rft.epage", "rft.date", "rft.au",
        "rft.aulast", "rft.aufirst", "rft.auinit", "rft.auinit1", "rft.ausuffix",
        "rft.aucorp", "rft.creator", "rft.language", "rft.lang", "rft.issn", "rft.eissn",
        "rft.isbn", "rft_id", "rft.identifier", "rft.subject", "rft.description",
    }  # fmt: skip
    for key, values in kev.items():
        if key not in known and key not in used:
            for value in values:
                b.keep(key, value)
    return b.build()


def _one(kev: dict[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        if kev.get(key):
            return kev[key][0]
    return None


def _coins_authors(b: _Builder, kev: dict[str, list[str]]) -> None:
    """``rft.au`` values in order; ``aulast``/``aufirst`` only when no ``au`` names them."""
    last = _one(kev, "rft.aulast")
    first = _one(kev, "rft.aufirst", "rft.auinit", "rft.auinit1")
    structured: Name | None = None
    if last:
        try:
            structured = Name(family=last, given=first, suffix=_one(kev, "rft.ausuffix"))
        except ValidationError:
            structured = None
    for value in kev.get("rft.au", []):
        b.name("author", value, _raw("rft.au", value))
    if structured is not None:
        names = b.names["author"]
        if not any(n.family == structured.family for n in names):
            names.insert(0, structured)
            b.raw("author", f"rft.aulast: {last}" + (f"\nrft.aufirst: {first}" if first else ""))
        elif names and names[0].family == structured.family and structured.given:
            # "rft.au=J. Carberry" with aufirst=Josiah: the structured parts say more.
            longer = len(structured.given) > len(names[0].given or "")
            names[0] = structured if longer else names[0]
    for value in kev.get("rft.aucorp", []):
        b.add_name("author", Name(literal=value))
        b.raw("author", _raw("rft.aucorp", value))


def coins(tree: Element | Page) -> Record | None:
    """The COinS layer: the first ``span.Z3988`` of the page (a record page has one)."""
    page = _page(tree)
    spans = coins_spans(page.root)
    if not spans:
        return None
    return _coins_record(spans[0])


# --- schema.org: JSON-LD, RDFa, microdata ------------------------------------------------------


def _strip_js(text: str) -> str:
    """JSON with the JavaScript-isms pages leave in ``ld+json`` removed.

    Comments (``//`` and ``/* */``) outside strings, trailing commas before ``}`` or ``]``,
    and an HTML comment or CDATA wrapper around the whole script.
    """
    text = text.strip()
    for opening, closing in (("<!--", "-->"), ("<![CDATA[", "]]>"), ("//<![CDATA[", "//]]>")):
        if text.startswith(opening) and text.endswith(closing):
            text = text[len(opening) : -len(closing)].strip()
    out: list[str] = []
    i, n = 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == '"':
                in_string = False
            i += 1
            continue
        if c == '"':
            in_string = True
        elif c == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end == -1 else end
            continue
        elif c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        elif c in "}]":
            # Drop a trailing comma (and the blanks after it) before a closing bracket.
            k = len(out) - 1
            while k >= 0 and out[k].isspace():
                k -= 1
            if k >= 0 and out[k] == ",":
                del out[k:]
        out.append(c)
        i += 1
    return "".join(out)


MAX_REPAIR_CHARS = 1024 * 1024
"""Scripts longer than this are not repaired (the repair walks the text in Python)."""


def _loads_lenient(text: str) -> Any:
    """Parse one ``ld+json`` script; None when even the repaired text is not JSON."""
    candidates = [text]
    if len(text) <= MAX_REPAIR_CHARS:
        candidates.append(_strip_js(text))
    for candidate in candidates:
        try:
            # strict=False accepts raw newlines and tabs inside strings.
            return json.loads(candidate, strict=False)
        except (ValueError, RecursionError):
            continue
    return None


def json_ld_objects(tree: Element | Page) -> list[Any]:
    """The JSON-LD objects of the page in order (nulls and unreadable scripts left out)."""
    page = _page(tree)
    found: list[Any] = []
    for script in page.root.iter("script"):
        kind = (script.get("type") or "").split(";")[0].strip().lower()
        if kind != "application/ld+json":
            continue
        data = _loads_lenient(script.text or "")
        if isinstance(data, list):
            found.extend(item for item in data if item is not None)
        elif data is not None:
            found.append(data)
    return found


_SCHEMA_TYPES: dict[str, str] = {
    "scholarlyarticle": "article-journal", "medicalscholarlyarticle": "article-journal",
    "article": "article", "newsarticle": "article-newspaper",
    "reportagenewsarticle": "article-newspaper", "analysisnewsarticle": "article-newspaper",
    "techarticle": "article", "blogposting": "post-weblog",
    "socialmediaposting": "post", "book": "book", "chapter": "chapter", "thesis": "thesis",
    "report": "report", "dataset": "dataset", "creativework": "document", "movie": "motion_picture",
    "videoobject": "motion_picture", "musicrecording": "song", "softwaresourcecode": "software",
    "softwareapplication": "software", "map": "map", "legislation": "legislation",
    "publicationissue": "periodical", "periodical": "periodical", "review": "review",
    "presentationdigitaldocument": "speech", "digitaldocument": "document", "webpage": "webpage",
    "itempage": "webpage", "collection": "collection", "musiccomposition": "musical_score",
    "audiobook": "book", "episode": "broadcast", "podcastepisode": "broadcast",
}  # fmt: skip
# Types that only wrap the real work (their ``mainEntity``) or are a poor last choice.
_WEAK_TYPES = frozenset({"webpage", "itempage", "creativework"})


def _types(node: dict[str, Any]) -> list[str]:
    raw = node.get("@type", node.get("type", []))
    values = raw if isinstance(raw, list) else [raw]
    out = []
    for value in values:
        if isinstance(value, str):
            out.append(value.rsplit("/", 1)[-1].rsplit("#", 1)[-1].lower())
    return out


def _work_type(node: dict[str, Any]) -> str | None:
    for kind in _types(node):
        if kind in _SCHEMA_TYPES:
            return kind
    return None


def _nodes(data: Any) -> Iterator[dict[str, Any]]:
    """Every top-level node: list items, ``@graph`` members, and each ``mainEntity``."""
    if isinstance(data, list):
        for item in data:
            yield from _nodes(item)
    elif isinstance(data, dict):
        graph = data.get("@graph")
        if isinstance(graph, list):
            yield from _nodes(graph)
        if _types(data) or "@graph" not in data:
            yield data
        main = data.get("mainEntity") or data.get("mainEntityOfPage")
        if isinstance(main, dict | list):
            yield from _nodes(main)


def _main_work(objects: Sequence[Any]) -> dict[str, Any] | None:
    """The node describing the page's work: the first strong work type, else a weak one."""
    weak: dict[str, Any] | None = None
    for node in _nodes(list(objects)):
        kind = _work_type(node)
        if kind is None:
            continue
        if kind not in _WEAK_TYPES:
            return node
        if weak is None or (_types(weak)[0] in ("webpage", "itempage") and kind == "creativework"):
            weak = node
    return weak


def _strings(value: Any, depth: int = 0) -> list[str]:
    """Text values of a schema.org property (strings, numbers, or ``{"name"|"@value"}``).

    RDFa and microdata items hold every property as a list, hence the one nested level.
    """
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        if isinstance(item, str | int | float) and not isinstance(item, bool):
            text = clean_text(str(item), multiline=True)
            if text:
                out.append(text)
        elif isinstance(item, dict) and depth < 2:
            for key in ("@value", "name", "value", "text"):
                inner = _strings(item.get(key), depth + 1)
                if inner:
                    out.append(inner[0])
                    break
    return out


def _first(node: dict[str, Any], *keys: str) -> tuple[str | None, str]:
    for key in keys:
        values = _strings(node.get(key))
        if values:
            return values[0], _raw(key, values[0])
    return None, ""


_ROLE_SUFFIX = re.compile(r"(?:\s*\([^()]*\))+$")


def _schema_people(b: _Builder, role: str, key: str, value: Any) -> None:
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str):
            # VuFind's RDFa author spans end in the role: "Li, Ai (Author)".
            b.name(role, _ROLE_SUFFIX.sub("", item) or item, _raw(key, item))
        elif isinstance(item, dict):
            family = _strings(item.get("familyName"))
            given = _strings(item.get("givenName"))
            kinds = _types(item)
            if family:
                try:
                    name = Name(family=family[0], given=given[0] if given else None)
                except ValidationError:
                    continue
                b.add_name(role, name)
                b.raw(role, _raw(key, f"{family[0]}, {given[0]}" if given else family[0]))
                continue
            names = _strings(item.get("name"))
            if not names:
                continue
            if "organization" in kinds or any(k.endswith("organization") for k in kinds):
                b.add_name(role, Name(literal=names[0]))
                b.raw(role, _raw(key, names[0]))
            else:
                b.name(role, names[0], _raw(key, names[0]))


def _schema_container(b: _Builder, node: dict[str, Any]) -> None:
    """Walk ``isPartOf`` up: issue number, volume number, periodical or book."""
    current: Any = node.get("isPartOf")
    for _depth in range(4):
        if isinstance(current, list):
            current = current[0] if current else None
        if isinstance(current, str):
            if not parse_url(current):
                b.text("container_title", clean_text(current), _raw("isPartOf", current))
            return
        if not isinstance(current, dict):
            return
        kinds = _types(current)
        if "publicationissue" in kinds:
            b.text("issue", *_first(current, "issueNumber"))
        elif "publicationvolume" in kinds:
            b.text("volume", *_first(current, "volumeNumber"))
        else:
            b.text("container_title", *_first(current, "name", "headline"))
            for value in _strings(current.get("issn")):
                b.issns(value, _raw("issn", value))
            for value in _strings(current.get("isbn")):
                b.isbns(value, _raw("isbn", value))
        b.text("issue", *_first(current, "issueNumber"))
        b.text("volume", *_first(current, "volumeNumber"))
        current = current.get("isPartOf")


def _schema_record(node: dict[str, Any], layer: str, page: Page) -> Record | None:
    b = _Builder(layer)
    b.text("title", *_first(node, "headline", "name"))
    _schema_people(b, "author", "author", node.get("author") or node.get("creator"))
    _schema_people(b, "editor", "editor", node.get("editor"))
    _schema_people(b, "translator", "translator", node.get("translator"))
    for key in ("datePublished", "publicationDate", "dateCreated", "copyrightYear"):
        value, raw = _first(node, key)
        b.date(value, raw)
    publisher = node.get("publisher")
    names = _strings(publisher)
    if names and not parse_url(names[0]):
        b.text("publisher", names[0], _raw("publisher", names[0]))
    elif names:
        b.keep("publisher", names[0])
    for item in publisher if isinstance(publisher, list) else [publisher]:
        if isinstance(item, dict):
            place = item.get("location") or item.get("address")
            if isinstance(place, dict):
                place = place.get("addressLocality") or place.get("name")
            b.text("publisher_place", *_first({"location": place}, "location"))
    _schema_container(b, node)
    b.text("volume", *_first(node, "volumeNumber"))
    b.text("issue", *_first(node, "issueNumber"))
    pagination, raw = _first(node, "pagination")
    if pagination:
        b.text("page", normalize_pages(pagination) or pagination, raw)
    start, raw_s = _first(node, "pageStart")
    end, raw_e = _first(node, "pageEnd")
    if start:
        b.pages(start, end, "\n".join(r for r in (raw_s, raw_e) if r))
    b.text("number_of_pages", *_first(node, "numberOfPages"))
    b.text("edition", *_first(node, "bookEdition", "version"))
    language = node.get("inLanguage")
    if isinstance(language, dict):
        language = language.get("alternateName") or language.get("name")
    b.text("language", *_first({"inLanguage": language}, "inLanguage"))
    b.text("abstract", *_first(node, "abstract", "description"))
    keywords = _strings(node.get("keywords"))
    for value in keywords:
        # One string is a comma list ("a, b, c"); separate values are one keyword each
        # (a subject heading such as "Infusions, Intravenous" keeps its comma).
        commas = len(keywords) == 1 and ";" not in value and layer == "json-ld"
        b.keyword_list(value, _raw("keywords", value), commas=commas)
    for value in _strings(node.get("about")):
        if not parse_url(value):
            b.keyword_list(value, _raw("about", value))
    for value in _strings(node.get("isbn")):
        b.isbns(value, _raw("isbn", value))
    for value in _strings(node.get("issn")):
        b.issns(value, _raw("issn", value))
    _schema_identifiers(b, node)
    kind = _work_type(node)
    if kind is not None:
        b.set("type", _SCHEMA_TYPES[kind], _raw("@type", kind))
    record = b.build()
    if record is None or (record.title is None and not record.identifiers and not record.author):
        return None
    return record


def _schema_identifiers(b: _Builder, node: dict[str, Any]) -> None:
    items = node.get("identifier")
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict):
            scheme = str(item.get("propertyID") or "").lower()
            values = _strings(item.get("value"))
            if not values:
                continue
            value = values[0]
            if scheme in ("doi", "isbn", "issn", "pmid", "pmcid", "arxiv"):
                b.any_identifier(
                    f"{scheme}:{value}" if scheme != "doi" else value, _raw(scheme, value)
                )
            else:
                b.any_identifier(value, _raw("identifier", value))
        elif isinstance(item, str) and item.strip():
            b.any_identifier(item, _raw("identifier", item))
    for key in ("sameAs", "url", "@id"):
        for value in _strings(node.get(key)):
            ident = classify_identifier(value) if parse_url(value) else None
            if ident is not None and ident.scheme in ("doi", "pmid", "pmcid", "arxiv"):
                b.identifier(ident, _raw(key, value))


def json_ld(tree: Element | Page) -> Record | None:
    """The schema.org JSON-LD layer: the page's main work (``@graph``/``mainEntity`` followed)."""
    page = _page(tree)
    node = _main_work(json_ld_objects(page))
    return _schema_record(node, "json-ld", page) if node is not None else None


def _is_schema_vocab(vocab: str) -> bool:
    return bool(re.match(r"^https?://schema\.org/?$", vocab.strip()))


_LINK_ATTRIBUTES = (
    (("a", "link", "area"), "href"),
    (("img", "audio", "video", "source", "embed", "iframe"), "src"),
    (("time",), "datetime"),
)


def _attribute_value(element: Element, *, microdata: bool) -> str | None:
    """A property's value: ``content``, then link targets and datetimes, then the text."""
    content = element.get("content")
    if content is not None:
        return clean_text(content, multiline=True)
    tag = element.tag if isinstance(element.tag, str) else ""
    for tags, attribute in _LINK_ATTRIBUTES:
        if tag in tags and element.get(attribute):
            return str(element.get(attribute))
    return clean_text(element.text_content(), multiline=True) or None


MAX_ITEMS = 64
"""RDFa/microdata items looked at per page: the record's item comes early, lists do not."""
MAX_ITEM_ELEMENTS = 20_000
"""Elements walked for one item: a page-sized item stops there rather than run long."""


def _item(
    element: Element, *, attr: str, type_attr: str, microdata: bool, depth: int = 0
) -> dict[str, Any]:
    """One RDFa/microdata item as a JSON-LD-like dict (nested items become dicts)."""
    node: dict[str, Any] = {"@type": (element.get(type_attr) or "").split()}
    if depth > 6:
        return node
    stack = list(reversed(element))  # popped from the end: document order
    walked = 0
    while stack and walked < MAX_ITEM_ELEMENTS:
        child = stack.pop()
        walked += 1
        if not isinstance(child.tag, str):
            continue
        props = (child.get(attr) or "").split()
        nested = child.get(type_attr) is not None or (
            microdata and child.get("itemscope") is not None
        )
        if props:
            if nested:
                value: Any = _item(
                    child, attr=attr, type_attr=type_attr, microdata=microdata, depth=depth + 1
                )
            else:
                value = _attribute_value(child, microdata=microdata)
            for prop in props:
                prop = prop.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
                if value not in (None, ""):
                    node.setdefault(prop, []).append(value)
        if not nested:
            # Properties of a nested item belong to it, not to this one.
            stack.extend(reversed(child))
    return node


def rdfa(tree: Element | Page) -> Record | None:
    """The schema.org RDFa layer (``vocab="http://schema.org/"`` with ``typeof``/``property``).

    VuFind's record page is one such item (``typeof="Book Product"``, ``property="name"``
    on the heading, ``author``, ``publisher``, ``datePublished``, ``isbn``...).
    """
    page = _page(tree)
    for element in page.root.xpath("//*[@typeof]")[:MAX_ITEMS]:
        # The nearest vocab in scope (reverse axis: [1] is the closest).
        vocab = element.xpath("ancestor-or-self::*[@vocab][1]/@vocab")
        if not vocab or not _is_schema_vocab(str(vocab[0])):
            continue
        node = _item(element, attr="property", type_attr="typeof", microdata=False)
        if _work_type(node) is not None:
            return _schema_record(node, "rdfa", page)
    return None


def microdata(tree: Element | Page) -> Record | None:
    """The schema.org microdata layer (``itemscope``/``itemtype``/``itemprop``)."""
    page = _page(tree)
    # Top-level items only: a nested item is read as part of its parent.
    for element in page.root.xpath("//*[@itemscope][not(@itemprop)]")[:MAX_ITEMS]:
        if "schema.org" not in (element.get("itemtype") or ""):
            continue
        node = _item(element, attr="itemprop", type_attr="itemtype", microdata=True)
        if _work_type(node) is not None:
            return _schema_record(node, "microdata", page)
    return None


# --- Open Graph ----------------------------------------------------------------------------------

_OG_TYPES = {
    "book": "book", "books.book": "book", "article": "webpage", "website": "webpage",
    "video.movie": "motion_picture", "video.episode": "broadcast", "video.other": "motion_picture",
    "music.song": "song", "music.album": "song", "profile": "webpage", "blog": "post-weblog",
}  # fmt: skip


def open_graph(tree: Element | Page) -> Record | None:
    """The Open Graph layer (``og:*``, ``article:*``, ``book:*``): a page made for sharing."""
    page = _page(tree)
    tags = page.with_prefix("og:", "article:", "book:", "books:")
    if not any(key.startswith("og:") for key, _, _ in tags):
        return None
    b = _Builder("open-graph")
    og_type = None
    for key, name, value in tags:
        raw = _raw(name, value)
        if key == "og:title":
            b.text("title", value, raw)
        elif key == "og:description":
            b.text("abstract", value, raw)
        elif key == "og:site_name":
            b.text("container_title", value, raw)
        elif key == "og:type":
            og_type = og_type or value.lower()
        elif key == "og:locale":
            b.text("language", value.replace("_", "-"), raw)
        elif key == "og:url":
            b.scheme("url", page.resolve(value), raw)
        elif key in ("article:published_time", "book:release_date", "books:release_date"):
            b.date(value, raw)
        elif key in ("article:author", "book:author", "books:author"):
            b.name("author", value, raw)
        elif key in ("article:tag", "book:tag", "books:tag"):
            b.keyword_list(value, raw)
        elif key in ("book:isbn", "books:isbn"):
            b.isbns(value, raw)
        elif key.startswith(("og:image", "og:audio", "og:video")):
            continue  # pictures and players say nothing about the work
        else:
            b.keep(name, value)
    if og_type is not None:
        b.set("type", _OG_TYPES.get(og_type, "webpage"), _raw("og:type", og_type))
    return b.build()


# --- Combining the layers ------------------------------------------------------------------

LayerFunction = Callable[[Page], Record | None]
LAYERS: tuple[tuple[str, LayerFunction], ...] = (
    ("highwire", highwire),
    ("dublin-core", dublin_core),
    ("prism", prism),
    ("eprints", eprints),
    ("bepress", bepress),
    ("coins", coins),
    ("json-ld", json_ld),
    ("rdfa", rdfa),
    ("microdata", microdata),
    ("open-graph", open_graph),
)
"""Every layer, most trusted first: the order :func:`combine` merges them in."""


def _title_key(title: str) -> str:
    return "".join(c for c in title.casefold() if c.isalnum())


def _same_work(anchor: Record, other: Record) -> str | None:
    """Why ``other`` describes another work than ``anchor``, or None when it may be the same."""
    dois = {i.value for i in anchor.identifiers if i.scheme == "doi"}
    other_dois = {i.value for i in other.identifiers if i.scheme == "doi"}
    if dois and other_dois and not dois & other_dois:
        return f"another DOI ({sorted(other_dois)[0]})"
    if anchor.title and other.title:
        a, o = _title_key(anchor.title), _title_key(other.title)
        if a and o and not (a.startswith(o) or o.startswith(a) or a[:24] == o[:24]):
            return f"another title ({other.title[:80]})"
    return None


def combine(records: Sequence[tuple[str, Record]]) -> Record | None:
    """Merge layer records, given most trusted first, into one record.

    The first record is the anchor; a later one that describes another work (see
    :func:`_same_work`) is left out and named in ``extra["html-meta:skipped"]``. Open
    Graph's generic "web page" type never overrides a type another layer gave, and a
    container title that only repeats the title (PRISM's ``publicationName`` on a film
    page) is moved to ``extra``.
    """
    if not records:
        return None
    anchor = records[0][1]
    layers: list[Layer] = []
    skipped: list[str] = []
    for name, record in records:
        if layers:
            reason = _same_work(anchor, record)
            if reason is not None:
                skipped.append(f"{name}: {reason}")
                continue
            if name == "open-graph" and record.type == "webpage":
                record = record.model_copy(update={"type": "document"})
        layers.append(Layer(record, "embedded", f"embedded:{name}"))
    result = merge(layers).record
    extra = dict(result.extra)
    update: dict[str, Any] = {}
    if (
        result.title
        and result.container_title
        and _title_key(result.title) == _title_key(result.container_title)
    ):
        extra.setdefault(EXTRA + "container-title", []).append(result.container_title)
        sources = dict(result.field_sources)
        sources.pop("container_title", None)
        update.update(container_title=None, field_sources=sources)
    if skipped:
        extra[EXTRA + "skipped"] = skipped
    if update or skipped:
        update["extra"] = extra
        result = result.model_copy(update=update)
    return result


def record_from_root(root: Element, url: str | None = None) -> Record | None:
    """The record of an already parsed page (see :func:`record_from_html`)."""
    page = load_page(root, url)
    found: list[tuple[str, Record]] = []
    for name, layer in LAYERS:
        record = layer(page)
        if record is not None:
            found.append((name, record))
    return combine(found)


def record_from_html(
    html: bytes | str, url: str | None = None, *, charset: str | None = None
) -> Record | None:
    """The one record a landing page's embedded metadata describes, or None if it has none.

    ``url`` is the page's address (relative links are resolved against it); ``charset``
    the HTTP header's charset when ``html`` is bytes. Pure: no network, no clock.
    """
    root = parse_html(html, charset=charset)
    if root is None:
        return None
    return record_from_root(root, url)


# --- The read-only format -------------------------------------------------------------------------


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Read one HTML page and yield its record, or a ParseError when it carries none."""
    text = stream.read(MAX_HTML_CHARS)
    # The rest of a huge page is skipped unread: metadata lives at the top.
    while stream.read(1 << 20):
        pass
    if not text.strip():
        yield ParseError("the input is empty", source=source, format_name=NAME)
        return
    try:
        record = record_from_html(text)
    except (ValueError, RecursionError) as exc:
        yield ParseError(f"cannot read the page: {exc}", source=source, format_name=NAME, raw=text)
        return
    if record is None:
        yield ParseError(
            "no embedded metadata: no citation_*, DC.*, PRISM, eprints, COinS, schema.org "
            "or Open Graph tags found",
            source=source,
            format_name=NAME,
            raw=text,
        )
        return
    yield record


_HTML_START = re.compile(
    r"^\ufeff?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
    r"<(?:!doctype\s+html|html|head|meta|title)\b",
    re.I | re.S,
)
_SNIFF_MARKERS = re.compile(
    # No "<meta[^>]*" before the attribute: that backtracks quadratically on hostile heads.
    r"""\b(?:name|property)\s*=\s*["']?\s*"""
    r"""(?:citation_|dc\.|dcterms\.|prism\.|eprints\.|bepress_citation_)"""
    r"""|\bZ3988\b|application/ld\+json""",
    re.I,
)


def sniff(head: str) -> bool:
    """True for an HTML document whose head carries bibliographic metadata markers."""
    return bool(_HTML_START.match(head[:4096])) and bool(_SNIFF_MARKERS.search(head))


FORMAT = Format(
    name=NAME,
    title="Landing page metadata (Highwire, Dublin Core, PRISM, COinS, schema.org; read only)",
    extensions=(".html", ".htm", ".xhtml"),
    media_type="text/html",
    read=read,
    writer=None,
    sniff=sniff,
    aliases=("html", "embedded"),
)
