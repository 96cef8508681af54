"""The one table of what each format carries, and the loss report built from it.

Rows are record fields (and a few sub-parts: identifier schemes, identifier kinds, date
features); columns are formats. A cell names where the format carries the field, or is
``None`` when it cannot. Writers call :func:`table_losses` for the ``None`` cells and add
``changed`` losses of their own (characters replaced, a type approximated).
``docs/fidelity.md`` is generated from this table (``python -m harvester.formats.fidelity``).
"""

from __future__ import annotations

import sys
from typing import NamedTuple

from harvester.formats._base import Loss
from harvester.model import Record


class Cell(NamedTuple):
    where: str | None
    note: str = ""


def _c(where: str | None, note: str = "") -> Cell:
    return Cell(where, note)


FORMATS_IN_TABLE: tuple[str, ...] = ("bibtex", "csl-json", "ris", "jsonl")

# field -> format -> cell.  Keep one row per field; edit a column when a writer changes.
FIDELITY: dict[str, dict[str, Cell]] = {
    "id": {"bibtex": _c("entry key"), "csl-json": _c("id", "generated (author-year-word key) when the record has none; suffixed on clashes"), "ris": _c("ID"), "jsonl": _c("id")},
    "type": {
        "bibtex": _c("entry type", "types without a BibTeX/BibLaTeX type become @misc (`changed` loss); @booklet, @manual, @proceedings... are kept in `bibtex:entrytype` and written back"),
        "csl-json": _c("type"),
        "ris": _c("TY", "several CSL types share one RIS type"),
        "jsonl": _c("type"),
    },
    "title": {"bibtex": _c("title"), "csl-json": _c("title"), "ris": _c("TI"), "jsonl": _c("title")},
    "title_short": {"bibtex": _c("shorttitle"), "csl-json": _c("title-short"), "ris": _c("ST"), "jsonl": _c("title-short")},
    "container_title": {"bibtex": _c("journal / booktitle"), "csl-json": _c("container-title"), "ris": _c("T2", "JO is not written: Zotero reads JO as the journal abbreviation"), "jsonl": _c("container-title")},
    "container_title_short": {"bibtex": _c("shortjournal"), "csl-json": _c("container-title-short"), "ris": _c("J2"), "jsonl": _c("container-title-short")},
    "collection_title": {"bibtex": _c("series"), "csl-json": _c("collection-title"), "ris": _c("T3"), "jsonl": _c("collection-title")},
    "collection_number": {"bibtex": _c("number (books, chapters) / seriesnumber"), "csl-json": _c("collection-number"), "ris": _c(None, "RIS has no series number tag"), "jsonl": _c("collection-number")},
    "author": {"bibtex": _c("author", "`and others` kept as `bibtex:author+others`; a dropping particle reads back as non-dropping"), "csl-json": _c("author"), "ris": _c("AU"), "jsonl": _c("author")},
    "editor": {"bibtex": _c("editor"), "csl-json": _c("editor"), "ris": _c("ED"), "jsonl": _c("editor")},
    "translator": {"bibtex": _c("translator (BibLaTeX)"), "csl-json": _c("translator"), "ris": _c("A4"), "jsonl": _c("translator")},
    "issued": {"bibtex": _c("year, month, date"), "csl-json": _c("issued"), "ris": _c("PY, DA"), "jsonl": _c("issued")},
    "issued.season": {"bibtex": _c(None, "BibTeX has no season"), "csl-json": _c("issued.season"), "ris": _c("DA (other info)"), "jsonl": _c("issued.season")},
    "issued.circa": {"bibtex": _c(None, "BibTeX has no approximate dates"), "csl-json": _c("issued.circa"), "ris": _c(None, "RIS has no approximate dates"), "jsonl": _c("issued.circa")},
    "issued.end": {"bibtex": _c("date (BibLaTeX range)"), "csl-json": _c("issued.date-parts"), "ris": _c(None, "RIS has no date ranges"), "jsonl": _c("issued.end")},
    "issued.literal": {"bibtex": _c("year (as written)"), "csl-json": _c("issued.literal"), "ris": _c("PY (as written)"), "jsonl": _c("issued.literal")},
    "accessed": {"bibtex": _c("urldate"), "csl-json": _c("accessed"), "ris": _c("Y2"), "jsonl": _c("accessed")},
    "volume": {"bibtex": _c("volume"), "csl-json": _c("volume"), "ris": _c("VL"), "jsonl": _c("volume")},
    "issue": {"bibtex": _c("number (articles, papers) / issue"), "csl-json": _c("issue"), "ris": _c("IS"), "jsonl": _c("issue")},
    "page": {"bibtex": _c("pages"), "csl-json": _c("page"), "ris": _c("SP, EP"), "jsonl": _c("page")},
    "number": {"bibtex": _c("number (reports, patents)"), "csl-json": _c("number"), "ris": _c("M1"), "jsonl": _c("number")},
    "number_of_pages": {"bibtex": _c("pagetotal"), "csl-json": _c("number-of-pages"), "ris": _c(None, "RIS has no page-count tag"), "jsonl": _c("number-of-pages")},
    "edition": {"bibtex": _c("edition"), "csl-json": _c("edition"), "ris": _c("ET"), "jsonl": _c("edition")},
    "publisher": {"bibtex": _c("publisher / school (theses) / institution (reports)"), "csl-json": _c("publisher"), "ris": _c("PB"), "jsonl": _c("publisher")},
    "publisher_place": {"bibtex": _c("address"), "csl-json": _c("publisher-place"), "ris": _c("CY"), "jsonl": _c("publisher-place")},
    "genre": {"bibtex": _c("type"), "csl-json": _c("genre"), "ris": _c("M3"), "jsonl": _c("genre")},
    "language": {"bibtex": _c("langid", "babel name (`english`) when it reads back to the same tag, else the BCP 47 tag"), "csl-json": _c("language"), "ris": _c("LA"), "jsonl": _c("language")},
    "abstract": {"bibtex": _c("abstract"), "csl-json": _c("abstract"), "ris": _c("AB"), "jsonl": _c("abstract")},
    "note": {"bibtex": _c("note"), "csl-json": _c("note"), "ris": _c("N1"), "jsonl": _c("note")},
    "keywords": {"bibtex": _c("keywords", "joined with `, `, or `; ` when a keyword has a comma; a keyword holding both is split on re-reading"), "csl-json": _c("keyword", "a keyword containing a comma is split on re-reading"), "ris": _c("KW", "a keyword containing ';' is split on re-reading"), "jsonl": _c("keywords")},
    "identifiers.doi": {"bibtex": _c("doi", "first DOI only"), "csl-json": _c("DOI", "first DOI only"), "ris": _c("DO"), "jsonl": _c("identifiers")},
    "identifiers.issn": {"bibtex": _c("issn"), "csl-json": _c("ISSN"), "ris": _c("SN"), "jsonl": _c("identifiers")},
    "identifiers.isbn": {"bibtex": _c("isbn"), "csl-json": _c("ISBN"), "ris": _c("SN"), "jsonl": _c("identifiers")},
    "identifiers.pmid": {"bibtex": _c("pmid"), "csl-json": _c("PMID"), "ris": _c("AN", "written as AN  - PMID: <n>; read back only in that form"), "jsonl": _c("identifiers")},
    "identifiers.pmcid": {"bibtex": _c("pmcid"), "csl-json": _c("PMCID"), "ris": _c(None, "RIS has no PMC id tag"), "jsonl": _c("identifiers")},
    "identifiers.url": {"bibtex": _c("url", "first URL only"), "csl-json": _c("URL", "first URL only"), "ris": _c("UR"), "jsonl": _c("identifiers")},
    "identifiers.oclc": {"bibtex": _c("oclc"), "csl-json": _c(None, "CSL has no OCLC variable"), "ris": _c(None, "RIS has no OCLC tag"), "jsonl": _c("identifiers")},
    "identifiers.lccn": {"bibtex": _c("lccn"), "csl-json": _c(None, "CSL has no LCCN variable"), "ris": _c(None, "RIS has no LCCN tag"), "jsonl": _c("identifiers")},
    "identifiers.oai": {"bibtex": _c("oai"), "csl-json": _c(None, "CSL has no OAI identifier variable"), "ris": _c(None, "RIS has no OAI identifier tag"), "jsonl": _c("identifiers")},
    "identifiers.arxiv": {"bibtex": _c("eprint (eprinttype arxiv)"), "csl-json": _c(None, "CSL has no arXiv variable"), "ris": _c(None, "RIS has no arXiv tag"), "jsonl": _c("identifiers")},
    "identifiers.kind": {"bibtex": _c(None, "BibTeX cannot say which ISSN is print and which electronic"), "csl-json": _c(None, "CSL cannot say which ISSN is print and which electronic"), "ris": _c(None, "RIS cannot say which ISSN is print and which electronic"), "jsonl": _c("identifiers.kind")},
    "extra": {"bibtex": _c("fields of `bibtex:` keys", "keys from other formats are dropped"), "csl-json": _c("variables of `csl:` keys; keys CSL has no variable for go in `custom`", "keys from other formats are dropped"), "ris": _c("tags of `ris:` keys", "keys from other formats are dropped"), "jsonl": _c("extra")},
    "provenance": {"bibtex": _c(None, "no place for provenance"), "csl-json": _c(None, "no place for provenance"), "ris": _c(None, "no place for provenance"), "jsonl": _c("provenance")},
    "field_sources": {"bibtex": _c(None, "no place for provenance"), "csl-json": _c(None, "no place for provenance"), "ris": _c(None, "no place for provenance"), "jsonl": _c("field-sources")},
}  # fmt: skip

