"""The visible text of a library-catalogue record page, in VuFind's layout (read only).

What a person gets by selecting a VuFind record page and copying it: the title, a teaser
of the abstract, then the "Bibliographic Details" table and the "Description" tab as
``Label:Value`` rows. The labels are VuFind's own translation strings (``languages/en.ini``
and ``languages/de.ini``); English and German pages give the same record.

Page rules:

* The title is the first substantial line ("Loading…" / "Wird geladen …" and section
  headings are skipped). Text between the title and the first row or heading is the
  teaser (VuFind cuts the summary and ends it with "..."); it becomes the abstract only
  when the page has no "Summary" row.
* A row is a known label, a colon and the value, with or without a space after the
  colon; a label alone on its line takes its values from the following lines. Every
  following line continues the row until the next row or section heading, so
  ``ISSN:1792-0981`` then ``1792-1015`` is one row with two values.
* Unknown ``Label: value`` lines are rows too (their label looks like one: short,
  capitalised, no digits), except in the teaser and inside free text (summaries, notes,
  subjects), where only known labels end a row: "Methods: we studied..." stays part of
  the summary. Unknown rows are kept in ``extra`` as ``catalogue:<Label>``.
* Section headings without a colon ("Bibliographic Details", "Description", "Full
  description", German "Beschreibung", ...) end a row and are not data. German VuFind
  translates "Physical Description" as "Beschreibung" too: with a colon it is that row.
* Several records in one file are separated by a line of four or more hyphens
  (``----``) or by a form feed; blank chunks between separators are not records.
* A chunk with no recognisable row is a ``ParseError`` naming the file, line and record.

Field rules: "Published in" gives container, date, volume, issue and pages; "Format"
gives the CSL type (unknown values: ``document``, the value kept in ``extra``; no
"Format" row: ``article-journal`` for a citation with volume, issue or pages, ``book``
for an ISBN); a known row without a field ("Call Number", "Physical Description") is kept
in ``extra`` under its English label, so English and German pages give equal records.
Page furniture is dropped: "Saved in" (the reader's own lists) and the link texts of
"Tags", "Citations" and "Online Access" ("Get full text", "Add Tag").

The field rules are pure functions over ``(label, value)`` rows (:func:`record_from_rows`
and the ``parse_*`` helpers), so the VuFind web source parses the cells of a record
page's tables with exactly this code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple, TextIO

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.formats._base import Format, ReadResult
from harvester.model import Date, FieldSource, Identifier, IdentifierKind, Name, Record
from harvester.normalize.dates import parse_date, parse_month, parse_season
from harvester.normalize.identifiers import parse_doi, parse_isbns, parse_issns, parse_url
from harvester.normalize.language import normalize_language
from harvester.normalize.names import parse_name_list
from harvester.normalize.text import clean_text

__all__ = [
    "FORMAT",
    "LABELS",
    "NAME",
    "Container",
    "Page",
    "Row",
    "canonical_label",
    "format_to_type",
    "parse_authors",
    "parse_page",
    "parse_page_count",
    "parse_publication",
    "parse_published_in",
    "parse_rows",
    "parse_series",
    "read",
    "record_from_page",
    "record_from_rows",
    "sniff",
]

NAME = "catalogue-text"
EXTRA_PREFIX = "catalogue:"

# --- Labels -------------------------------------------------------------------------------
# Canonical (English) label -> the strings VuFind shows for it. English strings are the
# en.ini values; German ones are the de.ini values, plus a few that German VuFind
# installations configure themselves (marked "local").
_LABEL_TEXTS: dict[str, tuple[str, ...]] = {
    "Published in": ("Published in", "Veröffentlicht in", "Erschienen in"),  # local: Erschienen in
    "New Title": ("New Title", "Späterer Titel"),
    "Previous Title": ("Previous Title", "Vorheriger Titel"),
    "Main Author": ("Main Author", "1. Verfasser"),
    "Main Authors": ("Main Authors", "Hauptverfasser"),
    "Author": ("Author", "Verfasser"),
    "Authors": ("Authors", "Autoren"),
    "Corporate Author": ("Corporate Author", "Körperschaft"),
    "Corporate Authors": ("Corporate Authors", "Körperschaften", "Corporate Author(s)"),
    "Other Authors": ("Other Authors", "Weitere Verfasser", "Contributors"),
    "Format": ("Format", "Medientyp", "Medienart", "Document Type", "Publication Type",
               "Publikationsart"),  # local: Medientyp, Medienart
    "Media Format": ("Media Format", "Medienformat"),
    "Language": ("Language", "Sprache", "Languages", "Sprachen"),
    "Published": ("Published", "Veröffentlicht", "Publication", "Erschienen"),
    "Publisher": ("Publisher", "Verlag"),
    "Year of Publication": ("Year of Publication", "Erscheinungsjahr", "Publication Date",
                            "Publikationsdatum", "Publication Year", "Publikationsjahr"),
    "Edition": ("Edition", "Ausgabe"),
    "Series": ("Series", "Schriftenreihe", "Reihe", "Serial"),  # local: Reihe
    "Subjects": ("Subjects", "Schlagworte", "Schlagwörter", "Subject Terms", "Subject(s)",
                 "Subject", "Schlagwort", "MeSH Terms", "MeSH-Schlagworte"),
    "Contents/pieces": ("Contents/pieces", "Inhalte/Bestandteile"),
    "Online Access": ("Online Access", "Online-Zugang", "Online Zugang"),
    "Related Items": ("Related Items", "Ähnliche Datensätze"),
    "Tags": ("Tags",),
    "Saved in": ("Saved in", "Gespeichert in"),
    "Citations": ("Citations", "Zitate"),
    "Summary": ("Summary", "Zusammenfassung", "Abstract"),
    "Item Description": ("Item Description",),
    "Physical Description": ("Physical Description", "Beschreibung", "Umfang"),  # local: Umfang
    "Publication Frequency": ("Publication Frequency", "Erscheinungshäufigkeit"),
    "Playing Time": ("Playing Time", "Spieldauer"),
    "Audience": ("Audience", "Zielpublikum"),
    "Awards": ("Awards", "Auszeichnungen"),
    "Production Credits": ("Production Credits", "Produktionsangaben"),
    "Bibliography": ("Bibliography", "Bibliographie"),
    "ISBN": ("ISBN",),
    "ISSN": ("ISSN",),
    "DOI": ("DOI",),
    "URL": ("URL",),
    "Access": ("Access", "Zugangseinschränkungen"),
    "Finding Aid": ("Finding Aid", "Findmittel"),
    "Author Notes": ("Author Notes", "Verfasserangaben"),
    "Notes": ("Notes", "Note", "Anmerkungen", "Anmerkung", "Item Notes"),
    "Contents": ("Contents", "Inhalte", "Table of Contents", "Inhaltsangabe"),
    "Call Number": ("Call Number", "Signatur"),
    "Location": ("Location", "Standort"),
    "Genre": ("Genre",),
    "Title": ("Title", "Titel"),
    "Volume": ("Volume", "Jahrgang"),
    "Issue": ("Issue", "Heft"),
    "Source": ("Source", "Quelle"),
    "Database": ("Database", "Datenbank"),
    "Identifier": ("Identifier", "Identifikator"),
    "Copyright": ("Copyright",),
}  # fmt: skip


@lru_cache(maxsize=8192)
def _fold(text: str) -> str:
    """Case- and space-insensitive key for a label; NFC so "ö" matches however typed."""
    key = " ".join(text.split()).casefold()
    return key if key.isascii() else unicodedata.normalize("NFC", key)


LABELS: dict[str, str] = {
    _fold(text): canonical for canonical, texts in _LABEL_TEXTS.items() for text in texts
}
"""Every label text VuFind shows (folded) -> its canonical English label."""


def canonical_label(label: str) -> str | None:
    """The canonical English label for a label as shown (any case, trailing colon), or None."""
    return LABELS.get(_fold(label.strip().rstrip(":")))


# Section headings: alone on their line, no colon. They end a row and carry no data.
_HEADINGS = frozenset(
    _fold(text)
    for text in (
        "Bibliographic Details", "Bibliographische Detailangaben",
        "Bibliografische Detailangaben", "Description", "Beschreibung", "Full description",
        "Ausführliche Beschreibung", "Vollständige Beschreibung", "Staff View",
        "Internformat", "Details", "Holdings", "Exemplare", "Comments", "Kommentare",
        "Similar Items", "Ähnliche Einträge", "Reviews", "Rezensionen", "Excerpt",
        "Ausschnitt",
    )
)  # fmt: skip
_LOADING = frozenset(("loading", "wird geladen"))

# Rows whose values are free text: inside them only a known label starts a new row.
_FREE_TEXT = frozenset(
    ("Summary", "Notes", "Item Description", "Contents", "Subjects", "Author Notes",
     "Bibliography", "Awards", "Production Credits", "Access", "Audience")
)  # fmt: skip

# Link texts that fill the page-furniture rows (Saved in, Tags, Citations, Online Access).
_BOILERPLATE_VALUES = frozenset(
    _fold(text)
    for text in (
        "Get full text", "Volltext", "Full text", "Full text online", "Add Tag",
        "Tag hinzufügen", "Add Tags", "Tags hinzufügen", "No Tags", "Keine Tags",
        "No Tags, Be the first to tag this record", "Be the first to tag this record",
        "Keine Tags, Fügen Sie den ersten Tag hinzu", "Fügen Sie den ersten Tag hinzu",
        "Items that this one cites", "Items that cite this one",
        "Medien, die dieses Medium zitiert", "Medien, die dieses zitieren",
    )
)  # fmt: skip


def _is_boilerplate(value: str) -> bool:
    return _fold(value.strip().rstrip("!.")) in _BOILERPLATE_VALUES


# --- Rows and pages -----------------------------------------------------------------------


class Row(NamedTuple):
    """One ``Label: value`` row; multi-line values keep their lines joined by ``\\n``.

    ``raw`` is the row as it stood on the page (for provenance), ``line`` its first line.
    """

    label: str
    value: str
    raw: str | None = None
    line: int | None = None


@dataclass
class Page:
    """A record page split into its parts."""

    title: str | None = None
    title_line: int | None = None
    teaser: str | None = None
    rows: list[Row] = field(default_factory=list)


@dataclass
class _OpenRow:
    label: str
    canonical: str | None
    line: int
    values: list[str]
    raw: list[str]

    def close(self) -> Row:
        return Row(
            self.label, "\n".join(v for v in self.values if v), "\n".join(self.raw), self.line
        )


def _label_shaped(label: str) -> bool:
    """True for text that can be an unknown VuFind label: short, capitalised, no digits."""
    if not 1 <= len(label) <= 40 or not label[0].isupper() or len(label.split()) > 5:
        return False
    return all(c.isalpha() or c in " -/()&'" for c in label)


def _split_row(text: str, *, allow_unknown: bool) -> tuple[str, str | None, str] | None:
    """``(label, canonical, value)`` when ``text`` is a row, else None."""
    colon = text.find(":", 0, 61)
    if colon > 0:
        label = text[:colon].strip()
        value = text[colon + 1 :].strip()
        canonical = LABELS.get(_fold(label))
        if canonical is not None:
            return label, canonical, value
        if allow_unknown and _label_shaped(label) and not value.startswith("//"):
            return label, None, value
    tab = text.find("\t")
    if tab > 0:
        # Copied without the colon: "Label<TAB>value" (only for known labels).
        label = text[:tab].strip()
        canonical = LABELS.get(_fold(label))
        if canonical is not None:
            return label, canonical, text[tab + 1 :].strip()
    return None


def _is_loading(folded: str) -> bool:
    return folded.rstrip(".… ") in _LOADING


def parse_page(lines: Iterable[str] | Iterable[tuple[int, str]]) -> Page:
    """Split the lines of one record page into title, teaser and rows (see module doc)."""
    page = Page()
    title_done = False
    in_teaser = True
    teaser: list[str] = []
    current: _OpenRow | None = None
    for number, item in enumerate(lines, start=1):
        lineno, line = item if isinstance(item, tuple) else (number, item)
        text = line.strip()
        if not text:
            continue
        # Headings and "Loading" lines are short: long lines skip the folding.
        folded = _fold(text) if len(text) <= 40 else ""
        if not title_done:
            if (folded and (folded in _HEADINGS or _is_loading(folded))) or not any(
                c.isalnum() for c in text
            ):
                continue  # not substantial: a loading message, a heading, a bullet
            title_done = True
            if _split_row(text, allow_unknown=False) is None:
                page.title, page.title_line = text, lineno
                continue
        allow_unknown = not in_teaser and (current is None or current.canonical not in _FREE_TEXT)
        split = _split_row(text, allow_unknown=allow_unknown)
        if split is not None:
            if current is not None:
                page.rows.append(current.close())
            label, canonical, value = split
            current = _OpenRow(label, canonical, lineno, [value], [line.rstrip("\r\n")])
            in_teaser = False
            continue
        if folded and (folded in _HEADINGS or _is_loading(folded)):
            if current is not None:
                page.rows.append(current.close())
                current = None
            in_teaser = False
            continue
        if in_teaser:
            teaser.append(text)
        elif current is not None:
            current.values.append(text)
            current.raw.append(line.rstrip("\r\n"))
        else:
            # Text after a heading and before any row: keep it, under no label.
            current = _OpenRow("Text", None, lineno, [text], [line.rstrip("\r\n")])
    if current is not None:
        page.rows.append(current.close())
    page.teaser = "\n".join(teaser) or None
    return page


def parse_rows(lines: Iterable[str]) -> list[Row]:
    """The ``Label: value`` rows of a record page's lines, in page order."""
    return parse_page(lines).rows


