"""Identifier parsing: DOI, ISSN, ISBN, PMID, PMCID, arXiv, OCLC, LCCN, URL.

Check digits are computed here with plain integer arithmetic (the ISSN and ISBN rules
are a few lines each and ``normalize_identifier`` runs for every identifier of every
record); the tests check them against python-stdnum, which nobody here wrote. The
extraction rules (prefixes, resolver URLs, prose punctuation, several values and their
print/electronic/linking labels in one string) are ours.

``valid`` semantics, for every scheme: ``True``/``False`` is the verdict of whatever can
be checked (the check digit for ISSN and ISBN, the syntax for DOI, PMID, PMCID, arXiv,
OCLC and LCCN); ``None`` means there is nothing to check (URL, OAI identifiers).
"""

from __future__ import annotations

import re
from functools import lru_cache
from operator import mul
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:  # model.py imports this module; the runtime import is deferred.
    from harvester.model import Identifier, IdentifierKind, IdentifierScheme

# --- DOI ---------------------------------------------------------------------------------
#
# DOI names are case-insensitive for ASCII letters (DOI Handbook, https://doi.org/10.1000/182,
# chapter 2 "Numbering": "DOI names are case insensitive, using ASCII case folding for
# comparison of text"; names differing only in the case of non-ASCII letters may be
# different names). "10.3892/ETM.2017.4687" and "10.3892/etm.2017.4687" are the same
# name, so we store DOIs with ASCII letters lower-cased: the record model, deduplication
# and the store can then compare them with plain string equality, and resolvers accept
# either case. Non-ASCII letters are left as they are, since folding them could merge
# two different names.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

# A registrant code may have dotted sub-elements ("10.1000.10/abc"); the separator may
# come percent-encoded ("10.1002%2Fjor...") when the DOI was copied out of a URL.
_DOI = re.compile(r"10\.[0-9]{4,9}(?:\.[0-9]+)*(?:/|%2[Ff])\S+")
_DOI_FULL = re.compile(r"10\.[0-9]{4,9}(?:\.[0-9]+)*/\S+")
_ENCODED_SEPARATOR = re.compile(r"10\.[0-9]{4,9}(?:\.[0-9]+)*%2[Ff]")
_ENCODED_PATH = re.compile(r"(?<![^/])10\.[0-9]{4,9}(?:\.[0-9]+)*%2[Ff]")
_DOI_RESOLVERS = frozenset(
    {"doi.org", "dx.doi.org", "www.doi.org", "hdl.handle.net", "doi.acm.org", "dx.crossref.org"}
)
# Publisher landing pages put the DOI after a "/doi/" path segment, sometimes with a view
# ("/doi/abs/", "/doi/full/10...", "/doi/pdf/10...").
_DOI_PATH = re.compile(r"/doi/(?:(?:abs|full|pdf|epdf|epub|book|chapter|reader)/)?(10\.)", re.I)
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}
_TRAILING = ".,;:!?'\""


def _trim_doi(doi: str) -> str:
    """Drop punctuation that prose puts after a DOI; a closing bracket only when unbalanced.

    "see 10.1000/xyz." and "(doi:10.1000/xyz)" lose the dot and the parenthesis, while
    "10.1002/(SICI)1097-4636(199706)35:4<489::AID-JBM9>3.0.CO;2-E" stays whole.
    """
    end = len(doi)
    counts: dict[str, int] = {}  # bracket counts, computed once: values can be huge
    while end:
        last = doi[end - 1]
        if last in _TRAILING:
            end -= 1
            continue
        opener = _CLOSERS.get(last)
        if opener is None:
            break
        if last not in counts:
            counts[last] = doi.count(last, 0, end)
            counts[opener] = doi.count(opener, 0, end)
        if counts[last] <= counts[opener]:
            break
        counts[last] -= 1
        end -= 1
    return doi[:end]


