"""LaTeX <-> Unicode for BibTeX values (harvester/formats/_latex.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import hostile_text

from harvester.formats._latex import (
    ascii_escape_char,
    decode_latex,
    decode_verbatim,
    escape_latex,
)

DECODE_CASES = [
    # accents in every spelling BibTeX files use
    (r"{\"u}ber", "über"),
    (r"\"{u}", "ü"),
    (r"\"u", "ü"),
    (r"\" u", "ü"),
    (r"\'e", "é"),
    (r"{\'{e}}", "é"),
    (r"\`a", "à"),
    (r"\c{c}", "ç"),
    (r"\c c", "ç"),
    (r"\v{s}", "š"),
    (r"Dvo{\v{r}}{\'a}k", "Dvořák"),
    (r"\u{g}", "ğ"),
    (r"\H{o}", "ő"),
    (r"\k{a}", "ą"),
    (r"\r{a}", "å"),
    (r"\=a", "ā"),
    (r"\.z", "ż"),
    (r"\~n", "ñ"),
    (r"\^o", "ô"),
    (r"\d{s}", "ṣ"),
    (r"\'\i", "í"),
    (r"\'{\i}", "í"),
    (r"Garc{\'\i}a", "García"),
    (r"\^\j", "ĵ"),
    # letters and symbols
    (r"\ss", "ß"),
    (r"Stra{\ss}e", "Straße"),
    (r"{\o}rsted", "ørsted"),
    (r"\O", "Ø"),
    (r"\ae\AE\oe\OE", "æÆœŒ"),
    (r"{\l}{\L}", "łŁ"),
    (r"\aa{} \AA", "å Å"),
    (r"\i", "ı"),
    (r"\textbackslash{}x", "\\x"),
    (r"\textasciitilde{}\textasciicircum{}", "~^"),
    (r"\textbraceleft{}\textbraceright{}", "{}"),
    (r"d\textquoteright{}Arch", "d’Arch"),
    (r"\textendash{} \textemdash", "– —"),
    (r"\copyright", "©"),
    # pylatexenc's table for macros we do not list ourselves
    (r"\alpha", "α"),
    (r"\textregistered", "®"),
    # escapes
    (r"\&\%\$\#\_\{\}", "&%$#_{}"),
    (r"a\\b", "a\nb"),
    (r"hy\-phen", "hyphen"),
    # ligatures and ties
    ("1--2", "1–2"),
    ("a---b", "a—b"),
    ("a~b", "a\u00a0b"),
    ("``quoted''", "“quoted”"),
    # formatting commands keep their text
    (r"\textit{it} \emph{em} \textbf{bf} \textsc{sc}", "it em bf sc"),
    (r"a\it b{\bf c}", "abc"),
    (r"\url{https://example.org}", "https://example.org"),
    (r"\href{https://example.org}{Example}", "Example"),
    (r"a\begin{it}b\end{it}c", "abc"),
    # math is kept as written
    (r"$e=mc^2$", "$e=mc^2$"),
    (r"Phi: $\Phi$", r"Phi: $\Phi$"),
    # protective braces disappear
    ("The {DNA} of {Alzheimer}'s", "The DNA of Alzheimer's"),
    ("{{Nested {braces}}}", "Nested braces"),
    # unknown macros are kept, not lost
    (r"\unknownmacro{x}", r"\unknownmacro x"),
    # code points
    (r'{\char"4E2D}', "中"),
    (r"\symbol{20013}", "中"),
    (r"\char'101", "A"),
    ("plain text stays", "plain text stays"),
]


@pytest.mark.parametrize(("latex", "text"), DECODE_CASES)
def test_decode(latex: str, text: str) -> None:
    assert decode_latex(latex) == text


def test_decode_fast_path_returns_the_same_object() -> None:
    value = "A plain title without specials, 2017"
    assert decode_latex(value) is value


def test_verbatim_only_undoes_escapes() -> None:
    assert decode_verbatim(r"https://x.org/a\_b--c~d") == "https://x.org/a_b--c~d"
    assert decode_verbatim("10.1000/{x}") == "10.1000/{x}"


ESCAPE_CASES = [
    ("R&D 50% #1 $5 a_b", r"R\&D 50\% \#1 \$5 a\_b"),
    ("~^\\", r"\textasciitilde{}\textasciicircum{}\textbackslash{}"),
    ("{a}", r"\{a\}"),
    ("a } b {", r"a \textbraceright{} b \textbraceleft{}"),
    ("}{", r"\textbraceright{}\textbraceleft{}"),
    ("1--2 a---b", "1-{}-2 a-{}-{}-b"),
    ("``x''", "`{}`x'{}'"),
    ("no specials", "no specials"),
]


@pytest.mark.parametrize(("text", "latex"), ESCAPE_CASES)
def test_escape(text: str, latex: str) -> None:
    assert escape_latex(text) == (latex, "")


@pytest.mark.parametrize(
    ("char", "latex"),
    [("ü", r"{\"u}"), ("é", r"{\'e}"), ("ç", r"{\c{c}}"), ("š", r"{\v{s}}"), ("ß", r"{\ss}"),
     ("ø", r"{\o}"), ("ł", r"{\l}"), ("–", r"\textendash{}"), ("Å", r"{\r{A}}")],
)  # fmt: skip
def test_ascii_escapes(char: str, latex: str) -> None:
    assert ascii_escape_char(char) == (latex, True)
    assert decode_latex(latex) == char


def test_ascii_mode_reports_characters_without_an_escape() -> None:
    escaped, missing = escape_latex("Li 李 Über", ascii_only=True)
    assert escaped.isascii()
    assert missing == "李"
    assert decode_latex(escaped) == "Li 李 Über"


_SURROGATES = re.compile("[\ud800-\udfff]")


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


@given(st.one_of(hostile_text(), st.text()), st.booleans())
@settings(max_examples=300, deadline=None)
def test_escape_then_decode_is_identity_and_braces_balance(text: str, ascii_only: bool) -> None:
    # Records never hold lone surrogates (clean_text makes them U+FFFD), nor do we here.
    text = _SURROGATES.sub("\ufffd", text)
    escaped, _missing = escape_latex(text, ascii_only=ascii_only)
    # BibTeX counts every brace, escaped or not: the value must balance as written.
    assert _balanced(escaped)
    if ascii_only:
        assert escaped.isascii()
    assert decode_latex(escaped) == text


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_decode_never_raises(text: str) -> None:
    assert isinstance(decode_latex(text), str)
