"""Projection: region set -> BEDspace vector -> labels ranked per group.

Region-set vector = L2-normalised sum of the vectors of the distinct universe tokens it hits (StarSpace's cosine
semantics); a label's score is the cosine between that vector and the label's vector. Groups (antibody, cell type …)
are ranked separately, so an antibody never competes with a cell type. A prediction is *confident* when the top
label beats the runner-up by at least the margin threshold (0.1 in the BEDspace paper) — for models without a
calibration (format version 1, StarSpace imports). A calibrated model (version 2) instead gives each rank-1 call a
probability of being right and decides `confident` with the rules of `annotator.model.calibrate`; a call that is
not confident says why (`confidence_reason`: few_tokens, low_probability, no_known_label, or assay_not_chip when
the file looks like an assay without an antibody target, such as DNase-seq). A model with a verdict
(`annotator.model.verdict`) also gives every label of a group P(wrong): the probability that this label, written
by an author, is contradicted by the file — stored per rank as `predictions.p_wrong`, read by reconcile.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from annotator.config import DEFAULT_MARGIN_THRESHOLD
from annotator.errors import AnnotatorError
from annotator.model import verdict
from annotator.model.calibrate import decide_one
from annotator.model.classes import cross_group
from annotator.model.format import BedspaceModel
from annotator.regions.bed import DEFAULT_LIMITS, BedLimits, read_bed
from annotator.regions.build_check import STATUS_WRONG_BUILD, check_build
from annotator.tables import to_table

STATUS_OK, STATUS_NO_OVERLAP, STATUS_FAILED = "ok", "no_overlap", "failed"
#: Reason an antibody call is not confident when the assay group's confident top label is not ChIP-seq.
REASON_ASSAY_NOT_CHIP = "assay_not_chip"
_CHIP = "ChIP-seq"
_BED_SUFFIX = re.compile(r"(\.(bed|narrowpeak|broadpeak|bedgraph|txt|xls|tsv|csv|peaks?))*(\.gz)?$", re.IGNORECASE)


@dataclass(frozen=True)
class GroupRanking:
    """All labels of one group, best first."""

    group: str
    labels: tuple[str, ...]
    scores: np.ndarray  # float32, descending
    margin: float  # scores[0] - scores[1]; 0.0 for a one-label group (nothing to be confident against)
    confident: bool
    probability: float | None = None  # calibrated P(rank-1 is right); None for an uncalibrated model
    reason: str | None = None  # why the call is not confident (None when it is, or for an uncalibrated model)
    p_wrong: np.ndarray | None = None  # per ranked label: the verdict's P(wrong) were it an author's label


@dataclass(frozen=True)
class Projection:
    """Result of projecting one region-set file; `rankings` is empty unless status is "ok"."""

    sample_id: str
    file: str
    status: str
    reason: str | None = None
    file_sha256: str | None = None
    n_regions: int = 0
    n_regions_hit: int = 0
    n_tokens: int = 0
    coverage: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)
    rankings: dict[str, GroupRanking] = field(default_factory=dict)
    vector: np.ndarray | None = None  # unit region-set vector (float32) when status is "ok": the embeddings archive


def region_set_vector(model: BedspaceModel, token_ids: np.ndarray) -> np.ndarray | None:
    """L2-normalised sum of the model's vectors for `token_ids`; None when the model knows none of them."""
    rows = model.row_of_token[token_ids]
    rows = rows[rows >= 0]
    if rows.size == 0:
        return None
    total = np.zeros(model.dim, dtype=np.float32)
    for dims, vectors, index in model.token_blocks:  # only the non-zero part of each token: ~4x less to sum
        compact = index[rows]
        compact = compact[compact >= 0]
        if compact.size:  # a one-row sparse product sums the rows without copying them out (1.5-3x np.take)
            ones = np.ones(compact.shape[0], dtype=np.float32)
            picker = sp.csr_matrix((ones, compact, np.array([0, compact.shape[0]])), shape=(1, vectors.shape[0]))
            total[dims] = np.asarray(picker @ vectors).ravel()
    norm = float(np.linalg.norm(total))
    if not np.isfinite(norm) or norm == 0.0:
        return None
    return total / np.float32(norm)


def rank_labels(
    model: BedspaceModel,
    vector: np.ndarray,
    margin_threshold: float = DEFAULT_MARGIN_THRESHOLD,
    n_tokens: int | None = None,
    token_rows: np.ndarray | None = None,
) -> dict[str, GroupRanking]:
    """Cosine of `vector` (unit length) with every label, ranked within each group.

    With a calibrated model, `n_tokens` (known tokens the file hits) feeds the calibration; without it the
    calibration sees no token count and treats the file as too small to be confident. With a model that has a
    verdict, `token_rows` (the distinct rows of `token_vectors` the file hits) give every label its P(wrong).
    """
    out = {}
    vector = vector.astype(np.float32)
    overlap = None  # the file's tile overlap with every reference: the same for every group, computed once
    if token_rows is not None and model.verdict.get("groups") and model.reference_vectors is not None:
        by_row, sizes = model.reference_tiles_by_row
        overlap = verdict.overlap_of_rows(token_rows, by_row, sizes)
    for group, labels in model.groups.items():
        scores = model.unit_label_vectors[group] @ vector
        order = np.argsort(-scores, kind="stable")  # ties keep vocabulary order: deterministic
        ranked = scores[order].astype(np.float32)
        margin = float(ranked[0] - ranked[1]) if ranked.shape[0] > 1 else 0.0
        calibration = model.calibration.get(group)
        probability, reason = None, None
        confident = ranked.shape[0] > 1 and margin >= margin_threshold
        if calibration is not None:  # the features of calibrate.call_features, for one call
            top = float(ranked[0])
            block_norm = float(np.linalg.norm(vector[model.group_blocks[group]]))
            features = (top, margin, top / block_norm if block_norm > 0 else 0.0, block_norm,
                        math.log10(1.0 + (n_tokens or 0)))  # fmt: skip
            probability, confident, reason = decide_one(calibration, features, n_tokens or 0)
            confident = confident and ranked.shape[0] > 1
        wrong = _verdict(model, group, vector, scores, token_rows, overlap)
        out[group] = GroupRanking(group, tuple(labels[i] for i in order), ranked, margin, confident, probability,
                                  reason, None if wrong is None else wrong[order])  # fmt: skip
    assay = out.get("assay")
    if assay is not None and "antibody" in out and assay.confident and assay.labels[0] != _CHIP:
        ab = out["antibody"]  # DNase-seq, ATAC-seq …: no antibody target to be confident about
        out["antibody"] = dataclasses.replace(ab, confident=False, reason=REASON_ASSAY_NOT_CHIP)
    return out


