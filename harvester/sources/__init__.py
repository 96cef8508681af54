"""The source registry: one module per source, one line each in ``SOURCES``, in order.

``find_source`` gives a target to the first source whose ``detect`` accepts it, so the
specific ones (a VuFind record URL) come before the general ones (any landing page).
"""

from __future__ import annotations

import re

from harvester.errors import ConfigError
from harvester.normalize.identifiers import parse_doi
from harvester.sources import doi, embedded, openlibrary, pubmed, vufind
from harvester.sources._base import FetchContext, Source, SourceSettings, Target

SOURCES: tuple[Source, ...] = (
    vufind.SOURCE,
    doi.SOURCE,
    pubmed.SOURCE,
    openlibrary.SOURCE,
    embedded.SOURCE,
)

__all__ = [
    "SOURCES",
    "FetchContext",
    "Source",
    "SourceSettings",
    "Target",
    "find_source",
    "parse_target",
]

_PMID = re.compile(r"(?i)^(?:pmid\s*:?\s*)(\d{1,9})$")
_PMCID = re.compile(r"(?i)^(?:pmcid\s*:?\s*)?(pmc\d{1,9})$")
_ISBN = re.compile(r"(?i)^isbn\s*:?\s*([\dxX\- ]{10,17})$")


def parse_target(text: str) -> Target:
    """Read one target: a URL, a DOI in any common form, ``pmid:``, ``pmcid:``, ``isbn:``.

    Raises:
        ConfigError: the text is none of those.
    """
    raw = text.strip()
    if match := _PMID.match(raw):
        return Target("pmid", match.group(1), raw)
    if match := _PMCID.match(raw):
        return Target("pmcid", match.group(1).upper(), raw)
    if match := _ISBN.match(raw):
        digits = match.group(1).replace("-", "").replace(" ", "").upper()
        return Target("isbn", digits, raw)
    doi = parse_doi(raw)
    if doi is not None:
        return Target("doi", doi, raw)
    if raw.lower().startswith(("http://", "https://")):
        return Target("url", raw, raw)
    raise ConfigError(f"not a URL, DOI, pmid:, pmcid: or isbn: target: {raw!r}")


def find_source(target: Target) -> Source:
    """The first registered source that accepts ``target``.

    Raises:
        ConfigError: no source accepts it.
    """
    for source in SOURCES:
        if source.detect(target):
            return source
    raise ConfigError(f"no source can fetch {target.raw!r}")