# --- Field rules (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """What a "Published in" value says about the journal or book an item is in."""

    title: str | None = None
    issued: Date | None = None
    volume: str | None = None
    issue: str | None = None
    page: str | None = None
    rest: str | None = None
    """Text after the title that no part explains ("Suppl. 3"): the caller keeps it."""


_NUM = r"(?:\d+[A-Za-z]?(?:\s*[-/]\s*\d+[A-Za-z]?)?|[IVXLCDM]+\b)"
_RANGE = r"([A-Za-z]*\d+[A-Za-z]*(?:\s*[-‐‑‒–—]\s*[A-Za-z]*\d+[A-Za-z]*)?)"
_PAGES = re.compile(r"(?<![\w.])(?:pp?\.|pages?\b|S\.|Seiten?\b|Bl\.)\s*" + _RANGE, re.IGNORECASE)
_VOLUME = re.compile(
    r"(?<![\w.])(?:vol(?:ume)?\b\.?|jg\.|jahrgang\b|bd\.|band\b|v\.)\s*(" + _NUM + r")"
    r"(?:\s*\(([^()]{1,24})\))?",
    re.IGNORECASE,
)
_ISSUE = re.compile(
    r"(?<![\w.])(?:no\.|nr\.|h\.|heft\b|issue\b|iss\.|num\.|number\b|n\.)\s*"
    r"([A-Za-z]*\d+\w*(?:\s*[-/]\s*\d+\w*)?)",
    re.IGNORECASE,
)
_BARE_VOLUME_ISSUE = re.compile(
    r"(?<![\w.])(\d+)\s*\(([A-Za-z]*\d+\w*(?:\s*[-/]\s*\d+\w*)?)\)(?:\s*:\s*" + _RANGE + ")?"
)
_YEAR = re.compile(
    r"(?<![\w/.-])((?:1[4-9]|20)\d{2})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(?![\w/])"
)
_WORD_BEFORE = re.compile(r"(?:(\d{1,2})\.?\s+)?([^\W\d_]{3,10})\.?,?\s*$")
_WORD_AFTER = re.compile(r"^\s+([^\W\d_]{3,10})\.?(?:\s+(\d{1,2})\b)?")