def _finish_doi(doi: str, from_url: bool) -> str | None:
    if from_url:
        # In a URL, "?" and "#" start the query and fragment; a DOI containing them
        # would have them percent-encoded, so cut before decoding.
        for stop in "?#":
            cut = doi.find(stop)
            if cut > 0:
                doi = doi[:cut]
    # Percent-decode only where the DOI was URL-encoded (it came out of a URL, or its
    # prefix separator is encoded): decoding a bare DOI on every pass would not be
    # idempotent ("%2541" -> "%41" -> "A").
    if "%" in doi and (from_url or _ENCODED_SEPARATOR.match(doi)):
        doi = unquote(doi)
        if not doi.isprintable() or " " in doi:
            doi = doi.split(None, 1)[0] if doi.strip() else ""
    doi = _trim_doi(doi)
    _prefix, slash, suffix = doi.partition("/")
    if not slash or not suffix:
        return None
    return doi.translate(_ASCII_LOWER)


def _doi_from_url(url: str) -> str | None:
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    host = host.lower().rsplit("@", 1)[-1].split(":", 1)[0]
    if path.startswith("10."):
        # Resolvers, and publisher resolvers of the same shape (link.springer.com/10...,
        # dx.plos.org/10...): the whole path is the DOI.
        return _finish_doi(path, True) if _DOI.match(path) else None
    if host in _DOI_RESOLVERS:
        return None
    match = _DOI_PATH.search("/" + path)
    if match is not None:
        return _finish_doi(("/" + path)[match.start(1) :], True)
    # An encoded prefix separator ("/articles/10.1002%2Fjor.1100150407") is a DOI that
    # somebody escaped on purpose; an unescaped "10.x/y" deeper in a path may be a file.
    encoded = _ENCODED_PATH.search(path)
    return _finish_doi(path[encoded.start() :], True) if encoded else None


def parse_doi(text: str) -> str | None:
    """Return the bare DOI in ``text``, ASCII letters lower-cased, or None.

    Accepts bare DOIs, ``doi:``/``DOI:``/``info:doi/``/``urn:doi:`` prefixes, resolver
    URLs (``https://doi.org/``, ``http://dx.doi.org/``, ``hdl.handle.net``), publisher
    URLs with a ``/doi/`` path, URL-encoded DOIs, and DOIs inside prose. Other URLs give
    None: a DOI-looking path on an arbitrary site is not reliably a DOI.
    """
    value = text.strip()
    if value.startswith("10.") and _DOI_FULL.fullmatch(value) and "%" not in value:
        # The common case: already a bare DOI.
        return _finish_doi(value, False)
    low = value[:8].lower()
    if low.startswith(("http://", "https://")) and " " not in value:
        return _doi_from_url(value)
    match = _DOI.search(value)
    if match is None:
        return None
    before = value[max(0, match.start() - 20) : match.start()].lower()
    from_url = before.endswith(("doi.org/", "handle.net/", "crossref.org/"))
    return _finish_doi(match.group(0), from_url)


# --- ISSN --------------------------------------------------------------------------------

# Not inside a longer number, nor a hyphenated one such as an ISBN ("978-1-4302-0197-7").
_ISSN = re.compile(
    r"(?<![0-9Xx])(?<![0-9]-)([0-9]{4})(?: *[-‐‑‒–—] *)?([0-9]{3}[0-9Xx])(?![0-9Xx])(?!-[0-9])"
)
_ISSN_SHAPE = re.compile(r"[0-9]{4}-[0-9]{3}[0-9X]")


_ISSN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2)
_ISBN10_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_EAN_WEIGHTS = (1, 3) * 6


def _issn_check_digit(seven: str) -> str:
    check = -sum(map(mul, _ISSN_WEIGHTS, map(int, seven))) % 11
    return "X" if check == 10 else str(check)


def check_issn(value: str) -> bool:
    """True when ``value`` (``NNNN-NNNC`` or eight characters) has a correct check digit."""
    compact = value.replace("-", "").strip().upper()
    if len(compact) != 8 or not (compact[:7].isascii() and compact[:7].isdigit()):
        return False
    return _issn_check_digit(compact[:7]) == compact[7]


def find_issns(text: str) -> list[str]:
    """Every ISSN-shaped value in ``text``, formatted ``NNNN-NNNC``, in order."""
    return [f"{a}-{b.upper()}" for a, b in _ISSN.findall(text)]


