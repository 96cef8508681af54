"""BibTeX / BibLaTeX: reader, writer, oracles (pybtex, bibtexparser), round trips."""

from __future__ import annotations

import io
import json
import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bibtexparser
import pybtex.database
import pytest
import yaml
from conftest import CORPUS, FIXTURES, corpus_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from roundtrip import carried_view
from strategies import hostile_text, huge_text, records

from harvester import api
from harvester.errors import ParseError
from harvester.formats import find_format
from harvester.formats._base import Loss
from harvester.formats._latex import decode_latex
from harvester.formats.bibtex import (
    BibtexWriter,
    macro_prelude,
    parse_bibtex_name,
    parse_bibtex_names,
    read,
    sniff,
    split_names,
)
from harvester.formats.fidelity import FIDELITY
from harvester.model import Date, Identifier, Name, Record
from harvester.normalize.dates import parse_month

BIB = FIXTURES / "bibtex"


def read_text(text: str, source: str = "<test>") -> list[Record | ParseError]:
    return list(read(io.StringIO(text), source))


def records_of(text: str) -> list[Record]:
    items = read_text(text)
    assert all(isinstance(i, Record) for i in items), items
    return [i for i in items if isinstance(i, Record)]


def one(text: str) -> Record:
    (record,) = records_of(text)
    return record


def write(records: list[Record], **options: Any) -> tuple[str, list[list[Loss]]]:
    out = io.StringIO()
    writer = BibtexWriter(out, **options)
    losses = [writer.write(r) for r in records]
    writer.close()
    return out.getvalue(), losses


# ---------------------------------------------------------------------------- reading


def test_registered_and_sniffed() -> None:
    fmt = find_format("biblatex")
    assert fmt.name == "bibtex"
    assert find_format(filename="refs.bib").name == "bibtex"
    assert find_format(head="% my refs\n\n@Article{x,\n title={T}}\n").name == "bibtex"
    assert sniff("\ufeff@book(key, title = {x})")
    assert not sniff("TY  - JOUR\nER  - \n")
    assert not sniff("mail me at someone@example.org\n")


def test_field_value_forms_macros_and_concatenation() -> None:
    record = one(
        """% a comment line
@string{ jour = "Journal of " }
@STRING(pub = {Big {P}ress})
@preamble{ "\\newcommand{\\noop}[1]{}" }
@comment{ @article{ignored, title = {no}} }
Text outside entries is ignored, even with an @ sign.
@Article{Key:1,
  Title = "A {"}quoted{"} title",
  journal = jour # {Things},
  publisher = pub,
  year = 2017,
  month = aug,
  volume = 14, number = "2",
}
"""
    )
    assert record.id == "Key:1"
    assert record.type == "article-journal"
    assert record.title == 'A "quoted" title'
    assert record.container_title == "Journal of Things"
    assert record.publisher == "Big Press"
    assert record.issued == Date(parts=(2017, 8))
    assert (record.volume, record.issue) == ("14", "2")


def test_parenthesised_entries_and_entries_sharing_a_line() -> None:
    items = records_of("@misc(a, title = {One}) @misc{b, title = {Two}}\n@misc{c}")
    assert [r.id for r in items] == ["a", "b", "c"]
    assert [r.title for r in items] == ["One", "Two", None]


def test_undefined_macro_keeps_its_name() -> None:
    # BibTeX would expand it to nothing and warn; we keep the text rather than lose it.
    assert one("@misc{a, publisher = springer}").publisher == "springer"


def test_biblatex_fields() -> None:
    record = one(
        r"""@article{x,
  author = {Li, Ai and Tao, Yuan},
  journaltitle = {Experimental and Therapeutic Medicine},
  shortjournal = {Exp Ther Med},
  date = {2017-08-15},
  issue = {2},
  location = {Athens},
  issn = {1792-0981 1792-1015},
  doi = {10.3892/ETM.2017.4687},
  eprint = {1706.03762}, eprinttype = {arxiv},
  pmid = {28810622}, pmcid = {PMC5526190},
  url = {https://example.org/a\_b},
  urldate = {2020-01-02},
  keywords = {one; two, with comma; three},
  langid = {english},
  translator = {Tran, Slator},
  howpublished = {Online},
  title = {Infusion of {DNA}},
  subtitle = {A study},
  shorttitle = {Infusion},
}"""
    )
    assert record.container_title == "Experimental and Therapeutic Medicine"
    assert record.container_title_short == "Exp Ther Med"
    assert record.issued == Date(parts=(2017, 8, 15))
    assert record.issue == "2"
    assert record.publisher_place == "Athens"
    assert [i.value for i in record.identifiers_of("issn")] == ["1792-0981", "1792-1015"]
    assert record.doi == "10.3892/etm.2017.4687"
    assert record.identifiers_of("arxiv")[0].value == "1706.03762"
    assert record.identifiers_of("pmid")[0].value == "28810622"
    assert record.identifiers_of("pmcid")[0].value == "PMC5526190"
    assert record.identifiers_of("url")[0].value == "https://example.org/a_b"
    assert record.accessed == Date(parts=(2020, 1, 2))
    assert record.keywords == ["one", "two, with comma", "three"]
    assert record.language == "en"
    assert record.translator == [Name(family="Tran", given="Slator")]
    assert record.extra["bibtex:howpublished"] == ["Online"]
    assert record.title == "Infusion of DNA: A study"
    assert record.title_short == "Infusion"


