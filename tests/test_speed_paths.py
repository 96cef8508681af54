"""The fast paths give exactly what the slow ones give.

Conversion speed comes from shortcuts: records and names built without pydantic's
per-field validator calls (``build_record``, ``make_name``, ``make_identifier``), the loss
table checked only at the cells a format cannot carry, common language tags answered
without langcodes, format modules imported on first use, and the parallel planner's
byte-level scans. Each test here holds a shortcut to the long way on the corpora and on
hypothesis input, so a change to the validators or the table cannot leave a fast path
behind.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, corpus_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from strategies import HOSTILE_PIECES, hostile_text, names, plain_text, records

from harvester import model, parallel
from harvester.formats import _MODULES, FORMATS, bibtex, csljson, find_format, ris
from harvester.formats.fidelity import FORMATS_IN_TABLE, table_losses, table_losses_by_rows
from harvester.model import Date, Identifier, Name, Provenance, Record
from harvester.normalize import language

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _state(obj: BaseModel) -> tuple[Any, ...]:
    """Everything of a model instance that validation decides, for exact comparison."""
    return (
        type(obj),
        obj.__dict__,
        list(obj.__dict__),
        obj.model_fields_set,
        obj.__pydantic_extra__,
        obj.__pydantic_private__,
        obj.model_dump(by_alias=True),
    )


def _same_outcome(fast: Any, slow: Any, *args: Any, **kwargs: Any) -> None:
    """``fast`` and ``slow`` return equal instances, or both raise ValidationError."""
    try:
        expected = slow(*args, **kwargs)
    except ValidationError as exc:
        with pytest.raises(ValidationError) as caught:
            fast(*args, **kwargs)
        assert caught.value.errors(include_context=False) == exc.errors(include_context=False)
        return
    got = fast(*args, **kwargs)
    assert _state(got) == _state(expected)
    if isinstance(got, Record):
        for role in ("author", "editor", "translator"):
            for a, b in zip(getattr(got, role), getattr(expected, role), strict=True):
                assert _state(a) == _state(b)
        for a, b in zip(got.identifiers, expected.identifiers, strict=True):
            assert _state(a) == _state(b)


# --- names and identifiers -------------------------------------------------------------

_MESSY = st.one_of(
    st.none(), st.just(""), plain_text, hostile_text(max_pieces=4), st.integers(-5, 5)
)
_NAME_KEYS = [
    "family", "given", "dropping_particle", "non_dropping_particle", "suffix", "literal",
    "dropping-particle", "non-dropping-particle", "comma-suffix",
]  # fmt: skip


@FAST
@given(st.dictionaries(st.sampled_from(_NAME_KEYS), _MESSY, max_size=4))
def test_make_name_is_name(parts: dict[str, Any]) -> None:
    _same_outcome(lambda p: model.make_name(**p), lambda p: Name(**p), parts)


def test_make_name_examples() -> None:
    for parts in (
        {"family": "Li", "given": "Ai"},
        {"literal": "World Health Organization"},
        {"literal": "WHO", "suffix": "Jr."},
        {"literal": "WHO", "family": "X"},
        {"family": "  van  Berg ", "given": None},
        {"given": "\u0041\u030a"},  # not NFC
        {"suffix": "Jr."},
        {},
    ):
        _same_outcome(lambda p: model.make_name(**p), lambda p: Name(**p), parts)


_SCHEMES = st.sampled_from(["doi", "issn", "isbn", "pmid", "pmcid", "url", "arxiv", "bogus"])
_IDENT_VALUES = st.one_of(
    st.sampled_from(
        [
            "10.3892/ETM.2017.4687", "https://doi.org/10.1000/xyz", "doi:10.1000/a<b>;c",
            "1792-0981", "1792-098X", "17920981", "978-3-16-148410-0", "0-306-40615-2",
            "PMID: 12345", "PMC12345", "https://example.org/x", "", "  ", "\x00",
        ]
    ),
    hostile_text(max_pieces=3),
    st.integers(0, 10),
)  # fmt: skip


@FAST
@given(
    st.fixed_dictionaries(
        {"scheme": _SCHEMES, "value": _IDENT_VALUES},
        optional={
            "kind": st.sampled_from([None, "print", "electronic", "linking", "other", ["print"]]),
            "valid": st.booleans(),
        },
    )
)
def test_make_identifier_is_identifier(data: dict[str, Any]) -> None:
    _same_outcome(model.make_identifier, lambda d: Identifier(**d), data)


_DATE_PARTS = st.one_of(
    st.tuples(st.integers(-5, 10000)),
    st.tuples(st.integers(1, 2030), st.integers(-1, 14)),
    st.tuples(st.integers(1, 2030), st.integers(1, 12), st.integers(0, 32)),
    st.sampled_from([(), (2017, 2, 29), (2016, 2, 29), (1, 2, 3, 4), [2017], (2017.0,), (True,)]),
)


@FAST
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "parts": _DATE_PARTS,
            "end": st.one_of(st.none(), _DATE_PARTS),
            "season": st.one_of(st.none(), st.integers(-1, 6), st.just("2")),
            "circa": st.one_of(st.booleans(), st.just(1)),
            "literal": _MESSY,
            "year": st.just(2017),
        },
    )
)
def test_make_date_is_date(fields: dict[str, Any]) -> None:
    _same_outcome(lambda f: model.make_date(**f), lambda f: Date(**f), fields)


def test_make_date_examples() -> None:
    for fields in (
        {"parts": (2017, 8)},
        {"parts": (2017, 8), "season": None},
        {"parts": (2017, 8, 15), "end": (2017, 9)},
        {"parts": (1995,), "circa": True},
        {"literal": "Summer term"},
        {"literal": " not  clean "},
        {"parts": (0,), "end": None, "literal": ""},  # "" is no literal (found by hypothesis)
        {"parts": (2017, 13)},
        {"parts": (2017, 2, 30)},
        {"end": (2017,)},
        {},
    ):
        _same_outcome(lambda f: model.make_date(**f), lambda f: Date(**f), fields)


# --- whole records ---------------------------------------------------------------------

_TEXT = st.one_of(st.none(), plain_text, hostile_text(max_pieces=4), st.just(""))


@st.composite
def _record_data(draw: st.DrawFn) -> dict[str, Any]:
    """Dicts shaped like the ones readers pass to ``build_record``, clean and dirty."""
    data: dict[str, Any] = {}
    for key in ("id", "title", "container_title", "volume", "issue", "publisher", "genre"):
        if draw(st.booleans()):
            data[key] = draw(_TEXT)
    for key in ("abstract", "note"):
        if draw(st.booleans()):
            data[key] = draw(_TEXT)
    if draw(st.booleans()):
        data["type"] = draw(st.sampled_from(["article-journal", "book", " Book ", "nonsense"]))
    if draw(st.booleans()):
        data["page"] = draw(
            st.one_of(_TEXT, st.sampled_from(["p.1538-1546", "1538-46", "e0123456", "S12-S19"]))
        )
    if draw(st.booleans()):
        data["language"] = draw(
            st.one_of(_TEXT, st.sampled_from(["en", "English", "eng", "en_US", "Klingon"]))
        )
    for role in ("author", "editor"):
        if draw(st.booleans()):
            data[role] = draw(
                st.lists(
                    st.one_of(
                        names(),
                        st.dictionaries(st.sampled_from(_NAME_KEYS), _MESSY, max_size=3),
                        st.just("not a name"),
                    ),
                    max_size=4,
                )
            )
    if draw(st.booleans()):
        data["issued"] = draw(st.sampled_from([None, Date(parts=(2017, 8)), {"parts": [2017]}]))
    if draw(st.booleans()):
        data["keywords"] = draw(st.one_of(st.lists(_TEXT, max_size=4), st.just("a, b")))
    if draw(st.booleans()):
        data["identifiers"] = draw(
            st.lists(
                st.one_of(
                    st.fixed_dictionaries({"scheme": _SCHEMES, "value": _IDENT_VALUES}),
                    st.fixed_dictionaries(
                        {"scheme": st.just("issn"), "value": st.just("1792-0981")},
                        optional={"kind": st.sampled_from([None, "print", "electronic"])},
                    ),
                    st.just(Identifier(scheme="issn", value="1792-1015", kind="print")),
                ),
                max_size=4,
            )
        )
    if draw(st.booleans()):
        data["extra"] = draw(
            st.one_of(
                st.dictionaries(st.sampled_from(["ris:M3", "bibtex:x"]), st.lists(_TEXT)),
                st.just(["not", "a", "dict"]),
            )
        )
    if draw(st.booleans()):
        data["provenance"] = [Provenance(source="x.ris", raw_format="ris")]
    if draw(st.integers(0, 20)) == 0:
        data[draw(st.sampled_from(["container-title", "unknown_field"]))] = "x"
    return data


@FAST
@given(_record_data())
def test_build_record_is_record(data: dict[str, Any]) -> None:
    _same_outcome(model.build_record, lambda d: Record(**d), data)


def test_build_record_takes_the_fast_path_for_reader_values() -> None:
    data = {
        "type": "article-journal",
        "title": "A title",
        "author": [Name(family="Li", given="Ai"), {"family": "Tao", "given": "Yuan"}],
        "issued": Date(parts=(2017, 8)),
        "page": "1538-46",
        "language": "English",
        "identifiers": [{"scheme": "doi", "value": "10.3892/ETM.2017.4687"}],
        "keywords": ["a", "a", "b"],
    }
    record = model.build_record(dict(data))
    assert record == Record(**data)
    assert record.page == "1538-1546" and record.language == "en"
    assert record.keywords == ["a", "b"]
    assert record.doi == "10.3892/etm.2017.4687"
    for key, value in data.items():  # nothing here needed the validation fallback
        assert model._fast_value(key, value) is not model._FALLBACK


def _spy_builders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make every reader's ``build_record`` check itself against ``Record(**data)``."""
    seen: list[int] = []
    real = model.build_record

    def checked(data: dict[str, Any]) -> Record:
        _same_outcome(real, lambda d: Record(**d), dict(data))
        seen.append(1)
        return real(data)

    for module in (ris, bibtex, csljson):
        monkeypatch.setattr(module, "build_record", checked)
    return seen