def _find_date(text: str) -> tuple[Date | None, int, int]:
    """The first year-based date in ``text`` that ends a part of the citation.

    A month or season word next to the year belongs to it ("Aug 2017", "2017 Aug 15").
    The date must be followed by a comma, a parenthesis or the end, so the year in
    "Proceedings of the 2017 Conference, p. 5" is part of the title, not its date.
    """
    for match in _YEAR.finditer(text):
        start, end = match.start(), match.end()
        if match.group(2) is None:
            before = _WORD_BEFORE.search(text, 0, start)
            if before is not None and (
                parse_month(before.group(2)) is not None or parse_season(before.group(2))
            ):
                start = before.start()
            else:
                after = _WORD_AFTER.match(text, end)
                if after is not None and parse_month(after.group(1)) is not None:
                    end = after.end()
        if text[end:].lstrip()[:1] in ("", ",", ";", ")", ".", ":"):
            return parse_date(text[start:end]), start, end
    return None, -1, -1


_PART_WORDS = frozenset(
    ("vol", "vol.", "volume", "jg", "jg.", "jahrgang", "bd", "bd.", "band", "no", "no.", "nr",
     "nr.", "h.", "heft", "issue", "p", "p.", "pp", "pp.", "s.", "seite", "seiten", "pages",
     "page")
)  # fmt: skip


