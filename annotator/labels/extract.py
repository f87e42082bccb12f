"""Author labels of one sample: every metadata field read in order of trust, the most trusted reading kept.

Order of trust: characteristics whose key names the group (``chip antibody: H3K4me3``, ``cell line: K562``), then
the title, the source name, the description and the supplementary file name. Two refinements:

- an *inferred* reading (``K27``) gives way to a later exact or normalised reading that is one of its candidates
  (a title saying ``H3K27me3``), because that settles what the author meant; likewise ``chip antibody: none``
  (an input control) gives way to a later assay (``K562 DNase-seq``): there is no antibody because it is an assay;
- when no field names a known cell type, the first cell-type characteristic is taken verbatim (``cell line:
  Kasumi-1``): the author did state it, and reconciliation reports it as out of the model's vocabulary.

Assays (``DNase-seq``, ``ATAC-seq``) are not antibodies, but a DNase-seq sample has no antibody either, so the one
reading serves both ways a model may know the assay: it is the sample's ``antibody`` label (kind ``assay``; a model
that lists ``DNase-seq`` among its antibody labels compares it directly, and one that does not reports it as out of
vocabulary), and the same reading is also reported as the sample's ``assay`` label, for a model with a separate
``assay`` group. Controls and assays are not read from the description (prose names backgrounds and other assays).

The ``assay`` label comes first from the library strategy (``ChIP-Seq``, ``DNase-Hypersensitivity``, ``ATAC-seq``;
`annotator.labels.strategy`), GEO's own field for it, and only when that names no assay (``OTHER``, missing) from
such an assay reading of the text; the text's assay readings stay as evidence either way, so a DNase-seq title on a
sample filed as ChIP-Seq shows both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from annotator.config import Config
from annotator.labels.antibody import ASSAYS, parse_antibody
from annotator.labels.cell_types import normalise_cell_type, parse_cell_type
from annotator.labels.identifiers import CELL_ONTOLOGY, CELLOSAURUS, NO_VALUE, hgnc_id, read_vocabulary
from annotator.labels.records import (
    ASSAY,
    CELL_TYPE,
    CONTROL,
    EXACT,
    INFERRED,
    NON_HISTONE,
    NORMALISED,
    SCORE_EXACT,
    SCORE_NORMALISED,
    AntibodyLabel,
    AuthorLabel,
    CellTypeLabel,
    Reading,
)
from annotator.labels.strategy import strategy_assay

ANTIBODY, ASSAY_GROUP, CELL_TYPE_GROUP = "antibody", "assay", "cell_type"
STRATEGY_SOURCE = "library_strategy"

#: Characteristic keys (lower case) that hold each group's label.
_KEYS: dict[str, re.Pattern[str]] = {
    ANTIBODY: re.compile(r"antibod|target|histone|\bmark\b|modification|epitope|^chip$|^ip$|^factor$"),
    CELL_TYPE_GROUP: re.compile(r"cell[ _-]?(?:line|type)|^cells?$|^tissue|^primary cell"),
}
#: Characteristic keys about the antibody's provenance, never its target (their values hold catalogue numbers).
_PROVENANCE_KEY = re.compile(r"vendor|manufacturer|catalog|lot\b|clone|dilution|host|source|company")
_FREE_TEXT_SOURCES = ("title", "source_name", "description", "file_name")
_NO_ANTIBODY = ("none", "no antibody")
_KEY_VALUE = re.compile(r"([^:\n]{1,40}):[ \t]*(\S.*)", re.DOTALL)

_Label = AntibodyLabel | CellTypeLabel


def extract_labels(
    sample: Mapping[str, Any], vocabularies: Mapping[str, Sequence[str]], config: Config | None = None
) -> dict[str, AuthorLabel]:
    """The author's antibody and cell-type labels of one sample.

    Parameters
    ----------
    sample
        A row of the samples table as a dict: ``title``, ``source_name``, ``characteristics`` (list of
        ``{"key", "value"}``), ``description``, ``file_name``, ``library_strategy``; missing or null fields are
        skipped.
    vocabularies
        The model's label groups (group -> labels); ``antibody`` and ``cell_type`` are used.
    config
        Fuzzy thresholds; defaults to ``Config()``.

    Returns
    -------
    dict[str, AuthorLabel]
        ``"antibody"``, ``"assay"`` (from the library strategy or an assay reading, see the module docstring)
        and/or ``"cell_type"`` -> label; a group the author gave no label for is absent.
    """
    config = config or Config()
    antibody_vocab = tuple(vocabularies.get(ANTIBODY, ()))
    cell_vocab = tuple(vocabularies.get(CELL_TYPE_GROUP, ()))

    def read_antibody(text: str, source: str) -> AntibodyLabel | None:
        return parse_antibody(
            text,
            antibody_vocab,
            config.antibody_fuzzy_threshold,
            controls=source != "description",
            assays=source != "description",
        )

    def read_cell_type(text: str, source: str) -> CellTypeLabel | None:
        whole = source.startswith("characteristics:")
        return parse_cell_type(text, cell_vocab, config.cell_type_fuzzy_threshold, ontologies=False, whole=whole)

    out = {}
    antibody = _first_reading(ANTIBODY, sample, read_antibody)
    if antibody is not None:
        out[ANTIBODY] = _with_hgnc(antibody)
    assay = _assay(sample, antibody)
    if assay is not None:
        out[ASSAY_GROUP] = assay
    cell_type = (
        _first_reading(CELL_TYPE_GROUP, sample, read_cell_type)
        or _vocabulary_cell_type(sample)
        or _verbatim_cell_type(sample)
    )
    if cell_type is not None:
        out[CELL_TYPE_GROUP] = cell_type
    return out


def _with_hgnc(label: AuthorLabel) -> AuthorLabel:
    """A protein target's HGNC ID (histone marks, assays and controls have none)."""
    found = hgnc_id(label.canonical) if label.kind == NON_HISTONE else None
    return replace(label, ontology_id=found, ontology_label=label.canonical) if found else label


