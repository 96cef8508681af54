"""BibTeX and BibLaTeX: a streaming reader and a writer that BibTeX re-parses exactly.

Reading. The input is read in 64 KB chunks and scanned by our own tokenizer (bibtexparser's
splitter alone reads about 5,000 records/s here and 173/s with its LaTeX decoding, far below
the 6,000/s conversion target). The scanner finds ``@``, the entry type, ``{`` or ``(``,
the key, then ``name = value`` fields where a value is ``{balanced braces}``,
``"quoted {with} braces"``, a number or a macro, joined with ``#``. Text outside entries is
ignored; ``@comment`` and ``@preamble`` are skipped; ``@string`` defines macros (``jan``
to ``dec`` are predefined). Only one entry is held at a time, plus what ``crossref`` needs.

Bad input: an entry is never allowed to run past a line that starts a new entry
(``@type{`` or ``@type(`` at the start of a line, as bibtexparser also assumes), so an
unbalanced brace costs one entry, reported as a located ``ParseError`` naming the line and
key; the entries before and after still read.

``crossref`` (BibLaTeX ``xref`` is kept, not resolved): the child inherits the parent's
fields it lacks, with BibLaTeX's title mappings (a book's ``title`` becomes an ``@inbook``'s
``booktitle``, a periodical's becomes an ``@article``'s ``journaltitle``). A parent found
earlier in the file is used when it is among the last 4,096 container entries (books,
proceedings, collections, periodicals...) or the last 256 entries of other types, so
memory stays flat on files of any size. A child whose parent comes later (BibTeX's own
required order) is held until the parent is read and then yielded right after it, so such
children move in the output order. At most 10,000 children wait; the oldest are then
yielded unresolved, and children whose parent never appears are yielded at the end with
``crossref`` kept in ``extra``.

Names: our own BibTeX name-list parser (``First von Last``, ``von Last, First``,
``von Last, Jr, First``, brace-protected groups, BibLaTeX ``family=..., given=...``).
A name that is one brace group (``{Barnes and Noble}``) is a ``literal``. A final
``and others`` is kept as ``extra["bibtex:author+others"] = ["true"]`` (and likewise for
editor/translator), which the writer turns back into ``and others``.

Field decisions: ``journal``/``journaltitle``/``booktitle`` -> ``container_title`` (and
``journalsubtitle``/``booksubtitle`` appended after ": "); ``number`` is the issue of an
article or paper, the series number of a book or chapter, and ``number`` otherwise;
``school``/``institution``/``organization`` stand in for a missing ``publisher``;
``address``/``location`` -> ``publisher_place``; BibLaTeX ``date`` (EDTF) wins over
``year``/``month``/``day``; ``type`` -> ``genre`` (``@phdthesis`` and ``@mastersthesis``
without one get "PhD thesis" / "Master's thesis"); ``keywords`` split on ``;`` when there
is one, else on ``,``; ``issn`` and ``isbn`` may hold several values; ``eprint`` with
``eprinttype``/``archiveprefix`` arXiv or PubMed becomes an identifier. LaTeX is decoded
in every field (``_latex.decode_latex``) except verbatim ones (``url``, ``doi``,
``eprint``, ``file``), and in ``pages`` ``--`` is a range, not an en dash. An undefined
macro keeps its name (BibTeX would silently make it empty). Everything else, and every
second value of a field, is kept in ``extra["bibtex:<field>"]``; entry types that our
writer would not choose again (``@booklet``, ``@manual``, ``@proceedings``...) are kept
in ``extra["bibtex:entrytype"]``.

Writing follows DESIGN.md's BibTeX rules; the docstring of ``BibtexWriter`` has the
details.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TextIO

from pydantic import ValidationError

from harvester.errors import ParseError
from harvester.formats._base import (
    Format,
    Loss,
    ReadResult,
    Writer,
    describe_validation_error,
    renamed_entries,
)
from harvester.formats._latex import (
    decode_latex,
    decode_verbatim,
    escape_latex,
)
from harvester.formats.fidelity import table_losses
from harvester.model import (
    Date,
    Identifier,
    Name,
    Record,
    build_record,
    make_date,
    make_identifier,
    make_name,
)
from harvester.normalize.dates import format_edtf, parse_date, parse_month
from harvester.normalize.identifiers import find_issns
from harvester.normalize.language import english_name, normalize_language

NAME = "bibtex"
_CHUNK = 1 << 16
_PARENT_MEMORY = 4096  # container entries (books, proceedings...) kept for crossref
_RECENT_MEMORY = 256  # entries of any other type kept for crossref
_MAX_PENDING = 10_000

# --------------------------------------------------------------------------------------
# Tokenizer

_HEAD = re.compile(r"@[ \t\r\n]*([A-Za-z][\w:.+-]*)[ \t\r\n]*([{(])")
_LINE_ENTRY = re.compile(r"\n[ \t]*@\w*[ \t]*[{(]")
_KEY = re.compile(r"\s*([^\s,{}()=\"#]*)\s*([,})])")
_FIELD_FAST = re.compile(
    r'\s*([A-Za-z_][^\s=,{}"#()%]*)\s*=\s*'
    r'(?:\{([^{}]*(?:\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\}[^{}]*)*)\}|"([^"{}]*)"|([0-9]+)'
    r'|([A-Za-z_][^\s=,{}"#()%]*))'
    r"\s*([,})])"
)
_FIELD_NAME = re.compile(r'\s*([A-Za-z_][^\s=,{}"#()%]*)\s*=\s*')
_SPACE = re.compile(r"\s*")
_WORD = re.compile(r'[^\s=,{}"#()%]+')
_BRACES = re.compile(r"[{}]")
_QUOTED = re.compile(r'[{}"]')
_CLOSER = {"{": "}", "(": ")"}

MONTH_MACROS: dict[str, str] = {
    "jan": "January", "feb": "February", "mar": "March", "apr": "April", "may": "May",
    "jun": "June", "jul": "July", "aug": "August", "sep": "September", "oct": "October",
    "nov": "November", "dec": "December",
}  # fmt: skip


class _Broken(Exception):
    """An entry that cannot be read: where, and why."""

    def __init__(self, pos: int, cause: str) -> None:
        self.pos = pos
        self.cause = cause
        super().__init__(cause)


@dataclass
class _Entry:
    type: str
    key: str
    fields: dict[str, str]
    line: int
    index: int
    duplicates: list[tuple[str, str]] = field(default_factory=list)


def _balanced_end(buf: str, pos: int, end: int) -> int:
    """Index just after the ``}`` closing the ``{`` at ``pos`` (BibTeX counts every brace)."""
    depth = 1
    start = pos + 1
    while True:
        close = buf.find("}", start, end)
        if close < 0:
            raise _Broken(pos, "unbalanced braces: no closing }")
        depth += buf.count("{", start, close) - 1
        if depth == 0:
            return close + 1
        start = close + 1


def _quoted_end(buf: str, pos: int, end: int) -> int:
    """Index just after the ``"`` closing the quoted value at ``pos``."""
    depth = 0
    for match in _QUOTED.finditer(buf, pos + 1, end):
        char = match.group(0)
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth < 0:
                raise _Broken(match.start(), 'unbalanced braces in a "quoted" value')
        elif depth == 0:
            return match.end()
    raise _Broken(pos, 'no closing " for a quoted value')


def _value(buf: str, pos: int, end: int, macros: dict[str, str]) -> tuple[str, int]:
    """Parse a value (pieces joined with ``#``) at ``pos``; return it and the end."""
    pieces: list[str] = []
    while True:
        if pos >= end:
            raise _Broken(pos, "a field has no value")
        char = buf[pos]
        if char == "{":
            stop = _balanced_end(buf, pos, end)
            pieces.append(buf[pos + 1 : stop - 1])
        elif char == '"':
            stop = _quoted_end(buf, pos, end)
            pieces.append(buf[pos + 1 : stop - 1])
        else:
            match = _WORD.match(buf, pos, end)
            if match is None:
                raise _Broken(pos, f"unexpected {char!r} where a value should be")
            stop = match.end()
            word = match.group(0)
            if word.isdigit():
                pieces.append(word)
            else:
                # An undefined macro expands to nothing in BibTeX; we keep its name.
                pieces.append(macros.get(word.lower(), word))
        pos = _SPACE.match(buf, stop, end).end()  # type: ignore[union-attr]
        if pos < end and buf[pos] == "#":
            pos = _SPACE.match(buf, pos + 1, end).end()  # type: ignore[union-attr]
            continue
        return "".join(pieces), pos


def _fields(
    buf: str, pos: int, end: int, closer: str, macros: dict[str, str]
) -> tuple[list[tuple[str, str]], int]:
    """Parse ``name = value`` pairs up to the entry's closing delimiter."""
    out: list[tuple[str, str]] = []
    fast = _FIELD_FAST.match
    while True:
        match = fast(buf, pos, end)
        if match is not None:
            name, braced, quoted, number, macro, sep = match.groups()
            if braced is not None:
                value = braced
            elif quoted is not None:
                value = quoted
            elif number is not None:
                value = number
            else:
                value = macros.get(macro.lower(), macro)
            out.append((name.lower(), value))
            pos = match.end()
            if sep == ",":
                continue
            # Either closer ends the entry: some files open with { and close with ).
            return out, pos
        pos = _SPACE.match(buf, pos, end).end()  # type: ignore[union-attr]
        if pos >= end:
            raise _Broken(pos, f"entry not closed (no {closer!r})")
        if buf[pos] in "})":
            return out, pos + 1
        name = _FIELD_NAME.match(buf, pos, end)
        if name is None:
            raise _Broken(pos, f"expected a field name or {closer!r}, found {buf[pos]!r}")
        value, pos = _value(buf, name.end(), end, macros)
        out.append((name.group(1).lower(), value))
        if pos >= end:
            raise _Broken(pos, f"entry not closed (no {closer!r})")
        sep = buf[pos]
        if sep == ",":
            pos += 1
        elif sep in "})":
            return out, pos + 1
        else:
            raise _Broken(pos, f"expected ',' or {closer!r} after field {name.group(1)!r}")


def _skip_group(buf: str, pos: int, end: int, opener: str) -> int:
    """End of an ``@comment``/``@preamble`` body opened at ``pos`` (or the window end)."""
    if opener == "{":
        try:
            return _balanced_end(buf, pos, end)
        except _Broken:
            return end
    depth = 0
    for index in range(pos + 1, end):
        char = buf[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ")" and depth <= 0:
            return index + 1
    return end


def _scan(stream: TextIO, source: str) -> Iterator[_Entry | ParseError]:
    """Stream raw entries (fields still LaTeX) and located errors from ``stream``."""
    buf = ""
    pos = 0
    eof = False
    line = 1  # line number at buf[0]
    counted = 0  # newlines in buf[:counted] are already in ``line``
    index = 0
    macros: dict[str, str] = dict(MONTH_MACROS)
    boundary = -1  # start of the next line-start entry, once found

    def read_more(keep_from: int) -> int:
        """Drop buf[:keep_from], append the next chunk; return the shift applied."""
        nonlocal buf, eof, line, counted, boundary
        line += buf.count("\n", counted, keep_from) if keep_from > counted else 0
        if keep_from > counted:
            counted = keep_from
        chunk = stream.read(max(_CHUNK, len(buf) - keep_from))
        if not chunk:
            eof = True
        buf = buf[keep_from:] + chunk
        counted -= keep_from
        if boundary >= 0:
            boundary -= keep_from
        return keep_from

    while True:
        at = buf.find("@", pos)
        if at < 0:
            if eof:
                return
            read_more(len(buf))
            pos = 0
            continue
        if boundary <= at:
            # The next entry starting a line bounds this one: no entry runs past it.
            search_from = at + 1
            while True:
                found = _LINE_ENTRY.search(buf, search_from)
                if found is not None:
                    boundary = found.start()
                    break
                if eof:
                    boundary = len(buf)
                    break
                search_from = max(len(buf) - at - 64, 1)
                shift = read_more(at)
                at -= shift
                pos = at
        end = boundary
        head = _HEAD.match(buf, at, end)
        if head is None:
            pos = at + 1
            continue
        kind = head.group(1).lower()
        opener = head.group(2)
        closer = _CLOSER[opener]
        body = head.end()
        if kind == "comment" or kind == "preamble":
            pos = _skip_group(buf, head.end() - 1, end, opener)
            continue
        at_line = line + buf.count("\n", counted, at)
        line, counted = at_line, at
        if kind == "string":
            try:
                pairs, pos = _fields(buf, body, end, closer, macros)
            except _Broken as exc:
                index += 1
                yield _error(buf, at, end, exc, source, at_line, index, "@string")
                pos = end
                continue
            for name, value in pairs:
                macros[name] = value
            continue
        index += 1
        key = ""
        try:
            key_match = _KEY.match(buf, body, end)
            if key_match is None:
                raise _Broken(body, "no entry key")
            key = key_match.group(1)
            if key_match.group(2) == ",":
                pairs, pos = _fields(buf, key_match.end(), end, closer, macros)
            else:
                pairs, pos = [], key_match.end()
        except _Broken as exc:
            yield _error(buf, at, end, exc, source, at_line, index, key)
            # Resume after the broken entry: at the next line that starts an entry.
            pos = end
            continue
        fields: dict[str, str] = {}
        duplicates: list[tuple[str, str]] = []
        for name, value in pairs:
            if name in fields:
                duplicates.append((name, value))
            else:
                fields[name] = value
        yield _Entry(kind, key, fields, at_line, index, duplicates)


def _error(
    buf: str, at: int, end: int, exc: _Broken, source: str, line: int, index: int, key: str
) -> ParseError:
    where = line + buf.count("\n", at, min(exc.pos, end))
    name = f" {key!r}" if key else ""
    return ParseError(
        f"entry{name} (starting line {line}): {exc.cause} (at line {where})",
        source=source,
        line=line,
        record=index,
        raw=buf[at:end],
        format_name=NAME,
    )


_STRING_ENTRY = re.compile(r"^[ \t]*@[ \t]*string[ \t]*[{(]", re.IGNORECASE | re.MULTILINE)


def macro_prelude(text: str) -> str:
    """Every ``@string`` definition in ``text``, on one line (empty when there is none).

    For parallel conversion: put in front of a chunk's first line, it gives the chunk the
    macros defined before it without moving any line number.
    """
    out = []
    for match in _STRING_ENTRY.finditer(text):
        start = text.index("@", match.start())
        opener = match.end() - 1
        end = _skip_group(text, opener, len(text), text[opener])
        out.append(" ".join(text[start:end].split()))
    return " ".join(out) + " " if out else ""


# --------------------------------------------------------------------------------------
# crossref


_NO_INHERIT = frozenset((
    "ids", "crossref", "xref", "entryset", "entrysubtype", "execute", "label", "options",
    "presort", "related", "relatedoptions", "relatedstring", "relatedtype", "shorthand",
    "shorthandintro", "sortkey"
))  # fmt: skip


def _title_target(parent: str, child: str) -> str | None:
    """Where BibLaTeX puts the parent's ``title`` in the child (None: ``title``)."""
    if parent.startswith("mv"):
        return "maintitle"
    if child in ("inbook", "bookinbook", "suppbook") and parent == "book":
        return "booktitle"
    if child in ("incollection", "suppcollection", "inreference") and parent in (
        "collection",
        "reference",
        "book",
    ):
        return "booktitle"
    if child == "inproceedings" and parent == "proceedings":
        return "booktitle"
    if child in ("article", "suppperiodical") and parent == "periodical":
        return "journaltitle"
    return None


def _inherit(child: _Entry, parent: _Entry) -> None:
    target = _title_target(parent.type, child.type)
    fields = child.fields
    for name, value in parent.fields.items():
        if name in _NO_INHERIT or (target and name in ("title", "subtitle", "shorttitle")):
            continue
        fields.setdefault(name, value)
    if target:
        title = parent.fields.get("title")
        if title is not None:
            fields.setdefault(target, title)
        subtitle = parent.fields.get("subtitle")
        if subtitle is not None:
            fields.setdefault(target[:-5] + "subtitle", subtitle)


# --------------------------------------------------------------------------------------
# Names

_AND = re.compile(r"\s+and\s+", re.IGNORECASE)
_TIE = re.compile(r"(?:\s|(?<!\\)~)+")
_NAMEPART_KEY = re.compile(r"\s*(family|given|prefix|suffix|useprefix)\s*=\s*", re.IGNORECASE)


def split_names(value: str) -> list[str]:
    """Split a name list on top-level ``and`` (any case, never inside braces)."""
    if (
        " and " in value
        and value.count(" and ") == value.lower().count(" and ")
        and not ("\n" in value or "\t" in value or "  " in value)
    ):
        parts = value.split(" and ")  # the common case, without a regular expression
    else:
        parts = _AND.split(value)
    if "{" in value and len(parts) > 1:
        # Re-join pieces that were split inside a brace group ({Barnes and Noble}).
        merged: list[str] = []
        depth = 0
        for part in parts:
            if depth > 0:
                merged[-1] += " and " + part
            else:
                merged.append(part)
            depth += part.count("{") - part.count("}")
        parts = merged
    out = []
    for part in parts:
        part = part.strip()
        if part:
            out.append(part)
    return out


def _top_split(text: str, char: str) -> list[str]:
    """Split on ``char`` outside braces."""
    if "{" not in text:
        return text.split(char)
    parts = []
    depth = 0
    start = 0
    for index, current in enumerate(text):
        if current == "{":
            depth += 1
        elif current == "}":
            depth -= 1
        elif current == char and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _words(text: str) -> list[str]:
    """Whitespace-separated words, braces kept whole."""
    if "{" not in text:
        if "~" not in text:
            return text.split()
        return [w for w in _TIE.split(text) if w]
    words: list[str] = []
    depth = 0
    current: list[str] = []
    previous = ""
    for char in text:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif depth <= 0 and (char.isspace() or (char == "~" and previous != "\\")):
            if current:
                words.append("".join(current))
                current = []
            previous = char
            continue
        current.append(char)
        previous = char
    if current:
        words.append("".join(current))
    return words


def _is_lower(word: str) -> bool:
    """BibTeX's case of a word: that of its first letter outside plain brace groups."""
    first = word[0]
    if first.isalpha():
        return first.islower()
    index = 0
    size = len(word)
    while index < size:
        char = word[index]
        if char == "{":
            depth = 0
            stop = index
            for stop in range(index, size):
                if word[stop] == "{":
                    depth += 1
                elif word[stop] == "}":
                    depth -= 1
                    if depth == 0:
                        break
            if word[index + 1 : index + 2] == "\\":
                for decoded in decode_latex(word[index : stop + 1]):
                    if decoded.isalpha():
                        return decoded.islower()
            index = stop + 1
            continue
        if char == "\\":
            for decoded in decode_latex(word[index:]):
                if decoded.isalpha():
                    return decoded.islower()
            return False
        if char.isalpha():
            return char.islower()
        index += 1
    return False


def _join(words: list[str]) -> str | None:
    text = decode_latex(" ".join(words)).strip() if words else ""
    return text or None


def _von_last(words: list[str]) -> tuple[list[str], list[str]]:
    last_lower = -1
    for index in range(len(words) - 1):
        if _is_lower(words[index]):
            last_lower = index
    return words[: last_lower + 1], words[last_lower + 1 :]


def _keyed_name(parts: list[str]) -> Name | None:
    values: dict[str, str] = {}
    for part in parts:
        match = _NAMEPART_KEY.match(part)
        if match is None:
            return None
        text = part[match.end() :].strip()
        if len(text) >= 2 and text[0] == "{" and text[-1] == "}":
            text = text[1:-1]
        values[match.group(1).lower()] = decode_latex(text).strip()
    return make_name(
        family=values.get("family") or None,
        given=values.get("given") or None,
        non_dropping_particle=values.get("prefix") or None,
        suffix=values.get("suffix") or None,
    )


@lru_cache(maxsize=8192)
def parse_bibtex_name(text: str) -> Name | None:
    """One BibTeX name in any of its three forms; None when it has no name in it."""
    text = text.strip()
    if (
        text.startswith("{")
        and text.endswith("}")
        and not text.startswith("{\\")  # a special character such as {\"U}, not a group
        and _top_split(text, ",") == [text]
    ):
        words = _words(text)
        if len(words) == 1:
            literal = decode_latex(text).strip()
            return make_name(literal=literal) if literal else None
    parts = _top_split(text, ",")
    if len(parts) == 1:
        words = _words(text)
        if not words:
            return None
        first_lower = next((i for i in range(len(words) - 1) if _is_lower(words[i])), -1)
        if first_lower < 0:
            first, von, last = words[:-1], [], words[-1:]
        else:
            last_lower = first_lower
            for index in range(first_lower, len(words) - 1):
                if _is_lower(words[index]):
                    last_lower = index
            first = words[:first_lower]
            von = words[first_lower : last_lower + 1]
            last = words[last_lower + 1 :]
        suffix: str | None = None
    else:
        if "=" in text:
            keyed = _keyed_name(parts)
            if keyed is not None:
                return keyed
        von, last = _von_last(_words(parts[0]))
        if len(parts) == 2:
            suffix = None
            first = _words(parts[1])
        else:
            suffix = _join(_words(parts[1]))
            first = _words(",".join(parts[2:]))
    family = _join(last)
    given = _join(first)
    if family is None and given is None:
        return None
    return make_name(
        family=family,
        given=given,
        non_dropping_particle=_join(von),
        suffix=suffix,
    )


def parse_bibtex_names(value: str) -> tuple[list[Name], bool]:
    """A BibTeX name list; the flag says it ended with ``and others``."""
    names: list[Name] = []
    others = False
    for text in split_names(value):
        if text.lower() == "others":
            others = True
            continue
        name = parse_bibtex_name(text)
        if name is not None:
            names.append(name)
    return names, others


# --------------------------------------------------------------------------------------
# Entry -> Record

# BibTeX/BibLaTeX entry type -> CSL type.
TYPES: dict[str, str] = {
    "article": "article-journal", "book": "book", "mvbook": "book", "booklet": "book",
    "bookinbook": "chapter", "inbook": "chapter", "incollection": "chapter",
    "suppbook": "chapter", "suppcollection": "chapter", "collection": "book",
    "mvcollection": "book", "proceedings": "book", "mvproceedings": "book",
    "reference": "book", "mvreference": "book", "inreference": "entry-encyclopedia",
    "inproceedings": "paper-conference", "conference": "paper-conference",
    "manual": "report", "techreport": "report", "report": "report",
    "phdthesis": "thesis", "mastersthesis": "thesis", "thesis": "thesis",
    "misc": "document", "unpublished": "manuscript", "online": "webpage",
    "electronic": "webpage", "www": "webpage", "dataset": "dataset", "software": "software",
    "patent": "patent", "periodical": "periodical", "suppperiodical": "article-journal",
    "artwork": "graphic", "image": "graphic", "audio": "song", "music": "song",
    "video": "motion_picture", "movie": "motion_picture", "letter": "personal_communication",
    "review": "review", "standard": "standard", "legislation": "legislation",
    "jurisdiction": "legal_case", "legal": "legislation", "performance": "performance",
}  # fmt: skip
# The entry type the writer uses for each CSL type.
WRITE_TYPES: dict[str, str] = {
    "article-journal": "article", "article-magazine": "article",
    "article-newspaper": "article", "article": "article", "book": "book",
    "chapter": "incollection", "paper-conference": "inproceedings", "report": "techreport",
    "thesis": "phdthesis", "manuscript": "unpublished", "document": "misc",
    "webpage": "online", "post-weblog": "online", "post": "online", "dataset": "dataset",
    "software": "software", "patent": "patent", "periodical": "periodical",
    "entry-encyclopedia": "inreference", "entry-dictionary": "inreference",
    "entry": "inreference", "graphic": "artwork", "song": "audio",
    "motion_picture": "video", "personal_communication": "letter", "review": "review",
    "standard": "standard", "legislation": "legislation", "legal_case": "jurisdiction",
    "performance": "performance",
}  # fmt: skip
_DEFAULT_GENRE = {"phdthesis": "PhD thesis", "mastersthesis": "Master's thesis"}
_CANONICAL = set(WRITE_TYPES.values()) | {"inbook", "mastersthesis", "thesis"}
_ARTICLE_LIKE = frozenset(
    ("article-journal", "article-magazine", "article-newspaper", "paper-conference", "article")
)
_BOOK_LIKE = frozenset(("book", "chapter", "entry-encyclopedia", "entry-dictionary"))
_PARENT_TYPES = frozenset(
    ("book", "mvbook", "collection", "mvcollection", "proceedings", "mvproceedings",
     "reference", "mvreference", "periodical", "booklet", "manual", "xdata", "set")
)  # fmt: skip
_NAME_FIELDS = frozenset(("author", "editor", "translator"))
_VERBATIM = frozenset(("url", "doi", "eprint", "file", "pdf", "urlraw", "verba", "verbb"))
_MULTILINE = frozenset(("abstract", "note", "annotation", "annote", "addendum"))
_MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(MONTH_MACROS.values(), 1)}
_ISBN = re.compile(r"[0-9][0-9Xx\- ]{8,}[0-9Xx]")
_KEYWORD_SEMI = re.compile(r"\s*;\s*")
_KEYWORD_COMMA = re.compile(r"\s*,\s*")


@lru_cache(maxsize=8192)
def _date(year: int, month: int | None, day: int | None) -> Date:
    parts: tuple[int, ...] = (year,) if month is None else (year, month)
    if month is not None and day is not None:
        parts = (year, month, day)
    return make_date(parts=parts)


def _month_number(text: str) -> int | None:
    key = text.strip().lower()
    number = _MONTH_NUMBERS.get(key)
    if number is not None:
        return number
    return parse_month(key) if key else None


def _issued(year: str | None, month: str | None, day: str | None) -> Date | None:
    if year is None:
        return None
    text = year.strip()
    if text.isdigit() and len(text) <= 4:
        number = _month_number(month) if month else None
        day_number = int(day) if day and day.strip().isdigit() else None
        try:
            return _date(int(text), number, day_number if number else None)
        except ValidationError:
            return _date(int(text), number, None) if number else _date(int(text), None, None)
    if month:
        text = f"{month} {text}"
    return parse_date(text)


def _keywords(text: str) -> list[str]:
    parts = _KEYWORD_SEMI.split(text) if ";" in text else _KEYWORD_COMMA.split(text)
    return [p.strip() for p in parts if p.strip()]


def _identifier(scheme: str, value: str) -> Identifier | None:
    if scheme == "issn":
        return _issn(value)  # journals repeat: worth a cache; DOIs and URLs do not
    try:
        return make_identifier({"scheme": scheme, "value": value})
    except ValidationError:
        return None


@lru_cache(maxsize=4096)
def _issn(value: str) -> Identifier | None:
    try:
        return make_identifier({"scheme": "issn", "value": value})
    except ValidationError:
        return None


def _decode(name: str, raw: str) -> str:
    return decode_verbatim(raw).strip() if name in _VERBATIM else decode_latex(raw).strip()


def _decoded_fields(entry: _Entry) -> dict[str, str]:
    """Every non-name field as Unicode text; empty values dropped."""
    out: dict[str, str] = {}
    for name, value in entry.fields.items():
        if name in _NAME_FIELDS:
            continue
        if name in _VERBATIM:
            text = decode_verbatim(value).strip()
        elif name == "pages":
            # "--" is a range here, not an en dash: keep the page normaliser's fast path.
            text = value.replace("--", "-").strip()
            if "\\" in text or "{" in text:
                text = decode_latex(text).strip()
        else:
            text = decode_latex(value).strip()
        if text:
            out[name] = text
    return out


def entry_to_record(entry: _Entry) -> Record:
    """Map one raw entry to a ``Record`` (raises ``ValidationError`` when impossible)."""
    kind = entry.type
    csl_type = TYPES.get(kind, "document")
    extra: dict[str, list[str]] = {}
    if kind not in _CANONICAL:
        extra["bibtex:entrytype"] = [kind]
    data: dict[str, Any] = {"type": csl_type}
    if entry.key:
        data["id"] = entry.key
    fields = entry.fields
    for role in ("author", "editor", "translator"):
        value = fields.get(role)
        if value is not None:
            names, others = parse_bibtex_names(value)
            if names:
                data[role] = names
            if others:
                extra[f"bibtex:{role}+others"] = ["true"]
    dec = _decoded_fields(entry)
    pop = dec.pop

    def first(*names: str) -> str | None:
        """The first of ``names`` present; the others go to ``extra``."""
        found = None
        for name in names:
            text = pop(name, None)
            if text is None:
                continue
            if found is None:
                found = text
            else:
                extra.setdefault(f"bibtex:{name}", []).append(text)
        return found

    title = pop("title", None)
    subtitle = pop("subtitle", None)
    if subtitle:
        title = f"{title}: {subtitle}" if title else subtitle
    if title:
        data["title"] = title
    data["title_short"] = pop("shorttitle", None)
    if csl_type in ("chapter", "paper-conference") or csl_type.startswith("entry"):
        container = first("booktitle", "journaltitle", "journal")
        container_sub = first("booksubtitle", "journalsubtitle")
    else:
        container = first("journaltitle", "journal", "booktitle")
        container_sub = first("journalsubtitle", "booksubtitle")
    if container_sub:
        container = f"{container}: {container_sub}" if container else container_sub
    data["container_title"] = container
    data["container_title_short"] = pop("shortjournal", None)
    data["collection_title"] = pop("series", None)
    data["volume"] = pop("volume", None)
    number = pop("number", None)
    issue = pop("issue", None)
    if csl_type in _ARTICLE_LIKE:
        data["issue"] = number or issue
        if number and issue:
            extra.setdefault("bibtex:issue", []).append(issue)
    else:
        data["issue"] = issue
        if csl_type in _BOOK_LIKE:
            data["collection_number"] = number
        else:
            data["number"] = number
    series_number = pop("seriesnumber", None)
    if series_number and not data.get("collection_number"):
        data["collection_number"] = series_number
    elif series_number:
        extra.setdefault("bibtex:seriesnumber", []).append(series_number)
    data["page"] = pop("pages", None)
    data["number_of_pages"] = pop("pagetotal", None)
    data["edition"] = pop("edition", None)
    if csl_type == "thesis":
        data["publisher"] = first("school", "institution", "publisher", "organization")
    elif csl_type == "report":
        data["publisher"] = first("institution", "publisher", "organization", "school")
    else:
        data["publisher"] = first("publisher", "organization", "institution", "school")
    data["publisher_place"] = first("address", "location")
    data["genre"] = pop("type", None) or _DEFAULT_GENRE.get(kind)
    data["language"] = first("langid", "language", "hyphenation")
    _dates(data, dec, extra)
    data["identifiers"] = _identifiers(dec, extra)
    keywords = pop("keywords", None)
    if keywords:
        data["keywords"] = _keywords(keywords)
    data["abstract"] = pop("abstract", None)
    data["note"] = pop("note", None)
    for name, text in dec.items():
        extra.setdefault(f"bibtex:{name}", []).append(text)
    for name, value in entry.duplicates:
        text = _decode(name, value)
        if text:
            extra.setdefault(f"bibtex:{name}", []).append(text)
    if extra:
        data["extra"] = extra
    return build_record({k: v for k, v in data.items() if v is not None})


def _dates(data: dict[str, Any], dec: dict[str, str], extra: dict[str, list[str]]) -> None:
    date_text = dec.pop("date", None)
    year = dec.pop("year", None)
    month = dec.pop("month", None)
    day = dec.pop("day", None)
    if date_text:
        issued = parse_date(date_text)
        for name, value in (("year", year), ("month", month), ("day", day)):
            if value and (issued is None or not issued.parts):
                extra.setdefault(f"bibtex:{name}", []).append(value)
    else:
        issued = _issued(year, month, day)
        if month and (issued is None or not (len(issued.parts) >= 2 or issued.literal)):
            extra.setdefault("bibtex:month", []).append(month)
    data["issued"] = issued
    accessed = dec.pop("urldate", None)
    if accessed:
        data["accessed"] = parse_date(accessed)


_EPRINT_SCHEMES = {"arxiv": "arxiv", "pubmed": "pmid", "pmid": "pmid", "pmc": "pmcid"}


def _identifiers(dec: dict[str, str], extra: dict[str, list[str]]) -> list[Identifier]:
    identifiers: list[Identifier] = []
    if not dec:
        return identifiers
    doi = dec.pop("doi", None)
    if doi:
        ident = _identifier("doi", doi)
        if ident is not None:
            identifiers.append(ident)
    issn = dec.pop("issn", None)
    if issn:
        found = find_issns(issn)
        for value in found:
            ident = _identifier("issn", value)
            if ident is not None:
                identifiers.append(ident)
        if not found:
            extra.setdefault("bibtex:issn", []).append(issn)
    isbn = dec.pop("isbn", None)
    if isbn:
        values = _ISBN.findall(isbn)
        for value in values:
            ident = _identifier("isbn", value)
            if ident is not None:
                identifiers.append(ident)
        if not values:
            extra.setdefault("bibtex:isbn", []).append(isbn)
    for scheme in ("pmid", "pmcid", "oclc", "lccn", "oai"):
        text = dec.pop(scheme, None)
        if text:
            ident = _identifier(scheme, text)
            if ident is not None:
                identifiers.append(ident)
    eprint_type: str | None = dec.pop("eprinttype", None)
    prefix: str | None = dec.pop("archiveprefix", None)
    if eprint_type is None:
        eprint_type = prefix
    elif prefix:
        extra.setdefault("bibtex:archiveprefix", []).append(prefix)
    eprint = dec.pop("eprint", None)
    eprint_scheme = _EPRINT_SCHEMES.get((eprint_type or "").lower())
    if eprint and eprint_scheme:
        ident = _identifier(eprint_scheme, eprint)
        if ident is not None:
            identifiers.append(ident)
    else:
        if eprint:
            extra.setdefault("bibtex:eprint", []).append(eprint)
        if eprint_type:
            extra.setdefault("bibtex:eprinttype", []).append(eprint_type)
    url = dec.pop("url", None)
    if url:
        for value in url.split():
            ident = _identifier("url", value)
            if ident is not None:
                identifiers.append(ident)
    return identifiers


def read(stream: TextIO, source: str, *, remember: bool = True) -> Iterator[ReadResult]:
    """Stream records (or located ``ParseError``s) from BibTeX/BibLaTeX text.

    ``remember=False`` keeps no entries for ``crossref`` parents to come: for text known
    to hold no ``crossref`` field (the parallel planner checks), where keeping thousands
    of entries would only cost memory (10 MB and more in each worker).
    """
    parents: OrderedDict[str, _Entry] = OrderedDict()
    recent: OrderedDict[str, _Entry] = OrderedDict()
    pending: OrderedDict[str, list[_Entry]] = OrderedDict()
    waiting = [0]  # children held in ``pending``

    def build(entry: _Entry) -> ReadResult:
        try:
            return entry_to_record(entry)
        except (ValidationError, ValueError) as exc:
            cause = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
            return ParseError(
                f"entry {entry.key!r}: {cause}",
                source=source,
                line=entry.line,
                record=entry.index,
                raw=repr(entry.fields),
                format_name=NAME,
            )

    def finish(entry: _Entry) -> Iterator[ReadResult]:
        key = entry.key.lower()
        if remember:
            # Keep what may be crossref'd later: containers generously, others briefly.
            memory = parents if entry.type in _PARENT_TYPES else recent
            memory[key] = entry
            memory.move_to_end(key)
            if len(memory) > (_PARENT_MEMORY if memory is parents else _RECENT_MEMORY):
                memory.popitem(last=False)
        yield build(entry)
        children = pending.pop(key, [])
        waiting[0] -= len(children)
        for child in children:
            _inherit(child, entry)
            yield from finish(child)

    for item in _scan(stream, source):
        if isinstance(item, ParseError):
            yield item
            continue
        crossref = item.fields.get("crossref")
        if crossref is not None:
            parent_key = decode_latex(crossref).strip().lower()
            if parent_key and parent_key != item.key.lower():
                parent = parents.get(parent_key) or recent.get(parent_key)
                if parent is None:
                    pending.setdefault(parent_key, []).append(item)
                    waiting[0] += 1
                    while waiting[0] > _MAX_PENDING:
                        _, children = pending.popitem(last=False)
                        waiting[0] -= len(children)
                        for child in children:
                            yield from finish(child)
                    continue
                _inherit(item, parent)
        yield from finish(item)
    for children in pending.values():
        for child in children:
            yield build(child)


# --------------------------------------------------------------------------------------
# Writer

_FIELD_NAME_OK = re.compile(r"[a-z][a-z0-9_.:+-]*")
_KEY_OK = re.compile(r"[A-Za-z0-9_:.+/-]+")
_KEY_BAD = re.compile(r"[^A-Za-z0-9_:.+/-]+")
_LETTERS = re.compile(r"[^a-z0-9]+")
_URL_UNSAFE = str.maketrans({"{": "%7B", "}": "%7D", "\\": "%5C", " ": "%20", "\n": "%0A"})
_LINE_AT = re.compile(r"\n([ \t]*)@")
_STOPWORDS = frozenset((
    "a", "an", "the", "on", "of", "in", "and", "for", "to", "with", "at", "by", "from", "as",
    "is", "are", "its", "into", "about", "over", "under", "der", "die", "das", "ein", "eine",
    "und", "von", "zur", "zum", "im", "le", "la", "les", "un", "une", "des", "du", "de", "et",
    "en", "el", "los", "las", "il", "lo", "gli", "i"
))  # fmt: skip
_PAGE_RANGE = re.compile(r"([^\s-]+)-([^\s-]+)")
_MONTHS_OUT = tuple(MONTH_MACROS)
_BARE = "\x00"  # marks a value written as a bare macro (month = aug); text never has NUL
_URL_UNSAFE_CHARS = re.compile(r"[{}\\ \n]")
_ROLES_OUT = tuple((role, f"bibtex:{role}+others") for role in ("author", "editor", "translator"))
# Identifier schemes written one field each, in this order (arXiv and URLs come after).
_SCHEME_ORDER = ("doi", "issn", "isbn", "pmid", "pmcid", "oclc", "lccn", "oai")
_SCHEME_RANK = {scheme: rank for rank, scheme in enumerate(_SCHEME_ORDER)}
_NAME_CACHE_SIZE = 8192
_NAME_TEXTS: dict[tuple[str | bool | None, ...], tuple[str, tuple[tuple[str, str], ...]]] = {}
"""Formatted names by their parts and the ascii option, for every writer in the process:
a parallel worker makes a writer per chunk, and people recur across chunks."""
_SPECIAL_EXTRA = (
    "bibtex:entrytype",
    "bibtex:author+others",
    "bibtex:editor+others",
    "bibtex:translator+others",
)


def _fold(text: str) -> str:
    """ASCII-only lower-case letters and digits (for generated keys)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = text.translate(_FOLD_LETTERS).encode("ascii", "ignore").decode("ascii")
    return _LETTERS.sub("", text.lower())


_FOLD_LETTERS = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ł": "l",
     "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "þ": "th", "ı": "i"}
)  # fmt: skip


def _suffix(number: int) -> str:
    """a, b, ..., z, aa, ab, ... (bijective base 26)."""
    out = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        out = chr(97 + rest) + out
    return out


@lru_cache(maxsize=512)
def _langid(tag: str) -> str:
    """A babel-style language name when it reads back to the same tag, else the tag."""
    try:
        name = english_name(tag).lower()
    except (ValueError, LookupError, ImportError):
        return tag
    if name.isalpha() and normalize_language(name) == tag:
        return name
    return tag


_BRACE_FAMILY = re.compile(r"[\s,~]")


def _needs_braces(family: str) -> bool:
    """True unless ``family`` is one capitalised word that BibTeX keeps as the last name."""
    first = family[:1]
    if not first.isalpha() or first.islower():
        return True
    return _BRACE_FAMILY.search(family) is not None or family.lower() == "others"


def _plain(text: str) -> bool:
    """True when escaping leaves ``text`` as it is (UTF-8 output): the common case.

    That is: none of ``LATEX_SPECIAL`` and no line break. Letters and digits alone are
    the quickest answer; else a chain of substring tests (each a C-speed scan) is three
    times faster than one regular expression.
    """
    return text.isalnum() or not (
        "\\" in text
        or "&" in text
        or "%" in text
        or "$" in text
        or "#" in text
        or "_" in text
        or "~" in text
        or "^" in text
        or "{" in text
        or "}" in text
        or "\u00a0" in text
        or "\n" in text
        or "--" in text
        or "``" in text
        or "''" in text
    )


def _verbatim(text: str) -> str:
    """A URL, DOI or eprint with braces, backslashes, spaces and newlines percent-encoded."""
    return text if _URL_UNSAFE_CHARS.search(text) is None else text.translate(_URL_UNSAFE)


def _needs_group(text: str) -> bool:
    """A given name or suffix with a comma or a free-standing ``and`` must be one group."""
    return "," in text or _AND.search(f" {text} ") is not None


def _format_name(name: Name, ascii_only: bool) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``von Family, Jr, Given`` for one name, and (reason, kind) of what changed."""
    family = name.family
    given = name.given
    if (
        family
        and given
        and not ascii_only
        and name.literal is None
        and name.suffix is None
        and name.non_dropping_particle is None
        and name.dropping_particle is None
    ):
        # The commonest name: "Family, Given" with nothing to escape or protect, as the
        # steps below write it. Words of letters alone have no specials, spaces or commas.
        if family.isalpha() and given.isalpha():
            simple = (
                not family[0].islower()
                and family.lower() != "others"
                and given.lower() != "and"  # alone, it would split the list
            )
        else:
            simple = (
                _plain(family)
                and _plain(given)
                and not _needs_braces(family)
                and not _needs_group(given)
            )
        if simple:
            return family + ", " + given, ()
    notes: list[tuple[str, str]] = []

    def esc(text: str) -> str:
        escaped, missing = escape_latex(text, ascii_only=ascii_only)
        if missing:
            notes.append((f"no ASCII LaTeX for {missing!r}: written as \\char", "changed"))
        return escaped

    if name.literal is not None:
        return "{" + esc(name.literal) + "}", tuple(notes)
    family = name.family or ""
    protected = not family or _needs_braces(family)
    text = "{" + esc(family) + "}" if protected else esc(family)
    # A name that starts with a brace group ({\"U}, {\char"674E}) needs the comma form.
    protected = protected or text.startswith("{")
    if name.dropping_particle:
        notes.append(
            ("BibTeX has one particle: a dropping particle reads back as non-dropping", "changed")
        )
    particle = " ".join(p for p in (name.dropping_particle, name.non_dropping_particle) if p)
    if particle:
        if not all(_is_lower(word) for word in particle.split()):
            notes.append(
                (
                    f"capitalised particle {particle!r} reads back as the family name",
                    "changed",
                )
            )
        text = esc(particle) + " " + text
    given = name.given
    if name.suffix:
        suffix = esc(name.suffix)
        text += ", " + ("{" + suffix + "}" if _needs_group(name.suffix) else suffix) + ","
    elif given or protected:
        text += ","
    if given:
        given_text = esc(given)
        text += " " + ("{" + given_text + "}" if _needs_group(given) else given_text)
    return text, tuple(notes)


class BibtexWriter(Writer):
    """BibTeX/BibLaTeX out, one entry per record (DESIGN.md's BibTeX output rules).

    * Entry type from the record type (``WRITE_TYPES``); types BibTeX lacks become
      ``@misc`` (a ``changed`` loss). ``extra["bibtex:entrytype"]`` (kept by our reader for
      ``@booklet``, ``@manual``...) is used when it maps to the same record type.
    * Keys: the record id when it is safe (``[A-Za-z0-9_:.+/-]``), else sanitised (a
      ``changed`` loss); without an id ``family + year + first significant title word``
      (``li2017infusion``), ASCII-folded; clashes in one output get ``a``, ``b``...
    * Names ``von Family, Jr, Given``; a family that is not one capitalised word (spaces,
      commas, a lower-case start, ``others``) is braced so BibTeX keeps it whole; literal
      names are one brace group.
    * Values: LaTeX specials escaped, braces balanced whatever the input (matched pairs
      ``\\{ \\}``, lone braces ``\\textbraceleft{}``), TeX ligatures (``--``, ``''``) broken,
      no line inside a value starts with ``@``. URLs and DOIs are written verbatim
      (braces, backslashes and spaces percent-encoded).
    * Titles (``title``, ``shorttitle``, ``booktitle``): every word with a capital letter
      is braced, except a first word whose only capital is its first letter, so styles
      that lower-case titles keep ``{DNA}``, ``{McDonald}`` and ``{Alzheimer's}``.
    * ``month = aug`` (a macro), ``year``, and ``date`` (EDTF) only when there is a day or
      a range; all ISSNs and ISBNs comma-separated; ``doi`` bare; pages with ``--``.
    * UTF-8 by default; ``ascii=True`` writes LaTeX escapes (``{\\"u}``); a character with
      no escape is written ``{\\char"<hex>}`` and reported as ``changed``.
    """

    format_name = NAME
    item_separator = "\n"  # a blank line between entries

    def __init__(self, stream: TextIO, **options: Any) -> None:
        super().__init__(stream, **options)
        self.ascii_only = bool(self.options.get("ascii"))
        self._keys: set[str] = set()
        self._suffixes: dict[str, int] = {}
        self._written: list[tuple[str, str]] = []  # parallel workers only
        # Formatted names: people recur through a file. Readers share one instance per
        # distinct name, so the identity of the (immutable) instance is the quick key,
        # and the parts (``_NAME_TEXTS``) the fallback: pydantic's own hash goes field by
        # field in Python.
        self._name_by_id: dict[int, tuple[Name, str, tuple[tuple[str, str], ...]]] = {}

    # -- values
    def _esc(self, text: str, losses: list[Loss], where: str) -> str:
        if not self.ascii_only and _plain(text):
            return text  # the common case: nothing to escape
        escaped, missing = escape_latex(text, ascii_only=self.ascii_only)
        if missing:
            losses.append(
                Loss(where, f"no ASCII LaTeX for {missing!r}: written as \\char", "changed")
            )
        if "\n" in escaped:
            escaped = _LINE_AT.sub(lambda m: "\n" + m.group(1) + "{}@", escaped)
        return escaped

    def _title(self, text: str, losses: list[Loss], where: str) -> str:
        braced = "{" in text or "}" in text
        tail = text[1:]
        if tail == tail.lower() and not braced and not self.ascii_only:
            # No word has a capital past the title's first letter: nothing to protect.
            # (Lower-casing maps character by character and never makes a space, so the
            # whole tail is lower-case exactly when each word's part of it is; UTF-8
            # escapes hold no spaces, so the words line up as below.)
            return self._esc(text, losses, where)
        words = text.split(" ")
        escaped = []
        if not braced:
            # Escapes hold no spaces, so the escaped words line up with the words.
            escaped = self._esc(text, losses, where).split(" ")
        if len(escaped) != len(words):
            # Braces are matched word by word, so each protected word stays balanced.
            escaped = [self._esc(word, losses, where) for word in words]
        # Word by word, as the lower-cased title split the same way (spaces end the
        # context of Greek final sigma, the one case-mapping rule that looks around).
        lowered = text.lower().split(" ")
        first = words[0][1:]
        if first != first.lower():
            escaped[0] = "{" + escaped[0] + "}"
        for index in range(1, len(words)):
            if words[index] != lowered[index]:
                escaped[index] = "{" + escaped[index] + "}"
        return " ".join(escaped)

    def _names(self, names: list[Name], others: bool, losses: list[Loss], where: str) -> str:
        parts = []
        by_id = self._name_by_id
        for name in names:
            found = by_id.get(id(name))
            if found is None or found[0] is not name:
                # The entry holds the instance, so its id cannot be reused meanwhile.
                if len(by_id) >= _NAME_CACHE_SIZE:
                    by_id.clear()
                found = by_id[id(name)] = (name, *self._name_text(name))
            parts.append(found[1])
            for reason, kind in found[2]:
                losses.append(Loss(where, reason, kind))
        if others:
            parts.append("others")
        return " and ".join(parts)

    def _name_text(self, name: Name) -> tuple[str, tuple[tuple[str, str], ...]]:
        key = (
            name.family,
            name.given,
            name.dropping_particle,
            name.non_dropping_particle,
            name.suffix,
            name.literal,
            self.ascii_only,
        )
        found = _NAME_TEXTS.get(key)
        if found is None:
            if len(_NAME_TEXTS) >= _NAME_CACHE_SIZE:
                _NAME_TEXTS.clear()
            found = _NAME_TEXTS[key] = _format_name(name, self.ascii_only)
        return found

    def _key(self, record: Record, losses: list[Loss]) -> str:
        if record.id:
            key = record.id
            if not _KEY_OK.fullmatch(key):
                key = _KEY_BAD.sub("_", key).strip("_") or "item"
                losses.append(
                    Loss(
                        "id",
                        f"id {record.id!r} is not a safe BibTeX key: written as {key!r}",
                        "changed",
                    )
                )
        else:
            key = self._generated_key(record)
        base = key
        key = self._assign(base)
        if record.id and key != base:
            losses.append(Loss("id", f"key {base!r} already used: written as {key!r}", "changed"))
        if self.fragment_mode:
            self._written.append((base, key))
        return key

    def _assign(self, base: str) -> str:
        """``base``, or ``base`` + a, b, c... when an earlier entry of this output has it.

        BibTeX and pybtex compare keys ignoring case: so must uniqueness. The next suffix
        to try is remembered per base, so a thousand clashes cost no more than one.
        """
        key = base
        number = self._suffixes.get(base.lower(), 0)
        if number:
            key = base + _suffix(number)
        while key.lower() in self._keys:
            number += 1
            key = base + _suffix(number)
        if number:
            self._suffixes[base.lower()] = number + 1
        self._keys.add(key.lower())
        return key

    def fragment_state(self) -> object:
        """(base key, key written) per entry of a parallel worker's chunk."""
        return self._written

    def absorb(self, data: bytes, state: object) -> bytes:
        """Give a worker's entries the keys a one-process run would have given them.

        Every entry starts a line with ``@type{key,`` and no value line starts with ``@``
        (the writer guarantees it), so renaming is a prefix swap on those lines; a chunk
        with nothing to rename is passed on as it is.
        """
        renamed = renamed_entries(state, self._assign)
        if not renamed:
            return data
        lines = data.decode("utf-8").split("\n")
        entry = -1
        for index, line in enumerate(lines):
            if not line.startswith("@"):
                continue
            entry += 1
            if entry in renamed:
                written, final = renamed[entry]
                head = line.index("{") + 1
                assert line[head : head + len(written) + 1] == written + ","
                lines[index] = line[:head] + final + line[head + len(written) :]
        return "\n".join(lines).encode("utf-8")

    @staticmethod
    def _generated_key(record: Record) -> str:
        people = record.author or record.editor or record.translator
        who = ""
        if people:
            first = people[0]
            who = _fold(first.family or first.literal or first.given or "")
            if first.literal:
                who = _fold((first.literal.split() or [""])[0])
        year = str(record.issued.parts[0]) if record.issued and record.issued.parts else ""
        word = ""
        for candidate in (record.title or "").split():
            folded = _fold(candidate)
            if folded and folded not in _STOPWORDS:
                word = folded
                break
        return (who + year + word)[:64] or "item"

    def _entry_type(self, record: Record, losses: list[Loss]) -> str:
        kept = record.extra.get("bibtex:entrytype")
        if kept and TYPES.get(kept[0]) == record.type:
            return kept[0]
        if record.type == "thesis":
            if record.genre == "Master's thesis":
                return "mastersthesis"
            if record.genre is None:
                return "thesis"
            return "phdthesis"
        if record.type == "chapter" and not record.container_title:
            return "inbook"
        kind = WRITE_TYPES.get(record.type)
        if kind is None:
            losses.append(
                Loss("type", f"BibTeX has no {record.type!r} type: written as @misc", "changed")
            )
            return "misc"
        if TYPES.get(kind) != record.type:
            losses.append(
                Loss(
                    "type",
                    f"{record.type!r} written as @{kind}, which reads back as {TYPES.get(kind)!r}",
                    "changed",
                )
            )
        return kind

    def write(self, record: Record) -> list[Loss]:
        losses = table_losses(record, NAME)
        kind = self._entry_type(record, losses)
        key = self._key(record, losses)
        out: list[tuple[str, str]] = []
        add = out.append
        esc = self._esc
        extra = record.extra

        for role, others_key in _ROLES_OUT:
            names: list[Name] = getattr(record, role)
            if names:
                add((role, self._names(names, others_key in extra, losses, role)))
        if record.title:
            add(("title", self._title(record.title, losses, "title")))
        if record.title_short:
            add(("shorttitle", self._title(record.title_short, losses, "title_short")))
        csl = record.type
        if record.container_title:
            if kind in ("incollection", "inbook", "inproceedings", "inreference") or (
                kind == "misc" and csl in ("chapter", "paper-conference")
            ):
                add(("booktitle", self._title(record.container_title, losses, "container_title")))
            else:
                add(("journal", esc(record.container_title, losses, "container_title")))
        if record.container_title_short:
            add(
                ("shortjournal", esc(record.container_title_short, losses, "container_title_short"))
            )
        if record.collection_title:
            add(("series", esc(record.collection_title, losses, "collection_title")))
        number_used = False
        if record.volume:
            add(("volume", esc(record.volume, losses, "volume")))
        if record.issue:
            if csl in _ARTICLE_LIKE:
                add(("number", esc(record.issue, losses, "issue")))
                number_used = True
            else:
                add(("issue", esc(record.issue, losses, "issue")))
        if record.collection_number:
            if csl in _BOOK_LIKE and not number_used:
                add(("number", esc(record.collection_number, losses, "collection_number")))
                number_used = True
            else:
                add(("seriesnumber", esc(record.collection_number, losses, "collection_number")))
        if record.number:
            if number_used or csl in _ARTICLE_LIKE or csl in _BOOK_LIKE:
                reason = f"a {csl} keeps another value in BibTeX's `number`"
                losses.append(Loss("number", reason))
            else:
                add(("number", esc(record.number, losses, "number")))
        if record.page:
            match = _PAGE_RANGE.fullmatch(record.page)
            pages = (
                f"{esc(match.group(1), losses, 'page')}--{esc(match.group(2), losses, 'page')}"
                if match
                else esc(record.page, losses, "page")
            )
            add(("pages", pages))
        if record.number_of_pages:
            add(("pagetotal", esc(record.number_of_pages, losses, "number_of_pages")))
        if record.edition:
            add(("edition", esc(record.edition, losses, "edition")))
        if record.publisher:
            where = {"thesis": "school", "report": "institution"}.get(csl, "publisher")
            if kind in ("misc", "online", "inreference"):
                where = "publisher"
            add((where, esc(record.publisher, losses, "publisher")))
        if record.publisher_place:
            add(("address", esc(record.publisher_place, losses, "publisher_place")))
        issued = record.issued
        if issued is not None:
            if issued.parts:
                add(("year", str(issued.parts[0]) if issued.parts[0] >= 0 else format_edtf(issued)))
                if len(issued.parts) >= 2:
                    out.append(("month", _BARE + _MONTHS_OUT[issued.parts[1] - 1]))
                if len(issued.parts) == 3 or issued.end is not None:
                    add(("date", format_edtf(issued)))
            elif issued.literal:
                add(("year", esc(issued.literal, losses, "issued")))
        if record.accessed is not None:
            add(("urldate", esc(format_edtf(record.accessed), losses, "accessed")))
        if record.genre:
            default = _DEFAULT_GENRE.get(kind)
            if record.genre != default:
                add(("type", esc(record.genre, losses, "genre")))
        if record.language:
            add(("langid", esc(_langid(record.language), losses, "language")))
        self._identifiers(record, add, losses)
        keywords = record.keywords
        if keywords:
            sep = ", "
            joined = sep.join(keywords)
            if joined.count(",") >= len(keywords):  # a keyword holds a comma
                joined = ""
                if any(";" in k for k in keywords):
                    losses.append(
                        Loss(
                            "keywords",
                            "keywords containing both ',' and ';' are split on re-reading",
                            "changed",
                        )
                    )
                else:
                    sep = "; "
            if joined and not self.ascii_only and _plain(joined):
                # No keyword needs escaping (the separator makes no ligature).
                add(("keywords", joined))
            else:
                add(("keywords", sep.join([esc(k, losses, "keywords") for k in keywords])))
        if record.abstract:
            add(("abstract", esc(record.abstract, losses, "abstract")))
        if record.note:
            add(("note", esc(record.note, losses, "note")))
        self._extra(record, out, losses)

        lines = [
            f"  {name} = {value[1:]},\n"  # a macro, written without braces
            if value[:1] == _BARE
            else f"  {name} = {{{value}}},\n"
            for name, value in out
        ]
        head = f"\n@{kind}{{{key},\n" if self.count else f"@{kind}{{{key},\n"
        self.stream.write(head + "".join(lines) + "}\n")
        self.count += 1
        return losses

    def _identifiers(self, record: Record, add: Any, losses: list[Loss]) -> None:
        identifiers = record.identifiers
        if not identifiers:
            return
        by_scheme: dict[str, list[str]] = {}
        for ident in identifiers:
            values = by_scheme.get(ident.scheme)
            if values is None:
                by_scheme[ident.scheme] = [ident.value]
            else:
                values.append(ident.value)
        ordered = [scheme for scheme in by_scheme if scheme in _SCHEME_RANK]
        if len(ordered) > 1:
            ordered.sort(key=_SCHEME_RANK.__getitem__)
        for scheme in ordered:
            values = by_scheme[scheme]
            if scheme == "doi":
                doi = _verbatim(values[0])
                if doi != values[0]:
                    losses.append(
                        Loss(
                            "identifiers.doi",
                            "braces, backslashes or spaces percent-encoded",
                            "changed",
                        )
                    )
                add(("doi", doi))
                rest = values[1:]
            elif scheme in ("issn", "isbn"):
                joined = ", ".join(values)
                if self.ascii_only or not _plain(joined):
                    joined = ", ".join([self._esc(v, losses, scheme) for v in values])
                add((scheme, joined))
                rest = []
            else:
                add((scheme, self._esc(values[0], losses, scheme)))
                rest = values[1:]
            if rest:
                losses.append(
                    Loss(
                        f"identifiers.{scheme}",
                        f"BibTeX has one {scheme} field: {', '.join(rest)} not written",
                    )
                )
        arxiv = by_scheme.get("arxiv")
        if arxiv:
            add(("eprint", _verbatim(arxiv[0])))
            add(("eprinttype", "arxiv"))
            if arxiv[1:]:
                losses.append(Loss("identifiers.arxiv", "BibTeX has one eprint field"))
        urls = by_scheme.get("url")
        if urls:
            add(("url", _verbatim(urls[0])))
            if urls[1:]:
                losses.append(
                    Loss(
                        "identifiers.url",
                        f"BibTeX has one url field: {', '.join(urls[1:])} not written",
                    )
                )

    def _extra(self, record: Record, out: list[tuple[str, str]], losses: list[Loss]) -> None:
        if not record.extra:
            return
        written = {name for name, _ in out}
        for key, values in record.extra.items():
            if not key.startswith("bibtex:") or key in _SPECIAL_EXTRA:
                continue
            name = key[7:].lower()
            if not _FIELD_NAME_OK.fullmatch(name):
                losses.append(Loss(f"extra.{key}", f"{name!r} is not a BibTeX field name"))
                continue
            if name in written:
                losses.append(
                    Loss(f"extra.{key}", f"field {name!r} is already written from the record")
                )
                continue
            written.add(name)
            if name in _VERBATIM:
                out.append((name, values[0].translate(_URL_UNSAFE)))
            else:
                out.append((name, self._esc(values[0], losses, f"extra.{key}")))
            if len(values) > 1:
                losses.append(
                    Loss(
                        f"extra.{key}",
                        f"BibTeX has one {name} field: {len(values) - 1} more value(s) not written",
                    )
                )


def sniff(head: str) -> bool:
    """True when the head has an ``@type{`` or ``@type(`` entry at a line start.

    Comments and other text before it are allowed (``%`` lines, prose, a BOM).
    """
    text = head.lstrip("\ufeff")
    for line in text.split("\n", 200)[:200]:
        stripped = line.lstrip()
        if stripped.startswith("@"):
            match = _HEAD.match(stripped)
            if match is not None:
                return True
    return False


FORMAT = Format(
    name=NAME,
    title="BibTeX / BibLaTeX",
    extensions=(".bib", ".bibtex"),
    media_type="application/x-bibtex",
    read=read,
    writer=BibtexWriter,
    sniff=sniff,
    aliases=("bib", "biblatex"),
    # A line that starts an entry is a record boundary for the reader too (see above).
    record_start=rb"[ \t]*@[A-Za-z][\w:.+-]*[ \t]*[{(]",
    prelude=macro_prelude,
    # "@string" in any case, as _STRING_ENTRY takes it (its ignore-case matching also
    # takes U+017F for s, U+0130 and U+0131 for i), led by a literal "@" for speed.
    prelude_hint=rb"@[ \t]*(?:[sS]|\xc5\xbf)[tT][rR](?:[iI]|\xc4[\xb0\xb1])[nN][gG]",
)
