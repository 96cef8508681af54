"""A deterministic benchmark corpus: the same records as RIS, BibTeX and CSL-JSON.

The three serialisations are written here with small, format-specific code and never
with harvester's own writers, so the benchmark input does not depend on the code it
measures. Records are made one at a time from one seeded ``random.Random`` and written to
the three files as they are made (100,000 records never sit in memory); the first N
records of a larger corpus are the N-record corpus.

What the records contain is chosen to exercise what real exports contain: journal
articles, books and chapters; 1-30 authors with particles (``van der Berg``), suffixes
(``Jr.``), diacritics and Han characters, sometimes an organisation; LaTeX special
characters (``& % $ # _``) and, in BibTeX, old-style accents (``{\\"u}``), protected
acronyms (``{DNA}``), ``@string`` macros and month macros; one or two ISSNs; ISBN-10 and
ISBN-13; odd pages (``e0123456``, ``S12-S19``, ``1538-46``) and DOIs with ``<>;()``.

Usage: ``python benchmarks/generate.py 10000 [--seed N] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

VERSION = 1
"""Bump when the output changes, so cached corpora under .work/ are rebuilt."""

DEFAULT_SEED = 20170801
WORK = Path(__file__).resolve().parent / ".work"

# --- vocabulary ------------------------------------------------------------------------

_PLAIN_FAMILIES = (
    "Smith", "Johnson", "Brown", "Garcia", "Miller", "Wilson", "Taylor", "Anderson",
    "Thomas", "Moore", "Martin", "Lee", "Clark", "Lewis", "Walker", "Hall", "Young", "King",
    "Wright", "Scott", "Green", "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell",
    "Roberts", "Carter", "Phillips", "Evans", "Turner", "Torres", "Parker", "Collins",
    "Edwards", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson",
    "Cooper", "Reed", "Bailey", "Bell", "Kelly", "Howard", "Ward", "Cox", "Richardson",
    "Wood", "Watson", "Brooks", "Bennett", "Gray", "James", "Hughes", "Price", "Sanders",
    "Tanaka", "Suzuki", "Kim", "Park", "Nguyen", "Singh", "Kumar", "Patel", "Ivanov",
    "Zheng", "Li", "Tao", "Kong", "Wang", "Chen", "Liu", "Yang", "Zhao", "Huang",
)  # fmt: skip
_ACCENTED_FAMILIES = (
    "Müller", "Dvořák", "Sjögren", "Núñez", "Łukasiewicz", "Ångström", "Çelik", "Gómez",
    "Hernández", "Schrödinger", "Jäger", "Bäcker", "Ødegaard", "Pérez", "Kovačević",
    "Novák", "Šimůnek", "Żółkiewski", "Grünewald", "Brontë", "Lefèvre", "Gauß", "Øster",
    "Sánchez", "Ibáñez", "Özdemir", "Erdős", "Čapek", "Håkansson", "Strauß",
)  # fmt: skip
_PARTICLE_FAMILIES = (
    ("van der", "Berg"), ("de la", "Fontaine"), ("von", "Neumann"), ("van", "Dijk"),
    ("de", "Souza"), ("di", "Stefano"), ("da", "Silva"), ("van den", "Bosch"),
    ("le", "Roux"), ("dos", "Santos"), ("van", "Gogh"), ("del", "Castillo"),
)  # fmt: skip
_GIVENS = (
    "John", "Mary", "Wei", "José", "Zoë", "André", "Jan", "Ana", "Lars", "Søren", "François",
    "Chengyun", "Ai", "Yuan", "Hans", "Ingrid", "Björn", "Noémie", "Ahmed", "Priya", "Maria",
    "Peter", "Anna", "David", "Sarah", "Michael", "Laura", "Thomas", "Emma", "Jürgen",
    "Élodie", "Renée", "Miloš", "Agnieszka", "Dmitri", "Yuki", "Hiroshi", "Min-jun",
    "J. R.", "A.", "M. K.", "Jean-Pierre", "Ann-Kathrin", "Łucja", "Çağla", "Ines",
)  # fmt: skip
_HAN_FAMILIES = ("李", "王", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙")
_HAN_GIVENS = ("伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "艳", "晓明")
_SUFFIXES = ("Jr.", "Sr.", "III", "II")
_ORGANISATIONS = (
    "World Health Organization", "European Commission", "Cochrane Collaboration",
    "Royal Society of Chemistry", "Deutsche Forschungsgemeinschaft",
    "Institute of Electrical and Electronics Engineers",
)  # fmt: skip

_WORDS = (
    "analysis", "effects", "model", "protein", "expression", "patients", "cells", "role",
    "study", "evidence", "response", "treatment", "growth", "network", "structure",
    "dynamics", "regulation", "infusion", "therapy", "outcomes", "learning", "systems",
    "climate", "variation", "mechanisms", "signalling", "inflammation", "resistance",
    "population", "interactions", "trial", "cohort", "imaging", "synthesis", "catalysis",
    "transport", "stability", "estimation", "inference", "markets", "policy", "language",
    "memory", "children", "adults", "mice", "bacteria", "soils", "rivers", "cities",
    "naïve", "café", "Müller", "Schrödinger", "Gödel", "Poincaré", "Sjögren's", "Ménière's",
    "Alzheimer's", "Parkinson's", "Bayesian", "Markov", "Fourier", "Gaussian", "Hilbert",
)  # fmt: skip
_ACRONYMS = ("DNA", "RNA", "COVID-19", "MRI", "HIV", "mRNA", "CRISPR", "NMR", "GDP", "EU")
_SPECIALS = (
    "Q&A", "50%", "C#", "$100", "R&D", "snake_case", "AT&T", "p < 0.05", "10% to 20%",
    "F#", "self_test", "US$5",
)  # fmt: skip
_CONNECTORS = ("of", "in", "and", "for", "on", "with", "from", "during", "after", "versus")
_ZH_TITLES = (
    "基于深度学习的图像识别研究", "中国城市化进程中的环境问题", "传统中医药治疗的临床观察",
    "长江流域水资源管理", "汉语方言的语音变化", "高校图书馆数字化建设",
)  # fmt: skip
_KEYWORDS = (
    "machine learning", "epidemiology", "öffentliche Gesundheit", "R&D", "gene expression",
    "randomised controlled trial", "meta-analysis", "climate change", "deep learning",
    "Bayesian inference", "cohort study", "Müller cells", "数据挖掘", "policy evaluation",
    "imaging", "catalysis", "soil science", "urban planning", "language acquisition",
)  # fmt: skip
_JOURNALS = (
    "Experimental and Therapeutic Medicine", "Journal of Banking & Finance",
    "Physical Chemistry Chemical Physics", "Zeitschrift für Naturforschung C",
    "PLOS ONE", "Nature Communications", "The Lancet", "Annales de l'Institut Fourier",
    "Journal of Applied Ecology", "Acta Crystallographica Section D",
    "Research Policy", "Computers & Education", "Revista Española de Cardiología",
    "中国科学", "Journal of Physics: Condensed Matter", "Language Learning & Technology",
)  # fmt: skip
# Journals that the BibTeX file names through an @string macro some of the time.
_MACROS = {
    "Journal of Banking & Finance": "jbf",
    "Experimental and Therapeutic Medicine": "etm",
    "Computers & Education": "cae",
    "PLOS ONE": "plosone",
}
_PUBLISHERS = (
    ("Springer", "Berlin"), ("Elsevier", "Amsterdam"), ("Wiley-Blackwell", "Hoboken, NJ"),
    ("Cambridge University Press", "Cambridge"), ("Presses Universitaires de France", "Paris"),
    ("Suhrkamp", "Frankfurt am Main"), ("科学出版社", "北京"),
    ("O'Reilly & Associates", "Sebastopol"),
    ("Routledge", "London"), ("MIT Press", "Cambridge, MA"),
)  # fmt: skip
_LANGUAGES = (("en", "english"), ("de", "german"), ("fr", "french"), ("zh", "chinese"))
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _issn(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(7)]
    check = (11 - sum(d * w for d, w in zip(digits, range(8, 1, -1), strict=True)) % 11) % 11
    tail = "X" if check == 10 else str(check)
    body = "".join(map(str, digits))
    return f"{body[:4]}-{body[4:]}{tail}"


def _journal_issns() -> dict[str, tuple[str, ...]]:
    # Fixed per journal (as in real data), from their own seed: most journals have two.
    out: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(_JOURNALS):
        rng = random.Random(i)
        out[name] = (_issn(rng), _issn(rng)) if i % 5 else (_issn(rng),)
    return out


_ISSNS = _journal_issns()


def _isbn13(rng: random.Random) -> str:
    digits = [9, 7, 8, *(rng.randrange(10) for _ in range(9))]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    body = "".join(map(str, digits))
    return f"{body[:3]}-{body[3]}-{body[4:8]}-{body[8:12]}-{check}"


def _isbn10(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(9)]
    check = sum(d * (i + 1) for i, d in enumerate(digits)) % 11
    body = "".join(map(str, digits))
    return f"{body[0]}-{body[1:4]}-{body[4:9]}-{'X' if check == 10 else check}"


# --- the records -----------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A name as the generator means it; ``literal`` for organisations."""

    family: str = ""
    given: str = ""
    particle: str = ""
    suffix: str = ""
    literal: str = ""