def _vocabulary_cell_type(sample: Mapping[str, Any]) -> AuthorLabel | None:
    """A cell type only the shipped vocabulary knows: a cell line from any field but the description, else a
    primary cell type, else a tissue, from the characteristics, title or source name; the most trusted field first
    within each kind."""
    best: tuple[int, int, str, CellTypeLabel] | None = None
    for order, (source, text) in enumerate(_sources(CELL_TYPE_GROUP, sample)):
        if source == "description":
            continue
        label = read_vocabulary(text, whole=source.startswith("characteristics:"))
        if label is None:
            continue
        term = label.ontology_id or label.id_candidates[0]
        rank = 0 if term.startswith(CELLOSAURUS) else 1 if term.startswith(CELL_ONTOLOGY) else 2
        if (rank > 0 and source == "file_name") or (best is not None and best[:2] <= (rank, order)):
            continue
        best = (rank, order, source, label)
    if best is None:
        return None
    _, _, source, label = best
    return AuthorLabel(
        group=CELL_TYPE_GROUP,
        canonical=label.canonical,
        raw=label.raw,
        source=source,
        kind=CELL_TYPE,
        method=label.method,
        score=label.score,
        readings=(Reading(source, label.canonical, label.raw, label.method, label.score),),
        ontology_id=label.ontology_id,
        ontology_label=label.ontology_label,
        id_candidates=label.id_candidates,
    )


#: Columns `identifier_columns` adds to the samples and annotations tables.
IDENTIFIER_COLUMNS = ("cell_type_id", "cell_type_label", "cell_type_id_candidates", "antibody_id")


def identifier_columns(labels: Mapping[str, AuthorLabel]) -> dict[str, Any]:
    """The identifier columns of one sample's author labels (`extract_labels`): nulls where there are none, the
    candidates of an ambiguous cell-type name where it stays ambiguous."""
    cell, antibody = labels.get(CELL_TYPE_GROUP), labels.get(ANTIBODY)
    return {
        "cell_type_id": cell.ontology_id if cell else None,
        "cell_type_label": cell.ontology_label if cell else None,
        "cell_type_id_candidates": list(cell.id_candidates) if cell and cell.id_candidates else None,
        "antibody_id": antibody.ontology_id if antibody else None,
    }


