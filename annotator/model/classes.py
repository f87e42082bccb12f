"""Classes of labels and the group that gives a label its context (pure, no numpy: reconcile imports it).

A label the model has seen in one context only — an antibody in one cell type, a cell type with one antibody —
cannot be judged on its own (`annotator.model.verdict`); its class can. The classes are the ones curators tell
apart at a glance: an active or a repressive histone mark, or a transcription factor.
"""

from __future__ import annotations

#: Marks of repressed or broad domains (H3K36me3 covers broad gene bodies and behaves the same way): the
#: "repressive" `label_class`, and `annotator.labels.REPRESSIVE_MARKS`.
REPRESSIVE = frozenset({"H3K27me3", "H3K27me2", "H3K9me3", "H3K9me2", "H4K20me3", "H2AK119ub1", "H3K36me3"})


def label_class(group: str, label: str) -> str:
    """Class of a label: "repressive" or "active" histone mark or "tf" for an antibody; the group's name else."""
    if group != "antibody":
        return group
    if label in REPRESSIVE:
        return "repressive"
    return "active" if label[:2] in ("H2", "H3", "H4") else "tf"


def cross_group(group: str) -> str:
    """The group that gives a label its context: cell type for an antibody, antibody for the rest."""
    return "cell_type" if group == "antibody" else "antibody"