@dataclass(frozen=True)
class Item:
    """One generated record: the ground truth that all three files serialise."""

    key: str
    type: str  # CSL: article-journal, book, chapter
    title: str
    authors: tuple[Person, ...]
    year: int
    month: int | None = None
    day: int | None = None
    editors: tuple[Person, ...] = ()
    container: str | None = None
    volume: str | None = None
    issue: str | None = None
    first_page: str | None = None
    last_page: str | None = None
    doi: str | None = None
    issns: tuple[str, ...] = ()
    isbn: str | None = None
    publisher: str | None = None
    place: str | None = None
    edition: str | None = None
    language: str = "en"
    abstract: str | None = None
    keywords: tuple[str, ...] = ()
    url: str | None = None
    # How the BibTeX side spells it (same meaning, different surface).
    latex_accents: bool = False
    use_macro: bool = False

    @property
    def page(self) -> str | None:
        if self.first_page is None:
            return None
        return f"{self.first_page}-{self.last_page}" if self.last_page else self.first_page


def _person(rng: random.Random) -> Person:
    roll = rng.random()
    if roll < 0.02:
        return Person(literal=rng.choice(_ORGANISATIONS))
    if roll < 0.12:
        return Person(family=rng.choice(_HAN_FAMILIES), given=rng.choice(_HAN_GIVENS))
    given = rng.choice(_GIVENS)
    if roll < 0.22:
        particle, family = rng.choice(_PARTICLE_FAMILIES)
        return Person(family=family, given=given, particle=particle)
    family = rng.choice(_ACCENTED_FAMILIES if roll < 0.45 else _PLAIN_FAMILIES)
    suffix = rng.choice(_SUFFIXES) if rng.random() < 0.03 else ""
    return Person(family=family, given=given, suffix=suffix)