def _issn_kind(label: str, qualifier: str) -> IdentifierKind | None:
    """The print/electronic/linking kind that a label or a parenthesis states."""
    for text in (qualifier, label):
        low = text.lower()
        if not low:
            continue
        if "linking" in low or "issn-l" in low or "issnl" in low:
            return "linking"
        if any(w in low for w in ("eissn", "e-issn", "electronic", "online", "digital")):
            return "electronic"
        if any(w in low for w in ("pissn", "p-issn", "print")):
            return "print"
    return None


def parse_issns(text: str) -> list[Identifier]:
    """Every ISSN in ``text``, in order, with its kind where the text states it.

    Kinds come from a parenthesis after the value ("1792-0981 (Print)", "(Electronic)",
    "(Linking)") or a label before it ("pISSN", "eISSN: ", "ISSN-L", "Online ISSN").
    A wrong check digit is kept with ``valid=False``: the value is still what the source
    said. Repeated values are kept once (the first kind stated wins).
    """
    return list(_parse_issns(text))


# Journals repeat through a file; identifiers are immutable, so records may share them.
@lru_cache(maxsize=4096)
def _parse_issns(text: str) -> tuple[Identifier, ...]:
    from harvester.model import Identifier

    matches = list(_ISSN.finditer(text))
    found: dict[str, IdentifierKind | None] = {}
    label_start = 0
    for index, match in enumerate(matches):
        label = text[label_start : match.start()]
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        between = text[match.end() : end]
        qualifier = ""
        stripped = between.lstrip()
        label_start = match.end()
        if stripped.startswith(("(", "[")):
            close = stripped.find(")" if stripped[0] == "(" else "]")
            if close > 0:
                qualifier = stripped[: close + 1]
                label_start = match.end() + (len(between) - len(stripped)) + close + 1
        value = f"{match.group(1)}-{match.group(2).upper()}"
        kind = _issn_kind(label, qualifier)
        if value not in found or found[value] is None:
            found[value] = kind
    return tuple(Identifier(scheme="issn", value=v, kind=k) for v, k in found.items())


# --- ISBN --------------------------------------------------------------------------------

_ISBN = re.compile(
    r"(?<![0-9Xx])(?<![0-9]-)"
    r"(97[89](?:[- ]?[0-9]){10}|[0-9](?:[- ]?[0-9]){8}[- ]?[0-9Xx])"
    r"(?![0-9Xx])(?!-[0-9])"
)
_ISBN_STRIP = str.maketrans("", "", "- ")


def _isbn10_check(nine: str) -> str:
    check = -sum(map(mul, _ISBN10_WEIGHTS, map(int, nine))) % 11
    return "X" if check == 10 else str(check)


def _ean_check(twelve: str) -> str:
    return str(-sum(map(mul, _EAN_WEIGHTS, map(int, twelve))) % 10)


def format_isbn(value: str) -> str:
    """The first ISBN in ``value``, compact (digits and X); ``value`` itself if none."""
    match = _ISBN.search(value)
    if match is not None:
        return match.group(1).translate(_ISBN_STRIP).upper()
    return value


def check_isbn(value: str) -> bool:
    """True when ``value`` is an ISBN-10 or ISBN-13 with a correct check digit."""
    compact = value.translate(_ISBN_STRIP).upper()
    if not compact.isascii():
        return False
    if len(compact) == 10 and compact[:9].isdigit():
        return _isbn10_check(compact[:9]) == compact[9]
    if len(compact) == 13 and compact.isdigit() and compact.startswith(("978", "979")):
        return _ean_check(compact[:12]) == compact[12]
    return False


def isbn13(value: str) -> str | None:
    """The ISBN-13 form of a valid ISBN-10 or -13, else None."""
    compact = value.translate(_ISBN_STRIP).upper()
    if not check_isbn(compact):
        return None
    if len(compact) == 13:
        return compact
    body = "978" + compact[:9]
    return body + _ean_check(body)


