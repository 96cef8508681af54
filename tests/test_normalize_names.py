"""Names: real-world strings (PubMed, RIS, BibTeX, catalogues, CSL tests) into CSL parts."""

from __future__ import annotations

import json
import re
import timeit
from pathlib import Path

import pytest
import yaml  # PyYAML comes with pybtex, a test dependency
from hypothesis import example, given, settings
from hypothesis import strategies as st

from harvester.model import Name
from harvester.normalize.names import (
    format_name_inverted,
    has_et_al,
    is_organisation,
    parse_name,
    parse_name_list,
)
from tests.conftest import corpus_files
from tests.strategies import hostile_text, names

# (input, family, given, non_dropping_particle, suffix); literal names are below.
NAME_CASES: list[tuple[str, str, str | None, str | None, str | None]] = [
    # The seed record's "Main Authors" and PubMed AU/FAU lines (biopython Tests/Medline).
    ("Li, Ai", "Li", "Ai", None, None),
    ("Zheng, Chengyun", "Zheng", "Chengyun", None, None),
    ("Zheng C", "Zheng", "C.", None, None),
    ("Zheng CY", "Zheng", "C. Y.", None, None),
    ("Birch PR", "Birch", "P. R.", None, None),
    ("Saqi MA", "Saqi", "M. A.", None, None),
    ("de Hoon MJ", "Hoon", "M. J.", "de", None),
    ("de Hoon, M J L", "Hoon", "M J L", "de", None),
    ("Birch, Paul R J", "Birch", "Paul R J", None, None),
    ("Saqi, Mansoor A S", "Saqi", "Mansoor A S", None, None),
    ("Imoto, S", "Imoto", "S", None, None),
    # RIS (rispy data): with and without a space after the comma.
    ("Shannon,Claude E.", "Shannon", "Claude E.", None, None),
    ("Toparlar,Y.", "Toparlar", "Y.", None, None),
    ("Dobrokhotova, Yu E.", "Dobrokhotova", "Yu E.", None, None),
    ("Turing, Alan Mathison", "Turing", "Alan Mathison", None, None),
    ("Fanning E.", "Fanning", "E.", None, None),
    # Particles.
    ("van der Berg, J.", "Berg", "J.", "van der", None),
    ("de la Fontaine, Jean", "Fontaine", "Jean", "de la", None),
    ("Jean de la Fontaine", "Fontaine", "Jean", "de la", None),
    ("Ludwig van Beethoven", "Beethoven", "Ludwig", "van", None),
    ("von Brandt, Ahasver", "Brandt", "Ahasver", "von", None),
    ("de Geer, Ingrid", "Geer", "Ingrid", "de", None),
    ("Ralph von und zum Jones", "Jones", "Ralph", "von und zum", None),
    ("van Gogh", "Gogh", None, "van", None),
    # Glued particles stay in the family name (a separate one would print "al- Aswānī").
    ("al-Aswānī, ʿAlāʾ", "al-Aswānī", "ʿAlāʾ", None, None),
    ("d'Alembert, Jean", "d'Alembert", "Jean", None, None),
    ("AL-ASWANI, ALA", "al-Aswani", "Ala", None, None),
    ("JOHN A SMITH", "Smith", "John A", None, None),
    # Capitalised particles belong to the family name (BibTeX, CSL ParticleCaps1).
    ("Van Four, Fourname", "Van Four", "Fourname", None, None),
    ("De Gaulle, Charles", "De Gaulle", "Charles", None, None),
    ("Charles de Gaulle", "Gaulle", "Charles", "de", None),
    # Suffixes: CSL order, BibTeX's "von Last, Jr, First", and natural order.
    ("King, Martin Luther, Jr.", "King", "Martin Luther", None, "Jr."),
    ("Author, Jr., Ann A.", "Author", "Ann A.", None, "Jr."),
    ("Martin Luther King, Jr.", "King", "Martin Luther", None, "Jr."),
    ("Martin Luther King Jr.", "King", "Martin Luther", None, "Jr."),
    ("Gates, William Henry, III", "Gates", "William Henry", None, "III"),
    # All capitals are recased; mixed case is kept exactly.
    ("ZHENG, CHENGYUN", "Zheng", "Chengyun", None, None),
    ("MCDONALD, JOHN", "McDonald", "John", None, None),
    ("O'BRIEN, JEAN-PIERRE", "O'Brien", "Jean-Pierre", None, None),
    ("VAN DER BERG, JAN", "Berg", "Jan", "van der", None),
    ("ZHENG C", "Zheng", "C.", None, None),
    ("McDonald, Ian", "McDonald", "Ian", None, None),
    ("DU, Xavier", "DU", "Xavier", None, None),
    ("Neuser-Hoffmann, Miriam", "Neuser-Hoffmann", "Miriam", None, None),
    ("O'Meara, Dominic J.", "O'Meara", "Dominic J.", None, None),
    ("Lloyd, G. E. R.", "Lloyd", "G. E. R.", None, None),
    ("Willighagen, E.L.", "Willighagen", "E.L.", None, None),
    ("Uría Ríu, Juan", "Uría Ríu", "Juan", None, None),
    ("Chen, Guo-ping", "Chen", "Guo-ping", None, None),
    ("Liu, Hui-Xiao Li Yuan", "Liu", "Hui-Xiao Li Yuan", None, None),
    # Han script: one token is a family-only name; a comma form splits as written.
    ("李爱", "李爱", None, None, None),
    ("我妻, 栄", "我妻", "栄", None, None),
    ("Aristotle", "Aristotle", None, None, None),
    # Surrounding noise that exporters leave.
    ("  Smith,  John ;", "Smith", "John", None, None),
]