def _generated_corpus(count: int) -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    texts = {"ris": io.StringIO(), "bibtex": io.StringIO(), "csl-json": io.StringIO()}
    generate.write_corpus(texts["ris"], texts["bibtex"], texts["csl-json"], count, 7)
    return {name: buffer.getvalue() for name, buffer in texts.items()}


def test_readers_fast_records_equal_validated_ones_on_the_benchmark_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _spy_builders(monkeypatch)
    for name, text in _generated_corpus(150).items():
        fmt = FORMATS[name]
        assert fmt.read is not None
        items = list(fmt.read(io.StringIO(text), f"bench.{name}"))
        assert all(isinstance(item, Record) for item in items)
    assert len(seen) == 450


def _corpus_inputs() -> Iterator[Path]:
    yield from corpus_files("**/*.ris", "**/*.bib", "**/*.bibtex", "**/*.json")


@pytest.mark.corpus
def test_readers_fast_records_equal_validated_ones_on_the_shared_corpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = _spy_builders(monkeypatch)
    read = 0
    for path in _corpus_inputs():
        try:
            fmt = find_format(filename=path.name, head=path.read_text("utf-8", errors="replace"))
        except Exception:
            continue
        if fmt.name not in ("ris", "bibtex", "csl-json") or fmt.read is None:
            continue
        text = path.read_text("utf-8", errors="replace")
        read += sum(1 for _ in fmt.read(io.StringIO(text), path.name))
    assert read > 100 and len(seen) > 100


