"""Author-label extraction: what antibody target and cell type the authors wrote, read with compiled regexes, a
synonym table and rapidfuzz.

- `parse_antibody`: histone marks (`marks`), non-histone targets and controls (`antibody`);
- `parse_cell_type`: cell lines and primary cells (`cell_types`);
- `extract_labels`: both, over a sample's metadata fields in order of trust (`extract`);
- `text_labels`: both, for one free text (what `annotator labels` prints).
"""

from annotator.labels.antibody import NON_HISTONE_TARGETS, parse_antibody
from annotator.labels.cell_types import CELL_TYPE_SYNONYMS, normalise_cell_type, parse_cell_type
from annotator.labels.extract import ANTIBODY, CELL_TYPE_GROUP, TEXT_LABEL_KEYS, extract_labels, text_labels
from annotator.labels.marks import KNOWN_MARKS, REPRESSIVE_MARKS, VARIANTS
from annotator.labels.records import AntibodyLabel, AuthorLabel, CellTypeLabel, Reading

__all__ = [
    "ANTIBODY",
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
    "extract_labels",
    "normalise_cell_type",
    "parse_antibody",
    "parse_cell_type",
    "text_labels",
]