def _people(rng: random.Random, low: int, high: int, mu: float) -> tuple[Person, ...]:
    count = min(high, max(low, round(rng.lognormvariate(mu, 0.7))))
    return tuple(_person(rng) for _ in range(count))


def _title(rng: random.Random, language: str) -> str:
    if language == "zh":
        return rng.choice(_ZH_TITLES) + (
            "：" + rng.choice(_ZH_TITLES) if rng.random() < 0.3 else ""
        )
    words = [rng.choice(_WORDS).capitalize()]
    for _ in range(rng.randint(3, 11)):
        roll = rng.random()
        if roll < 0.08:
            words.append(rng.choice(_ACRONYMS))
        elif roll < 0.13:
            words.append(rng.choice(_SPECIALS))
        elif roll < 0.35:
            words.append(rng.choice(_CONNECTORS))
        else:
            words.append(rng.choice(_WORDS))
    title = " ".join(words)
    if rng.random() < 0.25:
        title += ": " + " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 5)))
    return title


def _abstract(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(2, 7)):
        words = [rng.choice(_WORDS).capitalize()]
        for _ in range(rng.randint(8, 24)):
            roll = rng.random()
            if roll < 0.03:
                words.append(rng.choice(_SPECIALS))
            elif roll < 0.06:
                words.append(rng.choice(_ACRONYMS))
            elif roll < 0.3:
                words.append(rng.choice(_CONNECTORS))
            else:
                words.append(rng.choice(_WORDS))
        sentences.append(" ".join(words) + ".")
    return " ".join(sentences)