@pytest.mark.parametrize(
    ("entry", "csl_type", "genre"),
    [
        ("article", "article-journal", None),
        ("book", "book", None),
        ("inbook", "chapter", None),
        ("incollection", "chapter", None),
        ("inproceedings", "paper-conference", None),
        ("conference", "paper-conference", None),
        ("proceedings", "book", None),
        ("techreport", "report", None),
        ("report", "report", None),
        ("manual", "report", None),
        ("phdthesis", "thesis", "PhD thesis"),
        ("mastersthesis", "thesis", "Master's thesis"),
        ("thesis", "thesis", None),
        ("misc", "document", None),
        ("unpublished", "manuscript", None),
        ("online", "webpage", None),
        ("dataset", "dataset", None),
        ("software", "software", None),
        ("patent", "patent", None),
        ("nonsense", "document", None),
    ],
)
def test_entry_types(entry: str, csl_type: str, genre: str | None) -> None:
    record = one(f"@{entry}{{k, title = {{T}}}}")
    assert record.type == csl_type
    assert record.genre == genre


def test_number_means_issue_series_number_or_report_number() -> None:
    assert one("@article{a, number = 3}").issue == "3"
    assert one("@book{a, number = 3}").collection_number == "3"
    assert one("@techreport{a, number = {TR-3}}").number == "TR-3"
    assert one("@phdthesis{a, type = {Doctoral thesis}}").genre == "Doctoral thesis"


def test_latex_is_decoded_in_every_field() -> None:
    record = one(
        r"""@book{k,
  author = {M{\"u}ller, J{\"o}rg and Dvo{\v{r}}{\'a}k, Anton{\'\i}n},
  title = {{\AE}sthetics of the {\"U}bermensch -- 50\% \& more~here},
  publisher = {Springer \& Sons},
  address = {M\"unchen},
  note = {See \emph{this}},
}"""
    )
    assert record.author == [
        Name(family="Müller", given="Jörg"),
        Name(family="Dvořák", given="Antonín"),
    ]
    assert record.title == "Æsthetics of the Übermensch – 50% & more here"
    assert record.publisher == "Springer & Sons"
    assert record.publisher_place == "München"
    assert record.note == "See this"


NAME_CASES = [
    ("Li, Ai", Name(family="Li", given="Ai")),
    ("Ai Li", Name(family="Li", given="Ai")),
    ("van der Berg, J.", Name(family="Berg", given="J.", non_dropping_particle="van der")),
    ("Jan van der Berg", Name(family="Berg", given="Jan", non_dropping_particle="van der")),
    ("de la Fontaine, Jean", Name(family="Fontaine", given="Jean", non_dropping_particle="de la")),
    ("Smith, Jr., John", Name(family="Smith", given="John", suffix="Jr.")),
    (
        "von Last, Jr, First",
        Name(family="Last", given="First", non_dropping_particle="von", suffix="Jr"),
    ),
    ("{Barnes and Noble}", Name(literal="Barnes and Noble")),
    ("{World Health Organization}", Name(literal="World Health Organization")),
    ("Hermann {von Helmholtz}", Name(family="von Helmholtz", given="Hermann")),
    ("{de Souza}, Ana", Name(family="de Souza", given="Ana")),
    ("Aristotle", Name(family="Aristotle")),
    ("Garcia Marquez, Gabriel", Name(family="Garcia Marquez", given="Gabriel")),
    (r"M{\"u}ller, J{\"o}rg", Name(family="Müller", given="Jörg")),
    (r"{\"O}zt{\"u}rk, Ay{\c{s}}e", Name(family="Öztürk", given="Ayşe")),
    ("given=A, family=B, prefix=van", Name(family="B", given="A", non_dropping_particle="van")),
    ("Jean-Pierre Dupont", Name(family="Dupont", given="Jean-Pierre")),
    ("王, 小明", Name(family="王", given="小明")),
]


@pytest.mark.parametrize(("text", "name"), NAME_CASES)
def test_names(text: str, name: Name) -> None:
    assert parse_bibtex_name(text) == name


