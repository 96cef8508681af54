"""PubMed/MEDLINE XML reader (E-utilities ``efetch db=pubmed retmode=xml``; read only).

The element names are NLM's PubMed DTD (https://dtd.nlm.nih.gov/ncbi/pubmed/out/).

=========================================  ==============================================
MedlineCitation/PMID                       id, pmid identifier
Article/ArticleTitle                       title (inline markup flattened; the final "."
                                           and the "[...]" of translated titles removed,
                                           as NLM adds both)
Journal/Title, ISOAbbreviation             container_title, container_title_short
Journal/ISSN IssnType=Print|Electronic     issn identifiers, kind print / electronic
MedlineJournalInfo/ISSNLinking             issn identifier, kind linking
JournalIssue/Volume, Issue                 volume, issue
JournalIssue/PubDate                       issued: Year Month Day, Season or MedlineDate
                                           (``parse_date``; a date it cannot read keeps
                                           its year and the text in extra)
Pagination/MedlinePgn, else Start/EndPage  page (``normalize_pages``: "311-9" -> 311-319)
ELocationID EIdType=doi | pii              doi identifier | extra pubmed:pii
AuthorList (Type=editors: editor)          author: LastName, ForeName (else Initials),
                                           Suffix; CollectiveName -> literal
Author ValidYN="N"                         not an author (NLM marks names found to be
                                           wrong); kept in extra pubmed:invalid-author
Language                                   language (MARC codes, ``normalize_language``);
                                           further languages in extra pubmed:language
Abstract/AbstractText (Label)              abstract, one "LABEL: text" paragraph each
MeshHeadingList, KeywordList               keywords (MeSH descriptors, then keywords);
                                           "Descriptor/qualifier" pairs in pubmed:mesh
PubmedData/ArticleIdList                   pubmed / pmc / doi identifiers; others (pii,
                                           mid, bookaccession...) in extra pubmed:<type>
PublicationTypeList                        type: article-journal (every PubmedArticle is
                                           in a journal; Review too), "Preprint" ->
                                           article; the list in extra pubmed:publication-type
GeneralNote                                note
BookDocument (PubmedBookArticle)           with ArticleTitle: chapter in BookTitle, else
                                           book; Publisher -> publisher, publisher_place;
                                           Isbn, Edition, Volume, CollectionTitle
=========================================  ==============================================

Everything else that says something about the work (grants, chemicals, affiliations,
ORCIDs, copyright, history dates, comments and corrections, references) is kept as text
in ``extra["pubmed:<Element>"]``, one entry per list item; nothing is dropped silently.

efetch answers begin with a DOCTYPE naming NLM's external DTD, which ``harvester.xml``
refuses on principle. A DOCTYPE that only *names* an external DTD (no internal subset)
is removed here before parsing: the parser never loads DTDs, so it changes nothing but
the refusal; a DOCTYPE with an internal subset is left for ``harvester.xml`` to judge.
An efetch ``<ERROR>`` element is yielded as a ``ParseError`` carrying NLM's message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.formats._base import Format, ReadResult, describe_validation_error
from harvester.model import Date, Identifier, Name, Record, make_date
from harvester.normalize.dates import parse_date
from harvester.normalize.identifiers import parse_doi, parse_isbns
from harvester.normalize.pages import normalize_pages
from harvester.xml import Element, iterparse, read_chunks, release

NAME = "pubmed-xml"
RECORD_TAGS = ("PubmedArticle", "PubmedBookArticle")
_ERROR_TAG = "ERROR"
_ROOTS = frozenset({"PubmedArticleSet", "PubmedBookArticleSet", *RECORD_TAGS})

# A DOCTYPE with a public or system identifier and no internal subset.
_EXTERNAL_DOCTYPE = re.compile(
    r"<!DOCTYPE\s+[\w.:-]+\s+(?:PUBLIC\s+(?:\"[^\"]*\"|'[^']*')\s*(?:\"[^\"]*\"|'[^']*')?"
    r"|SYSTEM\s+(?:\"[^\"]*\"|'[^']*'))\s*>"
)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ROOT_START = re.compile(r"<([A-Za-z_][\w.:-]*)")
_MAX_PROLOG = 1024 * 1024


def _text(element: Element | None) -> str | None:
    """All text of an element, inline markup (``<i>``, MathML) flattened, spaces collapsed."""
    if element is None:
        return None
    raw = element.text if len(element) == 0 else "".join(element.itertext())
    if not raw:
        return None
    return " ".join(raw.split()) or None


def _find_text(element: Element | None, path: str) -> str | None:
    return _text(element.find(path)) if element is not None else None


class _Prolog:
    """Drops a DOCTYPE that only names an external DTD; remembers the root element name.

    Bytes stay bytes (the XML declaration decides their encoding); the prolog is scanned
    through Latin-1, which maps every byte to one character, so offsets agree.
    """

    def __init__(self) -> None:
        self.root: str | None = None

    def chunks(self, source: Iterable[bytes | str]) -> Iterator[bytes | str]:
        parts: list[bytes | str] = []
        size = 0
        done = False
        for chunk in source:
            if done:
                yield chunk
                continue
            parts.append(chunk)
            size += len(chunk)
            head = chunk[:0].join(parts)  # type: ignore[arg-type]
            cleaned = self._clean(head)
            if cleaned is None and size < _MAX_PROLOG:
                continue
            done = True
            yield cleaned if cleaned is not None else head
        if not done and parts:
            head = parts[0][:0].join(parts)  # type: ignore[arg-type]
            cleaned = self._clean(head)
            yield cleaned if cleaned is not None else head

    def _clean(self, head: bytes | str) -> bytes | str | None:
        """``head`` without the external DOCTYPE, or None while the root has not started."""
        text = head.decode("latin-1") if isinstance(head, bytes) else head
        visible = _COMMENT.sub(lambda m: " " * len(m.group(0)), text)
        # "<!" and "<?" never match: a name cannot start with "!" or "?".
        match = _ROOT_START.search(visible)
        if match is None:
            return None
        self.root = match.group(1).rsplit(":", 1)[-1]
        prolog = visible[: match.start()]
        if "[" in prolog:
            return head  # an internal subset: harvester.xml decides
        doctype = _EXTERNAL_DOCTYPE.search(prolog)
        if doctype is None:
            return head
        # Keep its line breaks so that error lines still match the input.
        breaks = "\n" * doctype.group(0).count("\n")
        if isinstance(head, bytes):
            return head[: doctype.start()] + breaks.encode() + head[doctype.end() :]
        return head[: doctype.start()] + breaks + head[doctype.end() :]


def _pmid_of(element: Element) -> str | None:
    citation = element.find("MedlineCitation")
    if citation is None:
        citation = element.find("BookDocument")
    return _find_text(citation, "PMID")


def iter_articles(
    chunks: Iterable[bytes | str], source: str
) -> Iterator[tuple[str | None, ReadResult]]:
    """``(pmid, Record | ParseError)`` for each article; the PMID lets a fetcher match
    answers to requests, even for a record that could not be read."""
    prolog = _Prolog()
    index = 0
    answered_error = False
    try:
        for _event, element in iterparse(
            prolog.chunks(chunks), source=source, tag=(*RECORD_TAGS, _ERROR_TAG)
        ):
            if element.tag == _ERROR_TAG:
                message = _text(element) or "no message"
                answered_error = True
                yield (
                    None,
                    ParseError(
                        f"E-utilities error: {message}",
                        source=source,
                        line=element.sourceline,
                        format_name=NAME,
                    ),
                )
                continue
            index += 1
            pmid = _pmid_of(element)
            try:
                record = _book(element) if element.tag == "PubmedBookArticle" else _article(element)
            except ValueError as exc:  # pydantic's ValidationError is a ValueError
                cause = (
                    describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
                )
                yield (
                    pmid,
                    ParseError(
                        cause,
                        source=source,
                        line=element.sourceline,
                        record=index,
                        raw=f"PMID {pmid}" if pmid else None,
                        format_name=NAME,
                    ),
                )
            else:
                yield pmid, record
            release(element)
    except ParseError as exc:
        yield (
            None,
            ParseError(exc.cause, source=source, line=exc.line, record=index + 1, format_name=NAME),
        )
        return
    if prolog.root is not None and prolog.root not in _ROOTS and not answered_error:
        yield (
            None,
            ParseError(
                f"not PubMed XML: the root element is <{prolog.root}>, not <PubmedArticleSet>",
                source=source,
                format_name=NAME,
            ),
        )


def read(stream: TextIO, source: str) -> Iterator[ReadResult]:
    """Stream the articles and book articles of a ``PubmedArticleSet``."""
    for _pmid, item in iter_articles(read_chunks(stream), source):
        yield item


def sniff(head: str) -> bool:
    return "<PubmedArticleSet" in head or "<PubmedBookArticleSet" in head


# --- mapping ------------------------------------------------------------------------------


class _Builder:
    """Collects one record's fields; ``extra`` keys are ``pubmed:<name>``."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.author: list[Name] = []
        self.editor: list[Name] = []
        self.identifiers: list[Identifier] = []
        self.keywords: list[str] = []
        self.extra: dict[str, list[str]] = {}

    def add_extra(self, key: str, value: str | None) -> None:
        if value:
            self.extra.setdefault(f"pubmed:{key}", []).append(value)

    def record(self) -> Record:
        return Record(
            **self.data,
            author=self.author,
            editor=self.editor,
            identifiers=self.identifiers,
            keywords=self.keywords,
            extra=self.extra,
        )


