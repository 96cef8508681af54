"""Language names and codes to BCP 47 tags.

langcodes does the CLDR and IANA-registry work (names in many languages, deprecated and
three-letter codes); this module adds what catalogues write that langcodes alone does
not take: MARC's ISO 639-2/B codes spelled out below, "en_US" with an underscore, MARC 041
runs of codes ("engger"), lists ("English; German"), and None for what is not a language.
"""

from __future__ import annotations

from functools import lru_cache

# langcodes and language_data are imported where used: they take 35 ms to load, and
# most conversions meet only tags the lru_cache has already seen or none at all.

# ISO 639-2 has two codes for twenty languages: the bibliographic (/B) one MARC records
# use and the terminology (/T) one. BCP 47 uses the ISO 639-1 code where there is one.
# Source: https://www.loc.gov/standards/iso639-2/php/code_list.php
MARC_B_CODES: dict[str, str] = {
    "alb": "sq", "arm": "hy", "baq": "eu", "bur": "my", "chi": "zh", "cze": "cs",
    "dut": "nl", "fre": "fr", "geo": "ka", "ger": "de", "gre": "el", "ice": "is",
    "mac": "mk", "mao": "mi", "may": "ms", "per": "fa", "rum": "ro", "slo": "sk",
    "tib": "bo", "wel": "cy",
}  # fmt: skip
_LIST_SEPARATORS = (";", ",", "/", "|", " and ", " und ", " & ")

# The answers for the languages most records name, so that a conversion seeing only
# these never loads langcodes and its data (40-100 ms, most of a small run's start-up).
# Each entry is what langcodes gives; tests/test_speed_paths.py checks every one.
_COMMON_CODES = [
    "en", "de", "fr", "zh", "es", "it", "ja", "ru", "pt", "nl", "ko", "ar", "pl", "sv",
    "da", "no", "nb", "nn", "fi", "cs", "hu", "tr", "el", "he", "la", "ca", "ro", "sk",
    "sl", "hr", "sr", "bg", "uk", "et", "lv", "lt", "is", "ga", "cy", "eu", "gl", "fa",
    "hi", "bn", "ur", "id", "ms", "th", "vi",
]  # fmt: skip
_COMMON_ALPHA3 = {
    "eng": "en", "deu": "de", "fra": "fr", "zho": "zh", "spa": "es", "ita": "it",
    "jpn": "ja", "rus": "ru", "por": "pt", "nld": "nl", "kor": "ko", "ara": "ar",
    "pol": "pl", "swe": "sv", "dan": "da", "nor": "no", "fin": "fi", "ces": "cs",
    "hun": "hu", "tur": "tr", "ell": "el", "heb": "he", "lat": "la", "cat": "ca",
    "ron": "ro", "slk": "sk", "slv": "sl", "hrv": "hr", "srp": "sr", "bul": "bg",
    "ukr": "uk", "und": "und", "mul": "mul", "zxx": "zxx",
}  # fmt: skip
_COMMON_NAMES = {
    "english": "en", "german": "de", "french": "fr", "chinese": "zh", "spanish": "es",
    "italian": "it", "japanese": "ja", "russian": "ru", "portuguese": "pt", "dutch": "nl",
    "korean": "ko", "arabic": "ar", "polish": "pl", "swedish": "sv", "danish": "da",
    "norwegian": "no", "finnish": "fi", "czech": "cs", "hungarian": "hu", "turkish": "tr",
    "greek": "el", "hebrew": "he", "latin": "la", "catalan": "ca", "romanian": "ro",
}  # fmt: skip
COMMON: dict[str, str] = {
    **{code: code for code in _COMMON_CODES},
    **{code.upper(): code for code in _COMMON_CODES},
    **_COMMON_ALPHA3,
    **{code.upper(): tag for code, tag in _COMMON_ALPHA3.items()},
    **MARC_B_CODES,
    **_COMMON_NAMES,
    **{name.title(): tag for name, tag in _COMMON_NAMES.items()},
    **{name.upper(): tag for name, tag in _COMMON_NAMES.items()},
}