# --- the loss table ----------------------------------------------------------------------


@FAST
@given(records(), st.sampled_from(FORMATS_IN_TABLE))
def test_table_losses_match_the_row_by_row_check(record: Record, format_name: str) -> None:
    assert table_losses(record, format_name) == table_losses_by_rows(record, format_name)


def test_table_losses_cover_every_lossy_row() -> None:
    record = Record(
        type="book",
        title="T",
        collection_number="4",
        number_of_pages="200",
        issued=Date(parts=(2017, 8), end=(2018,), season=2, circa=True),
        identifiers=[
            Identifier(scheme=scheme, value=value, kind=kind)  # type: ignore[arg-type]
            for scheme, value, kind in (
                ("issn", "1792-0981", "print"),
                ("pmcid", "PMC123", None),
                ("oclc", "12345", None),
                ("lccn", "n78890351", None),
                ("oai", "oai:x:1", None),
                ("arxiv", "1501.00001", None),
            )
        ],
        extra={"ris:M3": ["x"], "bibtex:howpublished": ["y"], "csl:note": ["z"]},
        provenance=[Provenance(source="x")],
    )
    for format_name in FORMATS_IN_TABLE:
        losses = table_losses(record, format_name)
        assert losses == table_losses_by_rows(record, format_name)
        if format_name != "jsonl":
            assert len(losses) >= 5


