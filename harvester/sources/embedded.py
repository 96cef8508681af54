"""Any landing page: the metadata the page embeds about itself (the last source tried).

The page is fetched once as HTML (a bot challenge or login wall is :class:`Blocked`,
raised by the HTTP layer) and read by the ``html-meta`` format's layers: Highwire
``citation_*``, Dublin Core, PRISM, EPrints/bepress, COinS, schema.org JSON-LD, RDFa and
microdata, Open Graph last (see :mod:`harvester.formats.html_meta`). Nothing else is
requested: links to exports (``rel="alternate"`` RIS) are the business of the sources
that know a site, such as ``vufind``.

A page that is fetched but carries no metadata, or is not HTML at all (a PDF), is a
:class:`NoEmbeddedMetadata` error, a ``ParseError``: the request worked, the payload is
what cannot be read.
"""

from __future__ import annotations

from urllib.parse import urljoin

from harvester.errors import ParseError
from harvester.formats.html_meta import NAME as FORMAT_NAME
from harvester.formats.html_meta import Element, parse_html, record_from_root
from harvester.model import Identifier, Record
from harvester.normalize.identifiers import parse_url
from harvester.sources._base import FetchContext, Source, Target, stamp

NAME = "embedded"

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", ""})


class NoEmbeddedMetadata(ParseError):
    """The page was fetched, but says nothing about a work we can read."""


def detect(target: Target) -> bool:
    """Any URL: this source is registered last, after the ones that know a site."""
    return target.kind == "url"


def _media_type(content_type: str) -> tuple[str, str | None]:
    """``text/html; charset=ISO-8859-1`` -> (``text/html``, ``ISO-8859-1``)."""
    media, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip("\"'")
    return media.strip().lower(), charset


def _page_url(root: Element, final_url: str) -> str:
    """The page's own address: its canonical link when it gives a web one, else where we are."""
    for link in root.xpath('//link[@rel="canonical"]/@href'):
        url = parse_url(urljoin(final_url, str(link).strip()))
        if url is not None:
            return url
    return final_url


async def fetch(target: Target, ctx: FetchContext) -> list[Record]:
    """Fetch one landing page and return the record its embedded metadata describes.

    Raises:
        Blocked: a bot challenge or login page was served instead of the page.
        NotFound, RateLimited, FetchError: from the HTTP layer.
        NoEmbeddedMetadata: the page is not HTML, or carries no metadata we read.
    """
    response = await ctx.client.get(target.value, expect="html")
    body = response.read()
    media, charset = _media_type(response.headers.get("content-type", ""))
    if media not in _HTML_TYPES:
        raise NoEmbeddedMetadata(
            f"no embedded metadata at {response.url}: not an HTML page ({media})",
            source=response.url,
            format_name=FORMAT_NAME,
        )
    root = parse_html(body, charset=charset)
    record = record_from_root(root, response.url) if root is not None else None
    if root is None or record is None:
        raise NoEmbeddedMetadata(
            f"no embedded metadata at {response.url}",
            source=response.url,
            format_name=FORMAT_NAME,
            raw=body[:500].decode("utf-8", errors="replace"),
        )
    page_url = _page_url(root, response.url)
    if not record.identifiers_of("url"):
        record = record.model_copy(
            update={"identifiers": [*record.identifiers, Identifier(scheme="url", value=page_url)]}
        )
    return [
        stamp(
            record,
            source=NAME,
            source_id=page_url,
            url=response.url,
            raw_format=FORMAT_NAME,
            body=body,
        )
    ]


SOURCE = Source(name=NAME, detect=detect, fetch=fetch, kind="embedded")