LITERAL_CASES = [
    "World Health Organization",
    "WHO",
    "WHO Collaborating Centre for Drug Statistics Methodology",
    "University of Oxford",
    "Modern Language Association",
    "The Foundation",
    "Organizations and Institutions",
    "GBD 2019 Diseases and Injuries Collaborators",
    "International HapMap Consortium",
    "ALLHAT Collaborative Research Group",
    "Acme Widgets Inc.",
    "Springer-Verlag GmbH",
    "Royal Society of Chemistry",
    "National Institute for Health and Care Excellence",
]


@pytest.mark.parametrize(("text", "family", "given_", "particle", "suffix"), NAME_CASES)
def test_parse_name_table(
    text: str, family: str, given_: str | None, particle: str | None, suffix: str | None
) -> None:
    name = parse_name(text)
    assert name == Name(family=family, given=given_, non_dropping_particle=particle, suffix=suffix)


@pytest.mark.parametrize("text", LITERAL_CASES)
def test_organisations_are_literal(text: str) -> None:
    assert parse_name(text) == Name(literal=text)
    assert is_organisation(text)


@pytest.mark.parametrize("text", ["Smith, John", "Li, Ai", "Zheng CY", "Aristotle", "Group"])
def test_people_are_not_organisations(text: str) -> None:
    # "Group" alone could be a surname; a keyword needs company.
    assert not is_organisation(text)


def test_dropping_particle_after_given_name() -> None:
    assert parse_name("Beethoven, Ludwig van") == Name(
        family="Beethoven", given="Ludwig", dropping_particle="van"
    )
    assert parse_name("Smith, George von und zum") == Name(
        family="Smith", given="George", dropping_particle="von und zum"
    )


@pytest.mark.parametrize("text", ["", "   ", "\n\t", ",", " ; ", "\u200b"])
def test_blank_name_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_name(text)


