"""Language names and codes to BCP 47 tags (langcodes does the CLDR work)."""

from __future__ import annotations

from functools import lru_cache

import langcodes


@lru_cache(maxsize=4096)
def normalize_language(text: str) -> str | None:
    """Return the BCP 47 tag for a language name or code ("English", "eng", "en-US")."""
    value = text.strip()
    if not value:
        return None
    try:
        return str(langcodes.standardize_tag(value))
    except (ValueError, langcodes.tag_parser.LanguageTagError):
        pass
    try:
        return str(langcodes.find(value))
    except LookupError:
        return None
