"""RIS: the dialects in the wild, the writer's rules, rispy as the oracle, round trips."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
import rispy
from conftest import CORPUS, FIXTURES, corpus_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roundtrip import carried_view
from strategies import LINE_BREAKS, hostile_text, huge_text, records

from harvester import api
from harvester.errors import ParseError
from harvester.formats import FORMATS, find_format
from harvester.formats import ris as ris_format
from harvester.formats._base import Loss
from harvester.model import CSL_TYPES, Date, Identifier, Name, Record
from harvester.normalize.names import format_name_inverted, parse_name

RIS_FIXTURES = FIXTURES / "ris"


def read_path(path: Path) -> list[Record | ParseError]:
    return list(api.read(path, "ris"))


def read_text(text: str, source: str = "<test>") -> list[Record | ParseError]:
    return list(ris_format.read(io.StringIO(text), source))


def records_of(items: list[Record | ParseError]) -> list[Record]:
    return [i for i in items if isinstance(i, Record)]


def errors_of(items: list[Record | ParseError]) -> list[ParseError]:
    return [i for i in items if isinstance(i, ParseError)]


def dump(record: Record) -> tuple[str, list[Loss]]:
    buffer = io.StringIO()
    writer = ris_format.RisWriter(buffer)
    losses = writer.write(record)
    return buffer.getvalue(), losses


def ids(record: Record, scheme: str) -> list[str]:
    return [i.value for i in record.identifiers_of(scheme)]


# --- Registry and sniffing ---------------------------------------------------------------


def test_registered_and_found_by_name_extension_and_content() -> None:
    assert FORMATS["ris"] is ris_format.FORMAT
    assert find_format("ris") is ris_format.FORMAT
    assert find_format(filename="refs.RIS") is ris_format.FORMAT
    assert find_format(head="\n\nTY  - JOUR\nTI  - x\nER  - \n") is ris_format.FORMAT


@pytest.mark.parametrize(
    "head",
    [
        "TY  - JOUR\n",
        "\ufeffTY  - JOUR\n",
        "  \n\t\nTY  - BOOK\n",
        "TY - JOUR\n",
        "TY -  BOOK\n",
        "1.\nTY  - JOUR\n",
        "Record #1 of 2\nProvider: Ovid\nContent: text/plain\n1.\nTY  - JOUR\n",
        "FN Clarivate Analytics Web of Science\nVR 1.0\nPT J\n",
        "AU  - Smith, J\nTY  - JOUR\n",
    ],
)
def test_sniff_accepts_ris_heads(head: str) -> None:
    assert ris_format.sniff(head)


@pytest.mark.parametrize(
    "head",
    [
        "",
        "@article{x, title={TY  - JOUR}}\n",
        '[{"type": "book"}]',
        "PMID- 123\nTI  - MEDLINE is not RIS\n",
        "a\nb\nc\nd\ne\nf\ng\nTY  - JOUR\n",
    ],
)
def test_sniff_rejects_other_heads(head: str) -> None:
    assert not ris_format.sniff(head)


# --- Real files ---------------------------------------------------------------------------

CORPUS_RIS = corpus_files("rispy/tests/data/*.ris", "bolognese/spec/fixtures/*.ris")
# Files whose export boilerplate between records is reported (with its line) as ignored.
EXPECTED_JUNK = {"example_extraneous_data.ris": [1, 29]}


def _end_lines(path: Path) -> int:
    text = path.read_text(encoding="utf-8-sig")
    return len(re.findall(r"^ER(?:  ?-.*)?\s*$", text, flags=re.MULTILINE))


@pytest.mark.corpus
@pytest.mark.parametrize("path", CORPUS_RIS, ids=lambda p: p.name)
def test_every_corpus_file_reads_with_the_right_record_count(path: Path) -> None:
    items = read_path(path)
    recs = records_of(items)
    assert len(recs) == _end_lines(path) > 0
    errors = errors_of(items)
    assert [e.line for e in errors] == EXPECTED_JUNK.get(path.name, [])
    for error in errors:
        assert error.source == str(path) and error.raw
    # Every tag we have no field for is kept, never dropped.
    text = path.read_text(encoding="utf-8-sig")
    mapped = (
        set(ris_format._SCALAR)
        | set(ris_format._NAME_TAGS)
        | set(ris_format._DEFERRED)
        | {"TY", "ER", "KW", "DO", "SN", "UR", "L2", "Y2"}
    )
    if "wos" not in path.name:
        for tag in set(re.findall(r"^([A-Z][A-Z0-9])  ?-", text, flags=re.MULTILINE)) - mapped:
            assert any(f"ris:{tag}" in r.extra for r in recs), f"tag {tag} was dropped"


@pytest.mark.corpus
def test_corpus_crossref_article() -> None:
    (rec,) = read_path(CORPUS / "bolognese/spec/fixtures/crossref.ris")
    assert isinstance(rec, Record)
    assert rec.type == "article-journal"
    assert rec.container_title == "eLife"
    assert [(n.family, n.given) for n in rec.author] == [
        ("Sankar", "Martial"),
        ("Nieminen", "Kaisa"),
        ("Ragni", "Laura"),
        ("Xenarios", "Ioannis"),
        ("Hardtke", "Christian S"),
    ]
    assert ids(rec, "doi") == ["10.7554/elife.01567"]
    assert ids(rec, "issn") == ["2050-084X"]
    assert ids(rec, "url") == ["http://elifesciences.org/lookup/doi/10.7554/eLife.01567"]
    assert rec.issued == Date(parts=(2014,))
    assert rec.volume == "3"


@pytest.mark.corpus
def test_corpus_pure_thesis() -> None:
    (rec,) = read_path(CORPUS / "bolognese/spec/fixtures/pure.ris")
    assert isinstance(rec, Record)
    assert rec.type == "thesis"
    assert rec.collection_title == "Bouwstenen"
    assert ids(rec, "isbn") == ["9789038645032"]
    assert rec.issued == Date(parts=(2018, 4, 25))
    assert rec.genre == "Phd Thesis 1 (Research TU/e / Graduation TU/e)"
    assert rec.note == "Proefschrift"
    assert (rec.publisher, rec.publisher_place) == (
        "Technische Universiteit Eindhoven",
        "Eindhoven",
    )


@pytest.mark.corpus
def test_corpus_odd_spacing_and_empty_tags() -> None:
    (bug,) = read_path(CORPUS / "bolognese/spec/fixtures/ris_bug.ris")
    assert isinstance(bug, Record) and bug.type == "book"  # "TY -  BOOK"
    assert ids(bug, "doi") == ["10.17918/ernk-6431"]
    (empty,) = read_path(CORPUS / "rispy/tests/data/example_empty_tag.ris")
    assert isinstance(empty, Record)
    assert empty.page is None  # "SP  -" carries nothing
    assert ids(empty, "doi") == ["10.1177/2325967120950040"]  # from a dx.doi.org URL
    assert empty.identifiers_of("issn")[0].kind == "electronic"  # "(electronic)"
    assert empty.container_title_short == "Orthop. J. Sports Med."
    assert empty.abstract is not None and empty.abstract.count("\n") == 1  # continuation


@pytest.mark.corpus
def test_corpus_multiline_values_join() -> None:
    recs = records_of(read_path(CORPUS / "rispy/tests/data/example_multiline.ris"))
    assert len(recs) == 3
    for rec in recs:
        assert rec.note == "first line\n* second line\n* last line"
    # A continuation line starting "ER " is text, not the end of the record.
    assert recs[2].abstract == "first line,\nER then second line and at the end\nthe last line"


@pytest.mark.corpus
def test_corpus_unknown_tags_and_names_of_types_are_kept() -> None:
    (rec,) = read_path(CORPUS / "rispy/tests/data/example_single_unknown_tag.ris")
    assert isinstance(rec, Record)
    assert rec.extra["ris:JP"] == ["CRISPR", "Direct Current"]
    (utf,) = read_path(CORPUS / "rispy/tests/data/example_utf_chars.ris")
    assert isinstance(utf, Record)
    assert utf.type == "article-journal"  # "TY  - Journal Article"
    assert utf.extra["ris:VO"] == ["8"]
    assert utf.title_short is not None and utf.title_short.startswith("Состояние")
    assert utf.note == "Ä,Ö,Ü,ä,ö,ü,ß"
    assert [n.family for n in utf.author][:2] == ["Dobrokhotova", "Yusupova"]


@pytest.mark.corpus
def test_corpus_urls_split_on_semicolons() -> None:
    recs = records_of(read_path(CORPUS / "rispy/tests/data/example_urls.ris"))
    assert [ids(r, "url") for r in recs] == [
        ["http://example.com"],
        ["http://example.com", "http://www.example.com"],
        ["http://example.com", "http://www.example.com"],
        ["http://example.com", "http://www.example.com"],
    ]


@pytest.mark.corpus
def test_corpus_web_of_science_tagged_file() -> None:
    items = read_path(CORPUS / "rispy/tests/data/example_wos.ris")
    first, second = records_of(items)
    assert not errors_of(items)
    assert first.title == (
        "Interactions stabilizing the structure of the core light-harvesting complex (LHl) "
        "of photosynthetic bacteria and its subunit (B820)"
    )
    assert [n.family for n in first.author] == ["Parkes-Loach", "Majeed", "Law", "Loach"]
    assert len(second.author) == 9 and second.author[-1].family == "Champion"
    assert first.container_title == "BIOCHEMISTRY"
    assert first.identifiers_of("issn") == [
        Identifier(scheme="issn", value="0006-2960", kind="print")
    ]
    assert ids(first, "doi") == ["10.1021/bi049798f"]
    assert ids(first, "pmid") == ["15170338"]
    assert first.page == "7003-7016"
    assert first.issued == Date(parts=(2004, 6, 8))  # PY 2004 + PD JUN 8
    assert first.language == "en"
    assert len(first.extra["wos:CR"]) == 59  # cited references, one per line
    assert first.extra["wos:UT"] == ["WOS:000221807500019"]
    # Web of Science files are usually .txt: the content alone says what they are.
    data = (CORPUS / "rispy/tests/data/example_wos.ris").read_bytes()
    assert len(records_of(list(api.read(data)))) == 2


@pytest.mark.corpus
def test_corpus_pandoc_7894_ris() -> None:
    text = (CORPUS / "pandoc/test/command/7894.md").read_text(encoding="utf-8")
    ris_text = text.split("% pandoc -f ris -t csljson\n", 1)[1].split("^D", 1)[0]
    chang, shannon, turing = records_of(read_text(ris_text))
    assert (chang.type, chang.id, chang.edition) == ("book", "Chang_Keisler_Model_Theory", "3")
    assert (chang.publisher, chang.publisher_place) == ("North-Holland Press", "Amsterdam")
    assert chang.keywords == ["model theory", "logic"]
    assert shannon.container_title == "Bell System Technical Journal"
    assert shannon.page == "379-423"
    assert shannon.issued == Date(parts=(1948, 7))  # PY 1948 + DA July
    assert turing.container_title == "Proc. of London Mathematical Society"
    assert turing.author == [Name(family="Turing", given="Alan Mathison")]
    assert turing.issued == Date(parts=(1937,))


# --- Dialects -----------------------------------------------------------------------------


def test_zotero_export() -> None:
    article, book, chapter = records_of(read_path(RIS_FIXTURES / "zotero.ris"))
    assert [format_name_inverted(n) for n in article.author] == [
        "Li, Ai",
        "Tao, Yuan",
        "van der Berg, Jan",
        "de la Fontaine, Jean",
        "Zheng, Chengyun",
    ]
    assert article.author[2].non_dropping_particle == "van der"
    assert ids(article, "issn") == ["1792-0981", "1792-1015"]
    assert ids(article, "doi") == ["10.3892/etm.2017.4687"]
    assert article.issued == Date(parts=(2017, 8))
    assert article.accessed == Date(parts=(2024, 1, 5))
    assert (article.volume, article.issue, article.page) == ("14", "2", "1538-1546")
    assert article.language == "en"
    assert article.container_title_short == "Exp Ther Med"
    assert article.keywords == ["colitis", "stem cells"]
    assert book.type == "book"
    assert book.collection_title == "Studies in Logic and the Foundations of Mathematics"
    assert ids(book, "isbn") == ["9780444880543"]
    assert chapter.container_title == "The Book of Chapters"
    assert chapter.editor == [Name(family="Editor", given="Erin")]
    assert chapter.page == "10-20"  # SP alone holding the range


def test_endnote_export() -> None:
    (rec,) = records_of(read_path(RIS_FIXTURES / "endnote.ris"))
    assert rec.author == [
        Name(family="King", given="Martin Luther", suffix="Jr."),
        Name(literal="World Health Organization"),
        Name(family="Beethoven", given="Ludwig", dropping_particle="van"),
    ]
    assert rec.issued == Date(parts=(2019,), season=2)  # PY 2019 + DA Summer
    assert rec.page == "e0123456" and rec.extra["ris:C7"] == ["e0123456"]
    assert ids(rec, "pmid") == ["30001234"]
    assert rec.identifiers_of("issn") == [
        Identifier(scheme="issn", value="1932-6203", kind="electronic")
    ]
    assert rec.abstract == "First line of the abstract\ncontinued on a second line\nand a third."
    assert rec.keywords == ["alpha", "beta", "gamma"]
    assert rec.genre == "Journal Article"
    assert rec.extra["ris:DB"] == ["PubMed"]


def test_one_space_dialect_and_stray_spaces() -> None:
    curie, book = records_of(read_path(RIS_FIXTURES / "mendeley.ris"))
    assert curie.title == "One space before the dash (Mendeley)"
    assert curie.container_title == "Comptes rendus"
    assert curie.page == "1101-1103"
    assert book.type == "book" and book.title == "Stray spaces after the dash"
    assert book.issued == Date(parts=(2018,))


def test_crlf_file_links_and_unrecognised_serials() -> None:
    (rec,) = records_of(read_path(RIS_FIXTURES / "refworks.ris"))
    assert rec.type == "report" and rec.number == "TR-42"
    assert rec.issued == Date(parts=(2015, 3, 2))
    assert ids(rec, "issn") == ["0000-0000"]
    assert rec.extra["ris:SN"] == ["12345"]  # not an ISSN or ISBN: kept as written
    assert rec.extra["ris:L1"] == ["file:///C:/papers/doe.pdf"]  # a local file is no URL
    assert ids(rec, "url") == ["http://example.org/report.html"]


def test_repeated_single_values_go_to_extra_and_types_are_kept() -> None:
    text = (
        "TY  - EDBOOK\nTI  - First title\nT1  - Second title\nJO  - Same\nJF  - Same\n"
        "PY  - 2001\nDA  - 1999/01/01/\nVL  - 1\nVL  - 2\nER  - \n"
    )
    (rec,) = records_of(read_text(text))
    assert rec.type == "book"
    assert rec.extra["ris:TY"] == ["EDBOOK"]
    assert rec.title == "First title" and rec.extra["ris:T1"] == ["Second title"]
    assert rec.container_title == "Same" and "ris:JF" not in rec.extra
    assert rec.issued == Date(parts=(2001,)) and rec.extra["ris:DA"] == ["1999/01/01/"]
    assert rec.volume == "1" and rec.extra["ris:VL"] == ["2"]
    out, _ = dump(rec)
    assert out.startswith("TY  - EDBOOK\n")
    assert "TY  - EDBOOK" not in out[1:]


@pytest.mark.parametrize(("code", "csl"), sorted(ris_format.RIS_TO_CSL.items()))
def test_every_ris_type_reads_as_a_csl_type(code: str, csl: str) -> None:
    (rec,) = records_of(read_text(f"TY  - {code}\nTI  - t\nER  - \n"))
    assert rec.type == csl and csl in CSL_TYPES
    out, losses = dump(rec)
    assert out.startswith(f"TY  - {code}\n")  # written back as it was read
    assert not [loss for loss in losses if loss.field in ("type", "extra.ris:TY")]


def test_unknown_type_is_kept() -> None:
    (rec,) = records_of(read_text("TY  - WEIRD\nTI  - t\nER  - \n"))
    assert rec.type == "document" and rec.extra["ris:TY"] == ["WEIRD"]


# --- Bad input ---------------------------------------------------------------------------


def test_truncated_record_is_located_and_keeps_its_data() -> None:
    items = read_path(RIS_FIXTURES / "truncated.ris")
    assert [type(i).__name__ for i in items] == ["Record", "ParseError"]
    error = items[1]
    assert isinstance(error, ParseError)
    assert (error.line, error.record) == (6, 2)
    assert error.cause.startswith("truncated: no ER line")
    assert error.raw is not None and "Lost, Not" in error.raw and "middle" in error.raw
    assert str(RIS_FIXTURES / "truncated.ris") in error.describe()


def test_garbage_between_records_is_reported_and_good_records_survive() -> None:
    items = read_path(RIS_FIXTURES / "garbage.ris")
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["ParseError", "Record", "ParseError", "ParseError", "Record"]
    junk, orphan, unterminated = errors_of(items)
    assert junk.line == 1 and junk.raw == "Exported from somewhere on Tuesday"
    assert orphan.line == 5 and orphan.raw is not None and "Orphan, Tag" in orphan.raw
    assert (unterminated.line, unterminated.record) == (8, 2)
    assert unterminated.cause.startswith("truncated: no ER line")
    assert [r.title for r in records_of(items)] == ["Good one", "Good two"]


def test_binary_noise_between_records() -> None:
    items = read_path(RIS_FIXTURES / "binary.ris")
    assert [r.title for r in records_of(items)] == ["Before the noise", "After the noise"]
    errors = errors_of(items)
    assert len(errors) == 1 and errors[0].line == 4


def test_empty_file_is_an_error_not_a_crash() -> None:
    items = read_path(RIS_FIXTURES / "empty.ris")
    assert len(items) == 1 and isinstance(items[0], ParseError)
    assert "empty" in items[0].cause
    assert read_text("") == [] and read_text("\n\n  \n") == []


def test_latin1_file_is_decoded() -> None:
    (rec,) = records_of(read_path(RIS_FIXTURES / "latin1.ris"))
    assert rec.title is not None and rec.title.startswith("Caf\u00e9 ")
    assert "\u00e9tudes fran\u00e7aises" in rec.title
    assert rec.author == [Name(family="M\u00fcller", given="J\u00fcrgen")]


def test_bad_values_are_kept_not_dropped() -> None:
    # A day that does not exist reads as a literal date; a broken name part stays text.
    (rec,) = records_of(read_text("TY  - JOUR\nDA  - 2017/02/30/\nAU  - ,\nER  - \n"))
    assert rec.issued is not None and rec.issued.literal == "2017/02/30/"
    assert rec.extra["ris:AU"] == [","]


@given(st.binary(max_size=400))
@settings(max_examples=100, deadline=None)
def test_arbitrary_bytes_yield_only_records_and_errors(data: bytes) -> None:
    for item in api.read(b"TY  - JOUR\n" + data, "ris"):
        assert isinstance(item, Record | ParseError)


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["TY  - JOUR", "ER  - ", "ER", "AU  - ", "TY - ", "PT J", "  x"]),
            st.sampled_from(["SN  - 1", "DA  - //", "PY  - 0000", "SP  - -", "KW  - ;;"]),
            st.sampled_from(["TY  - CHAP", "DO  - 10.", "UR  - a;http://x", "AN  - PMID: x"]),
            st.text(max_size=30),
        ),
        max_size=30,
    )
)
@settings(max_examples=100, deadline=None)
def test_arbitrary_text_yields_only_records_and_errors(lines: list[str]) -> None:
    for item in read_text("\n".join(lines)):
        assert isinstance(item, Record | ParseError)


# --- Writing ------------------------------------------------------------------------------

SEED_LIKE = Record(
    type="article-journal",
    title="Infusion of mesenchymal stem cells",
    author=[
        Name(family="Li", given="Ai"),
        Name(family="Berg", given="Jan", non_dropping_particle="van der"),
        Name(family="King", given="Martin", suffix="Jr."),
        Name(literal="World Health Organization"),
    ],
    container_title="Experimental and therapeutic medicine",
    container_title_short="Exp Ther Med",
    issued=Date(parts=(2017, 8)),
    volume="14",
    issue="2",
    page="1538-1546",
    language="en",
    abstract="Line one.\nLine two.",
    keywords=["colitis", "stem cells"],
    identifiers=[
        Identifier(scheme="issn", value="1792-0981", kind="print"),
        Identifier(scheme="issn", value="1792-1015", kind="electronic"),
        Identifier(scheme="doi", value="10.3892/etm.2017.4687"),
        Identifier(scheme="url", value="https://example.org/a"),
        Identifier(scheme="pmcid", value="PMC123"),
    ],
    extra={"ris:DB": ["PubMed"], "bibtex:howpublished": ["x"]},
)


def test_writer_layout_follows_the_design() -> None:
    out, losses = dump(SEED_LIKE)
    assert out == (
        "TY  - JOUR\n"
        "TI  - Infusion of mesenchymal stem cells\n"
        "AU  - Li, Ai\n"
        "AU  - van der Berg, Jan\n"
        "AU  - King, Martin, Jr.\n"
        "AU  - World Health Organization,\n"
        "T2  - Experimental and therapeutic medicine\n"
        "J2  - Exp Ther Med\n"
        "PY  - 2017\n"
        "DA  - 2017/08//\n"
        "VL  - 14\n"
        "IS  - 2\n"
        "SP  - 1538\n"
        "EP  - 1546\n"
        "LA  - en\n"
        "SN  - 1792-0981\n"
        "SN  - 1792-1015\n"
        "DO  - 10.3892/etm.2017.4687\n"
        "UR  - https://example.org/a\n"
        "KW  - colitis\n"
        "KW  - stem cells\n"
        "AB  - Line one. Line two.\n"
        "DB  - PubMed\n"
        "ER  - \n"
    )
    by_field = {loss.field: loss for loss in losses}
    assert by_field["abstract"].kind == "changed"
    assert by_field["identifiers.pmcid"].kind == "dropped"
    assert by_field["identifiers.kind"].kind == "dropped"
    assert by_field["extra.bibtex:howpublished"].kind == "dropped"
    assert "type" not in by_field and "author" not in by_field


def test_records_are_separated_by_a_blank_line() -> None:
    text = api.dumps([Record(title="a"), Record(title="b", type="book")], "ris")
    assert text == "TY  - GEN\nTI  - a\nER  - \n\nTY  - BOOK\nTI  - b\nER  - \n"


def test_approximated_type_and_literal_date_are_reported() -> None:
    review = Record(type="review-book", title="r", issued=Date(literal="1996, ©1995"))
    out, losses = dump(review)
    assert out.startswith("TY  - JOUR\n") and "PY  - 1996, ©1995\n" in out
    kinds = {(loss.field, loss.kind) for loss in losses}
    assert ("type", "changed") in kinds and ("issued", "changed") in kinds


def test_dates_seasons_and_accessed() -> None:
    rec = Record(
        title="t",
        issued=Date(parts=(2017,), season=2),
        accessed=Date(parts=(2024, 1, 5)),
    )
    out, _ = dump(rec)
    assert "PY  - 2017\nDA  - 2017///Summer\n" in out and "Y2  - 2024/01/05/\n" in out
    (back,) = records_of(read_text(out))
    assert back.issued == rec.issued and back.accessed == rec.accessed


def test_book_container_and_series() -> None:
    book = Record(type="book", title="b", container_title="Whole", collection_title="Series")
    (back,) = records_of(read_text(dump(book)[0]))
    assert (back.container_title, back.collection_title) == ("Whole", "Series")
    lone = Record(type="book", title="b", container_title="Series really")
    out, losses = dump(lone)
    assert ("container_title", "changed") in {(loss.field, loss.kind) for loss in losses}
    (back,) = records_of(read_text(out))
    assert back.collection_title == "Series really"


def test_pmid_goes_out_as_accession_number_and_comes_back() -> None:
    rec = Record(title="t", identifiers=[Identifier(scheme="pmid", value="28810612")])
    out, _ = dump(rec)
    assert "AN  - PMID: 28810612\n" in out
    (back,) = records_of(read_text(out))
    assert ids(back, "pmid") == ["28810612"]


def test_keyword_with_semicolon_is_reported() -> None:
    out, losses = dump(Record(title="t", keywords=["a; b"]))
    assert "KW  - a; b\n" in out
    assert [loss.field for loss in losses if loss.kind == "changed"] == ["keywords"]


def test_extra_tags_written_back_and_bad_keys_reported() -> None:
    rec = Record(title="t", extra={"ris:C7": ["e1"], "ris:toolong": ["x"], "ris:ER": ["y"]})
    out, losses = dump(rec)
    assert "C7  - e1\n" in out and "toolong" not in out and "\nER  - y" not in out
    dropped = {loss.field for loss in losses}
    assert {"extra.ris:toolong", "extra.ris:ER"} <= dropped


@pytest.mark.parametrize("brk", LINE_BREAKS)
def test_no_value_can_start_a_line(brk: str) -> None:
    evil = f"before{brk}ER  - {brk}TY  - JOUR{brk}AU  - Evil"
    rec = Record.model_construct(  # bypass the model's cleaning: the writer must hold alone
        **{**Record(title="x").__dict__, "title": evil, "note": evil, "extra": {"ris:N2": [evil]}}
    )
    out, losses = dump(rec)
    lines = out.split("\n")
    assert out.count("\n") == len(out.splitlines()) == 5
    assert [line[:6] for line in lines[:-1]] == ["TY  - ", "TI  - ", "N1  - ", "N2  - ", "ER  - "]
    assert {loss.field for loss in losses if loss.kind == "changed"} == {
        "title",
        "note",
        "extra.ris:N2",
    }
    (parsed,) = rispy.loads(out)
    assert parsed["title"] == "before ER - TY - JOUR AU - Evil"


# --- Oracle: rispy reads what we write ---------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def check_with_rispy(text: str, written: list[Record]) -> None:
    parsed = rispy.loads(text, enforce_list_tags=False, list_tags=["AU", "ED", "KW", "SN", "UR"])
    assert len(parsed) == len(written)
    for entry, rec in zip(parsed, written, strict=True):
        assert entry.get("title") == rec.title
        wanted = [f"{n.literal}," if n.literal else format_name_inverted(n) for n in rec.author]
        assert _as_list(entry.get("authors")) == wanted + rec.extra.get("ris:AU", [])
        for name, text_form in zip(rec.author, wanted, strict=True):
            if name.literal is None:
                assert parse_name(text_form) == name
        # Values kept in ``extra`` under the same tag come after the mapped ones.
        assert _as_list(entry.get("doi")) == ids(rec, "doi") + rec.extra.get("ris:DO", [])
        serials = [i.value for i in rec.identifiers if i.scheme in ("issn", "isbn")]
        assert _as_list(entry.get("issn")) == serials + rec.extra.get("ris:SN", [])
        if rec.page:
            end = entry.get("end_page")
            assert (f"{entry['start_page']}-{end}" if end else entry["start_page"]) == rec.page
        year = rec.issued.year if rec.issued else None
        assert entry.get("year") == (f"{year:04d}" if year is not None else None)


def test_rispy_reads_our_fixture_conversions() -> None:
    written: list[Record] = []
    for path in sorted(RIS_FIXTURES.glob("*.ris")):
        written.extend(records_of(read_path(path)))
    written.append(SEED_LIKE)
    check_with_rispy(api.dumps(written, "ris"), written)


@pytest.mark.corpus
def test_rispy_reads_our_corpus_conversions() -> None:
    written = [r for path in CORPUS_RIS for r in records_of(read_path(path))]
    check_with_rispy(api.dumps(written, "ris"), written)


@given(st.lists(records(), min_size=1, max_size=3))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rispy_reads_generated_records(recs: list[Record]) -> None:
    check_with_rispy(api.dumps(recs, "ris"), recs)


# --- Round trips and injection ------------------------------------------------------------


def _flat(value: str | None) -> str | None:
    return " ".join(value.split("\n")) if value is not None else None


def expected_after(record: Record, losses: list[Loss]) -> dict[str, Any]:
    """What reading our output back must give: the carried view, with changes applied."""
    view = carried_view(record, "ris")
    changed = {loss.field for loss in losses if loss.kind == "changed"}
    for field in ("abstract", "note"):
        if field in changed:
            # RIS values are one line: the writer replaced the breaks and said so.
            view[field] = _flat(view[field])
    return view


@given(records())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_keeps_what_ris_carries(record: Record) -> None:
    out, losses = dump(record)
    (back,) = read_text(out)
    assert isinstance(back, Record)
    assert carried_view(back, "ris") == expected_after(record, losses)


@given(records(text=hostile_text()))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_values_stay_one_record(record: Record) -> None:
    out, losses = dump(record)
    lines = out.split("\n")[:-1]
    assert len(out.splitlines()) == len(lines)  # no separator but our own newlines
    assert all(line[2:6] == "  - " for line in lines)
    assert [line for line in lines if line.startswith(("ER", "TY"))] == [lines[0], lines[-1]]
    (parsed,) = rispy.loads(out, enforce_list_tags=False)
    assert parsed.get("title") == record.title
    assert parsed.get("publisher") == record.publisher
    assert parsed.get("abstract") == _flat(record.abstract)
    (back,) = read_text(out)
    assert isinstance(back, Record)
    assert carried_view(back, "ris") == expected_after(record, losses)


@given(records(), huge_text())
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_one_megabyte_values(record: Record, huge: str) -> None:
    record = Record.model_validate({**record.model_dump(), "title": huge, "abstract": huge})
    out, losses = dump(record)
    (parsed,) = rispy.loads(out, enforce_list_tags=False)
    assert parsed["title"] == record.title
    (back,) = read_text(out)
    assert isinstance(back, Record)
    assert carried_view(back, "ris") == expected_after(record, losses)


def test_read_write_read_keeps_fixtures() -> None:
    """RIS -> record -> RIS -> record keeps everything but what the loss report names."""
    for path in sorted(RIS_FIXTURES.glob("*.ris")):
        for record in records_of(read_path(path)):
            out, losses = dump(record)
            (back,) = read_text(out)
            assert isinstance(back, Record)
            assert carried_view(back, "ris") == expected_after(record, losses), path.name


def test_container_tags_by_trust() -> None:
    text = (
        "TY  - JOUR\nJO  - Exp Ther Med\nT2  - Experimental and therapeutic medicine\nER  - \n"
        "TY  - JOUR\nJO  - Journal of Things\nER  - \n"
        "TY  - JOUR\nJA  - J. Th.\nJO  - J Things\nJF  - Journal of Things\nER  - \n"
        "TY  - CHAP\nBT  - The Book\nER  - \n"
        "TY  - BOOK\nBT  - The Title\nT2  - The Series\nER  - \n"
    )
    zotero, alone, three, chapter, book = records_of(read_text(text))
    assert zotero.container_title == "Experimental and therapeutic medicine"
    assert zotero.container_title_short == "Exp Ther Med"
    assert alone.container_title == "Journal of Things"
    assert (three.container_title, three.container_title_short) == ("Journal of Things", "J. Th.")
    assert three.extra == {"ris:JO": ["J Things"]}
    assert chapter.container_title == "The Book"
    assert (book.title, book.collection_title) == ("The Title", "The Series")


def test_repeated_dates_pages_and_article_numbers() -> None:
    text = "TY  - JOUR\nY1  - 2001\nPY  - 2002\nSP  - 5\nSP  - 6\nC7  - 12\nC7  - 13\nER  - \n"
    (rec,) = records_of(read_text(text))
    assert rec.issued == Date(parts=(2001,)) and rec.extra["ris:PY"] == ["2002"]
    assert rec.page == "5" and rec.extra["ris:SP"] == ["6"]
    assert rec.extra["ris:C7"] == ["12", "13"]


def test_big_file_in_parallel_gives_what_one_process_gives(tmp_path: Path) -> None:
    from harvester import parallel
    from harvester.formats._input import open_input

    path = tmp_path / "big.ris"
    with path.open("w", encoding="utf-8") as out:
        for i in range(3000):
            out.write(
                f"TY  - JOUR\nTI  - Record {i} {'x' * (400 + i % 50)}\nAU  - Müller, Jürgen\n"
            )
            out.write(f"AU  - Li, Ai\nPY  - 2017\nDO  - 10.1000/r{i}\nSP  - {i}-{i + 9}\n")
            if i != 2345:  # one record cut short by the next TY, far into the file
                out.write("ER  - \n\n")
    assert path.stat().st_size > parallel.MIN_PARALLEL_BYTES
    opened = open_input(path)
    try:
        writer = ris_format.RisWriter(io.StringIO())
        plan = parallel.plan(opened, ris_format.FORMAT, writer, 2)
    finally:
        opened.close()
    assert plan is not None and len(plan.chunks) >= 2
    results = []
    for jobs in (1, 2):
        out = io.StringIO()
        summary = api.convert([path], "ris", out, jobs=jobs)
        results.append((out.getvalue(), [e.describe() for e in summary.errors], summary.read))
    assert results[0] == results[1]
    text, errors, count = results[0]
    assert count == 2999 and text.count("TY  - JOUR\n") == 2999
    assert errors == [f"{path}, line {2345 * 9 + 1}, record 2346 (ris): {ris_format._TRUNCATED}"]