NAME_LIST_CASES: list[tuple[str, list[str]]] = [
    # The seed's VuFind "Main Authors" row: comma-joined Family, Given pairs.
    (
        "Li, Ai, Tao, Yuan, Kong, Dexiao",
        ["Li, Ai", "Tao, Yuan", "Kong, Dexiao"],
    ),
    ("Smith, J., Jones, K.", ["Smith, J.", "Jones, K."]),
    ("King, Martin L., Jr., Parks, Rosa", ["King, Martin L., Jr.", "Parks, Rosa"]),
    ("Li, Ai, Tao, Yuan, Kong", ["Li, Ai", "Tao, Yuan", "Kong"]),
    # BibTeX and RIS/EndNote separators.
    ("Kowalik, F. and Isard, M.", ["Kowalik, F.", "Isard, M."]),
    ("Chiu, Willy W. AND Chow, We Min", ["Chiu, Willy W.", "Chow, We Min"]),
    ("Smith, John; Doe, Jane", ["Smith, John", "Doe, Jane"]),
    ("Smith, John\nDoe, Jane\n", ["Smith, John", "Doe, Jane"]),
    ("John Smith & Jane Doe", ["Smith, John", "Doe, Jane"]),
    ("Smith J, Doe J", ["Smith, J.", "Doe, J."]),
    ("Smith, John", ["Smith, John"]),
    ("Ralph von und zum Jones", ["von und zum Jones, Ralph"]),
    ("Smith J, Doe JA, de Hoon MJ", ["Smith, J.", "Doe, J. A.", "de Hoon, M. J."]),
    # et al. / others are dropped.
    ("Born, L. et al.", ["Born, L."]),
    ("Smith, John and others", ["Smith, John"]),
    ("Smith, John; Doe, Jane; et al", ["Smith, John", "Doe, Jane"]),
    # Organisations stay whole, even with "and" inside.
    ("World Health Organization", ["World Health Organization"]),
    ("Organizations and Institutions", ["Organizations and Institutions"]),
    ("", []),
    ("et al.", []),
]


@pytest.mark.parametrize(("text", "expected"), NAME_LIST_CASES)
def test_parse_name_list_table(text: str, expected: list[str]) -> None:
    assert [format_name_inverted(n) for n in parse_name_list(text)] == expected


def test_seed_main_authors_row() -> None:
    row = (
        "Li, Ai, Tao, Yuan, Kong, Dexiao, Liu, Xiuying, Ye, Qiuping, Zhang, Jian, "
        "Xu, Wei, Li, Jian, Shen, Jianwei, Wang, Fang, Zhou, Qiang, Zheng, Chengyun"
    )
    found = parse_name_list(row)
    assert len(found) == 12
    assert (found[0].family, found[0].given) == ("Li", "Ai")
    assert (found[-1].family, found[-1].given) == ("Zheng", "Chengyun")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Born, L. et al.", True),
        ("Smith, John and others", True),
        ("Smith, J; Doe, J; [et al.]", True),
        ("Smith, John", False),
        ("Othersen, Karl", False),
    ],
)
def test_has_et_al(text: str, expected: bool) -> None:
    assert has_et_al(text) is expected


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (Name(family="Berg", given="J.", non_dropping_particle="van der"), "van der Berg, J."),
        (Name(family="King", given="Martin Luther", suffix="Jr."), "King, Martin Luther, Jr."),
        (Name(family="Smith", suffix="Jr."), "Smith, Jr."),
        (Name(family="al-Hashimi", given="A."), "al-Hashimi, A."),
        (Name(literal="Acme Widgets"), "Acme Widgets,"),
        (
            Name(family="Beethoven", given="Ludwig", dropping_particle="van"),
            "Beethoven, Ludwig van",
        ),
        (Name(literal="World Health Organization"), "World Health Organization"),
        (Name(family="Aristotle"), "Aristotle"),
    ],
)
def test_format_name_inverted(name: Name, text: str) -> None:
    assert format_name_inverted(name) == text
    assert parse_name(text) == name


def _medline_names(path: Path) -> list[tuple[str, str]]:
    """(AU, FAU) pairs of one MEDLINE file, in order."""
    au: list[str] = []
    fau: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("AU  - "):
            au.append(line[6:].strip())
        elif line.startswith("FAU - "):
            fau.append(line[6:].strip())
    return list(zip(au, fau, strict=False)) if len(au) == len(fau) else []