def _assay(sample: Mapping[str, Any], antibody: AuthorLabel | None) -> AuthorLabel | None:
    """The author's assay: the library strategy when it names one, else an assay the antibody fields read."""
    from_text = replace(antibody, group=ASSAY_GROUP) if antibody is not None and antibody.kind == ASSAY else None
    strategy = strategy_assay(sample.get(STRATEGY_SOURCE))
    if strategy is None:
        return from_text
    reading = Reading(STRATEGY_SOURCE, strategy.canonical, strategy.raw, strategy.method, strategy.score)
    text = tuple(r for r in antibody.readings if r.canonical in ASSAYS) if antibody is not None else ()
    return AuthorLabel(
        group=ASSAY_GROUP,
        canonical=strategy.canonical,
        raw=strategy.raw,
        source=STRATEGY_SOURCE,
        kind=ASSAY,
        method=strategy.method,
        score=strategy.score,
        readings=(reading, *text),
    )


def _sources(group: str, sample: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(source, text) pairs of `sample` that may name a `group` label, most trusted first."""
    for key, value in _characteristics(sample):
        lowered = key.lower()
        if _KEYS[group].search(lowered) and not (group == ANTIBODY and _PROVENANCE_KEY.search(lowered)):
            yield f"characteristics:{key}", value
    for field in _FREE_TEXT_SOURCES:
        text = sample.get(field)
        if isinstance(text, str) and text.strip():
            yield field, text


def _first_reading(
    group: str, sample: Mapping[str, Any], read: Callable[[str, str], _Label | None]
) -> AuthorLabel | None:
    """The most trusted source's label, with every source's reading as evidence."""
    found: list[tuple[str, _Label]] = []
    for source, text in _sources(group, sample):
        label = read(text, source)
        if label is None and group == ANTIBODY and source.startswith("characteristics:"):
            label = _antibody_none(text)
        if label is not None:
            found.append((source, label))
    if not found:
        return None
    source, chosen = found[0]
    if chosen.method == INFERRED:
        settled = next(
            (
                (s, lab)
                for s, lab in found[1:]
                if lab.method in (EXACT, NORMALISED) and lab.canonical in chosen.candidates
            ),
            None,
        )
        if settled is not None:
            source, chosen = settled
    elif chosen.kind == CONTROL and chosen.raw.lower() in _NO_ANTIBODY:
        # "chip antibody: none" on a DNase-seq or ATAC-seq sample: no antibody because it is an assay
        source, chosen = next(((s, lab) for s, lab in found[1:] if lab.kind == ASSAY), (source, chosen))
    readings = tuple(Reading(s, lab.canonical, lab.raw, lab.method, lab.score) for s, lab in found)
    identified = chosen if isinstance(chosen, CellTypeLabel) else None
    return AuthorLabel(
        group=group,
        canonical=chosen.canonical,
        raw=chosen.raw,
        source=source,
        kind=chosen.kind,
        method=chosen.method,
        score=chosen.score,
        candidates=chosen.candidates,
        readings=readings,
        ontology_id=identified.ontology_id if identified else None,
        ontology_label=identified.ontology_label if identified else None,
        id_candidates=identified.id_candidates if identified else (),
    )


def _antibody_none(value: str) -> AntibodyLabel | None:
    """``chip antibody: none`` is how GEO submitters mark an input sample."""
    raw = value.strip()
    if raw.lower() in _NO_ANTIBODY:
        return AntibodyLabel("input", raw, CONTROL, NORMALISED, SCORE_NORMALISED)
    return None


def _verbatim_cell_type(sample: Mapping[str, Any]) -> AuthorLabel | None:
    """The first cell-type characteristic as written, for a cell type no table knows."""
    for key, value in _characteristics(sample):
        raw = " ".join(value.split())
        if not _KEYS[CELL_TYPE_GROUP].search(key.lower()) or raw.lower() in NO_VALUE:
            continue
        canonical = re.sub(r"[ _-]*(cell[ _-]?lines?|cells?)$", "", raw, flags=re.IGNORECASE) or raw
        method, score = (EXACT, SCORE_EXACT) if canonical == raw else (NORMALISED, SCORE_NORMALISED)
        if not normalise_cell_type(canonical):
            continue
        source = f"characteristics:{key}"
        return AuthorLabel(
            group=CELL_TYPE_GROUP,
            canonical=canonical,
            raw=raw,
            source=source,
            kind=CELL_TYPE,
            method=method,
            score=score,
            readings=(Reading(source, canonical, raw, method, score),),
        )
    return None


def _characteristics(sample: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, value) of the characteristics, tolerating nulls and plain ``key: value`` strings."""
    for item in sample.get("characteristics") or ():
        if isinstance(item, Mapping):
            key, value = item.get("key"), item.get("value")
        elif isinstance(item, str) and ":" in item:
            key, value = (part.strip() for part in item.split(":", 1))
        else:
            continue
        if isinstance(key, str) and isinstance(value, str) and value.strip():
            yield key.strip(), value


#: Keys of `text_labels`' record, in order: what `annotator labels` prints.
TEXT_LABEL_KEYS = (
    "text",
    "antibody",
    "antibody_raw",
    "antibody_method",
    "antibody_score",
    "antibody_kind",
    "cell_type",
    "cell_type_raw",
    "cell_type_method",
    "cell_type_score",
    "cell_type_id",
    "cell_type_label",
    "cell_type_id_candidates",
    "antibody_id",
)


def text_labels(
    text: str, vocabularies: Mapping[str, Sequence[str]] | None = None, config: Config | None = None
) -> dict[str, Any]:
    """What one free text (a title, a characteristic value) says about antibody and cell type.

    Parameters
    ----------
    text
        The text to read.
    vocabularies
        A model's label groups, to read its labels and spell them its way; built-in tables only when None.
    config
        Fuzzy thresholds; defaults to ``Config()``.

    Returns
    -------
    dict[str, Any]
        The `TEXT_LABEL_KEYS`, with nulls for a group the text says nothing about; ``antibody_kind`` is
        histone_mark, non_histone, assay or control. ``cell_type_id`` is the Cellosaurus, CL or UBERON identifier
        of the name as written and ``cell_type_label`` the ontology's label of it; a name that stays ambiguous has
        no identifier and lists every one it may mean in ``cell_type_id_candidates``; ``antibody_id`` is the HGNC
        ID of a protein target.
    """
    config = config or Config()
    vocabularies = vocabularies or {}
    antibody = parse_antibody(text, tuple(vocabularies.get(ANTIBODY, ())), config.antibody_fuzzy_threshold)
    key_value = _KEY_VALUE.match(text)  # "cell line: Beta" reads like that characteristic: its whole value counts
    whole = key_value is not None and _KEYS[CELL_TYPE_GROUP].search(key_value.group(1).strip().lower()) is not None
    cell_type = parse_cell_type(
        key_value.group(2) if whole and key_value else text,
        tuple(vocabularies.get(CELL_TYPE_GROUP, ())),
        config.cell_type_fuzzy_threshold,
        whole=whole,
    )
    return {
        "text": text,
        "antibody": antibody.canonical if antibody else None,
        "antibody_raw": antibody.raw if antibody else None,
        "antibody_method": antibody.method if antibody else None,
        "antibody_score": antibody.score if antibody else None,
        "antibody_kind": antibody.kind if antibody else None,
        "cell_type": cell_type.canonical if cell_type else None,
        "cell_type_raw": cell_type.raw if cell_type else None,
        "cell_type_method": cell_type.method if cell_type else None,
        "cell_type_score": cell_type.score if cell_type else None,
        "cell_type_id": cell_type.ontology_id if cell_type else None,
        "cell_type_label": cell_type.ontology_label if cell_type else None,
        "cell_type_id_candidates": list(cell_type.id_candidates) if cell_type and cell_type.id_candidates else None,
        "antibody_id": hgnc_id(antibody.canonical) if antibody and antibody.kind == NON_HISTONE else None,
    }