# --- language tags without langcodes ---------------------------------------------------


def _in_fresh_interpreter(code: str) -> Any:
    """What ``code``, run in a new Python process, prints as JSON (imports start cold)."""
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    return json.loads(out)


def test_common_language_answers_are_langcodes_answers() -> None:
    assert language.COMMON
    for text, tag in language.COMMON.items():
        assert language._normalize_uncommon(text) == tag, text


@pytest.mark.parametrize(("to", "module"), [("csl-json", "csljson"), ("bibtex", "bibtex")])
def test_a_conversion_with_common_languages_does_not_load_langcodes(
    tmp_path: Path, to: str, module: str
) -> None:
    source = tmp_path / "in.ris"
    source.write_text(
        "TY  - JOUR\nTI  - A\nLA  - English\nER  - \n\nTY  - JOUR\nTI  - B\nLA  - de\nER  - \n",
        encoding="utf-8",
    )
    code = (
        "import json, sys, io\n"
        "from harvester import api\n"
        f"s = api.convert([{str(source)!r}], {to!r}, io.StringIO(), from_='ris', jobs=1)\n"
        "assert s.written == 2, s\n"
        "wanted = ('langcodes', 'language_data', 'harvester.formats.')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(wanted))))\n"
    )
    loaded = _in_fresh_interpreter(code)
    assert not any(m.startswith(("langcodes", "language_data")) for m in loaded)
    # Only the two formats in use (and the shared helpers they import) are loaded.
    assert "harvester.formats.ris" in loaded and f"harvester.formats.{module}" in loaded
    for unused in {"marcxml", "mods", "oai_dc", "catalogue_text", "bibtex", "jsonl"} - {module}:
        assert f"harvester.formats.{unused}" not in loaded