_EXTRA_PREFIX = {"bibtex": "bibtex:", "csl-json": "csl:", "ris": "ris:"}


_PLAIN_ROWS = (
    "id", "type", "title", "title_short", "container_title", "container_title_short",
    "collection_title", "collection_number", "author", "editor", "translator", "issued",
    "accessed", "volume", "issue", "page", "number", "number_of_pages", "edition",
    "publisher", "publisher_place", "genre", "language", "abstract", "note", "keywords",
)  # fmt: skip


def present_features(record: Record) -> list[str]:
    """The table rows that ``record`` actually has a value for.

    Provenance is left out: every record read from a file has some, no citation format
    can hold it (the table says so once), and listing it per record would bury the
    losses that matter and cost memory on big batches.
    """
    rows: list[str] = []
    for name in _PLAIN_ROWS:
        if getattr(record, name):
            rows.append(name)
    issued = record.issued
    if issued is not None:
        if issued.season is not None:
            rows.append("issued.season")
        if issued.circa:
            rows.append("issued.circa")
        if issued.end is not None:
            rows.append("issued.end")
        if issued.literal is not None and not issued.parts:
            rows.append("issued.literal")
    schemes = {i.scheme for i in record.identifiers}
    rows.extend(f"identifiers.{s}" for s in sorted(schemes))
    if any(i.kind is not None for i in record.identifiers):
        rows.append("identifiers.kind")
    return rows


