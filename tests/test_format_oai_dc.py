"""oai_dc reader: the Dublin Core mapping, real OAI-PMH responses, and hostile input."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harvester.errors import ParseError
from harvester.formats import find_format
from harvester.formats.oai_dc import dc_type, read
from harvester.model import Record
from tests.conftest import CORPUS, corpus_files

DC = """<?xml version="1.0" encoding="UTF-8"?>
<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
           xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>Photosynthesis at night</dc:title>
  <dc:title>La photosynthèse nocturne</dc:title>
  <dc:creator>Vico, Giambattista, 1668-1744.</dc:creator>
  <dc:creator>Jane Q. Public</dc:creator>
  <dc:contributor>Advisor, Anne</dc:contributor>
  <dc:subject>Botany; Plant physiology</dc:subject>
  <dc:subject>Night</dc:subject>
  <dc:description>An abstract.</dc:description>
  <dc:description>A second description.</dc:description>
  <dc:publisher>University Press</dc:publisher>
  <dc:date>not a date</dc:date>
  <dc:date>2021-05-04</dc:date>
  <dc:type>info:eu-repo/semantics/doctoralThesis</dc:type>
  <dc:type>Text</dc:type>
  <dc:format>application/pdf</dc:format>
  <dc:identifier>https://doi.org/10.5281/ZENODO.12345</dc:identifier>
  <dc:identifier>urn:isbn:978-0-306-40615-7</dc:identifier>
  <dc:identifier>local-42</dc:identifier>
  <dc:language>fre</dc:language>
  <dc:rights>CC BY 4.0</dc:rights>
</oai_dc:dc>"""


def test_mapping() -> None:
    [record] = list(read(io.StringIO(DC), "dc.xml"))
    assert isinstance(record, Record)
    assert record.title == "Photosynthesis at night"
    assert record.extra["oai_dc:title"] == ["La photosynthèse nocturne"]
    assert [(n.family, n.given) for n in record.author] == [
        ("Vico", "Giambattista"),
        ("Public", "Jane Q."),
    ]
    assert record.extra["oai_dc:contributor"] == ["Advisor, Anne"]
    assert record.keywords == ["Botany", "Plant physiology", "Night"]
    assert record.abstract == "An abstract."
    assert record.extra["oai_dc:description"] == ["A second description."]
    assert record.publisher == "University Press"
    assert record.issued is not None and record.issued.parts == (2021, 5, 4)
    assert record.extra["oai_dc:date"] == ["not a date"]
    assert record.type == "thesis"
    assert record.doi == "10.5281/zenodo.12345"
    assert [i.value for i in record.identifiers_of("isbn")] == ["9780306406157"]
    assert record.extra["oai_dc:identifier"] == ["local-42"]
    assert record.language == "fr"
    assert record.extra["oai_dc:format"] == ["application/pdf"]
    assert record.extra["oai_dc:rights"] == ["CC BY 4.0"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["info:eu-repo/semantics/article"], "article-journal"),
        (["info:eu-repo/semantics/bookPart"], "chapter"),
        (["Book"], "book"),
        (["info:eu-repo/semantics/conferenceObject"], "paper-conference"),
        (["Text", "Dataset"], "dataset"),
        (["info:eu-repo/semantics/workingPaper"], "report"),
        (["Moving Image"], "motion_picture"),
        (["Text"], None),
    ],
)
def test_types(values: list[str], expected: str | None) -> None:
    assert dc_type(values) == expected


def test_registered_read_only_and_sniffed() -> None:
    fmt = find_format("oai_dc")
    assert fmt.name == "oai_dc"
    assert fmt.read is not None and fmt.writer is None
    assert find_format(head=DC[:400]).name == "oai_dc"


@pytest.mark.corpus
def test_real_responses_read_without_errors() -> None:
    paths = corpus_files(
        "sickle/sickle/tests/sample_data/ListRecords*.xml",
        "sickle/sickle/tests/sample_data/GetRecord*.xml",
        "oaipmh-scythe/extracted_bodies/list_records__0[0145789].xml",
        "vufind/module/VuFind/tests/fixtures/oai/dc.xml",
    )
    paths = [p for p in paths if "Broken" not in p.name]
    assert len(paths) >= 10
    total = 0
    for path in paths:
        with open(path, encoding="utf-8") as stream:
            found = list(read(stream, path.name))
        assert all(isinstance(r, Record) for r in found), (path, found)
        total += len(found)
    assert total > 150


@pytest.mark.corpus
def test_real_zenodo_record_values() -> None:
    path = CORPUS / "oaipmh-scythe/extracted_bodies/list_records__00.xml"
    with open(path, encoding="utf-8") as stream:
        found = [r for r in read(stream, path.name) if isinstance(r, Record)]
    assert len(found) == 50
    assert all(r.title for r in found)
    assert sum(1 for r in found if r.doi) >= 40
    assert sum(1 for r in found if r.author) >= 40


@pytest.mark.corpus
def test_broken_response_is_an_error_not_a_crash() -> None:
    path = CORPUS / "sickle/sickle/tests/sample_data/ListRecordsBroken.xml"
    with open(path, encoding="utf-8") as stream:
        found = list(read(stream, path.name))
    assert found and isinstance(found[-1], ParseError)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_yields_only_records_or_errors(text: str) -> None:
    doc = (
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        + text
    )
    for item in read(io.StringIO(doc), "x"):
        assert isinstance(item, Record | ParseError)
