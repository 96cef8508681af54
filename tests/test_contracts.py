"""Generated artefacts stay in step with the code that generates them."""

from __future__ import annotations

import json

from conftest import ROOT

from harvester.formats.fidelity import FIDELITY, FORMATS_IN_TABLE, render_markdown
from harvester.model import SCHEMA_PATH, Record, render_json_schema


def test_record_schema_is_current() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_json_schema(), (
        "schemas/record.schema.json is stale: python -c 'from harvester.model import "
        "render_json_schema, SCHEMA_PATH; SCHEMA_PATH.write_text(render_json_schema())'"
    )


def test_record_schema_uses_csl_keys() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert "container-title" in schema["properties"]
    assert "container_title" not in schema["properties"]


def test_fidelity_doc_is_current() -> None:
    doc = (ROOT / "docs" / "fidelity.md").read_text(encoding="utf-8")
    assert doc == render_markdown(), (
        "docs/fidelity.md is stale: python -m harvester.formats.fidelity"
    )


def test_fidelity_table_covers_every_record_field_and_format() -> None:
    rows = {row.split(".")[0] for row in FIDELITY}
    for name in Record.model_fields:
        assert name in rows, f"fidelity table has no row for Record.{name}"
    for row, cells in FIDELITY.items():
        assert set(cells) == set(FORMATS_IN_TABLE), f"row {row} lacks a format"