def test_name_lists() -> None:
    assert split_names("A and B AND C\nand D") == ["A", "B", "C", "D"]
    assert split_names("{Barnes and Noble} and Smith, J.") == ["{Barnes and Noble}", "Smith, J."]
    names, others = parse_bibtex_names("Li, Ai and Tao, Yuan and others")
    assert [n.family for n in names] == ["Li", "Tao"] and others
    record = one("@misc{k, author = {Li, Ai and others}}")
    assert record.extra["bibtex:author+others"] == ["true"]


def test_dates() -> None:
    assert one("@misc{k, year = 2017, month = {August}}").issued == Date(parts=(2017, 8))
    assert one("@misc{k, year = {2017}, month = 8, day = 15}").issued == Date(parts=(2017, 8, 15))
    assert one("@misc{k, date = {2016/2017}}").issued == Date(parts=(2016,), end=(2017,))
    assert one("@misc{k, year = {{13th Century}}}").issued == Date(literal="13th Century")
    # date wins over year/month (BibLaTeX)
    assert one("@misc{k, date = {2016-12-13}, year = 2017, month = aug}").issued == Date(
        parts=(2016, 12, 13)
    )


def test_crossref_parent_after_child_and_before() -> None:
    items = records_of(
        """@inproceedings{child, title = {Paper}, crossref = {proc}, pages = {1--2}}
@proceedings{proc, title = {Proceedings of Things}, year = 2001,
  publisher = {ACM}, editor = {Ed, Itor}}
@incollection{later, title = {Chapter}, crossref = {coll}}
@collection{coll, title = {The Collection}, year = 1999}
@inbook{third, title = {Part}, crossref = {PROC}}
@article{orphan, title = {Alone}, crossref = {missing}}
"""
    )
    by_id = {r.id: r for r in items}
    assert set(by_id) == {"child", "proc", "later", "coll", "third", "orphan"}
    child = by_id["child"]
    assert child.container_title == "Proceedings of Things"
    assert child.title == "Paper"
    assert child.issued == Date(parts=(2001,))
    assert child.publisher == "ACM"
    assert child.editor == [Name(family="Ed", given="Itor")]
    assert by_id["later"].container_title == "The Collection"
    # keys are case-insensitive; @inbook from @proceedings inherits title as title? no:
    # only mapped pairs move the title, so the child keeps its own title.
    assert by_id["third"].title == "Part"
    assert by_id["third"].issued == Date(parts=(2001,))
    assert by_id["orphan"].extra["bibtex:crossref"] == ["missing"]
    # the child comes right after its parent
    assert [r.id for r in items].index("child") == [r.id for r in items].index("proc") + 1


def test_unbalanced_braces_cost_one_entry_and_are_located() -> None:
    text = (BIB / "unbalanced.bib").read_text(encoding="utf-8")
    items = read_text(text, "unbalanced.bib")
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Record", "ParseError", "Record", "ParseError", "Record"]
    first_bad = items[1]
    assert isinstance(first_bad, ParseError)
    assert first_bad.source == "unbalanced.bib"
    assert first_bad.line == 6
    assert first_bad.record == 2
    assert "'broken'" in first_bad.cause and "brace" in first_bad.cause
    second_bad = items[3]
    assert isinstance(second_bad, ParseError)
    assert second_bad.line == 15 and "'alsobroken'" in second_bad.cause
    assert [r.id for r in items if isinstance(r, Record)] == ["before", "after", "last"]


def test_bad_input_through_the_api_names_file_and_record(tmp_path: Path) -> None:
    path = tmp_path / "bad.bib"
    path.write_bytes(b"@article{ok, title={Fine}}\n@article{bad, title={Oops, year=1}\n")
    items = list(api.read(path))
    assert isinstance(items[0], Record)
    assert isinstance(items[1], ParseError)
    assert items[1].source == str(path) and items[1].line == 2 and items[1].record == 2


@given(st.text(max_size=400))
@settings(max_examples=150, deadline=None)
def test_arbitrary_text_yields_only_records_or_parse_errors(text: str) -> None:
    for item in read_text(text):
        assert isinstance(item, Record | ParseError)


BIB_ALPHABET = st.sampled_from([*'@{}()",=#%\\ \n\tabcxyz019_-', "and", "@article{", '{\\"u}'])


@given(st.lists(BIB_ALPHABET, max_size=120).map("".join))
@settings(max_examples=200, deadline=None)
def test_bibtex_shaped_garbage_yields_only_records_or_parse_errors(text: str) -> None:
    for item in read_text("@misc{k, title = " + text):
        assert isinstance(item, Record | ParseError)


