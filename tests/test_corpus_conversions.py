"""Every RIS, BibTeX and CSL-JSON file in the shared corpus converts to every other format.

Records in equals records out, or each missing record is reported with file, position and
reason. Expected counts come from simple independent counts of the raw files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import CORPUS, corpus_files

from harvester import api
from harvester.errors import ParseError
from harvester.model import Record

RIS_FILES = corpus_files("**/*.ris")
BIB_FILES = [p for p in corpus_files("**/*.bib") if "gbk" not in p.name] + corpus_files(
    "**/gbk_test.bib"
)
CSL_FILES = [
    p
    for p in corpus_files("**/*.json")
    if p.name.startswith(
        ("citeproc", "test_content_negotiation_citeproc", "bibtex-csl", "biblatex-csl")
    )
]

_BIB_ENTRY = re.compile(
    r"^\s*@(?!string|comment|preamble)[a-z]+\s*[{(]", re.IGNORECASE | re.MULTILINE
)


def expected_count(path: Path) -> int:
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix == ".ris":
        return len(re.findall(r"^\s*TY  ?-", text, re.MULTILINE))
    if path.suffix == ".bib":
        return len(_BIB_ENTRY.findall(text))
    data = json.loads(text)
    return len(data) if isinstance(data, list) else 1


def _name(path: Path) -> str:
    return str(path.relative_to(CORPUS))


@pytest.mark.corpus
def test_corpus_has_files_of_each_format() -> None:
    assert len(RIS_FILES) >= 10 and len(BIB_FILES) >= 20 and len(CSL_FILES) >= 4


@pytest.mark.corpus
@pytest.mark.parametrize("path", RIS_FILES + BIB_FILES + CSL_FILES, ids=_name)
def test_corpus_file_converts_to_every_format(path: Path) -> None:
    items = list(api.read(path))
    records = [i for i in items if isinstance(i, Record)]
    errors = [i for i in items if isinstance(i, ParseError)]
    for error in errors:
        assert error.source == str(path)
        assert error.line is not None or error.record is not None, error.describe()
        assert error.cause
    assert len(records) + len(errors) >= expected_count(path), [e.describe() for e in errors]
    for target in ("bibtex", "csl-json", "ris", "jsonl"):
        text = api.dumps(records, target)
        back = list(api.read(text.encode("utf-8"), target))
        failed = [b.describe() for b in back if isinstance(b, ParseError)]
        assert not failed, f"{target}: {failed}"
        assert len(back) == len(records), f"{target}: {len(back)} of {len(records)} came back"
        for original, again in zip(records, back, strict=True):
            assert isinstance(again, Record)
            assert again.title == original.title, target
            assert len(again.author) == len(original.author), target