class _Lossy(NamedTuple):
    """One format's ``None`` cells, each with the loss it reports, in ``present_features`` order."""

    plain: tuple[tuple[str, Loss], ...]
    issued: dict[str, Loss]
    schemes: dict[str, Loss]
    kind: Loss | None


def _loss(row: str, format_name: str) -> Loss | None:
    cell = FIDELITY[row][format_name]
    if cell.where is not None:
        return None
    return Loss(row, cell.note or f"{format_name} cannot carry {row}")


def _lossy(format_name: str) -> _Lossy:
    def rows(names: list[str]) -> dict[str, Loss]:
        found = {name: _loss(name, format_name) for name in names}
        return {name: loss for name, loss in found.items() if loss is not None}

    issued_rows = ["issued.season", "issued.circa", "issued.end", "issued.literal"]
    schemes = [row.split(".", 1)[1] for row in FIDELITY if row.startswith("identifiers.")]
    return _Lossy(
        plain=tuple(rows(list(_PLAIN_ROWS)).items()),
        issued=rows(issued_rows),
        schemes={
            row.split(".", 1)[1]: loss
            for row, loss in rows([f"identifiers.{s}" for s in schemes]).items()
        },
        kind=_loss("identifiers.kind", format_name),
    )


_LOSSY: dict[str, _Lossy] = {}


