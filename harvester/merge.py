"""Merge records of one work from several sources, field by field, keeping provenance.

The rule, per field (``FIELD_RULES``):

- ``registry``: the publisher's registry (Crossref, DataCite, PubMed) wins, because it
  has the issue in hand: volume, issue, pages, date, container, publisher, type.
- ``catalogue``: the library catalogue wins, because it is the librarian's work:
  subjects (``keywords``), notes, call numbers and holdings kept in ``extra``.
- anything else (title, names, abstract, language, ...): the first layer that has it,
  in the order given (the record the user asked for first; enrichment fills gaps).
- identifiers: the union; of one scheme, a value whose check digit fails is dropped
  when another source gives a valid value of that scheme and kind; a kind
  (print/electronic) learnt from any source is kept.
- ``extra``: the union of values per key.

Every field of the result keeps the ``FieldSource`` of the layer it came from, and each
disagreement is returned as a :class:`Conflict` so a person can see what lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harvester.model import FieldSource, Identifier, Record, dedupe_identifiers

SourceKind = Literal["catalogue", "registry", "embedded"]

FIELD_RULES: dict[str, SourceKind] = {
    "type": "registry",
    "volume": "registry",
    "issue": "registry",
    "page": "registry",
    "number": "registry",
    "issued": "registry",
    "container_title": "registry",
    "container_title_short": "registry",
    "publisher": "registry",
    "keywords": "catalogue",
    "note": "catalogue",
    "edition": "catalogue",
    "number_of_pages": "catalogue",
}

_NOT_MERGED = frozenset({"id", "identifiers", "extra", "provenance", "field_sources"})
_KIND_RANK: dict[SourceKind, int] = {"registry": 0, "catalogue": 1, "embedded": 2}


@dataclass(frozen=True)
class Layer:
    """One source's record and the kind of source it is."""

    record: Record
    kind: SourceKind
    source: str = ""

    @property
    def name(self) -> str:
        if self.source:
            return self.source
        if self.record.provenance:
            return self.record.provenance[0].source
        return self.kind


@dataclass(frozen=True)
class Conflict:
    """Two sources disagreed on a field; ``kept`` won, ``other`` lost."""

    field: str
    kept_source: str
    kept: Any
    other_source: str
    other: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kept": {"source": self.kept_source, "value": _plain(self.kept)},
            "other": {"source": self.other_source, "value": _plain(self.other)},
        }


@dataclass
class MergeResult:
    record: Record
    conflicts: list[Conflict] = field(default_factory=list)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return value


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""


def _order(layers: Sequence[Layer], rule: SourceKind | None) -> list[Layer]:
    """Layers in the order they are asked for a field: the preferred kind first."""
    if rule is None:
        return list(layers)
    preferred = [layer for layer in layers if layer.kind == rule]
    return preferred + [layer for layer in layers if layer.kind != rule]


def merge(layers: Sequence[Layer]) -> MergeResult:
    """Merge ``layers`` (earlier layers first among equals) into one record.

    Raises:
        ValueError: no layers.
    """
    if not layers:
        raise ValueError("nothing to merge")
    if len(layers) == 1:
        return MergeResult(layers[0].record)
    base = layers[0].record
    update: dict[str, Any] = {}
    sources: dict[str, FieldSource] = {}
    conflicts: list[Conflict] = []
    for name in Record.model_fields:
        if name in _NOT_MERGED:
            continue
        ordered = _order(layers, FIELD_RULES.get(name))
        having = [layer for layer in ordered if not _empty(getattr(layer.record, name))]
        if not having:
            continue
        if name == "type" and len(having) > 1 and having[0].record.type == "document":
            # "document" is what a reader says when it does not know: not a real vote.
            having = [h for h in having if h.record.type != "document"] or having
        chosen = having[0]
        value = getattr(chosen.record, name)
        update[name] = value
        fs = chosen.record.field_sources.get(name)
        sources[name] = fs if fs is not None else FieldSource(source=chosen.name)
        for other in having[1:]:
            other_value = getattr(other.record, name)
            if other_value != value and not (name == "type" and other_value == "document"):
                conflicts.append(Conflict(name, chosen.name, value, other.name, other_value))
    identifiers, id_sources = _merge_identifiers(layers)
    update["identifiers"] = identifiers
    if id_sources:
        sources["identifiers"] = FieldSource(source=", ".join(id_sources))
    extra: dict[str, list[str]] = {}
    for layer in layers:
        for key, values in layer.record.extra.items():
            known = extra.setdefault(key, [])
            known.extend(v for v in values if v not in known)
    update["extra"] = extra
    provenance = [p for layer in layers for p in layer.record.provenance]
    update["provenance"] = list(dict.fromkeys(provenance))
    update["field_sources"] = sources
    # Every value comes from an already validated Record: copying keeps them valid.
    return MergeResult(base.model_copy(update=update), conflicts)


def _merge_identifiers(layers: Sequence[Layer]) -> tuple[list[Identifier], list[str]]:
    found: list[Identifier] = []
    names: list[str] = []
    for layer in layers:
        if layer.record.identifiers and layer.name not in names:
            names.append(layer.name)
        for ident in layer.record.identifiers:
            found.append(ident)
    kept = dedupe_identifiers(found)
    valid_kinds = {(i.scheme, i.kind) for i in kept if i.valid is True}
    valid_schemes = {i.scheme for i in kept if i.valid is True}
    result = [
        i
        for i in kept
        if not (
            i.valid is False
            and (
                (i.scheme, i.kind) in valid_kinds or (i.kind is None and i.scheme in valid_schemes)
            )
        )
    ]
    return result, names
