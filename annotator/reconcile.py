"""Reconciliation: the authors' labels against the model's ranking, one flagged row per sample x label group.

Every `selected` sample of the samples table gets one row per model group in the annotations table. The flag is
the first of these rules that applies (the order is the precedence):

1. ``no_prediction`` — the sample has no ``ok`` projection (download or projection failed, no overlap) or no
   ranking for the group; the reason is carried.
2. ``missing_author_label`` — no field names a label of this group; the model's top label is reported as a
   suggestion only when it is confident (otherwise the reason says there is none: no default answer).
3. ``misspelling`` — the author's text is not a valid label but a typo of one (method ``fuzzy``), and the model's
   top label is one of its corrections (``H3K3me3`` -> ``H3K4me3``).
4. ``confident_mismatch`` — **the data contradict the author's label**: the model's verdict
   (`annotator.model.verdict`, stored per label as ``predictions.p_wrong``) gives the label a probability of being
   wrong at or above the group's threshold (every reading of an inferred label). This is decided from the evidence
   about the author's label itself — its rank and score, its gap to the top, the training files of that label that
   look like the file — whether or not the model is confident about its own top label, and it comes before
   ``match``: a label the verdict contradicts is never called a match, even when it happens to rank first.
5. ``match`` — the author's label is the model's top label (for an *inferred* label such as ``K27``: the top label
   is one of its readings), confident or not.
6. ``repressive_low_confidence`` — a repressive mark (`REPRESSIVE_MARKS`) the model was not trained on.
7. ``out_of_vocabulary`` — any other label the model was not trained on (``H3K18ac``, ``CTCF``, an input
   control, ``Kasumi-1``); the model's nearest label is reported.
8. ``no_known_label`` — the calibrated model says no label of its vocabulary fits the file (predictions'
   ``confidence_reason`` is ``no_known_label``) and the verdict does not contradict the author's label.
9. ``repressive_low_confidence`` — a repressive mark, and the model has no confident label. This comes before
   ``near_miss``: for repressive marks the model's top label is itself unreliable (the BEDspace paper found no
   confident label for them, Fig. S2D), so "the authors probably meant the runner-up" would mislead a curator.
10. ``near_miss`` — the author's label is ranked 2..`near_miss_top_k` and less than `margin_threshold` below the
    top label (the paper's GSM5455054: H3K27ac behind H3K9ac).
11. ``confident_mismatch`` — only for a model without a verdict for the group (or predictions that do not store
    the author label's rank): the model confidently (margin >= `margin_threshold`) prefers another label.
12. ``low_confidence`` — anything else: the author's label is not the top label and the evidence against it is
    too weak to flag.

Rules 8 to 12 never say a label is supported: when the model has a verdict, their reasons give the author label's
rank (e.g. "ranked 96 of 100") and its P(wrong) against the threshold, so a curator sees how much evidence there
is against it even when it is not enough to flag. When the authors gave no label, ``no_known_label`` replaces
``missing_author_label`` if no label the model knows fits the file, since the model's suggestion is then worthless.

Then, across the whole night (`reconcile_workdir`): two samples of one series whose author labels each fit the other's
data far better (`annotator.swaps`) are both flagged ``confident_mismatch``, whatever their flag was, with a reason
naming the partner ("labels of GSM_A and GSM_B look swapped: …") and the partner's sample id in ``swapped_with``.

For a calibrated model (predictions carry a ``probability``) `confident` is the stored calibrated decision; for an
uncalibrated one it is recomputed from the stored margin with `Config.margin_threshold`, so the flags and the
thresholds written into each row's evidence always agree. The predictions table may hold only the top-k ranks: an author
label in the vocabulary but not among the stored ranks has rank greater than the stored depth (never a near miss),
a null `author_rank` and no verdict (rule 4 needs its stored ``p_wrong``; `annotator run` stores every rank).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotator.config import Config
from annotator.embeddings import EmbeddingArchive
from annotator.errors import ModelError, SchemaError
from annotator.flag_rules import EVIDENCE_TOP, GroupVerdict, decide, label_evidence, one_line
from annotator.flags import Flag
from annotator.labels import AuthorLabel, extract_labels
from annotator.labels.extract import identifier_columns
from annotator.model.classes import cross_group
from annotator.progress import NULL_PROGRESS, Progress
from annotator.rankings import Prediction, Ranking, chunk_predictions, predictions_by_sample, row_group_spans
from annotator.reconcile_swaps import SWAP_GROUPS, SwapCandidates, SwapNote, apply_swaps, find_night_swaps
from annotator.tables import TableWriter, read_columns, read_table, to_table

__all__ = ["Flag", "LabelModel", "Ranking", "ReconcileResult", "decide", "reconcile", "reconcile_workdir"]

_STATUS_OK = "ok"
#: Groups whose author labels `extract_labels` reads (the assay from the library strategy or the text). A model group
#: outside them has nothing to reconcile against: every row would be `missing_author_label`, so it is left to the
#: predictions table.
AUTHOR_LABEL_GROUPS = frozenset({"antibody", "assay", "cell_type"})


class LabelModel(Protocol):
    """What reconciliation needs of a model (a `BedspaceModel` has it)."""

    @property
    def groups(self) -> Mapping[str, Sequence[str]]: ...

    @property
    def digest(self) -> str: ...


def reconcile(
    samples: pa.Table,
    predictions: pa.Table,
    groups: Mapping[str, Sequence[str]],
    config: Config,
    model_digest: str | None = None,
    progress: Progress = NULL_PROGRESS,
    verdict_thresholds: Mapping[str, GroupVerdict] | None = None,
) -> pa.Table:
    """Annotations table (schema ``annotations``): every selected sample x model group with author labels, flagged.

    Parameters
    ----------
    samples
        The samples table (harvest); only rows with ``selected`` true are reconciled.
    predictions
        The predictions table (projection), long format; top-k or all ranks.
    groups
        The model's label groups, group -> vocabulary.
    config
        ``margin_threshold``, ``near_miss_top_k`` and the fuzzy thresholds, all written into the evidence.
    model_digest
        Digest written into each row; defaults to the digest in the sample's predictions.
    progress
        Progress reporter, one step per sample.
    verdict_thresholds
        Per group, the model's verdict: the P(wrong) from which it contradicts an author label, and which labels it
        can judge alone (`verdict_thresholds(model)`); a group without one is flagged by the rules for models
        without a verdict.
    """
    cuts = dict(verdict_thresholds or {})
    by_sample = predictions_by_sample(predictions)
    selected = samples.filter(pc.equal(samples["selected"], True)).to_pylist()
    thresholds = _thresholds(config)
    rows: list[dict[str, Any]] = []
    with progress.task("reconcile", total=len(selected)) as task:
        for sample in selected:
            authors = extract_labels(sample, groups, config)
            identifiers = identifier_columns(authors)
            prediction = by_sample.get(sample["sample_id"])
            digest = model_digest or (prediction.model_digest if prediction else None)
            for group, vocabulary in groups.items():
                if group not in AUTHOR_LABEL_GROUPS:
                    continue
                context = authors.get(cross_group(group))
                row = _annotate(sample, group, vocabulary, authors.get(group), prediction, config, thresholds, digest,
                                cuts.get(group), context.canonical if context else None)
                rows.append({**row, **identifiers})
            task.advance()
    return to_table("annotations", rows)


@dataclass(frozen=True)
class ReconcileResult:
    """What `reconcile_workdir` wrote: the annotations file, its row count, the rows per flag and the pairs of
    samples whose labels look swapped."""

    path: Path
    n_rows: int
    flags: dict[str, int]
    swap_pairs: int = 0


def callable_groups(model: LabelModel) -> dict[str, Sequence[str]]:
    """The model's groups that reconcile compares: a group whose calibrated threshold is 1.0 can never be called
    confidently (no threshold kept its held-out calls right often enough: the bundled model's `assay` group ranks
    ChIP-seq first even for DNase files), so comparing it would only produce rows that say nothing true."""
    calibration = getattr(model, "calibration", None) or {}
    never = {g for g, c in calibration.items() if isinstance(c, dict) and (c.get("threshold") or 0.0) >= 1.0}
    return {g: labels for g, labels in model.groups.items() if g not in never}


def verdict_thresholds(model: LabelModel) -> dict[str, GroupVerdict]:
    """Per group with a fitted verdict, the P(wrong) from which an author label counts as contradicted, and the
    contexts of its labels' references (`GroupVerdict`)."""
    stored = getattr(model, "verdict", None) or {}
    fitted, references = stored.get("groups") or {}, stored.get("references") or {}
    return {g: GroupVerdict.from_model(g, v, references) for g, v in fitted.items()
            if isinstance(v, dict) and "threshold" in v}  # fmt: skip