def _verdict(model: BedspaceModel, group: str, vector: np.ndarray, scores: np.ndarray, token_rows: np.ndarray | None,
             overlap: np.ndarray | None) -> np.ndarray | None:  # fmt: skip
    """P(wrong) of every label of `group` in vocabulary order (`annotator.model.verdict`); None without a verdict
    or without the file's token rows (and so its tile `overlap` with the references)."""
    fitted = model.verdict.get("groups", {}).get(group)
    ref_ids = model.verdict_label_ids.get(group)
    if fitted is None or ref_ids is None or token_rows is None or overlap is None or model.reference_vectors is None:
        return None
    cross = model.group_blocks.get(cross_group(group), np.zeros(0, np.int64))
    features = verdict.features_of(scores[None, :], vector[None, :], overlap, model.group_blocks[group], cross,
                                   model.reference_vectors, ref_ids, np.array([token_rows.shape[0]]))  # fmt: skip
    return verdict.p_wrong(fitted, features)[0]


def project_file(
    model: BedspaceModel,
    path: str | os.PathLike[str],
    sample_id: str | None = None,
    margin_threshold: float = DEFAULT_MARGIN_THRESHOLD,
    limits: BedLimits = DEFAULT_LIMITS,
) -> Projection:
    """Project one BED-like file; a bad file (or one over `limits`) gives status "failed" with its reason."""
    path = Path(path)
    sample_id = sample_id or sample_id_for(path)
    try:
        regions = read_bed(path, model.universe.genome, limits)
    except AnnotatorError as exc:
        return Projection(sample_id, str(path), STATUS_FAILED, reason=str(exc))
    if (build := check_build(regions)).wrong:  # an hg38 file projected as hg19 would get a meaningless label
        return Projection(
            sample_id, str(path), STATUS_WRONG_BUILD, build.reason, None, len(regions), skipped=regions.skipped
        )
    tokens = model.universe.tokenize(regions, known=model.known_tokens)
    vector = region_set_vector(model, tokens.ids)
    status, reason, rankings = STATUS_OK, None, {}
    if vector is None:
        status = STATUS_NO_OVERLAP
        reason = f"none of {len(regions)} regions overlaps a token of model {model.name!r}"
    else:
        rows = model.row_of_token[tokens.ids]
        rankings = rank_labels(model, vector, margin_threshold, int(tokens.ids.shape[0]), np.unique(rows[rows >= 0]))
    return Projection(
        sample_id,
        str(path),
        status,
        reason=reason,
        n_regions=len(regions),
        n_regions_hit=tokens.n_regions_hit,
        n_tokens=int(tokens.ids.shape[0]),
        coverage=tokens.coverage,
        skipped=regions.skipped,
        rankings=rankings,
        vector=vector,
    )


def sample_id_for(path: Path) -> str:
    """File name without BED-ish extensions: `GSM1_H3K4me3_peaks.narrowPeak.gz` -> `GSM1_H3K4me3_peaks`."""
    return _BED_SUFFIX.sub("", path.name) or path.name


def to_predictions_table(projections: Iterable[Projection], model_digest: str, top_k: int | None = 5) -> pa.Table:
    """Long-format predictions (schema `predictions`): one row per sample x group x rank.

    A projection that is not "ok" gives a single row with null group/rank/label and its status and reason.
    `top_k=None` keeps every rank.
    """
    rows = []
    for p in projections:
        common = {
            "sample_id": p.sample_id,
            "file": p.file,
            "file_sha256": p.file_sha256,
            "coverage": p.coverage,
            "n_regions": p.n_regions,
            "n_regions_hit": p.n_regions_hit,
            "n_tokens": p.n_tokens,
            "n_skipped": sum(p.skipped.values()),
            "skipped_by_reason": json.dumps(p.skipped, sort_keys=True),
            "status": p.status,
            "reason": p.reason,
            "model_digest": model_digest,
        }
        if p.status != STATUS_OK:
            rows.append(common)
            continue
        for group, ranking in p.rankings.items():
            depth = len(ranking.labels) if top_k is None else min(top_k, len(ranking.labels))
            for rank in range(depth):
                rows.append(
                    {
                        **common,
                        "group": group,
                        "rank": rank + 1,
                        "label": ranking.labels[rank],
                        "score": float(ranking.scores[rank]),
                        "margin": ranking.margin,
                        "confident": ranking.confident,
                        "probability": ranking.probability if rank == 0 else None,
                        "confidence_reason": ranking.reason,
                        "p_wrong": None if ranking.p_wrong is None else float(ranking.p_wrong[rank]),
                    }
                )
    return to_table("predictions", rows)