@pytest.mark.corpus
def test_medline_short_and_full_names_agree() -> None:
    """PubMed's AU ("Birch PR") and FAU ("Birch, Paul R J") give one family and initials."""
    pairs = [p for f in corpus_files("biopython/Tests/Medline/*.txt") for p in _medline_names(f)]
    assert len(pairs) >= 15
    for short, full in pairs:
        a, b = parse_name(short), parse_name(full)
        assert (a.family, a.non_dropping_particle) == (b.family, b.non_dropping_particle)
        assert a.given is not None and b.given is not None
        # PubMed's AU keeps at most two initials ("Saqi MA" for "Saqi, Mansoor A S").
        initials = [w[0] for w in re.split(r"[\s.]+", b.given) if w]
        short_initials = a.given.replace(".", "").split()
        assert short_initials == initials[: len(short_initials)]
        assert 1 <= len(short_initials) <= 2


def _csl_suite_names() -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for path in corpus_files("csl-test-suite/processor-tests/humans/name_*.txt"):
        text = path.read_text(encoding="utf-8")
        match = re.search(r">>=+ INPUT =+>>(.*?)<<=+ INPUT =+<<", text, re.DOTALL)
        if match is None:
            continue
        for item in json.loads(match.group(1)):
            for role in ("author", "editor"):
                found.extend(item.get(role, []))
    return found


@pytest.mark.corpus
def test_csl_suite_names_survive_inverted_text() -> None:
    """Each CSL test-suite name, written inverted and parsed back, displays the same."""
    found = _csl_suite_names()
    assert len(found) >= 8
    for data in found:
        name = Name(**{k.replace("-", "_"): v for k, v in data.items()})
        again = parse_name(format_name_inverted(name))
        if name.literal is not None and "," in name.literal:
            # name_LiteralWithComma: inverted text cannot mark "Smith, John" as a literal.
            assert again == Name(family="Smith", given="John")
            continue
        assert again.display() == name.display()
        assert (again.literal is None) == (name.literal is None)


@pytest.mark.corpus
def test_corpus_bibtex_author_fields_parse() -> None:
    """Every plain ``author = {...}`` in the pandoc BibLaTeX tests parses name by name."""
    pattern = re.compile(r"^\s*author\s*=\s*\{([^{}\\]*)\},?\s*$", re.IGNORECASE | re.MULTILINE)
    values = [
        m.group(1)
        for f in corpus_files("pandoc/test/command/*")
        if "comment" not in f.name
        for m in pattern.finditer(f.read_text(encoding="utf-8", errors="replace"))
    ]
    assert len(values) >= 10
    for raw in values:
        value = " ".join(raw.split())  # a line break inside a BibTeX value is a space
        parts = [p for p in re.split(r"\s+and\s+", value) if p.strip(" ,")]
        assert len(parse_name_list(value)) == len(parts), value


def _brace_value(text: str, start: int) -> str | None:
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return None


def _pandoc_biblatex_names() -> list[tuple[str, str, list[dict[str, str]]]]:
    """(file, author/editor value, pandoc's expected CSL names) from pandoc's tests."""
    found = []
    for path in corpus_files("pandoc/test/command/biblatex-*.md"):
        text = path.read_text(encoding="utf-8")
        if "% pandoc -f biblatex" not in text or "^D" not in text:
            continue
        bib, _, out = text.partition("^D")
        match = re.search(r"^---\n(.*?)^(?:---|\.\.\.)\n", out, re.S | re.M)
        if match is None:
            continue
        refs = {r["id"]: r for r in yaml.safe_load(match.group(1)).get("references", [])}
        for entry in re.finditer(r"@\w+\{([^,\s]+),", bib):
            end = bib.find("\n@", entry.end())
            body = bib[entry.end() : end if end > 0 else len(bib)]
            for field in re.finditer(r"^\s*(author|editor)\s*=\s*\{", body, re.M | re.I):
                value = _brace_value(body, field.end() - 1)
                ref = refs.get(entry.group(1), {})
                role = field.group(1).lower()
                # LaTeX in names is the BibTeX reader's job, not the name parser's.
                if value is None or "{" in value or "\\" in value or role not in ref:
                    continue
                found.append((path.name, " ".join(value.split()), ref[role]))
    return found