def _title(text: str | None) -> str | None:
    if text is None:
        return None
    # NLM brackets titles translated into English and ends every title with a period.
    if text.startswith("[") and text.endswith(("].", "]")):
        inner = text[1 : text.rfind("]")]
        if "[" not in inner and "]" not in inner:
            text = inner
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    return text or None


def _date(element: Element | None, builder: _Builder, key: str) -> Date | None:
    """``PubDate``: Year/Month/Day, Year/Season, or free-text MedlineDate."""
    if element is None:
        return None
    medline = _find_text(element, "MedlineDate")
    if medline is not None:
        text = medline
    else:
        parts = [_find_text(element, tag) for tag in ("Year", "Month", "Day")]
        season = _find_text(element, "Season")
        if season and not parts[1]:
            parts[1] = season
        text = " ".join(p for p in parts if p)
    if not text:
        return None
    date = parse_date(text)
    if date is not None and not date.parts:
        builder.add_extra(key, text)
        year = re.match(r"\s*(\d{4})\b", text)
        return make_date(parts=(int(year.group(1)),)) if year else date
    return date


def _initials(letters: str) -> str:
    """``JM`` -> ``J. M.`` (PubMed initials carry no dots or spaces)."""
    if letters.isalpha() and letters.isupper():
        return " ".join(f"{c}." for c in letters)
    return letters


