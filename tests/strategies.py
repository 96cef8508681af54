"""Hypothesis strategies shared by the format tests: records and hostile strings."""

from __future__ import annotations

from hypothesis import strategies as st
from stdnum import ean as _ean
from stdnum import issn as _issn

from harvester.model import CSL_TYPES, Date, Identifier, Name, Record

# Letters people's names and titles really have: Latin with diacritics, Greek, Cyrillic,
# Han, Arabic; and the characters that break formats.
_WORD_CHARS = st.characters(
    codec="utf-8",
    categories=("Lu", "Ll", "Lo"),
    exclude_characters="\u0130\u0131\u01c5\u01c8\u01cb\u01f2",
)
LATEX_SPECIAL = list("{}\\%#&$_^~@\"'`,;")
LINE_BREAKS = ["\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
HOSTILE_PIECES = [
    "{", "}", "}{", "\\", "\\\\", "%", "#", "&", "@", "$", "_", "~", "^",
    "\nER  - ", "\nTY  - JOUR", "\r\nAU  - Evil", "\n@article{x,", "\"", "\",", "]}",
    "\x00", "\ufeff", "\ud800", "\udfff", "\u202e", "\u202d", "\u200b", "\u0301",
    " and ", " AND ", "others", "--", "---", "\t", "  ",
    *LINE_BREAKS,
]  # fmt: skip

words = st.text(_WORD_CHARS, min_size=1, max_size=12)
plain_text = st.lists(words, min_size=1, max_size=8).map(" ".join)


@st.composite
def hostile_text(draw: st.DrawFn, *, max_pieces: int = 12) -> str:
    """Strings built to break writers: braces, escapes, fake tags, every line separator."""
    pieces = draw(
        st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), words), min_size=1, max_size=max_pieces)
    )
    return "".join(pieces)


def huge_text() -> st.SearchStrategy[str]:
    """A value of about 1 MB (a few distinct shapes, hypothesis would not invent one)."""
    return st.sampled_from(
        ["x" * 1_000_000, ("{" * 10 + "a}" * 10 + "\n") * 40_000, ("ab\\" * 333_334)]
    )


particles = st.sampled_from(["van", "van der", "de", "de la", "von", "di", "da", "du", "le"])
suffixes = st.sampled_from(["Jr.", "Sr.", "III", "II"])


@st.composite
def names(draw: st.DrawFn) -> Name:
    if draw(st.integers(0, 9)) == 0:
        return Name(literal=draw(plain_text))
    return Name(
        family=draw(words).capitalize(),
        given=draw(st.one_of(st.none(), words.map(str.capitalize))),
        non_dropping_particle=draw(st.one_of(st.none(), st.none(), particles)),
        suffix=draw(st.one_of(st.none(), st.none(), st.none(), suffixes)),
    )


@st.composite
def dates(draw: st.DrawFn) -> Date:
    year = draw(st.integers(1450, 2030))
    precision = draw(st.integers(1, 3))
    if precision == 1:
        return Date(parts=(year,))
    month = draw(st.integers(1, 12))
    if precision == 2:
        return Date(parts=(year, month))
    return Date(parts=(year, month, draw(st.integers(1, 28))))


@st.composite
def issns(draw: st.DrawFn) -> Identifier:
    body = "".join(str(draw(st.integers(0, 9))) for _ in range(7))
    value = body + _issn.calc_check_digit(body)
    return Identifier(scheme="issn", value=f"{value[:4]}-{value[4:]}")


@st.composite
def isbns(draw: st.DrawFn) -> Identifier:
    body = "978" + "".join(str(draw(st.integers(0, 9))) for _ in range(9))
    return Identifier(scheme="isbn", value=body + _ean.calc_check_digit(body))


@st.composite
def dois(draw: st.DrawFn) -> Identifier:
    prefix = draw(st.integers(1000, 99999))
    suffix = draw(st.from_regex(r"[a-z0-9][a-z0-9.()<>;:/_-]{0,30}[a-z0-9]", fullmatch=True))
    return Identifier(scheme="doi", value=f"10.{prefix}/{suffix}")


@st.composite
def pages(draw: st.DrawFn) -> str:
    first = draw(st.integers(1, 5000))
    if draw(st.booleans()):
        return str(first)
    return f"{first}-{first + draw(st.integers(1, 400))}"


def _opt(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), strategy)


_RECORD_TYPES = ["article-journal", "book", "chapter", "paper-conference", "report", "thesis"]


@st.composite
def records(draw: st.DrawFn, *, text: st.SearchStrategy[str] = plain_text) -> Record:
    """Well-formed records; ``text`` chooses what goes into free-text fields."""
    kind = draw(
        st.sampled_from(
            ["article-journal", "book", "chapter", "paper-conference", "report", "thesis"]
        )
    )
    return Record(
        type=kind,
        title=draw(text),
        container_title=draw(_opt(text)) if kind != "book" else None,
        author=draw(st.lists(names(), max_size=30)),
        editor=draw(st.lists(names(), max_size=3)),
        issued=draw(st.one_of(st.none(), dates())),
        volume=draw(_opt(st.integers(1, 300).map(str))),
        issue=draw(_opt(st.integers(1, 12).map(str))),
        page=draw(_opt(pages())),
        publisher=draw(_opt(text)),
        publisher_place=draw(_opt(text)),
        abstract=draw(_opt(text)),
        keywords=draw(st.lists(words, max_size=5)),
        language=draw(st.sampled_from([None, "en", "de", "fr", "zh"])),
        identifiers=draw(st.lists(st.one_of(issns(), isbns(), dois()), max_size=4)),
    )


ALL_CSL_TYPES = st.sampled_from(CSL_TYPES)