# langcodes' English names of the common tags ("de" -> "German"), for writers that spell
# a language out (BibTeX's babel names); tests/test_speed_paths.py checks every one.
ENGLISH_NAMES: dict[str, str] = {tag: name.title() for name, tag in _COMMON_NAMES.items()}


def english_name(tag: str) -> str:
    """The English name of a BCP 47 tag, as langcodes gives it ("zh" -> "Chinese").

    Raises:
        ValueError: langcodes cannot parse ``tag``.
        LookupError: langcodes has no name for it.
    """
    name = ENGLISH_NAMES.get(tag)
    if name is not None:
        return name
    import langcodes

    return str(langcodes.Language.get(tag).language_name("en"))


def _valid_tag(tag: str) -> str | None:
    import langcodes
    from langcodes.tag_parser import LanguageTagError

    try:
        standard = str(langcodes.standardize_tag(tag))
    except (ValueError, LanguageTagError):
        return None
    return standard if langcodes.tag_is_valid(standard) else None


def _names_a_language(value: str) -> bool:
    """True when ``value`` is a language name, or one followed by more words.

    langcodes.find also takes any string that merely starts with a name ("Germanic" ->
    German, "Frenchman" -> French); we take a longer string only when the name ends at
    a word boundary ("Hakka Chinese", "English language").
    """
    from language_data import names as _names  # type: ignore[import-untyped]

    _names.name_to_code("language", "English")  # loads the name index once
    trie = getattr(_names, "TRIES", {}).get("und/name_to_language")
    if trie is None:  # a language_data release that keeps its index elsewhere
        return True
    lookup = str(_names.normalize_name(value))
    if lookup in trie:
        return True
    prefixes = trie.prefixes(lookup)
    return bool(prefixes) and len(prefixes[-1]) >= 4 and lookup[len(prefixes[-1])] == " "


def _one_language(value: str) -> str | None:
    low = value.lower()
    marc = MARC_B_CODES.get(low)
    if marc is not None:
        return marc
    if value.isascii() and not any(c.isspace() for c in value):
        tag = _valid_tag(value.replace("_", "-"))
        if tag is not None:
            return tag
    if (len(value) < 3 and value.isascii()) or not value.isprintable():
        # Short strings are codes or nothing (langcodes.find would match "e" to "eee"),
        # and the name index behind find() fails on NULs and surrogates.
        return None
    import langcodes

    try:
        if not _names_a_language(value):
            return None
        found = langcodes.find(value)
    except (LookupError, UnicodeError):
        return None
    return _valid_tag(str(found))


@lru_cache(maxsize=4096)
def normalize_language(text: str) -> str | None:
    """Return the BCP 47 tag for a language name or code, or None if it names none.

    "English", "eng", "en", "EN", "en_US" -> "en"/"en-US"; "ger"/"deu"/"Deutsch" -> "de";
    "chi"/"zho"/"Chinese"/"中文" -> "zh". "und", "mul" and "zxx" are kept: they are BCP 47
    tags that say something (undetermined, several, no linguistic content). For a list or
    a MARC 041 run ("engger") the first language is returned.
    """
    value = text.strip()
    common = COMMON.get(value)
    if common is not None:
        return common
    return _normalize_uncommon(value)


def _normalize_uncommon(value: str) -> str | None:
    """``normalize_language`` without the table of common answers (tests compare them)."""
    if not value or len(value) > 80:
        return None
    tag = _one_language(value)
    if tag is not None:
        return tag
    for separator in _LIST_SEPARATORS:
        if separator in value:
            head = value.split(separator, 1)[0].strip()
            return _one_language(head) if head else None
    if len(value) > 3 and len(value) % 3 == 0 and value.isascii() and value.isalpha():
        return _one_language(value[:3])
    return None