def _names(author_list: Element | None, builder: _Builder) -> list[Name]:
    names: list[Name] = []
    if author_list is None:
        return names
    for author in author_list.iterfind("Author"):
        collective = _find_text(author, "CollectiveName")
        family = _find_text(author, "LastName")
        given = _find_text(author, "ForeName")
        if given is None:
            initials = _find_text(author, "Initials")
            given = _initials(initials) if initials else None
        suffix = _find_text(author, "Suffix")
        if collective is not None and family is None:
            name = Name(literal=collective)
        elif family is not None or given is not None:
            name = Name(family=family, given=given, suffix=suffix)
        else:
            continue
        if author.get("ValidYN") == "N":
            builder.add_extra("invalid-author", name.display())
            continue
        names.append(name)
        for ident in author.iterfind("Identifier"):
            value = _text(ident)
            if value:
                builder.add_extra(
                    (ident.get("Source") or "identifier").lower(), f"{name.display()}: {value}"
                )
        for affiliation in author.iterfind("AffiliationInfo/Affiliation"):
            text = _text(affiliation)
            if text and text not in builder.extra.get("pubmed:affiliation", []):
                builder.add_extra("affiliation", text)
    return names


def _abstract(element: Element | None, builder: _Builder) -> str | None:
    if element is None:
        return None
    paragraphs = []
    for part in element.iterfind("AbstractText"):
        text = _text(part)
        if not text:
            continue
        label = part.get("Label")
        paragraphs.append(f"{label}: {text}" if label else text)
    builder.add_extra("copyright", _find_text(element, "CopyrightInformation"))
    return "\n".join(paragraphs) or None