@pytest.mark.corpus
def test_names_agree_with_pandoc_biblatex_tests() -> None:
    """Pandoc's expected CSL names for its BibLaTeX tests, particle kind aside.

    Pandoc follows biblatex's ``useprefix=false`` and makes "von Brandt" a dropping
    particle; we keep particles written before the family name non-dropping (CSL's and
    citeproc-js's reading), so the particle is compared whatever its kind.
    """

    def view(d: dict[str, str]) -> tuple[str | None, ...]:
        particle = d.get("dropping-particle") or d.get("non-dropping-particle")
        return (d.get("literal"), d.get("given"), particle, d.get("family"), d.get("suffix"))

    cases = _pandoc_biblatex_names()
    assert len(cases) >= 100
    for file, value, expected in cases:
        got = [view(n.model_dump(by_alias=True, exclude_none=True)) for n in parse_name_list(value)]
        assert got == [view(e) for e in expected], (file, value)


def test_biblatex_extended_name_format() -> None:
    text = "family=Goethe, given=Johann Wolfgang, prefix=von, useprefix=false"
    assert parse_name(text) == Name(
        family="Goethe", given="Johann Wolfgang", dropping_particle="von"
    )
    assert parse_name("given=Antonie, prefix=van, family=Leeuwenhoek, useprefix=true") == Name(
        family="Leeuwenhoek", given="Antonie", non_dropping_particle="van"
    )


def test_parse_name_is_fast() -> None:
    parse_name.cache_clear()
    texts = [f"Family{i}, Given{i}" for i in range(2000)]
    cold = timeit.timeit(lambda: [parse_name(t) for t in texts], number=1) / len(texts)
    warm = timeit.timeit(lambda: [parse_name(t) for t in texts], number=5) / (5 * len(texts))
    # Generous bounds (2 shared cores): they catch a pathological regex, not jitter.
    assert cold < 250e-6
    assert warm < 10e-6


name_text = st.one_of(
    st.text(max_size=40),
    hostile_text(max_pieces=6),
    st.builds(
        lambda a, b, sep: f"{a}{sep}{b}",
        st.text(min_size=1, max_size=12),
        st.text(min_size=1, max_size=12),
        st.sampled_from([", ", " ", ",", " van ", ", Jr., ", " de la ", " AND "]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(name_text)
def test_parse_name_never_fails_unexpectedly(text: str) -> None:
    try:
        name = parse_name(text)
    except ValueError:
        return
    assert isinstance(name, Name)


@settings(max_examples=300, deadline=None)
@given(name_text)
@example("0, Jr., ,0")
@example("; 0")
@example("van A")
@example("ʼN")
def test_parse_name_round_trips_through_inverted_text(text: str) -> None:
    try:
        name = parse_name(text)
    except ValueError:
        return
    assert parse_name(format_name_inverted(name)) == name


@settings(max_examples=200, deadline=None)
@given(names())
def test_model_names_round_trip_through_inverted_text(name: Name) -> None:
    """What the RIS writer writes, the RIS reader reads back to the same Name."""
    assert parse_name(format_name_inverted(name)) == name


@settings(max_examples=150, deadline=None)
@given(st.lists(names(), min_size=1, max_size=8))
def test_name_lists_round_trip_with_semicolons(found: list[Name]) -> None:
    text = "; ".join(format_name_inverted(n) for n in found)
    assert parse_name_list(text) == found


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_parse_name_list_never_raises(text: str) -> None:
    for name in parse_name_list(text):
        assert isinstance(name, Name)