@given(st.binary(max_size=300))
@settings(max_examples=100, deadline=None)
def test_arbitrary_bytes_through_the_api(data: bytes) -> None:
    for item in api.read(b"@misc{k,\n" + data, "bibtex"):
        assert isinstance(item, Record | ParseError)


class _Generated(io.TextIOBase):
    """A text stream of ``count`` entries produced on the fly (never held whole)."""

    def __init__(self, count: int) -> None:
        self._entries: Iterator[str] = (
            f'@article{{k{i},\n  author = {{M{{\\"u}}ller, J. and Li, Ai}},\n'
            f"  title = {{Entry {i} about {{DNA}}}},\n  year = 2000,\n}}\n\n"
            for i in range(count)
        )
        self._pending = ""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        want = 1 << 20 if size is None or size < 0 else size
        while len(self._pending) < want:
            piece = next(self._entries, None)
            if piece is None:
                break
            self._pending += piece
        out, self._pending = self._pending[:want], self._pending[want:]
        return out


def test_reading_streams_without_holding_the_input() -> None:
    count = 3000  # about 300 KB of BibTeX
    tracemalloc.start()
    seen = 0
    for item in read(_Generated(count), "<generated>"):
        assert isinstance(item, Record)
        seen += 1
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seen == count
    # The parent memory for crossref holds raw fields of recent entries; the input is not.
    assert peak < 5_000_000


# ---------------------------------------------------------------------------- corpus

ENTRY_START = re.compile(r"^[ \t]*@[ \t]*(?!string|comment|preamble)\w+[ \t]*[{(]", re.I | re.M)


def _corpus_bib_files() -> list[Path]:
    return corpus_files(
        "pandoc/test/command/*.bib",
        "citation-js/packages/plugin-bibtex/test/**/*.bib",
        "bolognese/spec/fixtures/*.bib",
        "habanero/extracted_bodies/*.bib",
        "python-bibtexparser/tests/resources/gbk_test.bib",
    )


