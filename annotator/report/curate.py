"""The curator views of the report (pure): confusion matrices, the calibration view and CSV rows.

* **Confusion matrix** per label group: author label (rows) × the model's top label (columns), counting review rows
  where both exist; a cell filters the review table to its rows. Only the most frequent labels get their own row or
  column, so a large vocabulary stays a readable SVG; the rest are summed into "other".
* **Calibration**: of the rows whose author label maps to the vocabulary, how often the model's top label equals it,
  by margin bucket (buckets at or above the confidence threshold are the confident calls), and by calibrated
  probability bucket when the annotations or predictions carry a probability column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from annotator.flags import Flag
from annotator.report.csvsafe import escape_cell
from annotator.report.details import group_title
from annotator.report.display import clip

MAX_MATRIX_LABELS = 24
OTHER = "other"
CELL, LABEL_W, HEAD_H = 26, 150, 110  # matrix geometry in SVG user units
MARGIN_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
PROBABILITY_EDGES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
#: Flags whose rows are not compared with the model (a no_prediction row still maps when its author label is one of
#: the model's labels: see `annotator.report.view`'s docstring).
NOT_MAPPABLE = frozenset({Flag.OUT_OF_VOCABULARY, Flag.MISSING_AUTHOR_LABEL, Flag.NO_PREDICTION})

_CLIPPED = frozenset({"title", "author_label_raw", "reason"})
#: The review-table columns "Download CSV" writes, in order (`csv_row` gives the values).
CSV_COLUMNS = (
    "sample_id", "gsm", "gse", "title", "group", "author_label_raw", "author_label", "predicted_label",
    "predicted_score", "margin", "confident", "flag", "reason", "swapped_with",
)  # fmt: skip


def confusion_matrices(rows: Sequence[Mapping[str, Any]], groups: Sequence[str]) -> list[dict[str, Any]]:
    """One matrix per group that has rows with both an author and a predicted label.

    A row may stand for ``n`` rows (`pair_counts`: one row per distinct pair), so a night of any size costs a
    matrix its vocabulary, not its samples. Each matrix: ``group``, ``title``, ``authors`` and ``predicted``
    (axis labels, most frequent first, ``other`` last when labels were folded), ``cells`` ({author, predicted,
    count, x, y, opacity, diagonal, clickable}), ``n`` (rows counted), ``width`` and ``height`` (SVG size).
    """
    out = []
    for group in groups:
        pairs: Counter[tuple[str, str]] = Counter()
        for r in rows:
            if r["group"] == group and r["author_label"] is not None and r["predicted_label"] is not None:
                pairs[(r["author_label"], r["predicted_label"])] += r.get("n", 1)
        if not pairs:
            continue
        # both axes follow one order (most frequent label first, counting both sides), so agreement is a diagonal
        by_author: Counter[str] = Counter()
        by_predicted: Counter[str] = Counter()
        counts: Counter[tuple[str, str]] = Counter()
        for (a, p), n in pairs.items():
            by_author[a] += n
            by_predicted[p] += n
        both = by_author + by_predicted
        authors, authors_folded = _axis(by_author, both)
        predicted, predicted_folded = _axis(by_predicted, both)
        for (a, p), n in pairs.items():
            counts[(_fold(a, authors, authors_folded), _fold(p, predicted, predicted_folded))] += n
        biggest = max(counts.values())
        cells = []
        for (a, p), n in sorted(counts.items(), key=lambda kv: (authors.index(kv[0][0]), predicted.index(kv[0][1]))):
            cells.append(
                {
                    "author": a,
                    "predicted": p,
                    "count": n,
                    "x": LABEL_W + CELL * predicted.index(p),
                    "y": HEAD_H + CELL * authors.index(a),
                    "opacity": round(0.15 + 0.85 * n / biggest, 3),
                    "diagonal": a == p,
                    "clickable": not (authors_folded and a == OTHER) and not (predicted_folded and p == OTHER),
                }
            )
        out.append(
            {
                "group": group,
                "title": group_title(group),
                "authors": [{"label": a, "y": HEAD_H + CELL * i} for i, a in enumerate(authors)],
                "predicted": [{"label": p, "x": LABEL_W + CELL * i} for i, p in enumerate(predicted)],
                "cells": cells,
                "n": pairs.total(),
                "n_agree": sum(n for (a, p), n in pairs.items() if a == p),
                "width": LABEL_W + CELL * len(predicted) + 90,  # room for the last rotated column label
                "height": HEAD_H + CELL * len(authors) + 4,
                "cell": CELL,
                "label_x": LABEL_W - 6,
                "folded": authors_folded or predicted_folded,
            }
        )
    return out


def _axis(counts: Counter[str], order: Counter[str]) -> tuple[list[str], bool]:
    """Axis labels by `order` (most frequent first, then alphabetical); beyond MAX_MATRIX_LABELS the rarest on
    this axis fold into OTHER."""
    ranked = sorted(counts, key=lambda k: (-order[k], k))
    if len(ranked) > MAX_MATRIX_LABELS:
        kept = set(sorted(counts, key=lambda k: (-counts[k], k))[: MAX_MATRIX_LABELS - 1])
        return [k for k in ranked if k in kept] + [OTHER], True
    return ranked, False


def _fold(label: str, axis: Sequence[str], folded: bool) -> str:
    kept = axis[:-1] if folded else axis
    return label if label in kept else OTHER


def pair_counts(light: pa.Table) -> list[dict[str, Any]]:
    """Rows {group, author_label, predicted_label, n}: the distinct label pairs of an annotations table and how
    many rows have each, computed in Arrow (what `confusion_matrices` needs, whatever the number of rows)."""
    both = pc.and_(pc.is_valid(light.column("author_label")), pc.is_valid(light.column("predicted_label")))
    keys = ["group", "author_label", "predicted_label"]
    counted = light.filter(both).select(keys).group_by(keys).aggregate([([], "count_all")])
    return [{**r, "n": r.pop("count_all")} for r in counted.to_pylist()]


def calibration(
    rows: Sequence[Mapping[str, Any]],
    groups: Sequence[str],
    margin_threshold: float | None,
    probabilities: Mapping[tuple[str, str], float] | None = None,
) -> dict[str, Any]:
    """`calibration_of` for rows as dicts and probabilities keyed by (sample_id, group)."""
    columns: dict[str, Any] = {
        "group": pa.array([r["group"] for r in rows], pa.string()),
        "flag": pa.array([r["flag"] for r in rows], pa.string()),
        "author_label": pa.array([r["author_label"] for r in rows], pa.string()),
        "predicted_label": pa.array([r["predicted_label"] for r in rows], pa.string()),
        "margin": pa.array([r["margin"] for r in rows], pa.float64()),
    }
    if rows and all("confident" in r for r in rows):
        columns["confident"] = pa.array([r["confident"] for r in rows], pa.bool_())
    if probabilities:
        probs = [probabilities.get((r["sample_id"], r["group"])) for r in rows]
        columns["probability"] = pa.array(probs, pa.float64())
    return calibration_of(pa.table(columns), groups, margin_threshold, with_probability=bool(probabilities))


def calibration_of(
    light: pa.Table, groups: Sequence[str], margin_threshold: float | None, *, with_probability: bool = False
) -> dict[str, Any]:
    """Agreement with the author by margin bucket (and probability bucket) per group, from an annotations table's
    ``group``, ``flag``, ``author_label``, ``predicted_label`` and ``margin`` columns (and ``probability``, the
    rank-1 calibrated probability, when `with_probability`), vectorised: memory is a few bytes per row.

    Returns ``{"by_margin": [...], "by_probability": [...] or None, "by_decision": [...] or None, "threshold"}``,
    each a list of {group, title, buckets}; a bucket is {label, low, high, n, n_agree, share, confident, width}.
    ``by_decision`` (when `light` has the ``confident`` column) splits the rows into the model's confident calls
    (✓) and the rest. Margin buckets are marked confident only when `margin_threshold` is given: for a calibrated
    model ✓ is its calibrated decision, which no margin bucket equals. Only rows whose author label maps to the
    vocabulary and that have a prediction count (the agreement view's "agrees" denominator).
    """
    author, predicted = light.column("author_label"), light.column("predicted_label")
    mappable = pc.and_(
        pc.and_(pc.is_valid(author), pc.is_valid(predicted)),
        pc.and_(pc.invert(pc.is_in(light.column("flag"), pa.array(sorted(NOT_MAPPABLE), pa.string()))),
                pc.is_valid(light.column("margin"))),
    )  # fmt: skip
    rows = light.filter(pc.fill_null(mappable, False))
    group = rows.column("group").to_numpy(zero_copy_only=False)
    agree = pc.fill_null(pc.equal(rows.column("author_label"), rows.column("predicted_label")), False)
    agree_np = agree.to_numpy(zero_copy_only=False)
    margin = pc.cast(rows.column("margin"), pa.float64()).to_numpy(zero_copy_only=False)
    threshold = margin_threshold
    by_margin = [
        {"group": g, "title": group_title(g), "buckets": _buckets(margin[group == g], agree_np[group == g],
                                                                   MARGIN_EDGES, threshold)}
        for g in groups
    ]  # fmt: skip
    by_probability = None
    if with_probability:
        prob_col = pc.cast(rows.column("probability"), pa.float64())
        scored = pc.is_valid(prob_col).to_numpy(zero_copy_only=False)
        prob = pc.fill_null(prob_col, 0.0).to_numpy(zero_copy_only=False)
        by_probability = []
        for g in groups:
            keep = scored & (group == g)
            buckets = _buckets(prob[keep], agree_np[keep], PROBABILITY_EDGES, None)
            for b in buckets:  # calibrated means: the share agreeing is close to the mean probability
                b["mean_probability"] = b.pop("mean_value")
            by_probability.append({"group": g, "title": group_title(g), "buckets": buckets})
    by_decision = None
    if "confident" in rows.column_names:
        sure = pc.fill_null(rows.column("confident"), False).to_numpy(zero_copy_only=False).astype(np.float64)
        by_decision = []
        for g in groups:
            buckets = _buckets(sure[group == g], agree_np[group == g], (0.0, 1.0), 1.0)
            for b, label in zip(buckets, ("not confident", "confident"), strict=True):
                b["label"] = label
            by_decision.append({"group": g, "title": group_title(g), "buckets": buckets[::-1]})
    return {"by_margin": by_margin, "by_probability": by_probability, "by_decision": by_decision,
            "threshold": threshold}  # fmt: skip


def _buckets(
    values: np.ndarray, agree: np.ndarray, edges: Sequence[float], threshold: float | None
) -> list[dict[str, Any]]:
    out = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        inside = (values >= low) & (values < high) if high is not None else values >= low
        n = int(inside.sum())
        n_agree = int(agree[inside].sum())
        share = n_agree / n if n else None
        out.append(
            {
                "label": f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}",
                "low": low,
                "high": high,
                "n": n,
                "n_agree": n_agree,
                "share": share,
                "confident": threshold is not None and low >= threshold,
                "width": round(100 * (share or 0.0), 1),
                "mean_value": sum(values[inside].tolist()) / n if n else None,
            }
        )
    return out


def probability_column(table: pa.Table | None) -> str | None:
    """The calibrated-probability column of a table, if it has one (a float column whose name says so)."""
    if table is None:
        return None
    for field in table.schema:
        if "prob" in field.name and pa.types.is_floating(field.type):
            return str(field.name)
    return None


def top_probabilities(annotations: pa.Table, predictions: pa.Table | None) -> dict[tuple[str, str], float] | None:
    """(sample_id, group) -> calibrated probability of the top label, from annotations or rank-1 predictions."""
    table = probability_table(annotations, predictions)
    if table is None:
        return None
    keys = zip(*(table.column(c).to_pylist() for c in ("sample_id", "group", "probability")), strict=True)
    return {(sid, group): float(p) for sid, group, p in keys} or None


def probability_table(annotations: pa.Table, predictions: pa.Table | None) -> pa.Table | None:
    """Columns sample_id, group, probability (float64): the calibrated probability of each row's top label, from
    the annotations or the rank-1 predictions (the last one of a repeated key wins); None when there is none."""
    column = probability_column(annotations)
    table = annotations
    if column is None and predictions is not None:
        column = probability_column(predictions)
        if column is not None:
            table = predictions.filter(pc.fill_null(pc.equal(predictions.column("rank"), 1), False))
    if column is None:
        return None
    table = table.select(["sample_id", "group", column]).rename_columns(["sample_id", "group", "probability"])
    table = table.filter(pc.and_(pc.is_valid(table.column("group")), pc.is_valid(table.column("probability"))))
    if table.num_rows == 0:
        return None
    last = table.append_column("i", pa.array(np.arange(table.num_rows))).group_by(["sample_id", "group"])
    return table.take(last.aggregate([("i", "max")]).column("i_max")).cast(
        pa.schema([("sample_id", pa.string()), ("group", pa.string()), ("probability", pa.float64())])
    )


def csv_row(row: Mapping[str, Any]) -> list[Any]:
    """The values of one review row for "Download CSV", in CSV_COLUMNS order.

    Author text is clipped as the table cell shows it: 3,000 rows of megabyte titles must not make the page heavy
    (the whole text stays in `annotations.parquet`). Text a spreadsheet would run as a formula is escaped here
    (`annotator.report.csvsafe`), as in every other CSV annotator writes; the page's script only quotes.
    """
    return [escape_cell(clip(row.get(c)) if c in _CLIPPED else row.get(c)) for c in CSV_COLUMNS]