def _strip_title(text: str) -> str | None:
    value = text.strip().rstrip(",;:/(").strip()
    if value.endswith(".") and len(value.rsplit(" ", 1)[-1]) > 5:
        value = value[:-1].rstrip()
    if value.casefold() in _PART_WORDS:
        return None  # "Vol." without a number: a broken citation, not a title
    return value or None


def parse_published_in(text: str) -> Container:
    """Read "<journal> <date>, Vol.<v> (<issue>), p.<first>-<last>" and its variants.

    Also German "Jg. 46 (2017), H. 2, S. 95-112", "Bd."/"Band", "Vol. 14, no. 2",
    "14(2):33-40", and any of the parts missing. The journal title is the text before
    the first date, volume, issue or page part.
    """
    value = clean_text(text)
    masked = value
    starts: list[int] = []
    volume = issue = page = None
    issued: Date | None = None

    def consume(match: re.Match[str]) -> None:
        nonlocal masked
        starts.append(match.start())
        masked = (
            masked[: match.start()] + " " * (match.end() - match.start()) + masked[match.end() :]
        )

    found = _PAGES.search(masked)
    if found is not None:
        page = found.group(1)
        consume(found)
    found = _VOLUME.search(masked)
    if found is not None:
        volume = found.group(1)
        paren = found.group(2)
        if paren is not None:
            date, _, _ = _find_date(paren)
            if date is not None and date.parts:
                issued = date
            else:
                issue = paren.strip()
        consume(found)
    if issue is None:
        found = _ISSUE.search(masked)
        if found is not None:
            issue = found.group(1)
            consume(found)
    if volume is None:
        found = _BARE_VOLUME_ISSUE.search(masked)
        if found is not None and _YEAR.fullmatch(found.group(1)) is None:
            volume, issue = found.group(1), found.group(2)
            if found.group(3) and page is None:
                page = found.group(3)
            consume(found)
    if issued is None:
        issued, date_start, date_end = _find_date(masked)
        if issued is not None:
            starts.append(date_start)
            masked = masked[:date_start] + " " * (date_end - date_start) + masked[date_end:]
    head = masked[: min(starts)] if starts else masked
    tail = " ".join(masked[min(starts) :].split()).strip(" ,;:") if starts else ""
    rest = tail if any(c.isalnum() for c in tail) else None
    return Container(_strip_title(head), issued, volume, issue, page, rest)


_PUBLICATION_DATE = re.compile(
    r"[,\s]*(\[?(?:©|℗|\(c\)|cop\.\s*|c|p)?\s*\[?(?:1[4-9]|20)\d{2}\??\]?(?:\s*[-–]\s*(?:\d{4})?)?"
    r"(?:\s*,?\s*(?:©|c)\d{4})?\]?\.?)\s*$"
)


def parse_publication(text: str) -> tuple[str | None, str | None, Date | None]:
    """``(place, publisher, date)`` from "New York : Springer, 2010" and its variants."""
    value = clean_text(text).rstrip(". ")
    date: Date | None = None
    found = _PUBLICATION_DATE.search(value)
    if found is not None:
        date = parse_date(found.group(1))
        value = value[: found.start()]
    value = value.strip(" ,;:")
    if not value:
        return None, None, date
    place: str | None
    if " : " in value or ":" in value:
        sep = " : " if " : " in value else ":"
        place, publisher = (p.strip(" ,;") for p in value.split(sep, 1))
    else:
        place, publisher = None, value
    if place:
        place = re.sub(r"\s*;\s*", "; ", place.strip("[] "))
    return place or None, publisher.strip("[] ") or None, date


def parse_series(text: str) -> tuple[str | None, str | None]:
    """``(series title, number)`` from "Lecture notes in computer science ; 1234"."""
    value = clean_text(text)
    if ";" in value:
        title, number = value.rsplit(";", 1)
        number = re.sub(r"^(?:v|vol|bd|band|no|nr)\.?\s*", "", number.strip(), flags=re.I)
        if any(c.isdigit() for c in number):
            return title.strip() or None, number or None
    return value or None, None


_PAGE_COUNT = re.compile(
    r"(\d+)\s*(?:p\b\.?|pp\.|pages?\b|S\.|Seiten\b|Bl\.|Blätter\b|leaves\b)", re.IGNORECASE
)


def parse_page_count(text: str) -> str | None:
    """The page count in a physical description: "xii, 345 p. : ill." -> "345"."""
    found = _PAGE_COUNT.search(text)
    return found.group(1) if found else None


