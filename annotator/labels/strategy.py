"""The assay a GEO sample's library strategy names (``!Sample_library_strategy``), spelled the way models spell it.

GEO's library strategy is a controlled list (``ChIP-Seq``, ``DNase-Hypersensitivity``, ``ATAC-seq``, ``MNase-Seq``
…); the canonical assay names follow the shared vocabulary (``ChIP-seq``, ``DNase-seq``, ``ATAC-seq``: lower-case
``-seq``). ``OTHER``, an empty value and anything off the list name no assay.
"""

from __future__ import annotations

import re

from annotator.labels.records import ASSAY, EXACT, NORMALISED, SCORE_EXACT, SCORE_NORMALISED, AntibodyLabel

#: GEO library strategies (compared without case and punctuation) -> canonical assay.
_STRATEGY_ASSAYS = {
    "chipseq": "ChIP-seq",
    "dnasehypersensitivity": "DNase-seq",
    "dnaseseq": "DNase-seq",
    "atacseq": "ATAC-seq",
    "mnaseseq": "MNase-seq",
    "faireseq": "FAIRE-seq",
    "medipseq": "MeDIP-seq",
    "mbdseq": "MBD-seq",
    "mreseq": "MRE-seq",
    "bisulfiteseq": "Bisulfite-seq",
    "bisulfiteseqreducedrepresentation": "Bisulfite-seq",
    "chiapet": "ChIA-PET",
    "hic": "Hi-C",
    "ripseq": "RIP-seq",
    "rnaseq": "RNA-seq",
    "tnseq": "Tn-seq",
    "selex": "SELEX",
}
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_MAX_LEN = 60  # GEO's values are short; a long one is not from the list


def strategy_assay(value: object) -> AntibodyLabel | None:
    """The assay `value` (a library strategy) names, or None.

    >>> strategy_assay("DNase-Hypersensitivity").canonical
    'DNase-seq'
    >>> strategy_assay("OTHER") is None
    True
    """
    if not isinstance(value, str) or len(value) > _MAX_LEN:
        return None
    raw = " ".join(value.split())
    canonical = _STRATEGY_ASSAYS.get(_NOT_ALNUM.sub("", raw.lower()))
    if canonical is None:
        return None
    method, score = (EXACT, SCORE_EXACT) if raw == canonical else (NORMALISED, SCORE_NORMALISED)
    return AntibodyLabel(canonical, raw, ASSAY, method, score)
