"""Shared fixtures: paths, the corpus marker, golden files."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
EXPECTED = FIXTURES / "expected"
CORPUS = ROOT.parent / "shared" / "corpus"
SEED = ROOT.parent / "shared" / "seed" / "catalogue-record.txt"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        help="rewrite fixtures/expected/* from the current output (review the diff!)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CORPUS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the shared corpus at {CORPUS}, which is absent here")
    for item in items:
        if "corpus" in item.keywords:
            item.add_marker(skip)


class Golden:
    """Compare text with ``fixtures/expected/<name>``; ``--update-goldens`` rewrites it."""

    def __init__(self, update: bool) -> None:
        self.update = update

    def check(self, name: str, actual: str) -> None:
        path = EXPECTED / name
        if self.update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8", newline="\n")
            return
        assert path.is_file(), f"golden {path} is missing: run pytest --update-goldens"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"output differs from golden {path}"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    return Golden(bool(request.config.getoption("--update-goldens")))


def corpus_files(*patterns: str) -> list[Path]:
    """Corpus files matching glob patterns (empty where the corpus is absent)."""
    if not CORPUS.is_dir():
        return []
    found: set[Path] = set()
    for pattern in patterns:
        found.update(CORPUS.glob(pattern))
    return sorted(found)
