"""The format registry: one module per format, one line each in ``FORMATS``.

``find_format`` looks a format up by name, by content (sniffing the head of the input)
or by file extension, in that order of trust for reading.

Format modules are imported on first use: a conversion between two formats loads only
those two, not the XML readers and their dependencies (a tenth of the start-up time).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import PurePath

from harvester.errors import ConfigError
from harvester.formats._base import Format, Loss, ReadResult, Writer

# Name -> module, in sniffing order (the most specific signatures first), and each
# format's aliases, so that naming a format loads no other module. A test checks this
# table against the modules' own ``FORMAT`` objects.
_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "jsonl": ("jsonl", ()),
    "csl-json": ("csljson", ("csl", "csljson", "citeproc-json", "json")),
    "ris": ("ris", ()),
    "bibtex": ("bibtex", ("bib", "biblatex")),
    "marcxml": ("marcxml", ("marc21", "marc")),
    "oai_dc": ("oai_dc", ("dc", "oai-dc")),
    "mods": ("mods", ()),
    "pubmed-xml": ("pubmed", ("pubmed", "medline-xml")),
    "catalogue-text": ("catalogue_text", ("vufind-text", "catalogue")),
    "html-meta": ("html_meta", ("html", "embedded")),
}


class _Registry(Mapping[str, Format]):
    """A read-only ``name -> Format`` mapping that imports a format's module on lookup."""

    def __init__(self, modules: Mapping[str, tuple[str, tuple[str, ...]]]) -> None:
        self._modules = dict(modules)
        self._loaded: dict[str, Format] = {}

    def __getitem__(self, name: str) -> Format:
        fmt = self._loaded.get(name)
        if fmt is None:
            module = importlib.import_module(f"harvester.formats.{self._modules[name][0]}")
            fmt = module.FORMAT
            assert isinstance(fmt, Format)
            self._loaded[name] = fmt
        return fmt

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def aliases(self, name: str) -> tuple[str, ...]:
        return self._modules[name][1]


FORMATS = _Registry(_MODULES)

__all__ = ["FORMATS", "Format", "Loss", "ReadResult", "Writer", "find_format"]


def find_format(
    name: str | None = None, *, filename: str | None = None, head: str | None = None
) -> Format:
    """Return the format named ``name``, else the one ``head`` looks like, else by extension.

    Raises:
        ConfigError: the name is unknown, or nothing recognises the input.
    """
    if name is not None:
        key = name.lower().replace("_", "-")
        for fmt_name in FORMATS:
            if key == fmt_name or key in FORMATS.aliases(fmt_name):
                return FORMATS[fmt_name]
        known = ", ".join(FORMATS)
        raise ConfigError(f"unknown format {name!r} (known: {known})")
    if head is not None and head.strip():
        for fmt in FORMATS.values():
            if fmt.sniff is not None and fmt.sniff(head):
                return fmt
    if filename is not None:
        suffix = PurePath(filename).suffix.lower()
        for fmt in FORMATS.values():
            if suffix in fmt.extensions:
                return fmt
    where = filename or "input"
    raise ConfigError(f"{where}: cannot tell the format; name it with --from")
