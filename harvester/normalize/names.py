"""Personal and corporate names: one string in, CSL name parts out.

Rules (each is table-tested in ``tests/test_normalize_names.py``):

* ``Family, Given``, ``Family, Given, Suffix`` and BibTeX's ``von Family, Suffix, Given``
  are inverted forms; ``Given von Family Suffix`` is the natural form.
* Lower-case particles written before the family name (``van der``, ``de la``, ``von``)
  become ``non_dropping_particle``: citeproc-js does the same unless a
  style demotes them, and it keeps "van der Berg" sorted as the author wrote it. A
  particle written after the given name in the inverted form (``Beethoven, Ludwig van``)
  becomes ``dropping_particle``; that is where :func:`format_name_inverted` writes a
  dropping particle, so both kinds round-trip. Capitalised particles (``De Gaulle``,
  ``Van Gogh``) belong to the family name, as in BibTeX; so do glued particles
  (``al-Aswānī``, ``d'Alembert``), which writers would otherwise print with a space.
* PubMed/Vancouver ``Zheng CY`` (family, then up to three capital initials, no comma)
  gives ``given="C. Y."``: initials with periods and a space, as CSL styles expect.
  Initials in inverted forms are kept exactly as written (``Smith, J`` stays ``J``).
* A name written entirely in capitals is recased (``ZHENG, CHENGYUN`` -> ``Zheng``,
  ``Chengyun``; ``MCDONALD`` -> ``McDonald``; ``O'BRIEN`` -> ``O'Brien``; particles to
  lower case; roman-numeral suffixes stay). Any name with a lower-case letter is kept
  exactly as written.
* Organisations (a word such as Organization, University, Consortium, Group, Inc.)
  become ``Name(literal=...)``, and so does a name ending in its only comma
  ("Acme Widgets,"): that is EndNote's corporate-author convention, and how
  :func:`format_name_inverted` writes a literal no keyword gives away. A literal that
  holds a comma and no keyword ("Smith, John") cannot be told from a person in inverted
  text; it reads back as one.
* A single token without spaces (``李爱``, ``Aristotle``) is a family-only name: Han
  script names are written without a separator and compound surnames make a split a
  guess, so we do not guess.
* BibLaTeX's extended format (``family=Goethe, given=Johann Wolfgang, prefix=von,
  useprefix=false``) is read as well.
* ``et al.`` / ``others`` at the end of a list is dropped by :func:`parse_name_list`;
  :func:`has_et_al` tells whether it was there.
"""

from __future__ import annotations

import re
from functools import lru_cache

from harvester.model import Name, make_name
from harvester.normalize.text import clean_text

__all__ = [
    "format_name_inverted",
    "has_et_al",
    "is_organisation",
    "parse_name",
    "parse_name_list",
]

# Lower-case words that start a family name (from citeproc-js's particle list, trimmed to
# the ones that are particles wherever they occur). Matched only as written, lower case.
_PARTICLES = frozenset({
    "a", "al", "an", "auf", "aus", "bin", "binti", "bint", "d", "da", "dal", "dall",
    "dalla", "das", "de", "dei", "del", "dela", "della", "delle", "dello", "den", "der",
    "des", "di", "do", "dos", "du", "el", "het", "ibn", "in", "l", "la", "las", "le",
    "les", "lo", "los", "op", "san", "sankt", "st", "ste", "te", "ten", "ter", "to", "und",
    "van", "vande", "vander", "vom", "von", "zu", "zum", "zur", "y", "'t", "'n",
})  # fmt: skip
# Particles glued to the family name ("al-Hashimi", "d'Alembert") stay in the family: a
# separate particle would be printed with a space after it by every writer.
_GLUED_PARTICLES = ("al-", "el-", "d'", "d’", "l'", "l’")

