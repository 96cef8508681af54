"""The benchmark corpus generator: deterministic, the same records in every format.

The benchmark (``benchmarks/convert.py``) is only fair if its three input files hold the
same records and are valid in their formats, so these tests check the generator against
parsers nobody here wrote, and then check our readers against the generator's ground
truth (which makes a small end-to-end test of the readers on hard but realistic data).
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

import bibtexparser
import jsonschema
import pytest
import rispy
from conftest import CORPUS, ROOT
from stdnum import isbn, issn

from harvester import api
from harvester.model import Record

COUNT = 300


def _load_generator() -> ModuleType:
    path = ROOT / "benchmarks" / "generate.py"
    spec = importlib.util.spec_from_file_location("benchmark_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gen: Any = _load_generator()


def _texts(count: int, seed: int = gen.DEFAULT_SEED) -> tuple[str, str, str]:
    ris, bib, csl = io.StringIO(), io.StringIO(), io.StringIO()
    gen.write_corpus(ris, bib, csl, count, seed)
    return ris.getvalue(), bib.getvalue(), csl.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return gen.generate(COUNT, out=tmp_path_factory.mktemp("bench"))


def test_same_seed_same_bytes_and_a_smaller_corpus_is_a_prefix() -> None:
    first = _texts(120)
    assert first == _texts(120)
    assert first != _texts(120, seed=7)
    small_ris = _texts(40)[0]
    assert first[0].startswith(small_ris)


class _Sink(io.StringIO):
    """Counts what is written and keeps nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)


def test_the_corpus_streams_instead_of_building_in_memory() -> None:
    sinks = (_Sink(), _Sink(), _Sink())
    tracemalloc.start()
    try:
        gen.write_corpus(*sinks, 400)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    written = sum(s.chars for s in sinks)
    assert written > 1_000_000
    assert peak < written / 4  # holding the text would need more than all of it


def test_generate_writes_three_files_once(tmp_path: Path) -> None:
    corpus = gen.generate(25, out=tmp_path)
    texts = tuple(
        p.read_text(encoding="utf-8") for p in (corpus.ris, corpus.bibtex, corpus.csl_json)
    )
    assert texts == _texts(25)
    stamp = corpus.ris.stat().st_mtime_ns
    assert gen.generate(25, out=tmp_path) == corpus  # cached: not rewritten
    assert corpus.ris.stat().st_mtime_ns == stamp


def test_the_corpus_has_the_hard_cases_the_issue_asks_for() -> None:
    items = list(gen.iter_items(2000))
    assert {i.type for i in items} == {"article-journal", "book", "chapter"}
    counts = [len(i.authors) for i in items]
    assert min(counts) == 1 and 25 <= max(counts) <= 30
    people = [p for i in items for p in i.authors]
    assert any(p.particle for p in people) and any(p.suffix for p in people)
    assert any(p.literal for p in people)
    assert any("\u4e00" <= p.family[:1] <= "\u9fff" for p in people if p.family)
    assert any(not p.family.isascii() for p in people if p.family and p.family.isalpha())
    assert any(len(i.issns) == 2 for i in items)
    # Check digits by python-stdnum, which nobody here wrote: the corpus is valid input.
    assert all(issn.is_valid(x) for i in items for x in i.issns)
    isbns = [i.isbn for i in items if i.isbn]
    assert all(isbn.is_valid(x) for x in isbns)
    assert {len(x.replace("-", "")) for x in isbns} == {10, 13}
    assert any(i.doi and "<" in i.doi and ";" in i.doi for i in items)
    assert any(i.first_page and i.first_page.startswith("e") for i in items)
    _ris, bib, _csl = _texts(200)
    for needle in ('{\\"u}', "\\&", "\\%", "\\#", "\\_", "{DNA}", "@string{", "month = "):
        assert needle in bib, needle


def test_oracles_read_every_record(corpus: Any) -> None:
    ris_path, bib_path, csl_path = corpus.ris, corpus.bibtex, corpus.csl_json
    with open(ris_path, encoding="utf-8") as stream:
        entries = rispy.load(stream)
    assert len(entries) == COUNT
    assert all(e["type_of_reference"] in ("JOUR", "BOOK", "CHAP") for e in entries)
    library = bibtexparser.parse_file(str(bib_path))
    assert not library.failed_blocks
    assert len(library.entries) == COUNT
    assert len(library.strings) == 4
    data = json.loads(csl_path.read_text(encoding="utf-8"))
    assert [d["id"] for d in data] == [e["id"] for e in entries] == [e.key for e in library.entries]


@pytest.mark.corpus
def test_csl_json_validates_against_the_official_schema(corpus: Any) -> None:
    schema_path = CORPUS / "csl-schema" / "schemas" / "input" / "csl-data.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    data = json.loads(corpus.csl_json.read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)


def _display(p: Any) -> str:
    if p.literal:
        return str(p.literal)
    parts = [p.given, p.particle, p.family]
    text = " ".join(x for x in parts if x)
    return f"{text}, {p.suffix}" if p.suffix else text


def _expected(i: Any) -> dict[str, object]:
    parts = tuple(x for x in (i.year, i.month, i.day) if x is not None)
    return {
        "type": i.type,
        "title": i.title,
        "authors": [_display(p) for p in i.authors],
        "editors": [_display(p) for p in i.editors],
        "issued": parts,
        "container": i.container,
        "volume": i.volume,
        "issue": i.issue,
        # The model expands abbreviated ranges (1538-46): compare with what it makes.
        "page": Record(page=i.page).page,
        "doi": [i.doi.lower()] if i.doi else [],
        "issn": list(i.issns),
        "isbn": len([i.isbn] if i.isbn else []),
        "publisher": i.publisher,
        "place": i.place,
        "edition": i.edition,
        "language": i.language,
        "abstract": i.abstract,
        "keywords": list(i.keywords),
    }


def _actual(r: Record) -> dict[str, object]:
    return {
        "type": r.type,
        "title": r.title,
        "authors": [n.display() for n in r.author],
        "editors": [n.display() for n in r.editor],
        "issued": r.issued.parts if r.issued else None,
        "container": r.container_title,
        "volume": r.volume,
        "issue": r.issue,
        "page": r.page,
        "doi": [i.value for i in r.identifiers_of("doi")],
        "issn": [i.value for i in r.identifiers_of("issn")],
        "isbn": len(r.identifiers_of("isbn")),
        "publisher": r.publisher,
        "place": r.publisher_place,
        "edition": r.edition,
        "language": r.language,
        "abstract": r.abstract,
        "keywords": r.keywords,
    }


@pytest.mark.parametrize("format_name", ["ris", "bibtex", "csl-json"])
def test_our_readers_give_back_the_generated_records(corpus: Any, format_name: str) -> None:
    path = corpus.path(format_name)
    results = list(api.read(str(path), format_name))
    errors = [r for r in results if not isinstance(r, Record)]
    assert not errors, errors[:3]
    assert len(results) == COUNT
    mismatches = []
    for item, record in zip(gen.iter_items(COUNT), results, strict=True):
        assert isinstance(record, Record)
        want, got = _expected(item), _actual(record)
        for key, value in want.items():
            if got[key] != value:
                mismatches.append(f"{item.key} {key}: {value!r} != {got[key]!r}")
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