def parse_isbns(text: str) -> list[Identifier]:
    """Every ISBN-10 and ISBN-13 in ``text`` (hyphens or spaces allowed), compact, in order.

    Qualifiers such as "(pbk.)" are ignored; a wrong check digit is kept with
    ``valid=False``; repeated values are kept once.
    """
    from harvester.model import Identifier

    values = dict.fromkeys(m.translate(_ISBN_STRIP).upper() for m in _ISBN.findall(text))
    return [Identifier(scheme="isbn", value=v) for v in values]


# --- PubMed, PMC, arXiv, OCLC, LCCN, URL --------------------------------------------------

_PMID = re.compile(
    r"(?:pmid|pubmed(?:\s*id)?)?\s*[:=]?\s*([0-9]{1,10})(?:\s*\[(?:pubmed|pmid)\])?", re.I
)
_PMID_URL = re.compile(r"(?:pubmed\.ncbi\.nlm\.nih\.gov|/pubmed)/([0-9]{1,10})(?:[/?#]|$)", re.I)
_PMCID = re.compile(r"(?:pmcid|pmc\s*id)?\s*[:=]?\s*(?:PMC)?\s*([0-9]{1,10})(?:\s*\[pmc\])?", re.I)
_PMCID_URL = re.compile(r"/(?:pmc/articles|articles)/(PMC[0-9]{1,10})(?:[/?#]|$)", re.I)
_ARXIV_NEW = re.compile(r"[0-9]{4}\.[0-9]{4,5}(?:v[0-9]+)?")
_ARXIV_OLD = re.compile(r"[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/[0-9]{7}(?:v[0-9]+)?")
_ARXIV_PREFIX = re.compile(
    r"^\s*(?:arxiv\s*:\s*|https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/)", re.I
)
_OCLC = re.compile(r"^(?:\(ocolc\)\s*)?(?:ocm|ocn|on)?\s*0*([0-9]+)$", re.I)
_LCCN = re.compile(r"[a-z]{0,3}[0-9]{8}(?:[0-9]{2})?")


def parse_pmid(text: str) -> str | None:
    """The PubMed id in "12345678", "PMID: 12345678", "pmid:123", "123 [pubmed]" or a URL."""
    value = text.strip()
    if value.isascii() and value.isdigit() and len(value) <= 10:
        return value.lstrip("0") or None
    if "://" in value:
        url = _PMID_URL.search(value)
        return url.group(1).lstrip("0") or None if url else None
    match = _PMID.fullmatch(value)
    if match is None:
        return None
    return match.group(1).lstrip("0") or None


def parse_pmcid(text: str) -> str | None:
    """The PMC id as ``PMC<digits>`` from "PMC1234567", "pmcid: PMC123", "1234567" or a URL.

    Bare digits are read as a PMCID: callers use this where the context says PMCID.
    """
    value = text.strip()
    if "://" in value:
        url = _PMCID_URL.search(value)
        return url.group(1).upper() if url else None
    match = _PMCID.fullmatch(value)
    if match is None:
        return None
    digits = match.group(1).lstrip("0")
    return f"PMC{digits}" if digits else None


def parse_url(text: str) -> str | None:
    """An http(s) URL, stripped of surrounding ``<>``, quotes and whitespace, else None."""
    value = text.strip().strip("<>\"'").strip()
    if value[:4].lower() == "url:":
        value = value[4:].strip()
    low = value[:8].lower()
    if low.startswith("http://"):
        rest = value[7:]
    elif low.startswith("https://"):
        rest = value[8:]
    else:
        return None
    if not rest or rest[0] in "/?#" or len(value.split(maxsplit=1)) != 1:
        return None
    return value


def parse_arxiv(text: str) -> str | None:
    """The arXiv id ("1501.00001v2", "hep-th/9901001") from an id, ``arXiv:`` or abs URL."""
    value = _ARXIV_PREFIX.sub("", text.strip()).strip()
    if value.endswith(".pdf"):
        value = value[:-4]
    value = value.rstrip("/")
    if _ARXIV_NEW.fullmatch(value) or _ARXIV_OLD.fullmatch(value):
        return value
    return None