def test_a_small_conversion_builds_no_record_validator(tmp_path: Path) -> None:
    """The models defer building their validators; readers' fast paths need none.

    A process about to fork workers builds them all first (``complete_models``).
    """
    source = tmp_path / "in.ris"
    source.write_text(
        "TY  - JOUR\nTI  - A\nAU  - Li, Ai\nPY  - 2017\nDA  - 2017/08/15\nER  - \n",
        encoding="utf-8",
    )
    code = (
        "import io, json\n"
        "from harvester import api, model\n"
        f"s = api.convert([{str(source)!r}], 'csl-json', io.StringIO(), from_='ris')\n"
        "assert s.written == 1, s\n"
        "models = (model.Record, model.Name, model.Identifier, model.Provenance, model.Date)\n"
        "before = {m.__name__: m.__pydantic_complete__ for m in models}\n"
        "model.complete_models()\n"
        "after = {m.__name__: m.__pydantic_complete__ for m in models}\n"
        "print(json.dumps([before, after]))\n"
    )
    before, after = _in_fresh_interpreter(code)
    assert before == dict.fromkeys(before, False)
    assert after == dict.fromkeys(before, True)


# --- the lazy registry -------------------------------------------------------------------


def test_registry_table_matches_the_format_modules() -> None:
    import importlib

    for name, (module_name, aliases) in _MODULES.items():
        fmt = importlib.import_module(f"harvester.formats.{module_name}").FORMAT
        assert (fmt.name, fmt.aliases) == (name, aliases)
        assert FORMATS[name] is fmt
    assert list(FORMATS) == list(_MODULES) and len(FORMATS) == len(_MODULES)
    assert find_format("BIB").name == "bibtex" and find_format("oai_dc").name == "oai_dc"
    with pytest.raises(KeyError):
        FORMATS["nope"]


# --- the parallel planner's byte scans ---------------------------------------------------

_BIB_BYTES = st.lists(
    st.sampled_from(
        [
            b"crossref", b"CrossRef", b"XDATA", b"xdata", b" = ", b"=", b"\n", b"\t", b" ",
            b"x", b"_", b"9", b"@string{", b"\xc5\xbf", b"\xc4\xb0", b"{", b"}", b",",
        ]
    ),
    max_size=30,
).map(b"".join)  # fmt: skip


@FAST
@given(_BIB_BYTES)
def test_cross_entry_scan_is_the_regex(data: bytes) -> None:
    assert parallel._has_cross_entry(data) == bool(parallel._BIBTEX_CROSS_ENTRY.search(data))


def test_cross_entry_scan_across_block_edges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "_SCAN_BLOCK", 16)
    for pad in range(40):
        data = b"x" * pad + b"  crossref\n  = {a}"
        assert parallel._has_cross_entry(data)
        assert not parallel._has_cross_entry(b"x" * pad + b"xcrossref = {a}")


_PRELUDE_PIECES = [*HOSTILE_PIECES, "@", "string", "String", "STRİNG", "ſtring", "ıng", " ", "{"]


@FAST
@given(st.lists(st.sampled_from(_PRELUDE_PIECES), max_size=12).map("".join))
def test_prelude_hint_finds_every_chunk_with_macros(text: str) -> None:
    fmt = FORMATS["bibtex"]
    assert fmt.prelude is not None and fmt.prelude_hint is not None
    data = text.encode("utf-8", errors="surrogatepass")
    decoded = data.decode("utf-8", errors="replace")
    if fmt.prelude(decoded):
        assert re.search(fmt.prelude_hint, data)


def test_common_english_names_are_langcodes_names() -> None:
    import langcodes

    assert language.ENGLISH_NAMES
    for tag, name in language.ENGLISH_NAMES.items():
        assert str(langcodes.Language.get(tag).language_name("en")) == name, tag
        assert language.english_name(tag) == name
    assert language.english_name("mi") == "Māori"  # off the table: langcodes answers


@FAST
@given(
    st.one_of(plain_text, hostile_text(max_pieces=3)),
    st.one_of(st.none(), plain_text, st.integers(0, 3)),
    st.sampled_from(["ris", "bibtex", "csl-json"]),
)
def test_make_provenance_is_provenance(source: str, source_id: Any, raw_format: str) -> None:
    _same_outcome(
        model.make_provenance,
        lambda a, b, c: Provenance(source=a, source_id=b, raw_format=c),
        source,
        source_id,
        raw_format,
    )