def table_losses(record: Record, format_name: str) -> list[Loss]:
    """The ``dropped`` losses the table predicts for ``record`` in ``format_name``.

    The same list as checking every row of :func:`present_features` against the table,
    found by checking only the rows the format cannot carry (writers call this for every
    record). Losses are immutable, so each row's one ``Loss`` object is shared.
    """
    lossy = _LOSSY.get(format_name)
    if lossy is None:
        lossy = _LOSSY[format_name] = _lossy(format_name)
    losses: list[Loss] = []
    for name, loss in lossy.plain:
        if getattr(record, name):
            losses.append(loss)
    issued = record.issued
    if issued is not None and lossy.issued:
        for row, present in (
            ("issued.season", issued.season is not None),
            ("issued.circa", issued.circa),
            ("issued.end", issued.end is not None),
            ("issued.literal", issued.literal is not None and not issued.parts),
        ):
            if present and row in lossy.issued:
                losses.append(lossy.issued[row])
    identifiers = record.identifiers
    if identifiers:
        if lossy.schemes:
            for scheme in sorted({i.scheme for i in identifiers}):
                scheme_loss = lossy.schemes.get(scheme)
                if scheme_loss is not None:
                    losses.append(scheme_loss)
        if lossy.kind is not None and any(i.kind is not None for i in identifiers):
            losses.append(lossy.kind)
    prefix = _EXTRA_PREFIX.get(format_name)
    if prefix is not None:
        for key in record.extra:
            if not key.startswith(prefix):
                losses.append(Loss(f"extra.{key}", f"{format_name} has no place for {key}"))
    return losses


def table_losses_by_rows(record: Record, format_name: str) -> list[Loss]:
    """:func:`table_losses` the long way, row by row (tests compare the two)."""
    losses: list[Loss] = []
    for row in present_features(record):
        cell = FIDELITY[row][format_name]
        if cell.where is None:
            losses.append(Loss(row, cell.note or f"{format_name} cannot carry {row}"))
    prefix = _EXTRA_PREFIX.get(format_name)
    if prefix is not None:
        for key in record.extra:
            if not key.startswith(prefix):
                losses.append(Loss(f"extra.{key}", f"{format_name} has no place for {key}"))
    return losses


def render_markdown() -> str:
    """``docs/fidelity.md``: the field x format matrix, generated from ``FIDELITY``."""
    lines = [
        "# What each format carries",
        "",
        "Generated from `harvester/formats/fidelity.py` (`python -m harvester.formats.fidelity`);",
        "a test fails when this file is stale. ✗ = cannot carry: reported in the loss report.",
        "",
        "| field | " + " | ".join(FORMATS_IN_TABLE) + " |",
        "|---|" + "---|" * len(FORMATS_IN_TABLE),
    ]
    for row, cells in FIDELITY.items():
        rendered = []
        for fmt in FORMATS_IN_TABLE:
            cell = cells[fmt]
            text = f"`{cell.where}`" if cell.where else "✗"
            if cell.note:
                text += f" ({cell.note})"
            rendered.append(text.replace("|", "\\|"))
        lines.append(f"| {row} | " + " | ".join(rendered) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
