"""Author-label extraction: what antibody target and cell type the authors wrote, read with compiled regexes, a
synonym table and rapidfuzz.

- `targets`: the shared target vocabulary (``targets.tsv``) that the extractor and model cards derive from
  (`vocabulary`);
- `parse_antibody`: histone marks (`marks`), non-histone targets, assays and controls (`antibody`);
- `parse_cell_type`: cell lines and primary cells (`cell_types`);
- `extract_labels`: both, over a sample's metadata fields in order of trust (`extract`);
- `text_labels`: both, for one free text (what `annotator labels` prints);
- `identifiers`: the standard identifier of what the author wrote (Cellosaurus, Cell Ontology, UBERON, HGNC) from
  the shipped vocabulary, and `hierarchy`: how an author's cell type and a model's label relate in the ontologies.
"""

from annotator.labels.antibody import ASSAYS, NON_HISTONE_TARGETS, parse_antibody
from annotator.labels.cell_types import CELL_TYPE_SYNONYMS, normalise_cell_type, parse_cell_type
from annotator.labels.extract import (
    ANTIBODY,
    ASSAY_GROUP,
    CELL_TYPE_GROUP,
    TEXT_LABEL_KEYS,
    extract_labels,
    text_labels,
)
from annotator.labels.marks import KNOWN_MARKS, REPRESSIVE_MARKS, VARIANTS
from annotator.labels.records import AntibodyLabel, AuthorLabel, CellTypeLabel, Reading
from annotator.labels.vocabulary import Target, kind_of, symbols, targets

__all__ = [
    "ANTIBODY",
    "ASSAYS",
    "ASSAY_GROUP",
    "CELL_TYPE_GROUP",
    "CELL_TYPE_SYNONYMS",
    "KNOWN_MARKS",
    "NON_HISTONE_TARGETS",
    "REPRESSIVE_MARKS",
    "TEXT_LABEL_KEYS",
    "VARIANTS",
    "AntibodyLabel",
    "AuthorLabel",
    "CellTypeLabel",
    "Reading",
    "Target",
    "extract_labels",
    "kind_of",
    "normalise_cell_type",
    "parse_antibody",
    "parse_cell_type",
    "symbols",
    "targets",
    "text_labels",
]