def _pages(rng: random.Random) -> tuple[str, str | None]:
    roll = rng.random()
    first = rng.randint(1, 3000)
    if roll < 0.6:
        return str(first), str(first + rng.randint(1, 40))
    if roll < 0.7:
        return f"e{rng.randint(1000000, 9999999):07d}", None  # article number
    if roll < 0.8:
        return f"S{first % 200 + 1}", f"S{first % 200 + rng.randint(2, 20)}"
    if roll < 0.88:  # abbreviated last page, as printed: 1538-46
        last = first + rng.randint(2, 60)
        return str(first), str(last)[-2:] if last > 100 else str(last)
    if roll < 0.94:
        return str(first), None
    return rng.choice(("iii", "vii", "xi")), rng.choice(("xiv", "xx", "xxv"))


def _doi(rng: random.Random, year: int, kind: str) -> str:
    prefix = rng.choice(("3892", "1371", "1016", "1002", "1007", "1103", "1093", "1145"))
    roll = rng.random()
    if kind == "chapter":
        book = f"978-3-{rng.randint(100, 999)}-{rng.randint(10000, 99999)}-{rng.randint(0, 9)}"
        return f"10.1007/{book}_{rng.randint(1, 30)}"
    if roll < 0.1:  # SICI-style, with <>;()
        return (
            f"10.1002/(SICI)1097-4636({year}{rng.randint(1, 12):02d})"
            f"{rng.randint(1, 60)}:{rng.randint(1, 12)}<{rng.randint(1, 999)}"
            f"::AID-JBM{rng.randint(1, 9)}>3.0.CO;2-{rng.choice('BEGX')}"
        )
    if roll < 0.3:
        return f"10.1371/journal.pone.{rng.randint(0, 9999999):07d}"
    if roll < 0.4:
        return f"10.{prefix}/ETM.{year}.{rng.randint(1000, 9999)}"  # upper case, as printed
    journal = f"j.x{rng.randint(100, 999)}"
    return f"10.{prefix}/{journal}.{year}.{rng.randint(1, 12):02d}.{rng.randint(1, 999):03d}"


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def make_item(rng: random.Random, index: int) -> Item:
    """The ``index``-th record (0-based); depends only on the state of ``rng``."""
    roll = rng.random()
    kind = "article-journal" if roll < 0.7 else "book" if roll < 0.85 else "chapter"
    lang_roll = rng.random()
    language = (
        "en"
        if lang_roll < 0.75
        else "de"
        if lang_roll < 0.85
        else "zh"
        if lang_roll < 0.93
        else "fr"
    )
    year = rng.randint(1950, 2025)
    month = rng.randint(1, 12) if rng.random() < 0.7 else None
    day = rng.randint(1, 28) if month is not None and rng.random() < 0.35 else None
    title = _title(rng, language)
    authors = _people(rng, 1, 30, 1.4 if kind == "article-journal" else 0.5)
    first = authors[0]
    stem = _ascii_word(first.family or first.literal.split()[0]) or "anon"
    key = f"{stem}{year}{_ascii_word(title.split()[0]) or 'x'}{index}"
    common: dict[str, Any] = {
        "key": key,
        "type": kind,
        "title": title,
        "authors": authors,
        "year": year,
        "month": month,
        "day": day,
        "language": language,
        "latex_accents": rng.random() < 0.5,
        "abstract": _abstract(rng) if rng.random() < 0.7 else None,
        "keywords": tuple(dict.fromkeys(rng.choice(_KEYWORDS) for _ in range(rng.randint(0, 6)))),
        "url": (
            f"https://example.org/record/{index}?lang={language}&view=full"
            if rng.random() < 0.3
            else None
        ),
    }
    if kind == "article-journal":
        journal = rng.choice(_JOURNALS)
        first_page, last_page = _pages(rng)
        issue_roll = rng.random()
        issue = (
            str(rng.randint(1, 12))
            if issue_roll < 0.8
            else f"{rng.randint(1, 5)}-{rng.randint(6, 8)}"
            if issue_roll < 0.9
            else f"Suppl. {rng.randint(1, 3)}"
            if issue_roll < 0.95
            else None
        )
        return Item(
            **common,
            container=journal,
            volume=str(rng.randint(1, 300)),
            issue=issue,
            first_page=first_page,
            last_page=last_page,
            doi=_doi(rng, year, kind) if rng.random() < 0.9 else None,
            issns=_ISSNS[journal],
            use_macro=journal in _MACROS and rng.random() < 0.4,
        )
    publisher, place = rng.choice(_PUBLISHERS)
    isbn = _isbn13(rng) if rng.random() < 0.75 else _isbn10(rng)
    if kind == "book":
        return Item(
            **common,
            publisher=publisher,
            place=place,
            edition=str(rng.randint(2, 5)) if rng.random() < 0.3 else None,
            isbn=isbn,
            doi=_doi(rng, year, kind) if rng.random() < 0.3 else None,
        )
    first_page, last_page = _pages(rng)
    return Item(
        **common,
        container=_title(rng, language),
        editors=_people(rng, 1, 6, 0.4),
        first_page=first_page,
        last_page=last_page,
        publisher=publisher,
        place=place,
        isbn=isbn,
        doi=_doi(rng, year, kind) if rng.random() < 0.6 else None,
    )