def parse_oclc(text: str) -> str | None:
    """The OCLC number from "(OCoLC)12345", "(OCoLC)ocm00012345", "ocn123456789", "12345".

    Leading zeros carry nothing (WorldCat drops them), so they are dropped.
    """
    match = _OCLC.match(text.strip())
    if match is None:
        return None
    return match.group(1).lstrip("0") or None


def normalize_lccn(text: str) -> str:
    """LCCN normalisation as the Library of Congress specifies it.

    https://www.loc.gov/marc/lccn-namespace.html#normalization: remove blanks; drop a
    "/" and what follows; remove the hyphen and left-pad the part after it with zeros to
    six digits. A leading "(DLC)" (MARC 035) is dropped; letters are lower-cased.
    """
    value = "".join(text.split()).lower()
    while value.startswith("(dlc)"):
        value = value[5:]
    value = value.split("/", 1)[0]
    if "-" in value:
        left, _, right = value.partition("-")
        if right.isascii() and right.isdigit() and len(right) <= 6:
            value = left + right.zfill(6)
    return value


# --- Normalising a value of a known scheme -----------------------------------------------


# Small: DOIs and URLs are unique per record, so a big cache only holds memory (2 MB in
# each worker of a parallel conversion); repeated serial numbers are cached by callers.
@lru_cache(maxsize=1024)
def normalize_identifier(scheme: str, value: str) -> tuple[str, bool | None]:
    """Normalise ``value`` for ``scheme``; return it with its validity (see module doc).

    Idempotent: feeding a normalised value back returns it unchanged. Cached, because
    the record model calls this for every identifier and the same ISSNs recur.
    """
    value = value.strip()
    if scheme == "doi":
        doi = parse_doi(value)
        return (doi, True) if doi else (value, False)
    if scheme == "issn":
        if len(value) == 9 and _ISSN_SHAPE.fullmatch(value):
            return value, _issn_check_digit(value[:4] + value[5:8]) == value[8]
        found = _ISSN.search(value)
        if found is None:
            return value, False
        issn = f"{found.group(1)}-{found.group(2).upper()}"
        return issn, check_issn(issn)
    if scheme == "isbn":
        if (
            len(value) in (10, 13)
            and value.isascii()
            and value[:-1].isdigit()
            and (value[-1].isdigit() or (len(value) == 10 and value[-1] in "Xx"))
        ):
            compact = value.upper()  # already compact: skip the search
        else:
            compact = format_isbn(value)
        return compact, check_isbn(compact)
    if scheme == "pmid":
        pmid = parse_pmid(value)
        return (pmid, True) if pmid else (value, False)
    if scheme == "pmcid":
        pmcid = parse_pmcid(value)
        return (pmcid, True) if pmcid else (value, False)
    if scheme == "arxiv":
        arxiv = parse_arxiv(value)
        return (arxiv, True) if arxiv else (value, False)
    if scheme == "oclc":
        oclc = parse_oclc(value)
        return (oclc, True) if oclc else (value, False)
    if scheme == "lccn":
        lccn = normalize_lccn(value)
        return (lccn, bool(_LCCN.fullmatch(lccn))) if lccn else (value, False)
    if scheme == "url":
        return parse_url(value) or value, None
    return value, None


# --- Guessing the scheme of a bare string ------------------------------------------------

_ISBN_SHAPE = re.compile(r"(?:97[89][- ]?)?[0-9]{1,5}[- ][0-9]{1,7}[- ][0-9]{1,7}[- ][0-9Xx]")
# Labels a value may carry, longest first where one starts another ("urn:isbn:").
_PREFIXED: tuple[tuple[str, IdentifierScheme], ...] = (
    ("doi:", "doi"), ("info:doi/", "doi"), ("urn:doi:", "doi"),
    ("pmid", "pmid"), ("pmcid", "pmcid"), ("arxiv:", "arxiv"),
    ("(ocolc)", "oclc"), ("urn:isbn:", "isbn"), ("isbn", "isbn"), ("urn:issn:", "issn"),
    ("issn", "issn"), ("eissn", "issn"), ("pissn", "issn"), ("e-issn", "issn"),
    ("p-issn", "issn"), ("oai:", "oai"), ("lccn", "lccn"), ("(dlc)", "lccn"),
)  # fmt: skip