def _article_ids(id_list: Element | None, builder: _Builder) -> None:
    if id_list is None:
        return
    for article_id in id_list.iterfind("ArticleId"):
        value = _text(article_id)
        id_type = (article_id.get("IdType") or "").lower()
        if not value:
            continue
        if id_type == "pubmed":
            builder.identifiers.append(Identifier(scheme="pmid", value=value))
        elif id_type == "pmc":
            builder.identifiers.append(Identifier(scheme="pmcid", value=value))
        elif id_type == "doi" and parse_doi(value):
            builder.identifiers.append(Identifier(scheme="doi", value=value))
        else:
            builder.add_extra(id_type or "articleid", value)


def _pages(pagination: Element | None) -> str | None:
    if pagination is None:
        return None
    medline = _find_text(pagination, "MedlinePgn")
    if medline:
        return normalize_pages(medline) or medline
    start = _find_text(pagination, "StartPage")
    end = _find_text(pagination, "EndPage")
    if start and end and end != start:
        return normalize_pages(f"{start}-{end}")
    return start


def _elocations(parent: Element, builder: _Builder) -> None:
    for location in parent.iterfind("ELocationID"):
        value = _text(location)
        kind = (location.get("EIdType") or "").lower()
        if not value:
            continue
        if kind == "doi" and location.get("ValidYN") != "N" and parse_doi(value):
            builder.identifiers.append(Identifier(scheme="doi", value=value))
        else:
            builder.add_extra(kind or "elocation", value)


def _languages(parent: Element, builder: _Builder) -> None:
    for language in parent.iterfind("Language"):
        code = _text(language)
        if not code:
            continue
        if "language" not in builder.data:
            builder.data["language"] = code
        else:
            builder.add_extra("language", code)


def _keyword_lists(parent: Element, builder: _Builder) -> None:
    for heading in parent.iterfind("MeshHeadingList/MeshHeading"):
        descriptor = _find_text(heading, "DescriptorName")
        if not descriptor:
            continue
        builder.keywords.append(descriptor)
        for qualifier in heading.iterfind("QualifierName"):
            text = _text(qualifier)
            if text:
                builder.add_extra("mesh", f"{descriptor}/{text}")
    for keyword in parent.iterfind("KeywordList/Keyword"):
        text = _text(keyword)
        if text:
            builder.keywords.append(text)


def _history(element: Element, builder: _Builder) -> None:
    for pub_date in element.iterfind("History/PubMedPubDate"):
        parts = [_find_text(pub_date, t) for t in ("Year", "Month", "Day")]
        if parts[0]:
            iso = "-".join(p.zfill(2) for p in parts if p)
            builder.add_extra("history", f"{pub_date.get('PubStatus') or 'date'} {iso}")


def _keep_rest(element: Element, handled: frozenset[str], builder: _Builder) -> None:
    """Unmapped children as text: one entry per list item, else one per element."""
    for child in element:
        tag = child.tag
        if not isinstance(tag, str) or tag in handled:
            continue
        is_list = tag.endswith("List") or tag == "Sections"
        items = list(child) if is_list and len(child) else [child]
        dated = "Date" in tag
        for item in items:
            builder.add_extra(tag, (dated and _iso_date(item)) or _text(item))


def _iso_date(element: Element) -> str | None:
    """``ArticleDate``, ``BeginningDate``...: ``2018-06-28`` rather than ``2018 06 28``."""
    year = _find_text(element, "Year")
    if year is None or len(element) > 6:
        return None
    parts = [year, _find_text(element, "Month"), _find_text(element, "Day")]
    text = "-".join(p.zfill(2) for p in parts if p)
    kind = element.get("DateType")
    return f"{text} ({kind.lower()})" if kind else text


