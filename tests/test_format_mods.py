"""MODS reader: the mapping, hostile input, registration."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.errors import ParseError
from harvester.formats import find_format
from harvester.formats.mods import read
from harvester.harvest import MAPPERS
from harvester.model import Record
from tests.conftest import FIXTURES

ARTICLE = FIXTURES / "xml" / "mods" / "article.xml"


def test_mapping() -> None:
    with open(ARTICLE, encoding="utf-8") as stream:
        article, report = list(read(stream, ARTICLE.name))
    assert isinstance(article, Record) and isinstance(report, Record)
    assert article.type == "article-journal"
    assert article.title == "The structure of scientific revolutions: a reappraisal"
    assert [(n.family, n.given) for n in article.author[:1]] == [("Kuhn", "Thomas S.")]
    assert article.author[1].literal == "University of Chicago. Department of Philosophy"
    assert [(n.family, n.given) for n in article.editor] == [("Hacking", "Ian")]
    assert article.extra["mods:name"] == ["Rita Reviewer"]  # a reviewer is no author
    assert (article.publisher, article.publisher_place) == (
        "University of Chicago Press",
        "Chicago",
    )
    assert article.issued is not None and article.issued.parts == (2012, 4)
    assert article.language == "en"
    assert article.abstract == "Paradigms shift."
    assert article.note == "Fiftieth anniversary issue."
    assert article.keywords == ["Science", "Philosophy", "Chicago"]
    assert article.doi == "10.1000/xyz.123"
    assert article.extra["mods:identifier"] == ["abc-1"]
    assert [i.value for i in article.identifiers_of("url")] == ["https://example.org/kuhn"]
    assert article.container_title == "Journal of Philosophy"
    assert [i.value for i in article.identifiers_of("issn")] == ["0022-362X"]
    assert (article.volume, article.issue, article.page) == ("109", "4", "101-118")
    assert article.collection_title == "Classics revisited"
    assert article.extra["mods:physicalDescription"] == ["18 p."]
    assert report.type == "report"
    assert [i.value for i in report.identifiers_of("isbn")] == ["9780306406157"]


def test_registered_and_harvestable() -> None:
    fmt = find_format("mods")
    assert fmt.read is not None and fmt.writer is None
    assert find_format(head=ARTICLE.read_text()[:300]).name == "mods"
    assert "mods" in MAPPERS


def test_evil_documents_are_refused() -> None:
    for path in sorted((FIXTURES / "xml" / "evil").glob("*.xml")):
        found = list(read(io.StringIO(path.read_text()), path.name))
        assert len(found) == 1 and isinstance(found[0], ParseError)
        assert "refused" in found[0].cause


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_yields_only_records_or_errors(text: str) -> None:
    doc = '<mods xmlns="http://www.loc.gov/mods/v3"><titleInfo><title>' + text
    for item in read(io.StringIO(doc), "x"):
        assert isinstance(item, Record | ParseError)
