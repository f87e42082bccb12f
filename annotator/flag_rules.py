"""The flag of one sample x label group: the precedence rules of `annotator.reconcile` (its docstring lists them).

`decide` is pure: the author's label, the model's stored ranking (with the verdict's P(wrong) per rank) and the
group's vocabulary in, a flag with its one-line reason out. `label_evidence` is what the verdict says about one
label; reconcile writes it into the row's evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotator.config import Config
from annotator.flags import Flag
from annotator.labels import REPRESSIVE_MARKS, AuthorLabel
from annotator.labels.hierarchy import relation
from annotator.labels.records import ASSAY, CONTROL, FUZZY, HISTONE_MARK, NON_HISTONE
from annotator.model.classes import cross_group, label_class
from annotator.rankings import Ranking

EVIDENCE_TOP = 5  # labels named as preferred, and top labels written into the evidence (at least near_miss_top_k)


@dataclass(frozen=True)
class Verdict:
    """The flag of one sample x group, its one-line reason and the author label it settled on."""

    flag: Flag
    reason: str
    author_label: str | None


@dataclass(frozen=True, eq=False)
class GroupVerdict:
    """A group's fitted verdict as reconcile applies it (`annotator.model.verdict`): the thresholds, and for every
    label the contexts its references were seen in (cell types of an antibody's training files, antibodies of a
    cell type's; "" for a file without one). Without `contexts` every label is judged alone: models whose verdict
    ships no references, or was fitted before labels were judged by class (no ``class_threshold`` entry)."""

    group: str
    threshold: float
    class_threshold: float | None = None
    contexts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _judgeable: dict[str | None, frozenset[str]] = field(default_factory=dict, init=False, repr=False)
    _classes: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _seen: frozenset[str] = field(default=frozenset(), init=False, repr=False)  # every context of any reference

    def __post_init__(self) -> None:
        object.__setattr__(self, "_seen", frozenset().union(*self.contexts.values()))

    @classmethod
    def from_model(cls, group: str, fitted: Mapping[str, Any], references: Mapping[str, Sequence[str | None]]
                   ) -> GroupVerdict:  # fmt: skip
        labels, context = references.get(group) or [], references.get(cross_group(group)) or []
        seen: dict[str, set[str]] = {}
        if len(labels) == len(context) and "class_threshold" in fitted:
            for label, where in zip(labels, context, strict=True):
                if label:
                    seen.setdefault(label, set()).add(where or "")
        class_threshold = fitted.get("class_threshold")
        return cls(group, float(fitted["threshold"]), None if class_threshold is None else float(class_threshold),
                   {k: frozenset(v) for k, v in seen.items()})  # fmt: skip

    def reliable(self, label: str, context: str | None) -> bool:
        """Whether `label` can be judged alone on a file from `context` (the author's label of the other group):
        its references span two or more contexts, or include this one."""
        if not self.contexts:
            return True
        return label in self.judgeable(context)

    def judgeable(self, context: str | None) -> frozenset[str]:
        """The labels that can be judged alone on a file from `context` (computed once per context: a night
        asks for the same few cell types again and again)."""
        if context not in self._seen:
            context = None  # a context no reference was seen in judges like none: the cache stays small
        if context not in self._judgeable:
            self._judgeable[context] = frozenset(
                label for label, seen in self.contexts.items() if len(seen) >= 2 or (context and context in seen)
            )
        return self._judgeable[context]

    def label_class(self, label: str) -> str:
        """`annotator.model.classes.label_class` of a label of this group (cached)."""
        if label not in self._classes:
            self._classes[label] = label_class(self.group, label)
        return self._classes[label]


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
    reliable: bool = True  # judged alone; else by its class (`GroupVerdict.reliable`)
    seen_in: tuple[str, ...] = ()  # the contexts the label's references come from (when not reliable)
    label_class: str | None = None
    class_p_wrong: float | None = None  # the class's P(wrong) (when not reliable)
    class_best: str | None = None  # the label of the class it comes from
    class_threshold: float | None = None

    @property
    def contradicted(self) -> bool:
        own = self.p_wrong is not None and self.threshold is not None and self.p_wrong >= self.threshold
        if self.reliable:
            return own
        return own and self.class_p_wrong is not None and self.class_threshold is not None and \
            self.class_p_wrong >= self.class_threshold  # fmt: skip

    def describe(self) -> str:
        """'ranked 96 of 100, P(wrong) 0.62 (flagged from 0.85)', or how its class was judged instead."""
        where = f"ranked {self.rank} of {self.n_labels}" if self.rank else f"ranked below the {self.n_stored} stored"
        if self.p_wrong is None or self.threshold is None:
            return where
        if self.reliable:
            return f"{where}, P(wrong) {self.p_wrong:.2f} (flagged from {self.threshold:.2f})"
        none = "files without a cell type" if self.label_class in ("tf", "active", "repressive") else \
            "files without an antibody"  # fmt: skip
        seen = ", ".join(s or none for s in self.seen_in) or "no training file"
        alone = f"{where}, P(wrong) {self.p_wrong:.2f}; the model knows {self.label} from {seen} only, so it is not " \
            "judged alone"  # fmt: skip
        if self.class_threshold is None:
            return f"{alone} and has no class to be judged by instead"
        if self.class_p_wrong is None:
            return f"{alone}, and its class cannot be judged from the stored ranks"
        kind = {"tf": "TF", "active": "active mark", "repressive": "repressive mark"}.get(self.label_class or "",
                                                                                        "label")  # fmt: skip
        return f"{alone} but by its class: the best-fitting {kind}, {self.class_best}, has P(wrong) " \
            f"{self.class_p_wrong:.2f} (flagged from {self.class_threshold:.2f})"  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        out = {"label": self.label, "rank": self.rank, "n_labels": self.n_labels,
               "p_wrong": None if self.p_wrong is None else round(self.p_wrong, 4), "threshold": self.threshold,
               "contradicted": self.contradicted, "prefers": list(self.prefers),
               "judged_alone": self.reliable}  # fmt: skip
        if not self.reliable:
            out |= {"seen_in": list(self.seen_in), "class": self.label_class, "class_best": self.class_best,
                    "class_p_wrong": None if self.class_p_wrong is None else round(self.class_p_wrong, 4),
                    "class_threshold": self.class_threshold}  # fmt: skip
        return out


def decide(
    author: AuthorLabel | None,
    ranking: Ranking,
    vocabulary: Sequence[str],
    config: Config,
    verdict: GroupVerdict | None = None,
    context: str | None = None,
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
    verdict
        The group's verdict (None: the model has no verdict for the group).
    context
        The author's label of the other group (`cross_group`: the cell type for an antibody), which decides
        whether a label the model knows from one context only can be judged alone.
    """
    threshold = None if verdict is None else verdict.threshold
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
    evidence = [label_evidence(r, ranking, vocabulary, verdict, context) for r in readings]
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
    own = label_evidence(label, ranking, vocabulary, verdict, context)
    rank, where = own.rank, own.describe()
    has_verdict = own.p_wrong is not None and threshold is not None
    never = not own.reliable and (own.class_threshold is None or own.class_p_wrong is None)  # said by `where`
    weak = "" if not has_verdict or never else " (not enough evidence against it to flag)"
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


def label_evidence(label: str, ranking: Ranking, vocabulary: Sequence[str], verdict: GroupVerdict | None,
                   context: str | None = None) -> LabelEvidence:  # fmt: skip
    """The verdict's evidence about one label of the vocabulary (rank, P(wrong), the labels ranked above it; for a
    label the model cannot judge alone, its class's P(wrong): the lowest among the class's labels that can be
    judged alone, or among all of them when none can — as `annotator.model.verdict.class_p_wrong`. Unknown (so
    never contradicted) when one of those labels is not among the stored ranks: ``project --top-k``)."""
    rank = ranking.rank_of(label)
    above = tuple(ranking.labels[: (rank - 1) if rank else len(ranking.labels)][:EVIDENCE_TOP])
    p_wrong = ranking.p_wrong_of(label)
    if verdict is None:
        return LabelEvidence(label, rank, len(vocabulary), len(ranking.labels), p_wrong, None, above)
    if verdict.reliable(label, context):
        return LabelEvidence(label, rank, len(vocabulary), len(ranking.labels), p_wrong, verdict.threshold, above)
    own_class = verdict.label_class(label)
    in_class = [lab for lab in vocabulary if verdict.label_class(lab) == own_class]
    judgeable = verdict.judgeable(context)
    stored = dict(zip(ranking.labels, ranking.p_wrong or (), strict=False))
    values = [(lab, stored.get(lab)) for lab in ([lab for lab in in_class if lab in judgeable] or in_class)]
    known = [(lab, p) for lab, p in values if p is not None]
    best = min(known, key=lambda m: m[1]) if known and len(known) == len(values) else None
    return LabelEvidence(
        label, rank, len(vocabulary), len(ranking.labels), p_wrong, verdict.threshold, above, reliable=False,
        seen_in=tuple(sorted(verdict.contexts.get(label, frozenset()))), label_class=own_class,
        class_p_wrong=None if best is None else best[1], class_best=None if best is None else best[0],
        class_threshold=verdict.class_threshold,
    )  # fmt: skip


def _confidence(confident: bool) -> str:
    return ", confident" if confident else ", not confident"


def one_line(text: str) -> str:
    """Author text folded onto one line (reasons are one line; titles may hold newlines)."""
    return " ".join(text.split())
