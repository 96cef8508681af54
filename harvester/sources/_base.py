"""What every source shares: targets, settings, the ``Source`` entry and provenance stamps.

A source is one module with ``SOURCE = Source(name=..., detect=..., fetch=...)``
(Zotero's translators: ``detectWeb`` / ``doWeb``); ``sources/__init__.py`` lists them in
order and the first whose ``detect`` says yes fetches the target.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from harvester.errors import ConfigError, FetchError
from harvester.http import AsyncHttpClient
from harvester.model import FieldSource, Provenance, Record

TargetKind = Literal["url", "doi", "pmid", "pmcid", "isbn"]


@dataclass(frozen=True)
class Target:
    """One thing to fetch: its kind, normalised value, and the text the user gave."""

    kind: TargetKind
    value: str
    raw: str

    def __str__(self) -> str:
        return self.raw


DEFAULT_URLS: dict[str, str] = {
    "crossref": "https://api.crossref.org",
    "datacite": "https://api.datacite.org",
    "doi": "https://doi.org",
    "eutils": "https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
    "idconv": "https://pmc.ncbi.nlm.nih.gov/tools/idconv/api/v1/articles/",
    "openlibrary": "https://openlibrary.org",
}


@dataclass
class SourceSettings:
    """Base URLs and credentials; every URL is a setting so tests point it at loopback.

    Read from environment variables (``HARVESTER_<NAME>_URL``, ``HARVESTER_MAILTO``,
    ``HARVESTER_NCBI_API_KEY``) over a TOML file (``HARVESTER_CONFIG`` or
    ``~/.config/harvester/config.toml``, table ``[sources]``) over the defaults.
    """

    urls: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_URLS))
    mailto: str | None = None
    ncbi_api_key: str | None = None
    tool: str = "harvester"

    def url(self, name: str) -> str:
        return self.urls[name].rstrip("/")

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, config: Path | None = None
    ) -> SourceSettings:
        """Settings from the config file and the environment (environment wins).

        Raises:
            ConfigError: the config file cannot be read or is not valid TOML.
        """
        env = os.environ if environ is None else environ
        settings = cls()
        path = config or (Path(env["HARVESTER_CONFIG"]) if env.get("HARVESTER_CONFIG") else None)
        if path is None:
            default = Path.home() / ".config" / "harvester" / "config.toml"
            path = default if default.is_file() else None
        if path is not None:
            try:
                table: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config {path}: {exc}") from exc
            sources = table.get("sources", {})
            for name in DEFAULT_URLS:
                value = sources.get(f"{name}_url")
                if isinstance(value, str):
                    settings.urls[name] = value
            if isinstance(sources.get("mailto"), str):
                settings.mailto = sources["mailto"]
            if isinstance(sources.get("ncbi_api_key"), str):
                settings.ncbi_api_key = sources["ncbi_api_key"]
        for name in DEFAULT_URLS:
            value = env.get(f"HARVESTER_{name.upper()}_URL")
            if value:
                settings.urls[name] = value
        settings.mailto = env.get("HARVESTER_MAILTO") or settings.mailto
        settings.ncbi_api_key = env.get("HARVESTER_NCBI_API_KEY") or settings.ncbi_api_key
        return settings


@dataclass
class FetchContext:
    """What a source's ``fetch`` gets: the shared client, the settings, shared memos."""

    client: AsyncHttpClient
    settings: SourceSettings
    memo: dict[str, Any] = field(default_factory=dict)
    """Per-run memory shared by sources (e.g. the DOI agency per prefix)."""


FetchOne = Callable[[Target, FetchContext], Awaitable[list[Record]]]
FetchMany = Callable[
    [Sequence[Target], FetchContext], Awaitable[dict[Target, list[Record] | FetchError]]
]


@dataclass(frozen=True)
class Source:
    """One source's entry in the registry."""

    name: str
    detect: Callable[[Target], bool]
    fetch: FetchOne
    fetch_many: FetchMany | None = None
    """Batch fetch (PubMed's efetch takes 200 ids a request); ``None`` means one by one."""
    batch_size: int = 1
    kind: Literal["catalogue", "registry", "embedded"] = "registry"
    """Which merge rules apply to its fields (see ``harvester.merge``)."""


def content_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


_SKIP_FIELDS = frozenset({"id", "type", "extra", "provenance", "field_sources"})


def stamp(
    record: Record,
    *,
    source: str,
    source_id: str | None,
    url: str | None,
    raw_format: str,
    body: bytes | None = None,
    raw: Mapping[str, str] | None = None,
) -> Record:
    """Return ``record`` with its provenance and a ``field_sources`` entry for each field.

    ``raw`` maps field names to the raw value the source gave, where the source knows it
    (the record's own normalised value is not repeated as "raw").
    """
    provenance = Provenance(
        source=source,
        source_id=source_id,
        url=url,
        fetched_at=datetime.now(UTC),
        raw_format=raw_format,
        content_hash=content_hash(body) if body is not None else None,
    )
    raw = raw or {}
    sources = dict(record.field_sources)
    for name in Record.model_fields:
        if name in _SKIP_FIELDS or name in sources:
            continue
        value = getattr(record, name)
        if value in (None, [], {}, ""):
            continue
        sources[name] = FieldSource(source=source, raw=raw.get(name))
    return record.model_copy(
        update={"provenance": [*record.provenance, provenance], "field_sources": sources}
    )