# Suffixes as written after a comma. Case matters, and the bare "Jr" is left out: "Ii",
# "Iv" or "Jr" may be given names, while "III" and "Jr." are not.
_SUFFIXES = frozenset({
    "Jr.", "Sr.", "jr.", "sr.", "JR", "SR", "JR.", "SR.", "Jnr.", "Snr.", "Esq.", "2nd",
    "3rd", "4th", "II", "III", "IV", "VI", "VII", "VIII", "IX",
})  # fmt: skip
# In natural order ("Martin Luther King Jr") the last word can only be a suffix.
_NATURAL_SUFFIXES = _SUFFIXES | {"Jr", "Sr", "Jnr", "Snr"}
_ROMAN = frozenset({"II", "III", "IV", "VI", "VII", "VIII", "IX"})
# Company forms that make "Acme, Inc." an organisation (forms title-casing cannot make).
_COMPANY_FORMS = frozenset({
    "Inc.", "Ltd.", "LLC", "L.L.C.", "GmbH", "plc", "PLC", "Corp.", "Co.", "AG", "S.A.",
    "Pty Ltd", "Pty. Ltd.", "KG", "e.V.", "INC.", "LTD.", "CORP.",
})  # fmt: skip

# Words that make a string an organisation rather than a person (also in the plural),
# matched case-insensitively as whole words; kept to words that are rare as surnames.
_ORG_WORDS = (
    "academy", "agency", "alliance", "assembly", "association", "associates", "board",
    "bureau", "centre", "center", "college", "commission", "committee", "company",
    "consortium", "corporation", "council", "department", "division", "faculty",
    "federation", "forum", "foundation", "group", "hospital", "inc", "incorporated",
    "initiative", "institut", "institute", "institution", "investigators", "laboratories",
    "laboratory", "league", "library", "limited", "llc", "ltd", "ministry", "museum",
    "network", "office", "organisation", "organization", "panel", "partnership", "press",
    "program", "programme", "project", "publishers", "registry", "school", "secretariat",
    "service", "society", "survey", "team", "trust", "unit", "universidad",
    "universidade", "università", "universität", "universite", "université", "university",
    "working", "gmbh", "plc", "corp", "collaboration", "collaborative", "collaborators",
    "taskforce", "task", "ag", "co",
)  # fmt: skip
_ORG_SET = frozenset(_ORG_WORDS)
_KNOWN_ACRONYMS = frozenset({"WHO", "UNESCO", "UNICEF", "NASA", "OECD", "IEEE", "ACM", "NIH"})

# Markers of a truncated author list, checked at the end of the text (lower-cased).
_ET_AL_MARKERS = ("[et al.]", "[et al]", "et al.", "et. al.", "et al", "…", "...")
_HARD_SPLIT = re.compile(r"\s*[;\n]\s*")
# Not German "und": it is also a particle ("Ralph von und zum Jones").
_LIST_SPLIT = re.compile(r"\s*(?:;|\n|\s&\s|\s+and\s+|\s+AND\s+)\s*")
_VANCOUVER_INITIALS = re.compile(r"^(?:[A-Z]{1,3}|(?:[A-Z]\.){1,3})$")


def _lowercase_particle(token: str) -> bool:
    return token in _PARTICLES


def is_organisation(text: str) -> bool:
    """True when ``text`` names a body rather than a person (keyword heuristics).

    A keyword needs company: a part with two or more words besides particles ("World
    Health Organization", not "van Museum"), or a company form after a comma ("Acme,
    Inc."); so a surname that is also a keyword stays a person.
    """
    if text in _KNOWN_ACRONYMS:
        return True
    if "," in text and text.rpartition(",")[2].strip() in _COMPANY_FORMS:
        return True
    first, _, rest = text.partition(" ")
    if rest and first in _KNOWN_ACRONYMS:
        return True
    if not _has_org_word(text.split()):
        return False
    for part in text.split(","):
        words = [w for w in part.replace("(", " ").replace(")", " ").split() if w not in _PARTICLES]
        if len(words) >= 2 and _has_org_word(words):
            return True
    return False


def _has_org_word(words: list[str]) -> bool:
    for word in words:
        low = word.lower().strip(".,()")
        if low in _ORG_SET or (low[-1:] == "s" and low[:-1] in _ORG_SET):
            return True
    return False


