"""OAI-PMH: the paging client and the protocol errors."""

from __future__ import annotations

from harvester.oai.client import (
    BrokenRecord,
    Header,
    Identify,
    MetadataFormat,
    OAIClient,
    OAIRecord,
    OAISet,
    Page,
    ResumptionToken,
    format_datestamp,
)
from harvester.oai.errors import OAIProtocolError

__all__ = [
    "BrokenRecord",
    "Header",
    "Identify",
    "MetadataFormat",
    "OAIClient",
    "OAIProtocolError",
    "OAIRecord",
    "OAISet",
    "Page",
    "ResumptionToken",
    "format_datestamp",
]
