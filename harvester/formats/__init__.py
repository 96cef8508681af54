"""The format registry: one module per format, one line each in ``FORMATS``.

``find_format`` looks a format up by name, by content (sniffing the head of the input)
or by file extension, in that order of trust for reading.
"""

from __future__ import annotations

from pathlib import PurePath

from harvester.errors import ConfigError
from harvester.formats import bibtex, catalogue_text, csljson, jsonl, marcxml, mods, oai_dc, ris
from harvester.formats._base import Format, Loss, ReadResult, Writer

# Sniffing order matters: the most specific signatures first.
FORMATS: dict[str, Format] = {
    jsonl.FORMAT.name: jsonl.FORMAT,
    csljson.FORMAT.name: csljson.FORMAT,
    ris.FORMAT.name: ris.FORMAT,
    bibtex.FORMAT.name: bibtex.FORMAT,
    marcxml.FORMAT.name: marcxml.FORMAT,
    oai_dc.FORMAT.name: oai_dc.FORMAT,
    mods.FORMAT.name: mods.FORMAT,
    catalogue_text.FORMAT.name: catalogue_text.FORMAT,
}

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
        for fmt in FORMATS.values():
            if key == fmt.name or key in fmt.aliases:
                return fmt
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