# Format values (casefolded) -> CSL type. English from en.ini, German from de.ini, plus
# the words catalogues commonly put there.
_TYPE_WORDS: dict[str, tuple[str, ...]] = {
    "article-journal": ("article", "artikel", "journal article", "journal articles",
                        "zeitschriftenartikel", "electronic article", "e-article",
                        "online-artikel"),
    "book": ("book", "buch", "books", "bücher", "ebook", "e-book", "electronic book",
             "print book", "monograph", "monographie", "monografie"),
    "chapter": ("book chapter", "buchkapitel", "chapter", "kapitel", "aufsatz"),
    "periodical": ("journal", "zeitschrift", "journals", "zeitschriften", "serial",
                   "periodical", "e-journal", "e-zeitschrift", "journal / magazine",
                   "zeitschrift/serie", "newspaper", "zeitung", "magazine"),
    "article-newspaper": ("newspaper article", "zeitungsartikel"),
    "article-magazine": ("magazine article",),
    "thesis": ("thesis", "dissertation", "abschlussarbeit", "hochschulschrift",
               "dissertation/thesis", "thesis/dissertation", "doctoral thesis"),
    "manuscript": ("manuscript", "manuskript", "handschrift"),
    "map": ("map", "maps", "karte", "karten", "karten2"),
    "musical_score": ("musical score", "partitur", "noten", "music score"),
    "motion_picture": ("video", "videos", "dvd", "blu-ray disc", "blu-ray-disc", "film",
                       "video recording", "vhs", "motion picture"),
    "song": ("audio", "cd", "sound recording", "tonträger", "audio book", "hörbuch",
             "cassette", "kassette", "music recording", "musical recording"),
    "software": ("software", "computer file", "video game", "videospiel"),
    "paper-conference": ("conference proceeding", "conference proceedings", "tagungsbericht",
                         "conference paper", "konferenzschrift", "kongressbericht"),
    "report": ("report", "bericht", "technical report", "forschungsbericht",
               "government document", "regierungsdokument"),
    "dataset": ("data set", "dataset", "datensatz"),
    "graphic": ("image", "bild", "photo", "foto", "slide", "dia", "poster", "postcard",
                "postkarte", "sensor image", "fernerkundungsbilder"),
    "patent": ("patent",),
    "standard": ("standard", "norm"),
    "webpage": ("website", "webseite", "web page", "webpage", "web resource"),
    "review": ("review", "rezension"),
    "review-book": ("book review", "buchrezension"),
}  # fmt: skip
_TYPES: dict[str, str] = {word: csl for csl, words in _TYPE_WORDS.items() for word in words}
# Carriers, not types: VuFind lists them next to the type ("Book", "Electronic").
_CARRIERS = frozenset(
    ("electronic", "elektronisch", "online", "print", "druck", "microfilm", "mikrofilm",
     "microfiche", "mikroform", "online resource", "online-ressource", "electronic resource",
     "braille", "blindenschrift", "large print")
)  # fmt: skip


def format_to_type(value: str, *, journal_like: bool = False) -> str | None:
    """The CSL type for one VuFind format value, or None (unknown, or only a carrier).

    German "Aufsatz" names articles in journals and in books alike: with ``journal_like``
    (the "Published in" row gives a volume or issue) it is an article-journal.
    """
    key = _fold(value.strip().strip("."))
    found = _TYPES.get(key)
    if found == "chapter" and key == "aufsatz" and journal_like:
        return "article-journal"
    return found


def _is_carrier(value: str) -> bool:
    return _fold(value.strip().strip(".")) in _CARRIERS


_ROLE = re.compile(r"\s*(?:\(([^()]*)\)|\[([^\[\]]*)\])\s*\.?$")
_ROLE_SUFFIX = re.compile(r",\s*([^\W\d_][^,]*?)\.?$")  # "Boyce, John M., editor."
_LIFE_DATES = re.compile(r",?\s*\(?\b\d{3,4}\??\s*-\s*(?:\d{3,4}\??)?\)?\.?\s*$")
# Role words as catalogues print them after a name (MARC relator terms, RDA's German
# gender-inclusive forms such as "VerfasserIn"). Roles the model has no list for: other.
_ROLE_WORDS: dict[str, tuple[str, ...]] = {
    "author": ("author", "aut", "verfasser", "verfasserin", "verfasserinnen", "autor",
               "autorin", "writer", "creator", "cre", "1. verfasser"),
    "editor": ("editor", "editors", "ed", "eds", "edt", "hrsg", "hg", "herausgeber",
               "herausgeberin", "herausgeberinnen", "compiler", "comp"),
    "translator": ("translator", "trans", "tr", "trl", "übersetzer", "übersetzerin", "übers"),
    "other": ("illustrator", "illustratorin", "ill", "contributor", "ctb", "mitwirkender",
              "mitwirkende", "sonstige", "sonstiger", "composer", "komponist",
              "komponistin", "photographer", "fotograf", "fotografin", "narrator",
              "sprecher", "sprecherin", "director", "regisseur", "regisseurin",
              "performer", "interpret", "interpretin", "arranger", "bearbeiter",
              "bearbeiterin", "interviewer", "interviewee", "thesis advisor",
              "akademischer betreuer", "akademische betreuerin", "degree granting institution",
              "grad-verleihende institution", "publisher", "verlag"),
}  # fmt: skip
_ROLES: dict[str, str] = {word: role for role, words in _ROLE_WORDS.items() for word in words}


def _role(word: str) -> str | None:
    """``author``, ``editor``, ``translator`` or ``other`` for a role word; None if none."""
    return _ROLES.get(_fold(word).strip(". "))


def parse_authors(value: str, *, corporate: bool = False) -> list[tuple[Name, str]]:
    """Names with their role (``author``, ``editor``, ``translator`` or ``other``).

    One name per line, or catalogue-style comma-joined "Family, Given" pairs on one line
    (``parse_name_list``). A trailing "(VerfasserIn)", "[Hrsg.]" or ", editor." states the
    role; life dates ("1950-2010") are dropped. ``corporate`` names stay literal.
    """
    out: list[tuple[Name, str]] = []
    for line in value.split("\n"):
        text = line.strip()
        if not text:
            continue
        role = "author"
        stated = _ROLE.search(text) or _ROLE_SUFFIX.search(text)
        if stated is not None:
            word = next(g for g in stated.groups() if g is not None)
            found = _role(word)
            if found is not None:  # an unknown parenthesis is part of the name
                role = found
                text = text[: stated.start()]
        text = _LIFE_DATES.sub("", text).strip(" ,;")
        if not text:
            continue
        if corporate:
            out.append((Name(literal=text), role))
        else:
            out.extend((name, role) for name in parse_name_list(text))
    return out


