"""The records author-label extraction produces: what was read, from where, how, and how sure we are.

`method` says how the canonical label was obtained from the author's text:

- ``exact``: the text span is the canonical label, character for character (``H3K4me3``, ``K562``);
- ``normalised``: equal after case, separators, word forms and known synonyms (``h3k4-Me3``, ``K4me3``,
  ``histone H3 lysine 4 trimethylation``, ``Hep G2``);
- ``fuzzy``: a typo corrected to the closest valid label (``H3K3me3`` -> ``H3K4me3``); `score` is the rapidfuzz
  ratio and `candidates` every equally plausible correction;
- ``inferred``: the author left part of the label out (``K27``, ``H3K4``); `candidates` lists every valid reading
  and the canonical one is the most frequently profiled of them.

`score` is 0-100: 100 exact, 95 normalised, the rapidfuzz ratio for fuzzy, 80 (one reading) or 60 (several) for
inferred.
"""

from __future__ import annotations

from dataclasses import dataclass, field

EXACT, NORMALISED, FUZZY, INFERRED = "exact", "normalised", "fuzzy", "inferred"
HISTONE_MARK, NON_HISTONE, CONTROL, CELL_TYPE = "histone_mark", "non_histone", "control", "cell_type"
ASSAY = "assay"  # DNase-seq, ATAC-seq: what was measured when no antibody was used

SCORE_EXACT, SCORE_NORMALISED = 100.0, 95.0
SCORE_INFERRED_UNIQUE, SCORE_INFERRED_AMBIGUOUS = 80.0, 60.0


@dataclass(frozen=True)
class AntibodyLabel:
    """An antibody target read from text: a histone mark, a non-histone protein, an assay or a control."""

    canonical: str  # "H3K4me3", "CTCF", "DNase-seq", "input"
    raw: str  # the span as the author wrote it
    kind: str  # histone_mark | non_histone | assay | control
    method: str  # exact | normalised | fuzzy | inferred
    score: float  # 0-100
    candidates: tuple[str, ...] = ()  # every plausible reading, canonical first (fuzzy / inferred only)


@dataclass(frozen=True)
class CellTypeLabel:
    """A cell type read from text, named as the model's vocabulary (or the synonym table) names it."""

    canonical: str
    raw: str
    method: str
    score: float
    candidates: tuple[str, ...] = ()
    kind: str = CELL_TYPE
    ontology_id: str | None = None  # Cellosaurus, CL or UBERON identifier of what the author wrote
    ontology_label: str | None = None  # the ontology's label of `ontology_id`
    id_candidates: tuple[str, ...] = ()  # an ambiguous name: every identifier it may mean (`ontology_id` None)


@dataclass(frozen=True)
class Reading:
    """One source's reading, kept as evidence next to the one that was chosen."""

    source: str
    canonical: str
    raw: str
    method: str
    score: float


@dataclass(frozen=True)
class AuthorLabel:
    """The author's label for one group, from the most trusted source that has one."""

    group: str  # "antibody" | "assay" | "cell_type"
    canonical: str
    raw: str
    source: str  # "characteristics:<key>", "title", "source_name", "description" or "file_name"
    kind: str  # histone_mark | non_histone | assay | control | cell_type
    method: str
    score: float
    candidates: tuple[str, ...] = ()
    readings: tuple[Reading, ...] = field(default=())  # every source's reading, most trusted first
    ontology_id: str | None = None  # Cellosaurus / CL / UBERON for a cell type, HGNC for a protein target
    ontology_label: str | None = None  # the ontology's label of `ontology_id` (the HGNC symbol for a target)
    id_candidates: tuple[str, ...] = ()  # an ambiguous name: every identifier it may mean (`ontology_id` None)

    def accepts(self, label: str) -> bool:
        """True when `label` is this label or, for a fuzzy or inferred reading, one of its candidates."""
        return label == self.canonical or (self.method in (FUZZY, INFERRED) and label in self.candidates)