def _recase_word(word: str, *, last: bool = True) -> str:
    """Recase one all-capitals word: ``MCDONALD`` -> ``McDonald``, ``O'BRIEN`` -> ``O'Brien``.

    A particle is lowered only where one can stand (not last, not a lone initial).
    """
    if word.rstrip(".") in _ROMAN or sum(c.isupper() for c in word) < 2:
        return word  # initials and one-letter words have no case to restore
    low = word.lower()
    if not last and len(low) > 1 and low in _PARTICLES:
        return low
    for glued in _GLUED_PARTICLES:
        if low.startswith(glued) and len(low) > len(glued):
            return glued + _recase_word(word[len(glued) :])
    out: list[str] = []
    start = True
    for ch in low:
        out.append(ch.upper() if start else ch)
        start = not ch.isalpha()
    text = "".join(out)
    if text.startswith("Mc") and len(text) > 2 and text[2].isalpha():
        text = "Mc" + text[2].upper() + text[3:]
    return text


def _recase(text: str) -> str:
    parts = []
    for part in text.split(","):
        words = part.split(" ")
        last = max((i for i, w in enumerate(words) if w), default=0)
        parts.append(" ".join(_recase_word(w, last=i >= last) for i, w in enumerate(words)))
    return ",".join(parts)


def _is_suffix(part: str) -> bool:
    return part in _SUFFIXES


def _split_family(text: str) -> tuple[str | None, str]:
    """Split leading lower-case particles off a family name: ``van der Berg``."""
    tokens = text.split(" ")
    i = 0
    while i < len(tokens) - 1 and _lowercase_particle(tokens[i]):
        i += 1
    return (" ".join(tokens[:i]) or None), " ".join(tokens[i:])


def _join_particle(particle: str | None, family: str) -> str:
    return f"{particle} {family}" if particle else family


def _split_given(text: str) -> tuple[str | None, str | None]:
    """Split trailing lower-case particles off a given name: ``Ludwig van``."""
    tokens = text.split(" ")
    i = len(tokens)
    while i > 1 and _lowercase_particle(tokens[i - 1]):
        i -= 1
    given = " ".join(tokens[:i]) or None
    particle = " ".join(tokens[i:]) or None
    return given, particle


def _initials(letters: str) -> str:
    return " ".join(f"{c}." for c in letters if c != ".")


def _natural(text: str) -> Name:
    """``Given von Family Suffix`` (or Vancouver ``Family INITIALS``)."""
    tokens = text.split(" ")
    suffix: str | None = None
    if len(tokens) > 2 and tokens[-1] in _NATURAL_SUFFIXES:
        suffix = tokens.pop()
    if len(tokens) == 1:
        particle, family = _split_family(tokens[0])
        return make_name(family=family, non_dropping_particle=particle, suffix=suffix)
    last = tokens[-1]
    if (
        _VANCOUVER_INITIALS.match(last)
        and last not in _ROMAN
        and not _lowercase_particle(tokens[-2])
        and not any(t.isupper() and len(t) > 1 for t in tokens[:-1] if t not in _PARTICLES)
    ):
        particle, family = _split_family(" ".join(tokens[:-1]))
        return make_name(
            family=family, given=_initials(last), non_dropping_particle=particle, suffix=suffix
        )
    # Leading particles with no given name: "van Gogh", "de la Cruz".
    if _lowercase_particle(tokens[0]):
        particle, family = _split_family(text if suffix is None else " ".join(tokens))
        return make_name(family=family, non_dropping_particle=particle, suffix=suffix)
    # The first lower-case particle after the given names starts the family part.
    for i in range(1, len(tokens) - 1):
        if _lowercase_particle(tokens[i]):
            given = " ".join(tokens[:i])
            particle, family = _split_family(" ".join(tokens[i:]))
            return make_name(
                family=family, given=given, non_dropping_particle=particle, suffix=suffix
            )
    particle, family = _split_family(last)
    return make_name(
        family=family, given=" ".join(tokens[:-1]), non_dropping_particle=particle, suffix=suffix
    )


