"""The model's stored rankings as reconcile reads them back from the long predictions table.

One `Prediction` per sample (status, reason, model digest) holding one `Ranking` per group: the stored ranks best
first, the margin, and for calibrated models the stored `confident` decision, the rank-1 probability and the
`confidence_reason` (`annotator.project`). `row_group_spans` and `chunk_predictions` read the rows of a chunk of
samples from the row groups that hold them, so reconcile never holds a whole night's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotator.schema import TABLES
from annotator.tables import with_added_columns

_STATUS_OK = "ok"
NO_KNOWN_LABEL_REASON = "no_known_label"  # annotator.model.calibrate.REASON_NO_KNOWN_LABEL


@dataclass(frozen=True)
class Ranking:
    """The stored ranks of one sample x group, best first."""

    labels: tuple[str, ...]
    scores: tuple[float, ...]
    margin: float
    calibrated_confident: bool | None = None  # the stored calibrated decision; None for uncalibrated models
    probability: float | None = None
    confidence_reason: str | None = None
    p_wrong: tuple[float | None, ...] | None = None  # the verdict's P(wrong) per stored rank; None without one

    def confident(self, margin_threshold: float) -> bool:
        """The calibrated decision when there is one, else the margin rule."""
        if self.calibrated_confident is not None:
            return self.calibrated_confident
        return self.margin >= margin_threshold

    @property
    def no_known_label(self) -> bool:
        return self.confidence_reason == NO_KNOWN_LABEL_REASON

    def rank_of(self, label: str) -> int | None:
        """1-based rank of `label`, None when it is not among the stored ranks."""
        return self.labels.index(label) + 1 if label in self.labels else None

    def p_wrong_of(self, label: str) -> float | None:
        """The verdict's P(`label` is wrong), None when the model has no verdict or the label is not stored."""
        rank = self.rank_of(label)
        return self.p_wrong[rank - 1] if self.p_wrong is not None and rank is not None else None


@dataclass(frozen=True)
class Prediction:
    """Everything the predictions table says about one sample."""

    status: str
    reason: str | None
    rankings: dict[str, Ranking]
    model_digest: str | None


def predictions_by_sample(predictions: pa.Table) -> dict[str, Prediction]:
    """Group the long predictions table by sample, each group's ranks sorted best first."""
    names = ("sample_id", "group", "rank", "label", "score", "margin", "status", "reason", "model_digest")
    columns = {name: predictions[name].to_pylist() for name in names}
    n = predictions.num_rows
    extra = {  # calibration columns (absent from tables written before they existed)
        name: predictions[name].to_pylist() if name in predictions.column_names else [None] * n
        for name in ("confident", "probability", "confidence_reason", "p_wrong")
    }
    ranks: dict[str, dict[str, list[tuple[int, str, float, float, float | None]]]] = {}
    calls: dict[tuple[str, str], tuple[bool | None, float | None, str | None]] = {}
    heads: dict[str, tuple[str, str | None, str | None]] = {}
    rows = zip(*columns.values(), *extra.values(), strict=True)
    for sid, group, rank, label, score, margin, status, reason, digest, confident, prob, why, wrong in rows:
        if sid not in heads or status != _STATUS_OK:  # a failed row wins over ok rows of the same sample
            heads[sid] = (status, reason, digest)
        if status == _STATUS_OK and group is not None and label is not None and rank is not None:
            ranks.setdefault(sid, {}).setdefault(group, []).append((rank, label, score, margin or 0.0, wrong))
            if rank == 1 and prob is not None:
                calls[(sid, group)] = (bool(confident), float(prob), why)
    out = {}
    for sid, (status, reason, digest) in heads.items():
        rankings = {}
        for group, items in ranks.get(sid, {}).items():
            items.sort()
            calibrated, prob, why = calls.get((sid, group), (None, None, None))
            wrongs = tuple(item[4] for item in items)
            rankings[group] = Ranking(
                labels=tuple(item[1] for item in items),
                scores=tuple(float(item[2]) for item in items),
                margin=float(items[0][3]),
                calibrated_confident=calibrated,
                probability=prob,
                confidence_reason=why,
                p_wrong=None if all(w is None for w in wrongs) else wrongs,
            )
        out[sid] = Prediction(status, reason, rankings, digest)
    return out


#: The predictions columns reconcile reads (`annotator.rankings.predictions_by_sample`).
_PREDICTION_COLUMNS = [
    "sample_id", "group", "rank", "label", "score", "margin", "status", "reason", "model_digest", "confident",
    "probability", "confidence_reason", "p_wrong",
]  # fmt: skip


def row_group_spans(path: Path, ids: pa.Array) -> list[tuple[int, int]]:
    """Per row group of the predictions file, the lowest and highest position in `ids` of the samples it holds
    ((len, -1) when none): one pass over the sample ids, two integers per row group whatever the night's size."""
    spans = []
    with pq.ParquetFile(path) as pf:
        for i in range(pf.num_row_groups):
            where = pc.index_in(pf.read_row_group(i, columns=["sample_id"]).column(0), value_set=ids).drop_null()
            if len(where):
                bounds = pc.min_max(where).as_py()
                spans.append((int(bounds["min"]), int(bounds["max"])))
            else:
                spans.append((len(ids), -1))
    return spans


def chunk_predictions(pf: pq.ParquetFile, row_groups: list[int], ids: pa.Array, start: int, stop: int) -> pa.Table:
    """The prediction rows of the samples at positions [start, stop) of `ids`, read from `row_groups` only."""
    schema = TABLES["predictions"]
    target = pa.schema([schema.field(c) for c in _PREDICTION_COLUMNS])
    parts = []
    for i in row_groups:
        part = pf.read_row_group(i, columns=_PREDICTION_COLUMNS, use_threads=False)
        where = pc.index_in(part.column("sample_id"), value_set=ids)
        keep = pc.fill_null(pc.and_(pc.greater_equal(where, start), pc.less(where, stop)), False)
        part = with_added_columns("predictions", part, _PREDICTION_COLUMNS).select(_PREDICTION_COLUMNS)  # a v1 file
        parts.append(part.filter(keep).cast(target))
    return pa.concat_tables(parts) if parts else target.empty_table()