@pytest.mark.corpus
@pytest.mark.parametrize("path", _corpus_bib_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_files_read_with_the_right_count(path: Path) -> None:
    items = list(api.read(path, "bibtex"))
    errors = [i for i in items if isinstance(i, ParseError)]
    assert not errors, errors
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("gbk")
    assert len(items) == len(ENTRY_START.findall(text))


@pytest.mark.corpus
def test_corpus_has_bib_files() -> None:
    assert len(_corpus_bib_files()) >= 50


@pytest.mark.corpus
def test_gbk_encoded_file_is_read() -> None:
    # Which legacy encoding the input layer guesses is _input.py's business; the entry
    # must read whatever it guesses, and what is ASCII must be exact.
    (record,) = api.read(CORPUS / "python-bibtexparser/tests/resources/gbk_test.bib")
    assert isinstance(record, Record)
    assert record.title == "Test Title"
    assert record.issued == Date(parts=(2013,))
    assert len(record.author) == 1 and record.container_title
    path = CORPUS / "python-bibtexparser/tests/resources/gbk_test.bib"
    (exact,) = read_text(path.read_bytes().decode("gbk"))
    assert isinstance(exact, Record)
    assert exact.id == "凯撒2013"
    assert exact.author == [Name(family="凯撒")]
    assert exact.container_title == "测试期刊"


# citation-js's mapping pair: bibtex-input.bib -> bibtex-csl.json. Where we disagree, on
# purpose:
# - howpublished (@booklet, @misc) stays in extra["bibtex:howpublished"]: it is a
#   how-it-was-published note ("Online", a URL), not a publisher.
# - @inbook/@incollection `chapter` has no Record field (CSL chapter-number): kept in
#   extra["bibtex:chapter"].
# - citation-js writes no `number` for @inbook type; we follow it (collection-number).
# - CSL-JSON's `citation-key` duplicates `id`; Record has only `id`.
_CITATION_JS_SKIP = {"citation-key", "chapter-number"}
_CITATION_JS_DISAGREE = {("Booklet", "publisher"), ("Misc", "publisher")}


def _csl_view(record: Record) -> dict[str, Any]:
    data = record.model_dump(
        by_alias=True,
        exclude_none=True,
        exclude_defaults=True,
        exclude={"provenance", "field_sources", "extra", "identifiers"},
    )
    data["type"] = record.type
    if record.issued is not None:
        parts = [list(record.issued.parts)]
        if record.issued.end:
            parts.append(list(record.issued.end))
        data["issued"] = {"date-parts": parts}
    return data


@pytest.mark.corpus
def test_citation_js_mapping_pair() -> None:
    base = CORPUS / "citation-js/packages/plugin-bibtex/test/mapping"
    ours = {r.id: r for r in api.read(base / "bibtex-input.bib", "bibtex")}
    expected = json.loads((base / "bibtex-csl.json").read_text(encoding="utf-8"))
    assert len(ours) == len(expected) == 16
    compared = 0
    for item in expected:
        record = ours[item["id"]]
        assert isinstance(record, Record)
        view = _csl_view(record)
        for key, value in item.items():
            if key in _CITATION_JS_SKIP or (item["id"], key) in _CITATION_JS_DISAGREE:
                continue
            assert view.get(key) == value, (item["id"], key, view.get(key), value)
            compared += 1
        assert record.extra.get("bibtex:howpublished") or (item["id"], "publisher") not in (
            _CITATION_JS_DISAGREE
        )
    assert compared > 150


def _pandoc_cases() -> list[Path]:
    return corpus_files("pandoc/test/command/biblatex-*.md")


def _pandoc_pair(path: Path) -> tuple[str, list[dict[str, Any]]] | None:
    text = path.read_text(encoding="utf-8")
    match = re.search(
        r"^% pandoc -f biblatex -t markdown -s\n(.*?)\n\^D\n---\n(.*?)\n---", text, re.S | re.M
    )
    if match is None:
        return None
    meta = yaml.safe_load(match.group(2))
    return match.group(1), meta.get("references", [])


@pytest.mark.corpus
def test_pandoc_biblatex_cases_agree_on_ids_names_and_dates() -> None:
    checked = 0
    for path in _pandoc_cases():
        pair = _pandoc_pair(path)
        if pair is None:
            continue
        bib, references = pair
        ours = {r.id: r for r in read_text(bib, path.name) if isinstance(r, Record)}
        for ref in references:
            record = ours.get(ref["id"])
            assert record is not None, (path.name, ref["id"])
            for role in ("author", "editor", "translator"):
                theirs = ref.get(role, [])
                if any("literal" in n or "dropping-particle" in n for n in theirs):
                    continue  # pandoc guesses organisations and demotes particles
                mine = getattr(record, role)
                assert [n.family for n in mine] == [n.get("family") for n in theirs], (
                    path.name,
                    ref["id"],
                    role,
                )
            issued = ref.get("issued")
            if isinstance(issued, str) and re.fullmatch(
                r"\d{4}(-(0[1-9]|1[0-2])(-\d\d)?)?", issued
            ):
                assert record.issued is not None, (path.name, ref["id"])
                expected = tuple(int(p) for p in issued.split("-"))
                assert record.issued.parts == expected, (path.name, ref["id"])
            checked += 1
    assert checked > 100


# ---------------------------------------------------------------------------- writing


SEED = Record(
    type="article-journal",
    title="Infusion of DNA into Alzheimer's model mice: an in vivo study",
    author=[
        Name(family="Li", given="Ai"),
        Name(family="Tao", given="Yuan"),
        Name(family="Berg", given="Jan", non_dropping_particle="van der"),
        Name(family="Smith", given="John", suffix="Jr."),
        Name(literal="World Health Organization"),
        Name(family="Zheng", given="Chengyun"),
    ],
    container_title="Experimental and therapeutic medicine",
    issued=Date(parts=(2017, 8)),
    volume="14",
    issue="2",
    page="1538-1546",
    identifiers=[
        Identifier(scheme="issn", value="1792-0981"),
        Identifier(scheme="issn", value="1792-1015"),
        Identifier(scheme="doi", value="10.3892/etm.2017.4687"),
    ],
    language="en",
    abstract="Background.\nMethods & results: 50% of {cases}.",
    keywords=["DNA", "mice"],
)


def test_writer_output_shape() -> None:
    text, (losses,) = write([SEED])
    assert text.startswith("@article{li2017infusion,\n")
    assert text.endswith("}\n")
    assert (
        "  author = {Li, Ai and Tao, Yuan and van der Berg, Jan and Smith, Jr., John and "
        "{World Health Organization} and Zheng, Chengyun},\n" in text
    )
    assert (
        "  title = {Infusion of {DNA} into {Alzheimer's} model mice: an in vivo study},\n" in text
    )
    assert "  journal = {Experimental and therapeutic medicine},\n" in text
    assert "  pages = {1538--1546},\n" in text
    assert "  year = {2017},\n  month = aug,\n" in text
    assert "date =" not in text  # no day, no range: year + month say it all
    assert "  doi = {10.3892/etm.2017.4687},\n" in text
    assert "  issn = {1792-0981, 1792-1015},\n" in text
    assert "  langid = {english},\n" in text
    assert "  abstract = {Background.\nMethods \\& results: 50\\% of \\{cases\\}.},\n" in text
    assert losses == []
    (back,) = records_of(text)
    assert carried_view(back, "bibtex") == carried_view(
        SEED.model_copy(update={"id": "li2017infusion"}), "bibtex"
    )


def test_keys_are_unique_and_sanitised() -> None:
    first = Record(
        type="book",
        title="The Art of Things",
        author=[Name(family="Müller")],
        issued=Date(parts=(1999,)),
    )
    unsafe = Record(type="book", title="X", id="bad key{1}")
    taken = Record(type="book", title="Y", id="muller1999art")
    text, losses = write([first, first, first, unsafe, taken])
    keys = re.findall(r"^@\w+\{([^,]*),", text, re.M)
    assert keys == [
        "muller1999art",
        "muller1999arta",
        "muller1999artb",
        "bad_key_1",
        "muller1999artc",
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9_:.+/-]+", k) for k in keys)
    assert any(loss.field == "id" and loss.kind == "changed" for loss in losses[3])
    assert any(loss.field == "id" and loss.kind == "changed" for loss in losses[4])
    # BibTeX compares keys ignoring case, so "bug" and "BUG" would clash.
    mixed = write([Record(type="document", id="bug"), Record(type="document", id="BUG")])[0]
    assert re.findall(r"^@misc\{([^,]*),", mixed, re.M) == ["bug", "BUGa"]
    nameless = write([Record(type="book")])[0]
    assert nameless.startswith("@book{item,")


def test_date_field_only_for_days_and_ranges() -> None:
    day = write([Record(type="book", title="T", issued=Date(parts=(2017, 8, 15)))])[0]
    assert "year = {2017},\n  month = aug,\n  date = {2017-08-15}," in day
    span = write([Record(type="book", title="T", issued=Date(parts=(2016,), end=(2017,)))])[0]
    assert "date = {2016/2017}" in span
    literal = write([Record(type="book", title="T", issued=Date(literal="13th century"))])[0]
    assert "year = {13th century}" in literal


def test_entry_types_written_and_type_losses() -> None:
    cases = {
        "article-journal": "article", "book": "book", "paper-conference": "inproceedings",
        "report": "techreport", "manuscript": "unpublished", "document": "misc",
        "webpage": "online", "dataset": "dataset", "software": "software",
    }  # fmt: skip
    for csl, entry in cases.items():
        text, (losses,) = write([Record(type=csl, title="T")])
        assert text.startswith(f"@{entry}{{"), csl
        assert not [loss for loss in losses if loss.field == "type"]
    text, (losses,) = write([Record(type="map", title="T")])
    assert text.startswith("@misc{")
    assert any(loss.field == "type" and loss.kind == "changed" for loss in losses)
    assert write([Record(type="chapter", title="T", container_title="B")])[0].startswith(
        "@incollection{"
    )
    assert write([Record(type="chapter", title="T")])[0].startswith("@inbook{")
    thesis = write([Record(type="thesis", title="T", genre="Master's thesis")])[0]
    assert thesis.startswith("@mastersthesis{") and "type =" not in thesis
    assert write([Record(type="thesis", title="T")])[0].startswith("@thesis{")


def test_bibtex_entry_type_kept_through_a_round_trip() -> None:
    record = one("@booklet{b, title = {T}, howpublished = {Self}}")
    text = write([record])[0]
    assert text.startswith("@booklet{b,")
    assert "howpublished = {Self}" in text


def test_ascii_option() -> None:
    people = [Name(family="Dvořák", given="Antonín"), Name(family="李")]
    record = Record(type="book", title="Über Straße", author=people)  # fmt: skip
    text, (losses,) = write([record], ascii=True)
    assert text.isascii()
    assert r"{\v{r}}" in text and r"{\"U}ber" in text and r"Stra{\ss}e" in text
    assert any(loss.kind == "changed" and "李" in loss.reason for loss in losses)
    (back,) = records_of(text)
    assert back.title == record.title and back.author == record.author
    utf8, (plain_losses,) = write([record])
    assert "Dvořák" in utf8 and not plain_losses


def test_extra_fields_written_back_and_foreign_keys_reported() -> None:
    record = Record(type="book", title="T", extra={
        "bibtex:howpublished": ["Online"], "bibtex:bad name": ["x"], "ris:M3": ["Paper"],
        "bibtex:author+others": ["true"],
    }, author=[Name(family="Li", given="Ai")])  # fmt: skip
    text, (losses,) = write([record])
    assert "howpublished = {Online}" in text
    assert "author = {Li, Ai and others}" in text
    fields = {loss.field for loss in losses}
    assert {"extra.ris:M3", "extra.bibtex:bad name"} <= fields


def test_table_losses_are_reported() -> None:
    record = SEED.model_copy(update={
        "issued": Date(parts=(2017,), circa=True),
        "identifiers": [Identifier(scheme="issn", value="1792-0981", kind="print")],
    })  # fmt: skip
    losses = write([record])[1][0]
    fields = {loss.field for loss in losses}
    assert {"issued.circa", "identifiers.kind"} <= fields
    for loss in losses:
        if loss.kind == "dropped" and loss.field in FIDELITY:
            assert FIDELITY[loss.field]["bibtex"].where is None


# ---------------------------------------------------------------------------- oracles


def _pybtex_person(person: Any) -> dict[str, str]:
    def part(names: list[str]) -> str:
        return decode_latex(" ".join(names))

    return {
        "first": part(person.first_names + person.middle_names),
        "von": part(person.prelast_names),
        "last": part(person.last_names),
        "jr": part(person.lineage_names),
    }


def _our_person(name: Name) -> dict[str, str]:
    if name.literal is not None:
        return {"first": "", "von": "", "last": name.literal, "jr": ""}
    return {
        "first": name.given or "",
        "von": " ".join(p for p in (name.dropping_particle, name.non_dropping_particle) if p),
        "last": name.family or "",
        "jr": name.suffix or "",
    }


def check_oracles(record: Record, text: str, losses: list[Loss]) -> Record:
    """pybtex and bibtexparser both read ``text`` as exactly our one entry; return ours."""
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks, [b.error for b in library.failed_blocks]
    assert len(library.entries) == 1
    bp_entry = library.entries[0]
    parsed = pybtex.database.parse_string(text, "bibtex")
    assert len(parsed.entries) == 1
    ((key, entry),) = parsed.entries.items()
    assert key == bp_entry.key
    (back,) = records_of(text)
    assert back.id == key
    changed = {loss.field for loss in losses if loss.kind == "changed"}
    for role in ("author", "editor"):
        names = getattr(record, role)
        persons = entry.persons.get(role, [])
        assert len(persons) == len(names)
        if role not in changed:
            assert [_pybtex_person(p) for p in persons] == [_our_person(n) for n in names]
    # The same fields in both oracles, and their decoded values are what we read back.
    bp_fields = {f.key.lower(): f.value for f in bp_entry.fields}
    py_fields = {k.lower(): v for k, v in entry.fields.items()}
    assert set(bp_fields) == set(py_fields) | set(entry.persons)
    for name, value in py_fields.items():
        if name == "month":  # a macro: bibtexparser keeps "aug", pybtex expands "August"
            assert parse_month(bp_fields[name]) == parse_month(value) == record.issued.parts[1]  # type: ignore[union-attr]
            continue
        # pybtex folds line breaks into spaces; bibtexparser keeps the value as written.
        assert " ".join(bp_fields[name].split()) == " ".join(value.split())
    if record.title:
        assert decode_latex(py_fields["title"]) == record.title
    if record.abstract:
        assert decode_latex(bp_fields["abstract"]) == record.abstract
    if record.publisher:
        where = {"report": "institution", "thesis": "school"}.get(record.type, "publisher")
        assert decode_latex(py_fields[where]) == record.publisher
    return back


def expected_view(record: Record, back: Record, losses: list[Loss]) -> dict[str, Any]:
    """What a round trip must keep: the carried view, less what the writer reported."""
    single = {
        loss.field.split(".", 1)[1] for loss in losses if loss.field.startswith("identifiers.")
    }
    seen: set[str] = set()
    kept = []
    for ident in record.identifiers:
        if ident.scheme in single and ident.scheme in seen:
            continue
        seen.add(ident.scheme)
        kept.append(ident)
    return carried_view(record.model_copy(update={"id": back.id, "identifiers": kept}), "bibtex")


@given(records())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_oracles_read_our_output(record: Record) -> None:
    text, (losses,) = write([record])
    check_oracles(record, text, losses)


@given(records(text=hostile_text()))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hostile_values_cannot_break_the_output(record: Record) -> None:
    text, (losses,) = write([record])
    back = check_oracles(record, text, losses)
    assert carried_view(back, "bibtex") == expected_view(record, back, losses)


@given(huge_text(), st.sampled_from(["title", "abstract", "publisher"]))
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_huge_values(value: str, field: str) -> None:
    # One 1 MB value at a time: pybtex needs seconds for each of them.
    record = SEED.model_copy(update={field: Record(**{field: value}).model_dump()[field]})
    text, (losses,) = write([record])
    back = check_oracles(record, text, losses)
    assert getattr(back, field) == getattr(record, field)


@given(records())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_keeps_what_bibtex_carries(record: Record) -> None:
    text, (losses,) = write([record])
    (back,) = records_of(text)
    changed = {loss.field for loss in losses if loss.kind == "changed"}
    expected = expected_view(record, back, losses)
    actual = carried_view(back, "bibtex")
    for name in changed:
        expected.pop(name, None)
        actual.pop(name, None)
    assert actual == expected


@given(records(), st.booleans())
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_ascii_round_trip(record: Record, _flag: bool) -> None:
    text, (losses,) = write([record], ascii=True)
    assert text.isascii()
    (back,) = records_of(text)
    assert carried_view(back, "bibtex") == expected_view(record, back, losses)
    assert all(loss.kind in ("changed", "dropped") for loss in losses)


@pytest.mark.corpus
def test_corpus_files_survive_a_round_trip() -> None:
    for path in _corpus_bib_files():
        items = [i for i in api.read(path, "bibtex") if isinstance(i, Record)]
        text, losses = write(items)
        library = bibtexparser.parse_string(text)
        assert not library.failed_blocks, (path, [b.error for b in library.failed_blocks])
        assert len(library.entries) == len(items)
        assert len(pybtex.database.parse_string(text, "bibtex").entries) == len(items)
        back = records_of(text)
        for before, after in zip(items, back, strict=True):
            assert after.title == before.title
            assert after.author == before.author or any(
                loss.field == "author" for loss in losses[items.index(before)]
            )
            assert after.issued == before.issued or before.issued is None


# ---------------------------------------------------------------------------- parallel


def test_parallel_conversion_gives_what_one_process_gives(tmp_path: Path) -> None:
    # Duplicate keys across chunks are the hard part: the parent renames them in order.
    path = tmp_path / "big.bib"
    with path.open("w", encoding="utf-8") as out:
        for i in range(6000):
            key = "dup" if i % 997 == 0 else f"k{i}"
            out.write(
                f'@article{{{key},\n  author = {{M{{\\"u}}ller, J. and Li, Ai}},\n'
                f"  title = {{Entry {i} on {{DNA}} -- {'x' * (i % 300)}}},\n  year = 2000,\n}}\n\n"
            )
        out.write("@article{broken,\n  title = {never closed,\n\n@misc{tail, title = {T}}\n")
    assert path.stat().st_size > 1 << 20
    results = []
    for jobs in (1, 2):
        buffer = io.StringIO()
        summary = api.convert([path], "bibtex", buffer, jobs=jobs)
        results.append((buffer.getvalue(), summary.written, [e.line for e in summary.errors]))
    assert results[0] == results[1]
    text, written, error_lines = results[0]
    assert written == 6001 and error_lines == [36001]
    assert re.findall(r"^@article\{(dup\w*),", text, re.M)[:3] == ["dup", "dupa", "dupb"]


def test_macro_prelude_gives_a_chunk_its_macros_on_one_line() -> None:
    head = (
        '@string{ jour = "Journal\n of " }\n@STRING(pub = {Big {P}ress})\n@article{a, title={A}}\n'
    )
    chunk = "@article{b,\n  journal = jour # {Things},\n  publisher = pub,\n  title = {B,\n}\n"
    prelude = macro_prelude(head)
    assert "\n" not in prelude
    items = read_text(prelude + chunk)
    # the entry still starts on line 1 and is record 1: the prelude moved nothing
    assert isinstance(items[0], ParseError) and (items[0].line, items[0].record) == (1, 1)
    broken = read_text(prelude + chunk.replace("{B,", "{B},"))
    (record,) = broken
    assert isinstance(record, Record)
    assert record.container_title == "Journal of Things" and record.publisher == "Big Press"
    assert macro_prelude("@article{x, title = {no macros}}") == ""


class _Trickle(io.TextIOBase):
    """Hands out text a few characters per read, to put chunk edges everywhere."""

    def __init__(self, text: str, step: int) -> None:
        self._text = text
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> str:
        out, self._text = self._text[: self._step], self._text[self._step :]
        return out


def _summary(items: list[Record | ParseError]) -> list[tuple[str, object, object]]:
    return [
        ("R", i.id, i.title) if isinstance(i, Record) else ("E", i.line, i.record) for i in items
    ]


@given(
    st.lists(
        st.sampled_from(
            [
                "@article{a, title = {One {DNA}}, year = 2001}\n",
                '@string{j = "Jour"}\n',
                "@book(b,\n  title = j # { Two},\n)\n",
                "@misc{c, title = {unclosed\n",
                "% comment with an @ sign\n",
                "@comment{skip me}\n",
                '@misc{d, author = {M{\\"u}ller, J. and Li, Ai}, note = "q {\\"o}"}\n',
            ]
        ),
        max_size=12,
    ).map("".join),
    st.integers(1, 9),
)
@settings(max_examples=150, deadline=None)
def test_chunk_edges_do_not_change_what_is_read(text: str, step: int) -> None:
    whole = list(read(io.StringIO(text), "<t>"))
    trickled = list(read(_Trickle(text, step), "<t>"))
    assert _summary(trickled) == _summary(whole)