def _isbn_kind(line: str) -> IdentifierKind | None:
    low = line.lower()
    if any(w in low for w in ("electronic", "online", "ebook", "e-book", "pdf", "epub")):
        return "electronic"
    if any(
        w in low
        for w in ("print", "pbk", "hbk", "paperback", "hardback", "hardcover", "cloth",
                  "druck", "geb.", "kart.", "brosch")
    ):  # fmt: skip
        return "print"
    return None


# --- Rows to a record ---------------------------------------------------------------------


class _Builder:
    """Collects one record's fields, their provenance and what could not be mapped."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.data: dict[str, object] = {}
        self.raws: dict[str, list[str]] = {}
        self.extra: dict[str, list[str]] = {}
        self.authors: list[Name] = []
        self.editors: list[Name] = []
        self.translators: list[Name] = []
        self.keywords: list[str] = []
        self.identifiers: list[Identifier] = []
        self.notes: list[str] = []
        self.formats: list[tuple[str, str]] = []  # (value, raw)

    def set(self, name: str, value: object, raw: str, *, overwrite: bool = False) -> bool:
        """Fill ``name`` unless it is filled already; True when it was filled."""
        if value is None or value == "" or (name in self.data and not overwrite):
            return False
        self.data[name] = value
        self.raws[name] = [raw]
        return True

    def note_raw(self, name: str, raw: str) -> None:
        raws = self.raws.setdefault(name, [])
        if not raws or raws[-1] != raw:  # rows come in order: a repeat is the last one
            raws.append(raw)

    def keep(self, key: str, value: str) -> None:
        if value.strip():
            self.extra.setdefault(EXTRA_PREFIX + key, []).append(value)


_Rule = Callable[[_Builder, str, str, str], None]  # (builder, canonical label, value, raw)


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.split("\n") if line.strip()]


def _one_line(value: str) -> str:
    return " ".join(_lines(value))


def _rule_published_in(b: _Builder, label: str, value: str, raw: str) -> None:
    container = parse_published_in(_one_line(value))
    filled = [
        b.set("container_title", container.title, raw),
        b.set("issued", container.issued, raw),
        b.set("volume", container.volume, raw),
        b.set("issue", container.issue, raw),
        b.set("page", container.page, raw),
    ]
    if not any(filled) or container.rest is not None:
        b.keep(label, value)  # nothing, or not all of it, was understood


def _rule_people(b: _Builder, label: str, value: str, raw: str) -> None:
    corporate = label.startswith("Corporate")
    for line in _lines(value):
        _add_people(b, label, line, raw, corporate=corporate)


def _add_people(b: _Builder, label: str, line: str, raw: str, *, corporate: bool) -> None:
    kept = False
    for name, role in parse_authors(line, corporate=corporate):
        if role == "editor":
            b.editors.append(name)
            b.note_raw("editor", raw)
        elif role == "translator":
            b.translators.append(name)
            b.note_raw("translator", raw)
        elif role == "author":
            b.authors.append(name)
            b.note_raw("author", raw)
        elif not kept:
            b.keep(label, line)  # a role the model has no list for, with its role word
            kept = True


def _rule_format(b: _Builder, label: str, value: str, raw: str) -> None:
    for line in _lines(value):
        b.formats.append((line, raw))


def _rule_language(b: _Builder, label: str, value: str, raw: str) -> None:
    for line in _lines(value):
        for part in re.split(r"\s*[;,]\s*", line):
            if not part:
                continue
            tag = normalize_language(part)
            if tag is not None and b.set("language", tag, raw):
                continue
            if tag is None or tag != b.data.get("language"):
                b.keep(label, part)  # unreadable, or a second language


def _rule_published(b: _Builder, label: str, value: str, raw: str) -> None:
    lines = _lines(value)
    place, publisher, date = parse_publication(lines[0]) if lines else (None, None, None)
    filled = [
        b.set("publisher_place", place, raw),
        b.set("publisher", publisher, raw),
        b.set("issued", date, raw),
    ]
    if not any(filled):
        b.keep(label, lines[0] if lines else value)
    for line in lines[1:]:
        b.keep(label, line)


def _rule_publisher(b: _Builder, label: str, value: str, raw: str) -> None:
    if not b.set("publisher", _one_line(value), raw):
        b.keep(label, value)


def _rule_year(b: _Builder, label: str, value: str, raw: str) -> None:
    if not b.set("issued", parse_date(_one_line(value)), raw):
        b.keep(label, value)


def _first_line_rule(field_name: str) -> _Rule:
    def rule(b: _Builder, label: str, value: str, raw: str) -> None:
        lines = _lines(value)
        if not lines or not b.set(field_name, lines[0], raw):
            b.keep(label, value)
            return
        for line in lines[1:]:
            b.keep(label, line)

    return rule


def _rule_series(b: _Builder, label: str, value: str, raw: str) -> None:
    lines = _lines(value)
    title, number = parse_series(lines[0]) if lines else (None, None)
    if not b.set("collection_title", title, raw):
        b.keep(label, value)
        return
    b.set("collection_number", number, raw)
    for line in lines[1:]:
        b.keep(label, line)


def _rule_subjects(b: _Builder, label: str, value: str, raw: str) -> None:
    for line in _lines(value):
        b.keywords.append(line)
        b.note_raw("keywords", raw)


def _rule_summary(b: _Builder, label: str, value: str, raw: str) -> None:
    text = "\n".join(_lines(value))
    if not text:
        return
    previous = b.data.get("abstract")
    b.data["abstract"] = f"{previous}\n{text}" if isinstance(previous, str) else text
    b.note_raw("abstract", raw)


def _rule_notes(b: _Builder, label: str, value: str, raw: str) -> None:
    for line in _lines(value):
        b.notes.append(line)
        b.note_raw("note", raw)


def _identifier_rule(parse: Callable[[str], list[Identifier]], kinds: bool = False) -> _Rule:
    def rule(b: _Builder, label: str, value: str, raw: str) -> None:
        for line in _lines(value):
            found = parse(line)
            if not found:
                b.keep(label, line)
                continue
            kind = _isbn_kind(line) if kinds else None
            for ident in found:
                if kind is not None and ident.kind is None:
                    ident = ident.model_copy(update={"kind": kind})
                b.identifiers.append(ident)
            b.note_raw("identifiers", raw)

    return rule


def _parse_doi_ids(line: str) -> list[Identifier]:
    doi = parse_doi(line)
    return [Identifier(scheme="doi", value=doi)] if doi else []


def _parse_url_ids(line: str) -> list[Identifier]:
    url = parse_url(line)
    return [Identifier(scheme="url", value=url)] if url else []


def _rule_physical(b: _Builder, label: str, value: str, raw: str) -> None:
    b.set("number_of_pages", parse_page_count(value), raw)
    # The rest of the description (illustrations, size) has no field: keep it all.
    b.keep(label, _one_line(value))


def _rule_boilerplate(b: _Builder, label: str, value: str, raw: str) -> None:
    if label == "Saved in":
        return  # the reader's own lists, not the record's
    for line in _lines(value):
        if _is_boilerplate(line):
            continue
        url = parse_url(line) if label == "Online Access" else None
        if url is not None:
            b.identifiers.append(Identifier(scheme="url", value=url))
            b.note_raw("identifiers", raw)
        else:
            b.keep(label, line)


def _rule_title(b: _Builder, label: str, value: str, raw: str) -> None:
    if not b.set("title", _one_line(value), raw):
        b.keep(label, value)


_RULES: dict[str, _Rule] = {
    "Published in": _rule_published_in,
    "Main Author": _rule_people,
    "Main Authors": _rule_people,
    "Author": _rule_people,
    "Authors": _rule_people,
    "Corporate Author": _rule_people,
    "Corporate Authors": _rule_people,
    "Other Authors": _rule_people,
    "Format": _rule_format,
    "Language": _rule_language,
    "Published": _rule_published,
    "Publisher": _rule_publisher,
    "Year of Publication": _rule_year,
    "Edition": _first_line_rule("edition"),
    "Series": _rule_series,
    "Subjects": _rule_subjects,
    "Summary": _rule_summary,
    "Item Description": _rule_notes,
    "Notes": _rule_notes,
    "Physical Description": _rule_physical,
    "ISSN": _identifier_rule(parse_issns),
    "ISBN": _identifier_rule(parse_isbns, kinds=True),
    "DOI": _identifier_rule(_parse_doi_ids),
    "URL": _identifier_rule(_parse_url_ids),
    "Title": _rule_title,
    "Volume": _first_line_rule("volume"),
    "Issue": _first_line_rule("issue"),
    "Saved in": _rule_boilerplate,
    "Tags": _rule_boilerplate,
    "Citations": _rule_boilerplate,
    "Online Access": _rule_boilerplate,
}


def _resolve_type(b: _Builder) -> None:
    """The CSL type from the "Format" rows, else from what the record looks like."""
    journal_like = bool(b.data.get("volume") or b.data.get("issue"))
    chosen: str | None = None
    for value, raw in b.formats:
        found = format_to_type(value, journal_like=journal_like)
        if found is not None and chosen is None:
            chosen = found
            b.set("type", found, raw)
        else:
            b.keep("Format", value)
    if chosen is not None:
        return
    if any(not _is_carrier(value) for value, _ in b.formats):
        b.set("type", "document", b.formats[0][1])
        return
    # No type stated: what a citation line with a volume or pages, or an ISBN, means.
    if b.data.get("container_title") and (journal_like or b.data.get("page")):
        b.set("type", "article-journal", b.raws["container_title"][0])
    elif any(i.scheme == "isbn" for i in b.identifiers):
        b.set("type", "book", "\n".join(b.raws["identifiers"]))


def record_from_rows(
    rows: Iterable[Row | tuple[str, str]],
    title: str | None,
    *,
    teaser: str | None = None,
    source: str = NAME,
    title_raw: str | None = None,
) -> Record:
    """Build a ``Record`` from a page's rows (pure: the same rows give the same record).

    ``rows`` are ``(label, value)`` pairs (or :class:`Row`), labels as shown in English
    or German; values with several lines join them with ``\\n``. ``teaser`` (the
    truncated summary under the title) is the abstract only when no "Summary" row is
    there. Every field filled gets ``field_sources[field] = FieldSource(source, raw)``
    with the raw row text; rows that map to no field are kept in ``extra`` under
    ``catalogue:<Label>`` (the English label for known rows), never dropped.

    Raises:
        ValueError: only if the collected fields cannot form a record at all (never for
            one bad row: a row whose value does not parse is kept in ``extra``).
    """
    b = _Builder(source)
    if title:
        # VuFind joins title, subtitle and part with spaces; ISBD punctuation may trail.
        b.set("title", clean_text(title).rstrip(" /:;,=") or None, title_raw or title)
    for row in rows:
        label, value = row[0], row[1]
        raw = row.raw if isinstance(row, Row) and row.raw else f"{label}: {value}"
        canonical = canonical_label(label)
        key = canonical or clean_text(label).rstrip(":") or "Text"
        rule = _RULES.get(canonical) if canonical else None
        if rule is None:
            b.keep(key, value)
            continue
        try:
            rule(b, key, value, raw)
        except ValueError:
            # One value our rules cannot read must not cost the other rows.
            b.keep(key, value)
    _resolve_type(b)
    if teaser and "abstract" not in b.data:
        b.set("abstract", teaser, teaser)
    lists: dict[str, Sequence[object]] = {
        "author": b.authors,
        "editor": b.editors,
        "translator": b.translators,
        "keywords": b.keywords,
        "identifiers": b.identifiers,
    }
    for name, items in lists.items():
        if items:
            b.data[name] = list(items)
    if b.notes:
        b.data["note"] = "\n".join(b.notes)
    return _build(b)


def _build(b: _Builder) -> Record:
    """Validate; a field the model rejects goes to ``extra`` and the rest is kept."""
    data = dict(b.data)
    for _attempt in range(len(data) + 1):
        sources = {
            # Two plain strings we made ourselves: no validation needed.
            name: FieldSource.model_construct(source=b.source, raw="\n".join(raws))
            for name, raws in b.raws.items()
            if name in data
        }
        try:
            return Record(**data, extra=b.extra, field_sources=sources)
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            bad &= set(data)
            if not bad:
                raise
            for name in bad:
                del data[name]
                b.keep(name, "\n".join(b.raws.get(name, [])))
    raise ValueError("the record's fields cannot be validated")


def record_from_page(page: Page, *, source: str = NAME) -> Record:
    """The record of a page split by :func:`parse_page`."""
    return record_from_rows(page.rows, page.title, teaser=page.teaser, source=source)


# --- Reader and sniffer -------------------------------------------------------------------


def _is_separator(line: str) -> bool:
    text = line.strip()
    return len(text) >= 4 and text[0] == "-" and text.strip("-") == ""


def _physical_lines(piece: str) -> list[str]:
    # splitlines() also splits at CR, VT, U+2028 and the rest; plain lines skip it.
    if piece.isascii() and "\r" not in piece and "\v" not in piece:
        return [piece.rstrip("\n")]
    return piece.splitlines()


def _chunks(stream: TextIO) -> Iterator[list[tuple[int, str]]]:
    """Non-blank chunks of numbered lines between separators (``----`` or form feed)."""
    chunk: list[tuple[int, str]] = []
    filled = False
    for lineno, physical in enumerate(stream, start=1):
        pieces = physical.split("\f") if "\f" in physical else (physical,)
        for index, piece in enumerate(pieces):
            if index:
                if filled:
                    yield chunk
                chunk, filled = [], False
            for line in _physical_lines(piece):
                if _is_separator(line):
                    if filled:
                        yield chunk
                    chunk, filled = [], False
                else:
                    chunk.append((lineno, line))
                    filled = filled or bool(line.strip())
    if filled:
        yield chunk


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Stream the records of catalogue-page text (one per separated chunk)."""
    index = 0
    for chunk in _chunks(stream):
        index += 1
        start = next(lineno for lineno, text in chunk if text.strip())
        raw = "\n".join(text for _, text in chunk)
        page = parse_page(chunk)
        if not page.rows:
            yield ParseError(
                "no catalogue rows found: expected 'Label: value' lines such as "
                "'Format: Article' or 'ISSN: 1792-0981' (English or German VuFind labels)",
                source=source,
                line=start,
                record=index,
                raw=raw,
                format_name=NAME,
            )
            continue
        try:
            yield record_from_page(page, source=NAME)
        except ValueError as exc:
            yield ParseError(
                f"cannot build a record: {exc}",
                source=source,
                line=start,
                record=index,
                raw=raw,
                format_name=NAME,
            )
    if index == 0:
        yield ParseError("the input is empty", source=source, format_name=NAME)


