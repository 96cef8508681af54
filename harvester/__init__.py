"""harvester: bibliographic records from catalogues and files, exact in BibTeX, CSL-JSON, RIS."""

from __future__ import annotations

__version__ = "0.1.0"

from harvester import errors
from harvester.api import ConvertSummary, convert, dumps, read, write
from harvester.model import Date, Identifier, Name, Provenance, Record

__all__ = [
    "ConvertSummary",
    "Date",
    "Identifier",
    "Name",
    "Provenance",
    "Record",
    "__version__",
    "convert",
    "dumps",
    "errors",
    "read",
    "write",
]