def iter_items(count: int, seed: int = DEFAULT_SEED) -> Iterator[Item]:
    """The first ``count`` records of the corpus for ``seed``, one at a time."""
    rng = random.Random(seed)
    for index in range(count):
        yield make_item(rng, index)


# --- RIS -------------------------------------------------------------------------------

_RIS_TYPES = {"article-journal": "JOUR", "book": "BOOK", "chapter": "CHAP"}


def _ris_name(person: Person) -> str:
    if person.literal:
        return person.literal
    family = f"{person.particle} {person.family}" if person.particle else person.family
    name = f"{family}, {person.given}" if person.given else family
    return f"{name}, {person.suffix}" if person.suffix else name


def ris_record(item: Item) -> str:
    """One RIS record (Zotero's dialect: T2 for the journal or book, A2 for editors)."""
    lines = [f"TY  - {_RIS_TYPES[item.type]}", f"ID  - {item.key}", f"TI  - {item.title}"]
    lines.extend(f"AU  - {_ris_name(p)}" for p in item.authors)
    lines.extend(f"A2  - {_ris_name(p)}" for p in item.editors)
    if item.container:
        lines.append(f"T2  - {item.container}")
    lines.append(f"PY  - {item.year}")
    if item.month is not None:
        day = f"{item.day:02d}" if item.day is not None else ""
        lines.append(f"DA  - {item.year}/{item.month:02d}/{day}/")
    for tag, value in (("VL", item.volume), ("IS", item.issue), ("ET", item.edition)):
        if value:
            lines.append(f"{tag}  - {value}")
    if item.first_page:
        lines.append(f"SP  - {item.first_page}")
    if item.last_page:
        lines.append(f"EP  - {item.last_page}")
    if item.publisher:
        lines.append(f"PB  - {item.publisher}")
    if item.place:
        lines.append(f"CY  - {item.place}")
    lines.extend(f"SN  - {issn}" for issn in item.issns)
    if item.isbn:
        lines.append(f"SN  - {item.isbn}")
    if item.doi:
        lines.append(f"DO  - {item.doi}")
    if item.url:
        lines.append(f"UR  - {item.url}")
    lines.append(f"LA  - {item.language}")
    if item.abstract:
        lines.append(f"AB  - {item.abstract}")
    lines.extend(f"KW  - {kw}" for kw in item.keywords)
    lines.append("ER  - ")
    return "\n".join(lines) + "\n\n"


# --- BibTeX ----------------------------------------------------------------------------

_BIB_TYPES = {"article-journal": "article", "book": "book", "chapter": "incollection"}
_TEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
_TEX_ACCENTS = {
    "ä": '{\\"a}', "ö": '{\\"o}', "ü": '{\\"u}', "ë": '{\\"e}', "ï": '{\\"\\i}',
    "Ä": '{\\"A}', "Ö": '{\\"O}', "Ü": '{\\"U}',
    "é": "{\\'e}", "á": "{\\'a}", "í": "{\\'\\i}", "ó": "{\\'o}", "ú": "{\\'u}", "ć": "{\\'c}",
    "É": "{\\'E}", "Ó": "{\\'O}", "ń": "{\\'n}",
    "è": "{\\`e}", "à": "{\\`a}",
    "ñ": "{\\~n}", "ç": "{\\c{c}}", "Ç": "{\\c{C}}", "ş": "{\\c{s}}", "ğ": "{\\u{g}}",
    "ř": "{\\v{r}}", "š": "{\\v{s}}", "č": "{\\v{c}}", "ž": "{\\v{z}}", "Č": "{\\v{C}}",
    "Š": "{\\v{S}}", "ů": "{\\r{u}}", "å": "{\\aa}", "Å": "{\\AA}", "ø": "{\\o}", "Ø": "{\\O}",
    "ł": "{\\l}", "Ł": "{\\L}", "ß": "{\\ss}", "ő": "{\\H{o}}", "ż": "{\\.z}", "Ż": "{\\.Z}",
}  # fmt: skip


