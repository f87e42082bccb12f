"""The flag of one sample x label group: the precedence rules of `annotator.reconcile` (its docstring lists them).

`decide` is pure: the author's label, the model's stored ranking (with the verdict's P(wrong) per rank) and the
group's vocabulary in, a flag with its one-line reason out. `label_evidence` is what the verdict says about one
label; reconcile writes it into the row's evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from annotator.config import Config
from annotator.flags import Flag
from annotator.labels import REPRESSIVE_MARKS, AuthorLabel
from annotator.labels.hierarchy import relation
from annotator.labels.records import ASSAY, CONTROL, FUZZY, HISTONE_MARK, NON_HISTONE
from annotator.rankings import Ranking

EVIDENCE_TOP = 5  # labels named as preferred, and top labels written into the evidence (at least near_miss_top_k)


@dataclass(frozen=True)
class Verdict:
    """The flag of one sample x group, its one-line reason and the author label it settled on."""

    flag: Flag
    reason: str
    author_label: str | None


@dataclass(frozen=True)
class LabelEvidence:
    """What the model's verdict says about the author's label (see `annotator.model.verdict`)."""

    label: str
    rank: int | None
    n_labels: int
    n_stored: int  # ranks the predictions table holds
    p_wrong: float | None  # None: the model has no verdict or the label is not among the stored ranks
    threshold: float | None
    prefers: tuple[str, ...]  # labels ranked above it (best first, at most EVIDENCE_TOP)

    @property
    def contradicted(self) -> bool:
        return self.p_wrong is not None and self.threshold is not None and self.p_wrong >= self.threshold

    def describe(self) -> str:
        """'ranked 96 of 100, P(wrong) 0.62 (flagged from 0.85)'."""
        where = f"ranked {self.rank} of {self.n_labels}" if self.rank else f"ranked below the {self.n_stored} stored"
        if self.p_wrong is None or self.threshold is None:
            return where
        return f"{where}, P(wrong) {self.p_wrong:.2f} (flagged from {self.threshold:.2f})"

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "rank": self.rank, "n_labels": self.n_labels,
                "p_wrong": None if self.p_wrong is None else round(self.p_wrong, 4), "threshold": self.threshold,
                "contradicted": self.contradicted, "prefers": list(self.prefers)}  # fmt: skip


def decide(
    author: AuthorLabel | None,
    ranking: Ranking,
    vocabulary: Sequence[str],
    config: Config,
    threshold: float | None = None,
) -> Verdict:
    """Flag one sample x group with a prediction, by the precedence in the module docstring.

    Parameters
    ----------
    author
        The author's label for the group, None when they gave none.
    ranking
        The model's stored ranks for the group (at least one), with the verdict's P(wrong) per rank if any.
    vocabulary
        The group's labels in the model.
    config
        ``margin_threshold`` and ``near_miss_top_k``.
    threshold
        The group's verdict threshold (None: the model has no verdict for the group).
    """
    top, top_score, margin = ranking.labels[0], ranking.scores[0], ranking.margin
    confident = ranking.confident(config.margin_threshold)
    p = f", p {ranking.probability:.2f}" if ranking.probability is not None else ""
    model_says = f"the model's top label is {top} ({top_score:.2f}, margin {margin:.3f}{p}{_confidence(confident)})"
    no_fit = f"no label the model knows fits this file; {model_says}"
    if author is None:
        if ranking.no_known_label:
            return Verdict(Flag.NO_KNOWN_LABEL, f"the authors gave no label and {no_fit}", None)
        if not confident:  # no default answer: an unconfident top label is the nearest label, not a suggestion
            return Verdict(Flag.MISSING_AUTHOR_LABEL, f"the authors gave no label and the model has no confident "
                           f"suggestion; {model_says}", None)  # fmt: skip
        return Verdict(Flag.MISSING_AUTHOR_LABEL, f"the authors gave no label; the model suggests {top}: {model_says}",
                       None)  # fmt: skip
    written = one_line(author.raw)
    corrections = author.candidates or (author.canonical,)  # a fuzzy cell-type reading has one correction
    if author.method == FUZZY and top in corrections:
        return Verdict(Flag.MISSPELLING, f"'{written}' is not a valid label but a typo of {top}; {model_says}", top)
    label = author.canonical
    readings = [c for c in dict.fromkeys((label, *author.candidates)) if c in vocabulary] if author.method != FUZZY \
        else ([label] if label in vocabulary else [])  # fmt: skip
    evidence = [label_evidence(r, ranking, vocabulary, threshold) for r in readings]
    if evidence and all(e.contradicted for e in evidence):
        worst = min(evidence, key=lambda e: e.p_wrong or 0.0)  # the reading the data contradict least
        prefers = ", ".join(worst.prefers) or top
        return Verdict(
            Flag.CONFIDENT_MISMATCH,
            f"the data contradict author label {worst.label} ({worst.describe()}); the model prefers {prefers}; "
            f"{model_says}",
            worst.label,
        )
    if author.accepts(top):
        how = "" if top == author.canonical else f" (read '{written}' as {top})"
        return Verdict(Flag.MATCH, f"author label agrees with the model{how}; {model_says}", top)
    if related := relation(author, top):  # HeLa vs HeLa-S3, liver vs HepG2: related in the ontologies
        return Verdict(Flag.MATCH, f"author label is related to the model's: {related}; {model_says}", author.canonical)
    if label not in vocabulary:
        what = {
            HISTONE_MARK: "a histone mark",
            NON_HISTONE: "a non-histone target",
            ASSAY: "an assay" if author.group == "assay" else "an assay (not an antibody)",
            CONTROL: "a control",
        }.get(author.kind, "a cell type")
        if label in REPRESSIVE_MARKS:
            return Verdict(
                Flag.REPRESSIVE_LOW_CONFIDENCE,
                f"author label {label} is a repressive mark the model was not trained on; {model_says}",
                label,
            )
        return Verdict(
            Flag.OUT_OF_VOCABULARY, f"author label {label} is {what} the model was not trained on; {model_says}", label
        )
    own = label_evidence(label, ranking, vocabulary, threshold)
    rank, where = own.rank, own.describe()
    has_verdict = own.p_wrong is not None and threshold is not None
    weak = "" if not has_verdict else " (not enough evidence against it to flag)"
    if ranking.no_known_label:
        return Verdict(Flag.NO_KNOWN_LABEL, f"author label {label} is {where}{weak}, but {no_fit}", label)
    if label in REPRESSIVE_MARKS and not confident:
        return Verdict(
            Flag.REPRESSIVE_LOW_CONFIDENCE,
            f"author label {label} is a repressive mark ({where}{weak}) and the model has no confident label; "
            f"{model_says}",
            label,
        )
    if rank is not None and 2 <= rank <= config.near_miss_top_k:
        gap = top_score - ranking.scores[rank - 1]
        if gap < config.margin_threshold:
            return Verdict(
                Flag.NEAR_MISS,
                f"author label {label} is {where}, {gap:.3f} below {top} (< {config.margin_threshold}); {model_says}",
                label,
            )
    if confident and not has_verdict:
        return Verdict(
            Flag.CONFIDENT_MISMATCH,
            f"model confidently prefers {top} over author label {label} ({where}); {model_says}",
            label,
        )
    return Verdict(Flag.LOW_CONFIDENCE, f"author label {label} is {where}{weak}; {model_says}", label)


def label_evidence(label: str, ranking: Ranking, vocabulary: Sequence[str], threshold: float | None) -> LabelEvidence:
    """The verdict's evidence about one label of the vocabulary (rank, P(wrong), the labels ranked above it)."""
    rank = ranking.rank_of(label)
    above = ranking.labels[: (rank - 1) if rank else len(ranking.labels)]
    return LabelEvidence(label, rank, len(vocabulary), len(ranking.labels), ranking.p_wrong_of(label), threshold,
                         tuple(above[:EVIDENCE_TOP]))  # fmt: skip


def _confidence(confident: bool) -> str:
    return ", confident" if confident else ", not confident"


def one_line(text: str) -> str:
    """Author text folded onto one line (reasons are one line; titles may hold newlines)."""
    return " ".join(text.split())