def _identifier(
    scheme: IdentifierScheme, value: str, kind: IdentifierKind | None = None
) -> Identifier:
    from harvester.model import Identifier

    return Identifier(scheme=scheme, value=value, kind=kind)


def _classify_url(value: str) -> Identifier:
    doi = _doi_from_url(value)
    if doi:
        return _identifier("doi", doi)
    low = value.lower()
    if "arxiv.org/" in low:
        arxiv = parse_arxiv(value)
        if arxiv:
            return _identifier("arxiv", arxiv)
    if "/pmc" in low or "pmc.ncbi" in low:
        pmcid = parse_pmcid(value)
        if pmcid:
            return _identifier("pmcid", pmcid)
    if "pubmed" in low:
        pmid = parse_pmid(value)
        if pmid:
            return _identifier("pmid", pmid)
    return _identifier("url", value)


@lru_cache(maxsize=1024)  # Identifier is frozen; journals' ISSNs repeat across records
def classify_identifier(text: str) -> Identifier | None:
    """Guess the scheme of a bare identifier string and return it normalised, or None.

    Recognises DOIs in any common form, ISSNs, ISBNs, "pmid:123", PMCIDs, http(s) URLs
    (resolver URLs of DOIs, PubMed, PMC and arXiv become those schemes), arXiv ids, OCLC
    numbers ("(OCoLC)12345", "ocm12345"), LCCNs with a label or "(DLC)", and OAI
    identifiers. Bare digits are ambiguous: they are taken as an ISSN or ISBN only when
    the check digit fits, otherwise None.
    """
    value = text.strip()
    if not value:
        return None
    url = parse_url(value)
    if url is not None:
        return _classify_url(url)
    low = value.lower()
    for prefix, scheme in _PREFIXED:
        if low.startswith(prefix):
            return _classify_prefixed(scheme, value, len(prefix))
    if low.startswith("10.") or "doi.org/" in low:
        doi = parse_doi(value)
        return _identifier("doi", doi) if doi else None
    if low.startswith("pmc"):
        pmcid = parse_pmcid(value)
        return _identifier("pmcid", pmcid) if pmcid else None
    if low.startswith(("ocm", "ocn", "on")):
        oclc = parse_oclc(value)
        return _identifier("oclc", oclc) if oclc else None
    if _ARXIV_NEW.fullmatch(value) or _ARXIV_OLD.fullmatch(value):
        return _identifier("arxiv", value)
    base, paren, _ = value.partition("(")
    if paren and base.strip():
        # "0-306-40615-2 (pbk.)", "1792-0981 (Print)": classify the number, keep the kind.
        found = _classify_number(base.strip())
        if found is not None and found.scheme == "issn":
            issns = parse_issns(value)
            return issns[0] if issns else found
        return found
    return _classify_number(value)


def _classify_prefixed(scheme: IdentifierScheme, value: str, cut: int) -> Identifier | None:
    if scheme == "issn":
        issns = parse_issns(value)
        return issns[0] if issns else None
    if scheme == "isbn":
        isbns = parse_isbns(value)
        return isbns[0] if isbns else None
    if scheme == "oai":
        return _identifier("oai", value)
    # "(OCoLC)" and "(DLC)" belong to the value; word labels ("pmid:", "LCCN ") do not.
    rest = value if value[:1] == "(" else value[cut:].lstrip(" :")
    normalised, valid = normalize_identifier(scheme, rest)
    return _identifier(scheme, normalised) if valid else None


def _classify_number(value: str) -> Identifier | None:
    if _ISSN_SHAPE.fullmatch(value.upper()):
        return _identifier("issn", value)
    compact = value.translate(_ISBN_STRIP).upper()
    if not compact.isascii():
        return None
    if len(compact) == 8 and compact[:7].isdigit() and check_issn(compact):
        return _identifier("issn", compact)
    if len(compact) in (10, 13) and compact[:-1].isdigit():
        shaped = bool(_ISBN_SHAPE.fullmatch(value)) or (
            len(compact) == 13 and compact.startswith(("978", "979"))
        )
        if shaped or check_isbn(compact):
            return _identifier("isbn", compact)
    return None
