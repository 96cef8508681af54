"""What a round trip through a format must keep, derived from the fidelity table."""

from __future__ import annotations

from typing import Any

from harvester.formats.fidelity import FIDELITY
from harvester.model import Record


def carried_view(record: Record, format_name: str) -> dict[str, Any]:
    """The parts of ``record`` that ``format_name`` promises to carry, for comparison.

    Provenance is left out (readers stamp their own); identifier kinds and schemes,
    date features and record fields the table marks as not carried are left out too.
    """
    data = record.model_dump(exclude={"provenance", "field_sources", "extra"})
    for name in list(data):
        row = FIDELITY.get(name)
        if row is not None and row[format_name].where is None:
            del data[name]
    idents = []
    for ident in record.identifiers:
        row = FIDELITY.get(f"identifiers.{ident.scheme}")
        if row is not None and row[format_name].where is None:
            continue
        keep_kind = FIDELITY["identifiers.kind"][format_name].where is not None
        idents.append((ident.scheme, ident.value, ident.kind if keep_kind else None))
    data["identifiers"] = sorted(idents, key=lambda t: (t[0], t[1]))
    issued = data.get("issued")
    if issued:
        for feature in ("season", "circa", "end"):
            if FIDELITY[f"issued.{feature}"][format_name].where is None:
                issued.pop(feature, None)
    own = {"bibtex": "bibtex:", "csl-json": "csl:", "ris": "ris:", "jsonl": ""}[format_name]
    data["extra"] = {k: v for k, v in record.extra.items() if k.startswith(own)}
    return data
