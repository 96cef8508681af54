"""Targets, source settings and the provenance stamp shared by every source."""

from __future__ import annotations

from pathlib import Path

import pytest

from harvester.errors import ConfigError
from harvester.model import Name, Record
from harvester.sources import parse_target
from harvester.sources._base import DEFAULT_URLS, SourceSettings, stamp


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("10.3892/etm.2017.4687", "doi", "10.3892/etm.2017.4687"),
        ("https://doi.org/10.3892/ETM.2017.4687", "doi", "10.3892/etm.2017.4687"),
        ("doi:10.1000/xyz", "doi", "10.1000/xyz"),
        ("  DOI: 10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0 ", "doi",
         "10.1002/(sici)1097-4571(199806)49:8<693::aid-asi4>3.0.co;2-0"),
        ("pmid:28738006", "pmid", "28738006"),
        ("PMID: 28738006", "pmid", "28738006"),
        ("pmcid:PMC5546060", "pmcid", "PMC5546060"),
        ("pmc5546060", "pmcid", "PMC5546060"),
        ("isbn:978-0-306-40615-7", "isbn", "9780306406157"),
        ("ISBN 0-306-40615-2", "isbn", "0306406152"),
        ("https://katalog.example.org/Record/000123456", "url",
         "https://katalog.example.org/Record/000123456"),
        ("http://example.org/article?id=1", "url", "http://example.org/article?id=1"),
    ],
)  # fmt: skip
def test_targets_in_every_common_form(text: str, kind: str, value: str) -> None:
    target = parse_target(text)
    assert (target.kind, target.value) == (kind, value)
    assert target.raw == text.strip()


@pytest.mark.parametrize("text", ["", "hello", "12345", "ftp://example.org/x", "isbn:12"])
def test_anything_else_is_a_usage_error_naming_the_text(text: str) -> None:
    with pytest.raises(ConfigError, match="not a URL, DOI"):
        parse_target(text)


def test_settings_come_from_config_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[sources]\ncrossref_url = "http://127.0.0.1:1/cr"\nmailto = "file@example.org"\n'
        'ncbi_api_key = "k1"\n',
        encoding="utf-8",
    )
    env = {"HARVESTER_CONFIG": str(config), "HARVESTER_DATACITE_URL": "http://127.0.0.1:2/dc"}
    settings = SourceSettings.load(env)
    assert settings.url("crossref") == "http://127.0.0.1:1/cr"
    assert settings.url("datacite") == "http://127.0.0.1:2/dc"
    assert settings.url("eutils") == DEFAULT_URLS["eutils"]
    assert (settings.mailto, settings.ncbi_api_key) == ("file@example.org", "k1")
    env["HARVESTER_MAILTO"] = "env@example.org"
    env["HARVESTER_CROSSREF_URL"] = "http://127.0.0.1:3/"
    settings = SourceSettings.load(env)
    assert settings.mailto == "env@example.org"
    assert settings.url("crossref") == "http://127.0.0.1:3"


def test_a_broken_config_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[sources\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        SourceSettings.load({"HARVESTER_CONFIG": str(config)})


def test_stamp_adds_provenance_and_a_field_source_for_each_filled_field() -> None:
    record = Record(type="book", title="T", author=[Name(family="A", given="B")], page="1-2")
    stamped = stamp(
        record,
        source="crossref",
        source_id="10.1/x",
        url="http://x/works/10.1/x",
        raw_format="crossref-json",
        body=b"{}",
        raw={"page": "1 - 2"},
    )
    assert [p.source for p in stamped.provenance] == ["crossref"]
    assert stamped.provenance[0].content_hash is not None
    assert stamped.provenance[0].content_hash.startswith("sha256:")
    assert set(stamped.field_sources) == {"title", "author", "page"}
    assert stamped.field_sources["page"].raw == "1 - 2"
    assert stamped.field_sources["title"].raw is None
    assert stamped.model_dump(exclude={"provenance", "field_sources"}) == record.model_dump(
        exclude={"provenance", "field_sources"}
    )