def _tex(text: str, accents: bool) -> str:
    """Escape for a braced BibTeX value; accented letters as LaTeX when ``accents``."""
    out = []
    for char in text:
        special = _TEX_SPECIALS.get(char)
        if special is not None:
            out.append(special)
        elif accents and char in _TEX_ACCENTS:
            out.append(_TEX_ACCENTS[char])
        else:
            out.append(char)
    return "".join(out)


def _tex_title(text: str, accents: bool) -> str:
    # Protect acronyms and mixed-case words so BibTeX styles keep their capitals.
    words = []
    for word in text.split(" "):
        escaped = _tex(word, accents)
        tail = word[1:]
        if any(c.isupper() for c in tail) or (len(word) > 1 and word.isupper()):
            escaped = "{" + escaped + "}"
        words.append(escaped)
    return " ".join(words)


def _bib_name(person: Person, accents: bool) -> str:
    if person.literal:
        return "{" + _tex(person.literal, accents) + "}"
    family = _tex(person.family, accents)
    if person.particle:
        family = f"{person.particle} {family}"
    given = _tex(person.given, accents)
    if person.suffix:
        return f"{family}, {person.suffix}, {given}"
    return f"{family}, {given}" if given else family


def bibtex_preamble() -> str:
    """The head of the .bib file: a comment and the journal macros."""
    head = ["@comment{benchmark corpus written by benchmarks/generate.py}", ""]
    for journal, macro in _MACROS.items():
        head.append(f"@string{{{macro} = {{{_tex(journal, False)}}}}}")
    return "\n".join(head) + "\n\n"