_CITATION_HANDLED = frozenset(
    {"PMID", "Article", "MedlineJournalInfo", "MeshHeadingList", "KeywordList", "GeneralNote"}
    | {"DateCompleted", "DateRevised", "DateCreated", "CitationSubset"}
)
_ARTICLE_HANDLED = frozenset(
    {"Journal", "ArticleTitle", "Pagination", "ELocationID", "Abstract", "AuthorList"}
    | {"Language", "PublicationTypeList"}
)
_PUBMED_DATA_HANDLED = frozenset({"ArticleIdList", "History"})
_JOURNAL_INFO_HANDLED = frozenset({"ISSNLinking", "MedlineTA"})


def _journal(journal: Element | None, builder: _Builder) -> None:
    if journal is None:
        return
    builder.data["container_title"] = _find_text(journal, "Title")
    builder.data["container_title_short"] = _find_text(journal, "ISOAbbreviation")
    for issn in journal.iterfind("ISSN"):
        value = _text(issn)
        kind = {"print": "print", "electronic": "electronic"}.get(
            (issn.get("IssnType") or "").lower()
        )
        if value:
            builder.identifiers.append(Identifier(scheme="issn", value=value, kind=kind))
    issue = journal.find("JournalIssue")
    if issue is not None:
        builder.data["volume"] = _find_text(issue, "Volume")
        builder.data["issue"] = _find_text(issue, "Issue")
        builder.data["issued"] = _date(issue.find("PubDate"), builder, "pubdate")


def _type(publication_types: list[str]) -> str:
    lowered = {p.lower() for p in publication_types}
    if "preprint" in lowered:
        return "article"
    if "dataset" in lowered:
        return "dataset"
    return "article-journal"


def _article(element: Element) -> Record:
    builder = _Builder()
    citation = element.find("MedlineCitation")
    if citation is None:
        raise ValueError("a PubmedArticle without MedlineCitation")
    pmid = _find_text(citation, "PMID")
    if pmid:
        builder.data["id"] = pmid
        builder.identifiers.append(Identifier(scheme="pmid", value=pmid))
    article = citation.find("Article")
    if article is None:
        raise ValueError(f"PMID {pmid}: no Article element")
    _journal(article.find("Journal"), builder)
    builder.data["title"] = _title(_find_text(article, "ArticleTitle"))
    builder.data["page"] = _pages(article.find("Pagination"))
    _elocations(article, builder)
    builder.data["abstract"] = _abstract(article.find("Abstract"), builder)
    for author_list in article.iterfind("AuthorList"):
        target = builder.editor if author_list.get("Type") == "editors" else builder.author
        target.extend(_names(author_list, builder))
    _languages(article, builder)
    types = [t for t in (_text(p) for p in article.iterfind("PublicationTypeList/*")) if t]
    builder.data["type"] = _type(types)
    for publication_type in types:
        builder.add_extra("publication-type", publication_type)
    _keep_rest(article, _ARTICLE_HANDLED, builder)

    journal_info = citation.find("MedlineJournalInfo")
    if journal_info is not None:
        linking = _find_text(journal_info, "ISSNLinking")
        if linking:
            builder.identifiers.append(Identifier(scheme="issn", value=linking, kind="linking"))
        medline_ta = _find_text(journal_info, "MedlineTA")
        if medline_ta and medline_ta != builder.data.get("container_title_short"):
            builder.add_extra("MedlineTA", medline_ta)
        _keep_rest(journal_info, _JOURNAL_INFO_HANDLED, builder)
    _keyword_lists(citation, builder)
    notes = [t for t in (_text(n) for n in citation.iterfind("GeneralNote")) if t]
    builder.data["note"] = "\n".join(notes) or None
    _keep_rest(citation, _CITATION_HANDLED, builder)

    pubmed_data = element.find("PubmedData")
    if pubmed_data is not None:
        _article_ids(pubmed_data.find("ArticleIdList"), builder)
        _history(pubmed_data, builder)
        _keep_rest(pubmed_data, _PUBMED_DATA_HANDLED, builder)
    return builder.record()