def _inverted(family_part: str, given_part: str, suffix: str | None) -> Name:
    particle, family = _split_family(family_part) if family_part else (None, "")
    given, dropping = _split_given(given_part) if given_part else (None, None)
    if not family:
        if not given:
            raise ValueError("a name needs a family or given name")
        return make_name(given=given, suffix=suffix, dropping_particle=dropping)
    return make_name(
        family=family,
        given=given,
        non_dropping_particle=particle,
        dropping_particle=dropping,
        suffix=suffix,
    )


_EXTENDED_KEYS = frozenset({"family", "given", "prefix", "suffix", "useprefix"})


def _extended(value: str) -> Name | None:
    """BibLaTeX's extended name format: ``family=Goethe, given=Johann, prefix=von``.

    ``useprefix=false`` makes the prefix a dropping particle, as pandoc reads it; without
    it the prefix is a non-dropping particle, like every particle written before a family.
    """
    fields: dict[str, str] = {}
    for piece in value.split(","):
        key, sep, item = piece.partition("=")
        key = key.strip().lower()
        if not sep or key not in _EXTENDED_KEYS:
            return None
        fields[key] = item.strip().strip('"').strip()
    if not (fields.get("family") or fields.get("given")):
        return None
    prefix = fields.get("prefix") or None
    dropping = prefix if fields.get("useprefix", "").lower() == "false" else None
    return make_name(
        family=fields.get("family") or None,
        given=fields.get("given") or None,
        suffix=fields.get("suffix") or None,
        dropping_particle=dropping,
        non_dropping_particle=None if dropping else prefix,
    )


# Bounded: a full cache costs about 0.9 kB a name, and peak memory must stay low.
@lru_cache(maxsize=8192)
def parse_name(text: str) -> Name:
    """Parse one personal or corporate name (see the module docstring for the rules).

    Raises:
        ValueError: ``text`` is blank.
    """
    value = clean_text(text)
    if not value:
        raise ValueError("a name cannot be blank")
    if not value[0].isalnum() and not any(c.isalnum() for c in value):
        raise ValueError("a name needs a letter or digit")
    if "=" in value:
        extended = _extended(value)
        if extended is not None:
            return extended
    if ";" in value:
        # ";" separates names in every format; inside one name it is noise.
        value = " ".join(value.replace(";", " ").split())
    if value.endswith(",") and "," not in value[:-1] and value[:-1].strip():
        # EndNote's convention for a corporate author: "Acme Widgets," (not inverted).
        return make_name(literal=value[:-1].rstrip())
    # A leading comma is kept: ", Plato" is a given-only name.
    value = value.rstrip(" ,").lstrip()
    if is_organisation(value):
        return make_name(literal=value)
    if value.isupper():
        value = _recase(value)
    if "," not in value:
        return _natural(value)
    parts = [p.strip() for p in value.split(",")]
    if len(parts) == 2:
        first, second = parts
        if _is_suffix(second) and first:
            if " " in first and not _lowercase_particle(first.split(" ")[0]):
                natural = _natural(first)
                return natural.model_copy(update={"suffix": second})
            return _inverted(first, "", second)
        return _inverted(first, second, None)
    if len(parts) > 3:
        parts = parts[:2] + [p for p in parts[2:] if p]  # "Family, Given, , Jr."
    first = parts[0]
    if len(parts) == 3 and _is_suffix(parts[1]) and not _is_suffix(parts[2]):
        # BibTeX's "von Last, Jr, First".
        return _inverted(first, parts[2], parts[1])
    return _inverted(first, parts[1], ", ".join(p for p in parts[2:] if p) or None)


def _strip_et_al(text: str) -> tuple[str, bool]:
    """``text`` without a trailing "et al." / "and others", and whether one was there."""
    tail = text[-12:].lower()
    if "al" not in tail and "others" not in tail and "…" not in tail and "..." not in tail:
        return text, False
    if text.rstrip(" ;").endswith(","):
        return text, False  # a trailing comma marks a corporate name ("Et Al Ltd,")
    found = False
    while True:
        value = text.rstrip(" ,;")
        low = value.lower()
        for marker in _ET_AL_MARKERS:
            if low.endswith(marker):
                value = value[: -len(marker)]
                break
        else:
            # "others" only in lower case: BibTeX's "and others"; "Others" may be a name.
            if value.endswith("others") and not value[-7:-6].isalnum():
                value = value[:-6].rstrip()
                if value.endswith((" and", " AND")) or value in ("and", "AND"):
                    value = value[:-3]
            else:
                return text, found
        if value and value[-1].isalnum() and not low.endswith(("…", "...")):
            return text, found  # "Metal" is not "et al"
        text, found = value, True