def reconcile_workdir(
    workdir: Path, model: LabelModel, config: Config, progress: Progress = NULL_PROGRESS, chunk_size: int = 256
) -> ReconcileResult:
    """Reconcile ``WORKDIR/samples.parquet`` with ``WORKDIR/predictions.parquet`` into
    ``WORKDIR/annotations.parquet``.

    Samples are reconciled `chunk_size` at a time, each chunk reading only its own prediction rows (from the row
    groups that hold them: `row_group_spans`) and appending its annotations to the output, so memory does not
    grow with the size of the night. Projection writes predictions in about the samples' order, so a night costs
    about one pass over them; predictions in random order cost one pass per chunk, never more memory.

    Raises
    ------
    SchemaError
        A table is missing or was written by an incompatible annotator.
    ModelError
        The predictions were made by another model than `model`.
    """
    workdir = Path(workdir)
    pred_path = workdir / "predictions.parquet"
    samples = read_table("samples", workdir / "samples.parquet")
    read_columns("predictions", pred_path, [])  # schema version check and a clear error when missing
    made_by = _model_digests(pred_path)
    if model.digest and made_by - {model.digest}:
        raise ModelError(
            f"{pred_path} was made by model {sorted(made_by)[0][:12]}…, not by the given model "
            f"{model.digest[:12]}…: pass the model that made it with --model, or re-run `annotator project`"
        )
    selected = samples.filter(pc.fill_null(samples["selected"], False))
    del samples
    groups = callable_groups(model)
    ids = selected.column("sample_id").combine_chunks()
    spans = row_group_spans(pred_path, ids)
    flags: Counter[str] = Counter()
    out = workdir / "annotations.parquet"
    candidates = SwapCandidates()
    sha256_of = dict(zip(ids.to_pylist(), selected.column("sha256").to_pylist(), strict=True))
    with (
        TableWriter("annotations", out) as writer,
        pq.ParquetFile(pred_path) as pf,
        progress.task("reconcile", total=selected.num_rows) as task,
    ):
        cuts = verdict_thresholds(model)  # one per night: its caches of judgeable labels last the whole night
        for start in range(0, selected.num_rows, chunk_size):
            chunk = selected.slice(start, chunk_size)
            stop = start + chunk.num_rows
            groups_needed = [i for i, (lo, hi) in enumerate(spans) if lo < stop and hi >= start]
            predictions = chunk_predictions(pf, groups_needed, ids, start, stop)
            table = reconcile(chunk, predictions, groups, config, model.digest or None, verdict_thresholds=cuts)
            writer.write(table)
            flags.update(table.column("flag").to_pylist())
            candidates.add(table, sha256_of, SWAP_GROUPS)
            task.advance(chunk.num_rows)
        n_rows = writer.n_rows
    del sha256_of
    label_vectors = getattr(model, "label_vectors", None)  # a model without vectors (test doubles): no swap check
    notes: dict[tuple[str, str], SwapNote] = {}
    if label_vectors is not None and len(candidates) > 1:
        archive = EmbeddingArchive(workdir, model.digest)
        notes = find_night_swaps(candidates, label_vectors, groups, archive, config.swap_min_gain)
        flags.update(apply_swaps(out, notes))
    return ReconcileResult(out, n_rows, {k: v for k, v in flags.most_common() if v}, len(notes) // 2)


def _model_digests(path: Path) -> set[str]:
    """Distinct model digests of a predictions file, one batch at a time."""
    if not path.exists():
        raise SchemaError(f"{path} does not exist: run `annotator project --workdir` first")
    seen: set[str] = set()
    with pq.ParquetFile(path) as pf:
        for batch in pf.iter_batches(columns=["model_digest"], use_threads=False):
            seen.update(v for v in pc.unique(batch.column(0)).to_pylist() if v)
    return seen


def _annotate(
    sample: Mapping[str, Any],
    group: str,
    vocabulary: Sequence[str],
    author: AuthorLabel | None,
    prediction: Prediction | None,
    config: Config,
    thresholds: dict[str, Any],
    model_digest: str | None,
    group_verdict: GroupVerdict | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """One annotations row."""
    ranking = prediction.rankings.get(group) if prediction and prediction.status == _STATUS_OK else None
    evidence: dict[str, Any] = {"thresholds": thresholds, "author": _author_evidence(author)}
    row: dict[str, Any] = {
        "sample_id": sample["sample_id"],
        "gsm": sample.get("gsm"),
        "gse": sample.get("gse"),
        "title": sample.get("title"),
        "group": group,
        "author_label_raw": author.raw if author else None,
        "author_label": author.canonical if author else None,
        "author_source": author.source if author else None,
        "author_method": author.method if author else None,
        "author_label_score": author.score if author else None,
        "author_label_kind": author.kind if author else "none",
        "model_digest": model_digest,
    }
    if ranking is None:
        reason = _no_prediction_reason(sample, group, prediction)
        evidence["prediction"] = {"status": prediction.status if prediction else None, "reason": reason}
        return {**row, "flag": Flag.NO_PREDICTION.value, "reason": reason, "evidence": _json(evidence)}
    verdict = decide(author, ranking, vocabulary, config, group_verdict, context)
    rank = ranking.rank_of(verdict.author_label) if verdict.author_label else None
    judged = verdict.author_label is not None and verdict.author_label in vocabulary and author is not None
    if judged:
        assert verdict.author_label is not None
        evidence["verdict"] = label_evidence(verdict.author_label, ranking, vocabulary, group_verdict,
                                             context).to_json()  # fmt: skip
    shown = max(EVIDENCE_TOP, config.near_miss_top_k)
    evidence["top"] = [
        {"label": lab, "score": round(s, 4)}
        for lab, s in zip(ranking.labels[:shown], ranking.scores[:shown], strict=True)
    ]
    evidence["stored_ranks"] = len(ranking.labels)
    return {
        **row,
        "author_label": verdict.author_label if author else None,
        "predicted_label": ranking.labels[0],
        "predicted_score": ranking.scores[0],
        "margin": ranking.margin,
        "confident": ranking.confident(config.margin_threshold),
        "author_rank": rank,
        "author_score": ranking.scores[rank - 1] if rank else None,
        "author_p_wrong": ranking.p_wrong_of(verdict.author_label) if judged and verdict.author_label else None,
        "flag": verdict.flag.value,
        "reason": verdict.reason,
        "evidence": _json(evidence),
    }


def _no_prediction_reason(sample: Mapping[str, Any], group: str, prediction: Prediction | None) -> str:
    if prediction is None:
        failed = sample.get("download_error")
        if failed:
            return f"not projected: {one_line(failed)}"
        if sample.get("download_status") == "not_attempted":
            return "not downloaded: harvested with --metadata-only (harvest again without it to get the file)"
        return "not projected: no row in the predictions table (run `annotator project` on this workdir)"
    if prediction.status != _STATUS_OK:
        return f"{prediction.status}: {one_line(prediction.reason or 'no reason given')}"
    return f"the predictions hold no ranking for group {group!r}: were they made with another model?"


def _author_evidence(author: AuthorLabel | None) -> dict[str, Any] | None:
    if author is None:
        return None
    return {
        "source": author.source,
        "raw": author.raw,
        "canonical": author.canonical,
        "kind": author.kind,
        "method": author.method,
        "score": author.score,
        "candidates": list(author.candidates),
        "readings": [
            {"source": r.source, "canonical": r.canonical, "raw": r.raw, "method": r.method, "score": r.score}
            for r in author.readings
        ],
    }


def _thresholds(config: Config) -> dict[str, Any]:
    return {
        "margin_threshold": config.margin_threshold,
        "near_miss_top_k": config.near_miss_top_k,
        "antibody_fuzzy_threshold": config.antibody_fuzzy_threshold,
        "cell_type_fuzzy_threshold": config.cell_type_fuzzy_threshold,
    }


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
