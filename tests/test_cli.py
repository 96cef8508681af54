"""The command line as a person uses it: files and stdin, reports, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES

BAD = FIXTURES / "bad"
RIS_ONE = "TY  - JOUR\nAU  - Smith, Jane\nTI  - One\nPY  - 2020\nDO  - 10.1000/one\nER  - \n"
BIB_ONE = "@book{two, author = {Doe, John}, title = {Two}, year = {2021}, isbn = {9780306406157}}\n"
CSL_ONE = (
    '[{"id": "three", "type": "report", "title": "Three", "issued": {"date-parts": [[2022]]}}]'
)


def harvester(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        input=stdin,
        capture_output=True,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def test_formats_lists_readers_and_writers() -> None:
    result = harvester("formats")
    assert result.returncode == 0
    for name in ("ris", "bibtex", "csl-json", "jsonl", "catalogue-text"):
        assert name in result.stdout


def test_mixed_inputs_go_into_one_output(tmp_path: Path) -> None:
    (tmp_path / "a.ris").write_text(RIS_ONE)
    (tmp_path / "b.bib").write_text(BIB_ONE)
    (tmp_path / "c.json").write_text(CSL_ONE)
    out = tmp_path / "all.json"
    result = harvester(
        "convert", *(str(tmp_path / n) for n in ("a.ris", "b.bib", "c.json")),
        "--to", "csl-json", "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    items = json.loads(out.read_text(encoding="utf-8"))
    assert [i["title"] for i in items] == ["One", "Two", "Three"]
    assert [i["type"] for i in items] == ["article-journal", "book", "report"]
    assert "3 record(s) written" in result.stderr
    assert not list(tmp_path.glob(".*partial"))


def test_content_is_sniffed_not_the_extension(tmp_path: Path) -> None:
    misnamed = tmp_path / "really-bibtex.ris"
    misnamed.write_text(BIB_ONE)
    result = harvester("convert", str(misnamed), "--to", "ris")
    assert result.returncode == 0, result.stderr
    assert "TY  - BOOK" in result.stdout


def test_dash_reads_stdin_and_from_overrides() -> None:
    result = harvester("convert", "-", "--from", "ris", "--to", "bibtex", stdin=RIS_ONE.encode())
    assert result.returncode == 0, result.stderr
    assert "@article{" in result.stdout and "Smith, Jane" in result.stdout


def test_report_lists_losses(tmp_path: Path) -> None:
    record = {"title": "Kinds", "type": "article-journal", "identifiers": [
        {"scheme": "issn", "value": "1792-0981", "kind": "print"},
        {"scheme": "pmcid", "value": "PMC5526135"},
    ]}  # fmt: skip
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(record) + "\n")
    report = tmp_path / "report.json"
    result = harvester("convert", str(src), "--to", "ris", "--report", str(report))
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    fields = {loss["field"] for item in data["losses"] for loss in item["losses"]}
    assert {"identifiers.kind", "identifiers.pmcid"} <= fields
    assert data["loss_summary"]["identifiers.pmcid"] == 1
    assert "could not carry" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert harvester("convert", "--to", "nonsense", stdin=b"").returncode == 2
    missing = harvester("convert", str(tmp_path / "missing.ris"), "--to", "ris")
    assert missing.returncode == 2
    assert "missing.ris" in missing.stderr
    assert harvester("convert").returncode == 2


def test_truncated_ris_keeps_the_good_record() -> None:
    result = harvester("convert", str(BAD / "truncated.ris"), "--to", "csl-json")
    assert result.returncode == 1
    assert [i["title"] for i in json.loads(result.stdout)] == ["First good record"]
    assert "truncated.ris" in result.stderr and "record 2" in result.stderr


def test_unbalanced_bibtex_names_the_entry_and_keeps_the_others() -> None:
    result = harvester("convert", str(BAD / "unbalanced.bib"), "--to", "csl-json")
    assert result.returncode == 1
    titles = [i["title"] for i in json.loads(result.stdout)]
    assert titles[0] == "First good entry" and titles[-1] == "Second good entry"
    assert "unbalanced.bib" in result.stderr and "broken" in result.stderr


def test_invalid_json_is_located() -> None:
    result = harvester("convert", str(BAD / "truncated.json"), "--to", "ris")
    assert result.returncode == 1
    assert "TI  - Good item" in result.stdout
    assert "truncated.json" in result.stderr and "line" in result.stderr


def test_wrong_issn_check_digit_is_kept_and_reported() -> None:
    result = harvester("convert", str(BAD / "wrong-issn.ris"), "--to", "bibtex")
    assert result.returncode == 0
    assert "1792-098X" in result.stdout
    assert "wrong-issn.ris, record 1" in result.stderr and "ISSN 1792-098X" in result.stderr


def test_garbage_and_empty_inputs_fail_clearly_while_others_convert(tmp_path: Path) -> None:
    good = tmp_path / "good.ris"
    good.write_text(RIS_ONE)
    result = harvester(
        "convert", str(BAD / "garbage.bin"), str(good), str(BAD / "empty.ris"), "--to", "ris"
    )
    assert result.returncode == 1
    assert result.stdout.count("TY  - ") == 1
    assert "garbage.bin" in result.stderr and "cannot tell the format" in result.stderr
    assert "empty.ris" in result.stderr and "empty" in result.stderr


def test_latin1_ris_is_decoded_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.ris"
    path.write_bytes("TY  - JOUR\nAU  - Müller, Jürgen\nTI  - Über Öl\nER  - \n".encode("latin-1"))
    result = harvester("convert", str(path), "--to", "csl-json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["author"][0]["family"] == "Müller" and item["title"] == "Über Öl"
    assert "not UTF-8" in result.stderr


def test_crlf_and_bom_are_handled(tmp_path: Path) -> None:
    path = tmp_path / "crlf.ris"
    path.write_bytes(b"\xef\xbb\xbf" + RIS_ONE.replace("\n", "\r\n").encode())
    result = harvester("convert", str(path), "--to", "csl-json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["title"] == "One" and item["DOI"] == "10.1000/one"


def test_readme_opens_with_the_two_commands_and_the_first_works() -> None:
    readme = (FIXTURES.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2
    install, tests = block
    assert install.startswith("pip install -e '.[test]' && harvester convert ")
    assert tests == "bash scripts/test"
    args = install.split("&& harvester ", 1)[1].split()
    result = subprocess.run(
        [sys.executable, "-m", "harvester", *args],
        cwd=FIXTURES.parent,
        capture_output=True,
        check=False,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("@article{")


def test_readme_shows_the_current_seed_outputs() -> None:
    readme = (FIXTURES.parent / "README.md").read_text(encoding="utf-8")
    for name in ("seed.bib", "seed.ris"):
        golden = (FIXTURES / "expected" / name).read_text(encoding="utf-8").rstrip()
        assert golden in readme, f"README's {name} example is stale"
    items = json.loads((FIXTURES / "expected" / "seed.json").read_text(encoding="utf-8"))
    assert json.dumps(items, indent=2, ensure_ascii=False) in readme


def test_summary_groups_kept_fields_of_other_formats(tmp_path: Path) -> None:
    src = tmp_path / "tags.ris"
    src.write_text("TY  - JOUR\nTI  - Tags\nZZ  - one\nZY  - two\nER  - \n")
    result = harvester("convert", str(src), "--to", "csl-json")
    assert result.returncode == 0, result.stderr
    assert "extra.ris:* (2)" in result.stderr


def test_encoding_option_overrides_detection(tmp_path: Path) -> None:
    # Too little text for any detector to tell GBK from Korean code pages.
    path = tmp_path / "short-gbk.bib"
    path.write_bytes(
        "@article{k, author = {凯撒}, title = {测试期刊}, year = {2013}}\n".encode("gbk")
    )
    result = harvester("convert", str(path), "--encoding", "gbk", "--to", "csl-json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["title"] == "测试期刊"
    assert item["author"][0] in ({"family": "凯撒"}, {"literal": "凯撒"})
    assert "not UTF-8" not in result.stderr
    bad = harvester("convert", str(path), "--encoding", "no-such-codec", "--to", "ris")
    assert bad.returncode == 2 and "no-such-codec" in bad.stderr