_BOOK_DOCUMENT_HANDLED = frozenset(
    {"PMID", "ArticleIdList", "Book", "ArticleTitle", "Pagination", "ELocationID"}
    | {"Language", "AuthorList", "Abstract", "KeywordList", "PublicationType", "DateRevised"}
)
_BOOK_HANDLED = frozenset(
    {"Publisher", "BookTitle", "PubDate", "AuthorList", "Volume", "Edition"}
    | {"CollectionTitle", "Isbn", "ELocationID"}
)


def _book(element: Element) -> Record:
    builder = _Builder()
    document = element.find("BookDocument")
    if document is None:
        raise ValueError("a PubmedBookArticle without BookDocument")
    pmid = _find_text(document, "PMID")
    if pmid:
        builder.data["id"] = pmid
        builder.identifiers.append(Identifier(scheme="pmid", value=pmid))
    book = document.find("Book")
    if book is None:
        raise ValueError(f"PMID {pmid}: no Book element")
    book_title = _find_text(book, "BookTitle")
    chapter_title = _title(_find_text(document, "ArticleTitle"))
    book_authors: list[Name] = []
    for author_list in book.iterfind("AuthorList"):
        names = _names(author_list, builder)
        if author_list.get("Type") == "editors":
            builder.editor.extend(names)
        else:
            book_authors.extend(names)
    chapter_authors: list[Name] = []
    for author_list in document.iterfind("AuthorList"):
        names = _names(author_list, builder)
        if author_list.get("Type") == "editors":
            builder.editor.extend(names)
        else:
            chapter_authors.extend(names)
    if chapter_title:
        builder.data.update(type="chapter", title=chapter_title, container_title=book_title)
        builder.author = chapter_authors or book_authors
        if chapter_authors:
            for name in book_authors:
                builder.add_extra("book-author", name.display())
    else:
        builder.data.update(type="book", title=_title(book_title))
        builder.author = book_authors + chapter_authors
    publisher = book.find("Publisher")
    builder.data["publisher"] = _find_text(publisher, "PublisherName")
    builder.data["publisher_place"] = _find_text(publisher, "PublisherLocation")
    builder.data["issued"] = _date(book.find("PubDate"), builder, "pubdate")
    builder.data["volume"] = _find_text(book, "Volume")
    builder.data["edition"] = _find_text(book, "Edition")
    builder.data["collection_title"] = _find_text(book, "CollectionTitle")
    for isbn in book.iterfind("Isbn"):
        builder.identifiers.extend(parse_isbns(_text(isbn) or ""))
    _elocations(book, builder)
    _keep_rest(book, _BOOK_HANDLED, builder)

    builder.data["page"] = _pages(document.find("Pagination"))
    _elocations(document, builder)
    _languages(document, builder)
    builder.data["abstract"] = _abstract(document.find("Abstract"), builder)
    for keyword in document.iterfind("KeywordList/Keyword"):
        text = _text(keyword)
        if text:
            builder.keywords.append(text)
    for publication_type in document.iterfind("PublicationType"):
        builder.add_extra("publication-type", _text(publication_type))
    _article_ids(document.find("ArticleIdList"), builder)
    _keep_rest(document, _BOOK_DOCUMENT_HANDLED, builder)

    book_data = element.find("PubmedBookData")
    if book_data is not None:
        _article_ids(book_data.find("ArticleIdList"), builder)
        _history(book_data, builder)
        _keep_rest(book_data, _PUBMED_DATA_HANDLED, builder)
    return builder.record()


FORMAT = Format(
    name=NAME,
    title="PubMed/MEDLINE XML (E-utilities efetch PubmedArticleSet; read only)",
    extensions=(),
    media_type="application/xml",
    read=read,
    sniff=sniff,
    aliases=("pubmed", "medline-xml"),
)
