"""MARCXML (MARC 21 slim) reader: a ``<collection>``, one ``<record>``, or an OAI-PMH response.

The XML is parsed by :mod:`harvester.xml` (pymarc's own reader uses a SAX parser we do
not control); each record becomes a :class:`pymarc.Record` and is mapped from there
(MARC 21 Bibliographic, https://www.loc.gov/marc/bibliographic/):

=========  ===================================================================
100/110    author (personal names parsed, corporate names literal)
700/710    author, or editor/translator by relator ($e term or $4 code)
245        title ($a, $b subtitle, $n/$p parts); ``title_short`` is $a alone
250        edition
260/264    publisher_place ($a), publisher ($b), issued ($c)
008/041    language (008/35-37, else the first 041 $a); 008/07-10 issued fallback
020/022    ISBN, ISSN ($l linking ISSN); 024 with $2 doi (or a DOI value): DOI
035/010    OCLC number ("(OCoLC)..."), LCCN
490/830    collection_title ($a), collection_number ($v)
500        note; 520 abstract; 650/653 keywords (subdivisions joined with " -- ")
773        container_title ($t), $g parsed into volume/issue/page, $x ISSN, $z ISBN
856        URL identifiers ($u; DOI links become DOIs)
=========  ===================================================================

Everything else is kept in ``extra["marc:TAG"]`` as MARC breaker text, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TextIO

from pymarc import Field, Indicators, Leader, Subfield
from pymarc import Record as MarcRecord

from harvester.formats._base import Format, ReadResult
from harvester.formats._xml_records import read_records, tidy_name
from harvester.model import Identifier, Name, Record
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import (
    classify_identifier,
    parse_doi,
    parse_isbns,
    parse_issns,
)
from harvester.normalize.names import parse_name
from harvester.xml import Element

NAME = "marcxml"
MARC_NS = "http://www.loc.gov/MARC21/slim"
OAI_NS = "http://www.openarchives.org/OAI/2.0/"
_M = "{" + MARC_NS + "}"

_MAPPED = frozenset(
    ("001", "008", "010", "020", "022", "024", "035", "041", "100", "110", "245", "250",
     "260", "264", "490", "500", "520", "650", "653", "700", "710", "773", "830", "856")
)  # fmt: skip
_EDITOR = {
    "edt",
    "editor",
    "ed.",
    "ed",
    "hrsg.",
    "hrsg",
    "herausgeber",
    "herausgeberin",
    "éditeur",
}
_TRANSLATOR = {"trl", "translator", "tr.", "übers.", "übersetzer", "übersetzerin", "traducteur"}
_AUTHOR = {
    "aut",
    "author",
    "verfasser",
    "verfasserin",
    "verfasserinnen",
    "verf.",
    "autor",
    "autorin",
    "auteur",
    "cre",
    "creator",
}
# MARC relator codes ($4, bare or as id.loc.gov URIs) are controlled: they settle the
# role before any free-text $e term ("verfasserin $4 aut", as German union catalogues write).
_RELATOR_CODES = {"aut": "author", "cre": "author", "edt": "editor", "trl": "translator"}
_ISBD_TRAILING = " /:;,=."


def _local(tag: Any) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1]


def element_to_marc(element: Element) -> MarcRecord:
    """A pymarc record from a MARCXML ``<record>`` element (any namespace or none)."""
    record = MarcRecord(force_utf8=True)
    for child in element:
        name = _local(child.tag)
        if name == "leader":
            record.leader = Leader((child.text or "").ljust(24)[:24])
        elif name == "controlfield":
            record.fields.append(Field(tag=child.get("tag") or "", data=child.text or ""))
        elif name == "datafield":
            subfields = [
                Subfield(code=sub.get("code") or "", value=sub.text or "")
                for sub in child
                if _local(sub.tag) == "subfield"
            ]
            record.fields.append(
                Field(
                    tag=child.get("tag") or "",
                    indicators=Indicators(child.get("ind1") or " ", child.get("ind2") or " "),
                    subfields=subfields,
                )
            )
    return record


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip().rstrip(_ISBD_TRAILING).strip()
    # "[Bern]" is an inferred value; the brackets are cataloguing punctuation.
    if text.startswith("[") and text.endswith("]") and "[" not in text[1:]:
        text = text[1:-1].strip()
    return text or None


def _first(field: Field, code: str) -> str | None:
    values = field.get_subfields(code)
    return values[0] if values else None


def _role(field: Field) -> str:
    codes = [c.strip().lower().rstrip("/").rsplit("/", 1)[-1] for c in field.get_subfields("4")]
    for code in codes:
        if code in _RELATOR_CODES:
            return _RELATOR_CODES[code]
    terms = [t.strip().lower().rstrip(".,") for t in field.get_subfields("e")]
    terms += codes
    for term in terms:
        if term in _EDITOR or term.rstrip(".") in _EDITOR:
            return "editor"
        if term in _TRANSLATOR:
            return "translator"
    for term in terms:
        if term not in _AUTHOR:
            return "other"
    return "author"


def _personal(field: Field) -> Name | None:
    text = _first(field, "a")
    if not text:
        return None
    text = tidy_name(text)
    if field.indicator1 == "0" and "," not in text:
        return Name(given=text)  # a forename-only entry (ind1 0): "Hildegard"
    try:
        name = parse_name(text)
    except ValueError:
        return None
    suffix = _clean(_first(field, "c"))
    if suffix and name.literal is None and suffix.lower().rstrip(".") in {"jr", "sr", "ii", "iii"}:
        name = name.model_copy(update={"suffix": suffix})
    return name


def _corporate(field: Field) -> Name | None:
    parts = [p for p in (_clean(v) for v in field.get_subfields("a", "b")) if p]
    return Name(literal=". ".join(parts)) if parts else None


def _title(field: Field) -> tuple[str | None, str | None]:
    main = _clean(_first(field, "a"))
    sub = _clean(_first(field, "b"))
    parts = [p for p in (_clean(v) for v in field.get_subfields("n", "p")) if p]
    title = main
    if main and sub:
        title = f"{main}: {sub}"
    if title and parts:
        title = ". ".join([title, *parts])
    return title, (main if title != main else None)


_VOLUME = re.compile(
    r"\b(?:vol(?:ume)?|v|bd|band|jg|jahrg(?:ang)?|t|tome|year)\.?\s*(\d+[A-Za-z]?)", re.I
)
_ISSUE = re.compile(
    r"\b(?:no|nr|n|num|number|issue|iss|h|heft|fasc|cah|cahier|sz)\.?\s*(\d+(?:\s*[/-]\s*\d+)?)",
    re.I,
)
_PAGES = re.compile(
    r"(?:\bpp?|\bs|\bpages?|\bseiten?)\.?\s*([A-Za-z]?\d+[A-Za-z]?(?:\s*[-–]\s*[A-Za-z]?\d+[A-Za-z]?)?)",
    re.I,
)
_COMPACT = re.compile(
    r"^\s*(\d+)\s*(?:\((\d+(?:[/-]\d+)?)\))?\s*(?:\(\d{4}\))?\s*[:,]\s*"
    r"(?:p\.?\s*)?(\d+(?:\s*[-–]\s*\d+)?)\s*$"
)
_YEAR = re.compile(r"\((\d{4})\)")
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,4})\b(?!\s*[.:]\d)")


def parse_773g(text: str) -> dict[str, str]:
    """Volume, issue, page and year from a 773 $g ("Vol. 12, no. 3 (2010), p. 45-67")."""
    out: dict[str, str] = {}
    compact = _COMPACT.match(text)
    if compact:
        out["volume"] = compact.group(1)
        if compact.group(2):
            out["issue"] = compact.group(2)
        out["page"] = compact.group(3).replace(" ", "")
    else:
        for key, pattern in (("volume", _VOLUME), ("issue", _ISSUE), ("page", _PAGES)):
            found = pattern.search(text)
            if found:
                out[key] = found.group(1).replace(" ", "")
        leading = _LEADING_NUMBER.match(text)
        if (
            "volume" not in out
            and leading
            and not text[leading.end() :].lstrip().startswith("-")
            and not (len(leading.group(1)) == 4 and 1500 <= int(leading.group(1)) <= 2100)
        ):
            out["volume"] = leading.group(1)  # "45 (2016), S. 163-170": a bare volume first
    year = _YEAR.search(text)
    if year:
        out["year"] = year.group(1)
    volume = out.get("volume", "")
    if len(volume) == 4 and volume.isdigit() and 1500 <= int(volume) <= 2100 and "issue" not in out:
        out.setdefault("year", out.pop("volume"))  # "2010, p. 5-9": a year, not a volume
    return out


def _record_type(marc: MarcRecord, has_host: bool) -> str:
    leader = str(marc.leader)
    kind, level = leader[6:7], leader[7:8]
    if kind in ("a", "t"):
        if marc.get_fields("502"):
            return "thesis"
        if level in ("a", "b") or has_host:
            host = marc.get_fields("773")
            if host and host[0].get_subfields("z") and not host[0].get_subfields("x"):
                return "chapter"
            return "article-journal"
        if level == "s":
            return "periodical"
        if kind == "t":
            return "manuscript"
        return "book"
    return {
        "c": "musical_score",
        "d": "musical_score",
        "e": "map",
        "f": "map",
        "g": "motion_picture",
        "i": "song",
        "j": "song",
        "k": "graphic",
        "m": "software",
    }.get(kind, "document")


def marc_to_record(marc: MarcRecord, *, source_id: str | None = None) -> Record:
    """Map a pymarc record into the model (see the module docstring for the table).

    Raises:
        pydantic.ValidationError: the mapped values do not make a valid record.
    """
    data: dict[str, Any] = {}
    authors: list[Name] = []
    editors: list[Name] = []
    translators: list[Name] = []
    identifiers: list[Identifier] = []
    keywords: list[str] = []
    extra: dict[str, list[str]] = {}
    notes: list[str] = []
    abstracts: list[str] = []
    issued_text: str | None = None
    host = False

    for field in marc.fields:
        tag = field.tag
        if tag not in _MAPPED:
            if tag != "005":
                extra.setdefault(f"marc:{tag}", []).append(str(field))
            continue
        if tag == "001":
            data["id"] = (field.data or "").strip() or None
        elif tag == "008":
            code = (field.data or "")[35:38].strip(" |")
            if len(code) == 3 and code.isalpha():
                data.setdefault("language", code)
            year = (field.data or "")[7:11]
            if year.isdigit():
                data.setdefault("_year008", year)
        elif tag == "010":
            value = _first(field, "a")
            if value and value.strip():
                identifiers.append(Identifier(scheme="lccn", value=value))
        elif tag == "020":
            for value in field.get_subfields("a"):
                identifiers.extend(parse_isbns(value))
        elif tag == "022":
            for value in field.get_subfields("a"):
                identifiers.extend(parse_issns(value))
            for value in field.get_subfields("l"):
                identifiers.extend(
                    i.model_copy(update={"kind": "linking"}) for i in parse_issns(value)
                )
        elif tag == "024":
            source = (_first(field, "2") or "").strip().lower()
            for value in field.get_subfields("a"):
                doi = parse_doi(value)
                if doi and (source == "doi" or field.indicator1 in ("7", "8")):
                    identifiers.append(Identifier(scheme="doi", value=doi))
                else:
                    extra.setdefault("marc:024", []).append(str(field))
        elif tag == "035":
            for value in field.get_subfields("a"):
                if value.startswith(("(OCoLC)", "(OCLC)")):
                    number = value.split(")", 1)[1].strip().lstrip("ocmn ")
                    if number:
                        identifiers.append(Identifier(scheme="oclc", value=number))
                else:
                    extra.setdefault("marc:035", []).append(value)
        elif tag == "041":
            first_language = _first(field, "a")
            if first_language and "language" not in data:
                data["language"] = first_language.strip()[:3]
        elif tag == "100":
            name = _personal(field)
            if name:
                authors.insert(0, name)
        elif tag == "110":
            name = _corporate(field)
            if name:
                authors.insert(0, name)
        elif tag in ("700", "710"):
            role = _role(field)
            name = _personal(field) if tag == "700" else _corporate(field)
            if name is None:
                continue
            if role == "editor":
                editors.append(name)
            elif role == "translator":
                translators.append(name)
            elif role == "author":
                authors.append(name)
            else:
                extra.setdefault(f"marc:{tag}", []).append(str(field))
        elif tag == "245":
            data["title"], short = _title(field)
            if short:
                data["title_short"] = short
        elif tag == "250":
            edition = (_first(field, "a") or "").strip().rstrip(" /:;,=")
            data["edition"] = edition or None  # "2nd ed." keeps its abbreviation point
        elif tag in ("260", "264"):
            if tag == "264" and field.indicator2 not in ("1", " "):
                extra.setdefault("marc:264", []).append(str(field))
                continue
            if "publisher" in data and tag == "264":
                continue
            place = _clean(_first(field, "a"))
            publisher = _clean(_first(field, "b"))
            if place:
                data["publisher_place"] = place
            if publisher:
                data["publisher"] = publisher
            date_text = _clean(_first(field, "c"))
            if date_text:
                issued_text = date_text.lstrip("c©℗ ").strip("[]? ")
        elif tag in ("490", "830"):
            series = _clean(_first(field, "a"))
            if series and "collection_title" not in data:
                data["collection_title"] = series
                series_number = _clean(_first(field, "v"))
                if series_number:
                    data["collection_number"] = series_number
        elif tag == "500":
            notes.extend(v for v in field.get_subfields("a") if v.strip())
        elif tag == "520":
            abstracts.extend(v for v in field.get_subfields("a") if v.strip())
        elif tag in ("650", "653"):
            parts = [p for p in (_clean(v) for v in field.get_subfields("a", "x", "y", "z")) if p]
            if parts:
                keywords.append(" -- ".join(parts))
        elif tag == "773":
            host = True
            container = _clean(_first(field, "t"))
            if container:
                data["container_title"] = container
            for value in field.get_subfields("g"):
                parsed = parse_773g(value)
                for key in ("volume", "issue", "page"):
                    if key in parsed:
                        data.setdefault(key, parsed[key])
                if "year" in parsed:
                    data.setdefault("_year773", parsed["year"])
            for value in field.get_subfields("x"):
                identifiers.extend(parse_issns(value))
            for value in field.get_subfields("z"):
                identifiers.extend(parse_isbns(value))
        elif tag == "856":
            for value in field.get_subfields("u"):
                found = classify_identifier(value.strip())
                if found is not None:
                    identifiers.append(found)

    year008 = data.pop("_year008", None)
    year773 = data.pop("_year773", None)
    date_source = issued_text or year773 or year008
    if date_source:
        data["issued"] = parse_date(date_source)
    data["type"] = _record_type(marc, host)
    if source_id is not None:
        identifiers.append(Identifier(scheme="oai", value=source_id))
    record = Record(
        **data,
        author=authors,
        editor=editors,
        translator=translators,
        identifiers=identifiers,
        keywords=keywords,
        abstract="\n\n".join(abstracts) or None,
        note="\n".join(notes) or None,
        extra=extra,
    )
    return record


def is_marc_record(element: Element) -> bool:
    tag = str(element.tag)
    return tag == _M + "record" or tag == "record"


def from_element(element: Element, *, source_id: str | None = None) -> Record:
    """Map a MARCXML ``<record>`` element (e.g. OAI-PMH ``<metadata>`` content).

    Raises:
        pydantic.ValidationError: the record is not valid in the model.
    """
    return marc_to_record(element_to_marc(element), source_id=source_id)


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Stream the MARC records of a MARCXML collection or an OAI-PMH response."""
    return read_records(
        stream, source, format_name=NAME, to_record=from_element, is_record=is_marc_record
    )


def sniff(head: str) -> bool:
    return MARC_NS in head or ("<collection" in head and "<datafield" in head)


FORMAT = Format(
    name=NAME,
    title="MARCXML (MARC 21 slim; collections and OAI-PMH marc21 responses; read only)",
    extensions=(".marcxml", ".mrcx"),
    media_type="application/marcxml+xml",
    read=read,
    sniff=sniff,
    aliases=("marc21", "marc"),
)