def bibtex_record(item: Item) -> str:
    """One BibTeX entry (braced values; month as a macro; a biblatex date for full dates)."""
    acc = item.latex_accents
    fields: list[tuple[str, str]] = []
    fields.append(("author", "{" + " and ".join(_bib_name(p, acc) for p in item.authors) + "}"))
    fields.append(("title", "{" + _tex_title(item.title, acc) + "}"))
    if item.type == "article-journal" and item.container:
        if item.use_macro:
            fields.append(("journal", _MACROS[item.container]))
        else:
            fields.append(("journal", "{" + _tex(item.container, acc) + "}"))
    elif item.type == "chapter" and item.container:
        fields.append(("booktitle", "{" + _tex_title(item.container, acc) + "}"))
    if item.editors:
        fields.append(("editor", "{" + " and ".join(_bib_name(p, acc) for p in item.editors) + "}"))
    if item.day is not None and item.month is not None:
        fields.append(("date", f"{{{item.year}-{item.month:02d}-{item.day:02d}}}"))
    else:
        fields.append(("year", f"{{{item.year}}}"))
        if item.month is not None:
            fields.append(("month", _MONTHS[item.month - 1]))
    if item.volume:
        fields.append(("volume", f"{{{item.volume}}}"))
    if item.issue:
        fields.append(("number", f"{{{item.issue}}}"))
    if item.first_page:
        pages = f"{item.first_page}--{item.last_page}" if item.last_page else item.first_page
        fields.append(("pages", f"{{{pages}}}"))
    if item.edition:
        fields.append(("edition", f"{{{item.edition}}}"))
    if item.publisher:
        fields.append(("publisher", "{" + _tex(item.publisher, acc) + "}"))
    if item.place:
        fields.append(("address", "{" + _tex(item.place, acc) + "}"))
    if item.issns:
        fields.append(("issn", "{" + ", ".join(item.issns) + "}"))
    if item.isbn:
        fields.append(("isbn", f"{{{item.isbn}}}"))
    if item.doi:
        fields.append(("doi", f"{{{item.doi}}}"))  # verbatim in biblatex: not escaped
    if item.url:
        fields.append(("url", f"{{{item.url}}}"))
    fields.append(("language", "{" + dict(_LANGUAGES)[item.language] + "}"))
    if item.abstract:
        fields.append(("abstract", "{" + _tex(item.abstract, acc) + "}"))
    if item.keywords:
        fields.append(("keywords", "{" + _tex(", ".join(item.keywords), acc) + "}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields)
    return f"@{_BIB_TYPES[item.type]}{{{item.key},\n{body}\n}}\n\n"


# --- CSL-JSON --------------------------------------------------------------------------


def _csl_name(person: Person) -> dict[str, str]:
    if person.literal:
        return {"literal": person.literal}
    name = {"family": person.family}
    if person.given:
        name["given"] = person.given
    if person.particle:
        name["non-dropping-particle"] = person.particle
    if person.suffix:
        name["suffix"] = person.suffix
    return name


def csl_item(item: Item) -> dict[str, Any]:
    """One CSL-JSON item (the official schema's keys)."""
    parts = [item.year]
    if item.month is not None:
        parts.append(item.month)
        if item.day is not None:
            parts.append(item.day)
    data: dict[str, Any] = {"id": item.key, "type": item.type, "title": item.title}
    data["author"] = [_csl_name(p) for p in item.authors]
    if item.editors:
        data["editor"] = [_csl_name(p) for p in item.editors]
    data["issued"] = {"date-parts": [parts]}
    optional = {
        "container-title": item.container,
        "volume": item.volume,
        "issue": item.issue,
        "page": item.page,
        "edition": item.edition,
        "publisher": item.publisher,
        "publisher-place": item.place,
        "ISSN": ", ".join(item.issns) if item.issns else None,
        "ISBN": item.isbn,
        "DOI": item.doi,
        "URL": item.url,
        "language": item.language,
        "abstract": item.abstract,
        "keyword": ", ".join(item.keywords) if item.keywords else None,
    }
    data.update((k, v) for k, v in optional.items() if v)
    return data


# --- writing the corpus ----------------------------------------------------------------


@dataclass(frozen=True)
class Corpus:
    """The three files of one corpus."""

    size: int
    seed: int
    ris: Path
    bibtex: Path
    csl_json: Path

    def path(self, format_name: str) -> Path:
        return {"ris": self.ris, "bibtex": self.bibtex, "csl-json": self.csl_json}[format_name]


def write_corpus(
    ris: TextIO, bib: TextIO, csl: TextIO, count: int, seed: int = DEFAULT_SEED
) -> None:
    """Stream ``count`` records into the three open text streams."""
    bib.write(bibtex_preamble())
    csl.write("[\n")
    for index, item in enumerate(iter_items(count, seed)):
        ris.write(ris_record(item))
        bib.write(bibtex_record(item))
        if index:
            csl.write(",\n")
        text = json.dumps(csl_item(item), ensure_ascii=False, indent=2)
        csl.write("  " + text.replace("\n", "\n  "))
    csl.write("\n]\n")


def generate(size: int, seed: int = DEFAULT_SEED, out: Path | None = None) -> Corpus:
    """Write (or reuse) the corpus of ``size`` records under ``out`` and return its paths."""
    folder = (out or WORK / "data") / f"v{VERSION}-seed{seed}-n{size}"
    corpus = Corpus(
        size,
        seed,
        folder / "records.ris",
        folder / "records.bib",
        folder / "records.json",
    )
    done = folder / ".complete"
    if done.is_file():
        return corpus
    folder.mkdir(parents=True, exist_ok=True)
    with (
        open(corpus.ris, "w", encoding="utf-8", newline="\n") as ris,
        open(corpus.bibtex, "w", encoding="utf-8", newline="\n") as bib,
        open(corpus.csl_json, "w", encoding="utf-8", newline="\n") as csl,
    ):
        write_corpus(ris, bib, csl, size, seed)
    done.write_text(f"{size} records, seed {seed}, generator v{VERSION}\n", encoding="utf-8")
    return corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("size", type=int, nargs="+", help="number of records")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=None, help="folder (default: .work/data)")
    args = parser.parse_args(argv)
    for size in args.size:
        corpus = generate(size, args.seed, args.out)
        print(f"{size}: {corpus.ris.parent}", file=sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