def has_et_al(text: str) -> bool:
    """True when a name list ends with "et al." / "others" (more authors than listed)."""
    return _strip_et_al(text)[1]


def _is_vancouver(piece: str) -> bool:
    family, _, initials = piece.rpartition(" ")
    return bool(family) and _VANCOUVER_INITIALS.match(initials) is not None


def _comma_list(text: str) -> list[str] | None:
    """Split a comma-only list, or None when ``text`` is one name.

    Vancouver lists ("Smith J, Doe JA") split at every comma; catalogue lists ("Li, Ai,
    Tao, Yuan") are comma-joined ``Family, Given`` pairs, with suffixes kept.
    """
    pieces = [p.strip() for p in text.split(",")]
    if len(pieces) >= 2 and all(_is_vancouver(p) for p in pieces):
        return pieces
    if len(pieces) < 4 or any(not p for p in pieces):
        return None
    out: list[str] = []
    i = 0
    while i < len(pieces):
        family = pieces[i]
        if i + 1 >= len(pieces):
            out.append(family)
            break
        given = pieces[i + 1]
        if i + 2 < len(pieces) and _is_suffix(pieces[i + 2]):
            out.append(f"{family}, {given}, {pieces[i + 2]}")
            i += 3
            continue
        out.append(f"{family}, {given}")
        i += 2
    return out


def parse_name_list(text: str) -> list[Name]:
    """Parse several names in one string.

    Separators: ``;``, newlines, `` and ``, `` & ``; or, with none of those, the catalogue
    style of comma-joined ``Family, Given`` pairs (``Li, Ai, Tao, Yuan``) when there are
    at least two pairs. A trailing "et al." / "others" is dropped (see :func:`has_et_al`).
    """
    value = clean_text(text, multiline=True)
    value = _strip_et_al(value)[0].strip(" ;")
    if not value.strip(" ,"):
        return []
    if ";" in value or "\n" in value:
        # With semicolons or lines, "and" and "&" belong to names ("Smith and Sons Ltd").
        chunks = [c for c in _HARD_SPLIT.split(value) if c.strip(" ,;")]
    elif is_organisation(value):
        return [parse_name(value)]
    elif " and " in value or " AND " in value or " & " in value:
        chunks = [c for c in _LIST_SPLIT.split(value) if c.strip(" ,;")]
    else:
        chunks = [value]
    if len(chunks) == 1:
        pairs = _comma_list(chunks[0].strip(" ,;"))
        if pairs is not None:
            chunks = pairs
    names: list[Name] = []
    for chunk in chunks:
        if len(chunks) > 1:
            chunk = _strip_et_al(chunk)[0].strip(" ;")  # "Smith, J; et al; Doe, J"
        if chunk[:1].isalnum() or any(c.isalnum() for c in chunk):
            names.append(parse_name(chunk))
    return names


def format_name_inverted(name: Name) -> str:
    """``von Family, Given particle, Suffix`` (RIS ``AU`` style) for a person.

    An organisation is written as is, another literal with a trailing comma (see the
    module docstring). The text parses back to the same ``Name`` with :func:`parse_name`
    for every ``Name`` it can produce.
    """
    if name.literal is not None:
        if is_organisation(name.literal) or "," in name.literal:
            return name.literal
        # EndNote's corporate-author convention, so the literal reads back as one.
        return name.literal + ","
    family = _join_particle(name.non_dropping_particle, name.family or "")
    given = name.given or ""
    if name.dropping_particle:
        given = f"{given} {name.dropping_particle}" if given else name.dropping_particle
    if name.suffix:
        if not given and _is_suffix(name.suffix):
            return f"{family}, {name.suffix}"
        return f"{family}, {given}, {name.suffix}"
    if given:
        return f"{family}, {given}"
    return family
