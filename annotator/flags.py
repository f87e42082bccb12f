"""The reconciliation flags: one enum, in the order a curator should look at them (most urgent first)."""

from __future__ import annotations

from enum import StrEnum


class Flag(StrEnum):
    """Verdict on one sample × label group, comparing the author's label with the model's ranking."""

    CONFIDENT_MISMATCH = "confident_mismatch"
    """The data contradict the author's label (its calibrated P(wrong) reached the model's verdict threshold, whatever
    the model's confidence in its own top label), or the labels of two samples of a series look swapped
    (``swapped_with``). Models without a verdict: the model confidently prefers another label."""
    MISSPELLING = "misspelling"
    """The raw author text is not a valid label but normalises or fuzzes to the model's top label."""
    NEAR_MISS = "near_miss"
    """Author label is ranked within the near-miss top-k and within the margin threshold of the top label."""
    REPRESSIVE_LOW_CONFIDENCE = "repressive_low_confidence"
    """Author label is a repressive mark and the model has no confident label for it (BEDspace Fig. S2D)."""
    NO_KNOWN_LABEL = "no_known_label"
    """The calibrated model finds that no label of its vocabulary fits the file (confidence_reason no_known_label):
    the true label is probably one the model was not trained on, or the file is not what its metadata says."""
    LOW_CONFIDENCE = "low_confidence"
    """No confident prediction and no agreement."""
    OUT_OF_VOCABULARY = "out_of_vocabulary"
    """A valid label the model was not trained on; the model's nearest label is reported."""
    MISSING_AUTHOR_LABEL = "missing_author_label"
    """The authors gave no label in this group; the model's suggestion is reported."""
    NO_PREDICTION = "no_prediction"
    """Projection failed or the region set had no overlap with the model; the reason is carried."""
    MATCH = "match"
    """Author label equals the model's top label, or the ontologies relate the two (a subline and its parent line,
    a cell type and a kind of it, a tissue and a line derived from it: `annotator.labels.hierarchy`)."""

    @property
    def urgency(self) -> int:
        """0 = look at this first."""
        return list(Flag).index(self)

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Flag.CONFIDENT_MISMATCH: "the data contradict the author's label (or two labels look swapped)",
    Flag.MISSPELLING: "author text is a misspelling of the model's top label",
    Flag.NEAR_MISS: "author label is a close runner-up to the model's top label",
    Flag.REPRESSIVE_LOW_CONFIDENCE: "repressive mark: the model has no confident label",
    Flag.NO_KNOWN_LABEL: "no label the model knows fits this file",
    Flag.LOW_CONFIDENCE: "no confident prediction and no agreement",
    Flag.OUT_OF_VOCABULARY: "valid label the model was not trained on",
    Flag.MISSING_AUTHOR_LABEL: "authors gave no label: the model's suggestion when it is confident",
    Flag.NO_PREDICTION: "projection failed or no overlap with the model",
    Flag.MATCH: "author label agrees with the model",
}
