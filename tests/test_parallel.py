"""Big files converted on several cores give exactly what one process gives."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from harvester import api, parallel
from harvester.model import Record


def _write_jsonl(path: Path, count: int) -> None:
    rng = random.Random(5)
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            authors = [
                {"family": f"Müller{rng.randint(0, 99)}", "given": "Jürgen"}
                for _ in range(rng.randint(1, 12))
            ]
            record = Record(
                type="article-journal",
                title=f"Record {i}: {'x' * rng.randint(0, 200)}",
                author=authors,
                identifiers=[{"scheme": "doi", "value": f"10.1000/r{i}"}],
            )
            out.write(record.model_dump_json(by_alias=True, exclude_defaults=True) + "\n")
            if i in (10, 2500):
                out.write('{"type": "not-a-type", "title": "bad"}\n')


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parallel") / "big.jsonl"
    _write_jsonl(path, 4000)
    assert path.stat().st_size > parallel.MIN_PARALLEL_BYTES
    return path


def _chunk_count(path: Path, in_format: str, out_format: str) -> int:
    """How many chunks the planner cuts ``path`` into (0: not split at all)."""
    from harvester.formats import FORMATS
    from harvester.formats._input import open_input

    writer = FORMATS[out_format].writer
    assert writer is not None
    opened = open_input(path)
    try:
        plan = parallel.plan(opened, FORMATS[in_format], writer(io.StringIO()), 2)
    finally:
        opened.close()
    return len(plan.chunks) if plan is not None else 0


def _run(path: Path, to: str, jobs: int) -> tuple[str, api.ConvertSummary]:
    out = io.StringIO()
    summary = api.convert([path], to, out, jobs=jobs)
    return out.getvalue(), summary


@pytest.mark.parametrize("to", ["jsonl", "csl-json", "ris", "bibtex"])
def test_parallel_output_and_errors_match_one_process(big_jsonl: Path, to: str) -> None:
    one_text, one = _run(big_jsonl, to, 1)
    two_text, two = _run(big_jsonl, to, 2)
    assert two_text == one_text
    assert [e.describe() for e in two.errors] == [e.describe() for e in one.errors]
    assert [e.line for e in two.errors] == [12, 2503]
    assert (two.read, two.written) == (one.read, one.written) == (4000, 4000)
    assert [item.to_dict() for item in two.losses] == [item.to_dict() for item in one.losses]


def test_the_file_is_really_split(big_jsonl: Path) -> None:
    from harvester.formats import FORMATS
    from harvester.formats._input import open_input

    opened = open_input(big_jsonl)
    try:
        writer = FORMATS["jsonl"].writer
        assert writer is not None
        plan = parallel.plan(opened, FORMATS["jsonl"], writer(io.StringIO()), 2)
    finally:
        opened.close()
    assert plan is not None and len(plan.chunks) >= 3
    assert plan.chunks[0].start == 0 and plan.chunks[-1].end == big_jsonl.stat().st_size


def test_csl_json_input_is_split_too(big_jsonl: Path, tmp_path: Path) -> None:
    csl = tmp_path / "big.json"
    text, _summary = _run(big_jsonl, "csl-json", 1)
    csl.write_text(text, encoding="utf-8")
    one_text, one = _run(csl, "ris", 1)
    two_text, two = _run(csl, "ris", 2)
    assert _chunk_count(csl, "csl-json", "ris") >= 3
    assert two_text == one_text
    assert (two.read, two.errors) == (one.read, []) and one.read == 4000


def test_pretty_printed_csl_json_is_split_at_item_starts(big_jsonl: Path, tmp_path: Path) -> None:
    import json

    text, _summary = _run(big_jsonl, "csl-json", 1)
    items = json.loads(text)
    items[3000]["type"] = "not-a-type"  # one bad item deep inside a later chunk
    pretty = tmp_path / "zotero-style.json"
    pretty.write_text(json.dumps(items, indent=2, ensure_ascii=False), encoding="utf-8")
    assert _chunk_count(pretty, "csl-json", "ris") >= 3
    one_text, one = _run(pretty, "ris", 1)
    two_text, two = _run(pretty, "ris", 2)
    assert two_text == one_text
    assert [e.describe() for e in two.errors] == [e.describe() for e in one.errors]
    assert len(one.errors) == 1 and one.errors[0].record == 3001


def test_bibtex_macros_reach_every_chunk(tmp_path: Path) -> None:
    import json

    path = tmp_path / "macros.bib"
    with path.open("w", encoding="utf-8") as out:
        out.write('@string{jnl = "Journal of {DNA} Studies"}\n\n')
        for i in range(6000):
            if i == 3000:  # a macro defined half-way is known only to later entries
                out.write('@string{late = "Late Journal"}\n\n')
            journal = "late" if i > 3000 else "jnl"
            out.write(
                f"@article{{k{i},\n  title = {{Entry {i} {'x' * (i % 200)}}},\n"
                f"  journal = {journal},\n  year = 2001,\n}}\n\n"
            )
    assert path.stat().st_size > parallel.MIN_PARALLEL_BYTES
    one_text, one = _run(path, "csl-json", 1)
    two_text, two = _run(path, "csl-json", 2)
    assert two_text == one_text
    assert (one.written, two.written, one.errors, two.errors) == (6000, 6000, [], [])
    assert _chunk_count(path, "bibtex", "csl-json") >= 3
    items = json.loads(two_text)
    assert items[0]["container-title"] == "Journal of DNA Studies"
    assert items[5999]["container-title"] == "Late Journal"


@pytest.mark.parametrize("to", ["csl-json", "bibtex"])
def test_cli_output_file_and_stdout_match_one_process(
    big_jsonl: Path, tmp_path: Path, to: str
) -> None:
    """The CLI hands workers' UTF-8 bytes straight to the output (file or stdout).

    Records without ids get generated keys that clash across chunks, so the parent must
    rename some of them in the bytes it passes on.
    """
    import subprocess
    import sys

    def cli(*args: str) -> bytes:
        done = subprocess.run(
            [sys.executable, "-m", "harvester", "convert", str(big_jsonl), "--to", to, *args],
            capture_output=True,
            check=False,
        )
        assert done.returncode == 1, done.stderr  # the two bad records in the file
        return done.stdout

    one_text, _summary = _run(big_jsonl, to, 1)
    assert cli("--jobs", "2") == one_text.encode("utf-8")
    out = tmp_path / f"out.{to}"
    cli("--jobs", "2", "-o", str(out))
    assert out.read_bytes() == one_text.encode("utf-8")
    assert _chunk_count(big_jsonl, "jsonl", to) >= 3
    # Late records carry suffixes only a run that saw the earlier chunks gives.
    assert "muller49recordae" in one_text