# Labels distinctive enough to recognise a catalogue page by (not "Note", "Title", ...).
_SNIFF_LABELS = frozenset(
    ("Published in", "Main Author", "Main Authors", "Corporate Author", "Corporate Authors",
     "Other Authors", "Format", "Language", "Published", "Edition", "Series", "Subjects",
     "Online Access", "Saved in", "Citations", "Summary", "Physical Description", "ISSN",
     "ISBN", "DOI", "Item Description")
)  # fmt: skip
# Label texts that also head other kinds of text (mail "Subject:") do not count.
_SNIFF_WEAK = frozenset(
    _fold(text)
    for text in ("Subject", "Schlagwort", "Publication", "Serial", "Reihe", "Erschienen",
                 "Contributors", "Document Type", "Publication Type", "Abstract")
)  # fmt: skip
_SNIFF_LINES = 60


def sniff(head: str) -> bool:
    """True when the first lines hold at least two distinct known VuFind row labels."""
    start = head.lstrip()[:5]
    if start[:1] in ("{", "[", "@", "<") or start.startswith("TY  -"):
        return False
    seen: set[str] = set()
    for line in head.split("\n", _SNIFF_LINES)[:_SNIFF_LINES]:
        colon = line.find(":")
        # VuFind labels start the line and are capitalised; YAML and JSON keys are not.
        if colon <= 0 or colon > 40 or line[0].isspace() or line[0].islower():
            continue
        key = _fold(line[:colon])
        canonical = LABELS.get(key)
        if canonical in _SNIFF_LABELS and key not in _SNIFF_WEAK:
            seen.add(canonical)
            if len(seen) >= 2:
                return True
    return False


FORMAT = Format(
    name=NAME,
    title="Catalogue record page text (VuFind layout, English or German labels; read only)",
    extensions=(".txt",),
    media_type="text/plain",
    read=read,
    writer=None,
    sniff=sniff,
    aliases=("vufind-text", "catalogue"),
)
