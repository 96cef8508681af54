"""The record the project started from, through every writer, against goldens and oracles."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import bibtexparser
import pybtex.database
import pytest
import rispy
from conftest import FIXTURES, SEED, Golden

SEED_COPY = FIXTURES / "catalogue_text" / "seed.txt"
AUTHORS = [
    ("Li", "Ai"), ("Tao", "Yuan"), ("Kong", "Dexiao"), ("Zhang", "Ni"), ("Wang", "Yongjing"),
    ("Wang", "Zhilun"), ("Wang", "Yingxue"), ("Wang", "Juandong"), ("Xiao", "Juan"),
    ("Jiang", "Yang"), ("Liu", "Xiaoli"), ("Zheng", "Chengyun"),
]  # fmt: skip
TITLE = (
    "Infusion of umbilical cord mesenchymal stem cells alleviates symptoms of "
    "ankylosing spondylitis"
)
JOURNAL = "Experimental and therapeutic medicine"
DOI = "10.3892/etm.2017.4687"
ABSTRACT_START = "The current study evaluated 5 patients with ankylosing spondylitis (AS)."
ABSTRACT_END = "to enable the systemic evaluation of uMSC therapy."


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "harvester", *args], input=stdin, capture_output=True, check=False
    )


@pytest.mark.corpus
def test_bundled_example_is_the_seed() -> None:
    assert SEED_COPY.read_bytes() == SEED.read_bytes()


def _convert(to: str) -> str:
    result = run_cli("convert", str(SEED_COPY), "--to", to)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode("utf-8")


def test_seed_to_csl_json(golden: Golden) -> None:
    text = _convert("csl-json")
    golden.check("seed.json", text)
    (item,) = json.loads(text)
    assert item["type"] == "article-journal"
    assert item["title"] == TITLE
    assert [(a["family"], a["given"]) for a in item["author"]] == AUTHORS
    assert item["container-title"] == JOURNAL
    assert (item["volume"], item["issue"], item["page"]) == ("14", "2", "1538-1546")
    assert item["issued"] == {"date-parts": [[2017, 8]]}
    assert item["ISSN"] == "1792-0981, 1792-1015"
    assert item["DOI"] == DOI
    assert item["language"] == "en"
    assert item["abstract"].startswith(ABSTRACT_START)
    assert item["abstract"].endswith(ABSTRACT_END)
    assert "..." not in item["abstract"]


def test_seed_to_bibtex(golden: Golden) -> None:
    text = _convert("bibtex")
    golden.check("seed.bib", text)
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks
    (entry,) = library.entries
    assert entry.entry_type == "article"
    fields = {f.key: f.value for f in entry.fields}
    assert fields["title"].replace("{", "").replace("}", "") == TITLE
    assert fields["journal"] == JOURNAL
    assert (fields["volume"], fields["number"], fields["pages"]) == ("14", "2", "1538--1546")
    assert fields["year"] == "2017"
    assert fields["month"] == "aug"
    assert fields["issn"] == "1792-0981, 1792-1015"
    assert fields["doi"] == DOI
    assert fields["abstract"].startswith(ABSTRACT_START)
    people = pybtex.database.parse_string(text, "bibtex").entries[entry.key].persons["author"]
    assert [(" ".join(p.last_names), " ".join(p.first_names)) for p in people] == AUTHORS


def test_seed_to_ris(golden: Golden) -> None:
    text = _convert("ris")
    golden.check("seed.ris", text)
    lines = text.splitlines()
    assert lines[0] == "TY  - JOUR" and lines[-1] == "ER  - "
    (entry,) = rispy.load(io.StringIO(text))
    assert entry["type_of_reference"] == "JOUR"
    assert entry["title"] == TITLE
    assert entry["authors"] == [f"{family}, {given}" for family, given in AUTHORS]
    assert (entry["volume"], entry["number"]) == ("14", "2")
    assert (entry["start_page"], entry["end_page"]) == ("1538", "1546")
    assert entry["issn"] == ["1792-0981", "1792-1015"] or entry["issn"] == "1792-0981"
    assert [line for line in lines if line.startswith("SN  - ")] == [
        "SN  - 1792-0981",
        "SN  - 1792-1015",
    ]
    assert entry["doi"] == DOI
    assert entry["language"] == "en"
    assert entry["abstract"].startswith(ABSTRACT_START)
    assert "PY  - 2017" in lines


def test_seed_from_stdin_is_sniffed() -> None:
    result = run_cli("convert", "--to", "csl-json", stdin=SEED_COPY.read_bytes())
    assert result.returncode == 0, result.stderr.decode()
    (item,) = json.loads(result.stdout)
    assert item["DOI"] == DOI


def test_seed_round_trips_through_every_format(tmp_path: Path) -> None:
    """seed -> X -> jsonl must give the same record for every X (what X carries)."""
    base = json.loads(_convert("csl-json"))[0]
    for fmt, suffix in (("bibtex", ".bib"), ("ris", ".ris"), ("csl-json", ".json")):
        path = tmp_path / f"seed{suffix}"
        path.write_text(_convert(fmt), encoding="utf-8")
        result = run_cli("convert", str(path), "--to", "csl-json")
        assert result.returncode == 0, result.stderr.decode()
        (item,) = json.loads(result.stdout)
        for key in ("type", "title", "author", "container-title", "volume", "issue", "page",
                    "issued", "ISSN", "DOI", "language", "abstract"):  # fmt: skip
            assert item.get(key) == base.get(key), f"{fmt}: {key} changed"
