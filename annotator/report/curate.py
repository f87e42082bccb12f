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

import pyarrow as pa
import pyarrow.compute as pc

from annotator.flags import Flag
from annotator.report.details import group_title
from annotator.report.display import clip

MAX_MATRIX_LABELS = 24
OTHER = "other"
CELL, LABEL_W, HEAD_H = 26, 150, 110  # matrix geometry in SVG user units
MARGIN_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
PROBABILITY_EDGES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
_NOT_MAPPABLE = frozenset({Flag.OUT_OF_VOCABULARY, Flag.MISSING_AUTHOR_LABEL, Flag.NO_PREDICTION})

_CLIPPED = frozenset({"title", "author_label_raw", "reason"})
#: The review-table columns "Download CSV" writes, in order (`csv_row` gives the values).
CSV_COLUMNS = (
    "sample_id", "gsm", "gse", "title", "group", "author_label_raw", "author_label", "predicted_label",
    "predicted_score", "margin", "confident", "flag", "reason",
)  # fmt: skip


def confusion_matrices(rows: Sequence[Mapping[str, Any]], groups: Sequence[str]) -> list[dict[str, Any]]:
    """One matrix per group that has rows with both an author and a predicted label.

    Each matrix: ``group``, ``title``, ``authors`` and ``predicted`` (axis labels, most frequent first, ``other``
    last when labels were folded), ``cells`` ({author, predicted, count, x, y, opacity, diagonal, clickable}),
    ``n`` (rows counted), ``width`` and ``height`` (SVG size).
    """
    out = []
    for group in groups:
        pairs = [
            (r["author_label"], r["predicted_label"])
            for r in rows
            if r["group"] == group and r["author_label"] is not None and r["predicted_label"] is not None
        ]
        if not pairs:
            continue
        # both axes follow one order (most frequent label first, counting both sides), so agreement is a diagonal
        both = Counter(a for a, _ in pairs) + Counter(p for _, p in pairs)
        authors, authors_folded = _axis(Counter(a for a, _ in pairs), both)
        predicted, predicted_folded = _axis(Counter(p for _, p in pairs), both)
        counts = Counter((_fold(a, authors, authors_folded), _fold(p, predicted, predicted_folded)) for a, p in pairs)
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
                "n": len(pairs),
                "n_agree": sum(a == p for a, p in pairs),
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


def calibration(
    rows: Sequence[Mapping[str, Any]],
    groups: Sequence[str],
    margin_threshold: float | None,
    probabilities: Mapping[tuple[str, str], float] | None = None,
) -> dict[str, Any]:
    """Agreement with the author by margin bucket (and probability bucket) per group.

    Returns ``{"by_margin": [...], "by_probability": [...] or None}``, each a list of {group, title, buckets}; a
    bucket is {label, low, high, n, n_agree, share, confident, width}. Only rows whose author label maps to the
    vocabulary count (the same rows as the agreement view's denominator).
    """
    mappable = [r for r in rows if r["author_label"] is not None and r["predicted_label"] is not None
                and r["flag"] not in _NOT_MAPPABLE and r["margin"] is not None]  # fmt: skip
    threshold = margin_threshold if margin_threshold is not None else 0.1
    by_margin = [
        {"group": g, "title": group_title(g),
         "buckets": _buckets([(r["margin"], r) for r in mappable if r["group"] == g], MARGIN_EDGES, threshold)}
        for g in groups
    ]  # fmt: skip
    by_probability = None
    if probabilities:
        by_probability = []
        for g in groups:
            scored = [(probabilities[(r["sample_id"], g)], r) for r in mappable
                      if r["group"] == g and (r["sample_id"], g) in probabilities]  # fmt: skip
            buckets = _buckets(scored, PROBABILITY_EDGES, None)
            for b in buckets:  # calibrated means: the share agreeing is close to the mean probability
                b["mean_probability"] = b.pop("mean_value")
            by_probability.append({"group": g, "title": group_title(g), "buckets": buckets})
    return {"by_margin": by_margin, "by_probability": by_probability, "threshold": threshold}


def _buckets(
    values: Sequence[tuple[float, Mapping[str, Any]]], edges: Sequence[float], threshold: float | None
) -> list[dict[str, Any]]:
    out = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else None
        inside = [r for v, r in values if v >= low and (high is None or v < high)]
        vals = [v for v, _ in values if v >= low and (high is None or v < high)]
        n_agree = sum(r["author_label"] == r["predicted_label"] for r in inside)
        share = n_agree / len(inside) if inside else None
        out.append(
            {
                "label": f"{low:g}–{high:g}" if high is not None else f"≥ {low:g}",
                "low": low,
                "high": high,
                "n": len(inside),
                "n_agree": n_agree,
                "share": share,
                "confident": threshold is not None and low >= threshold,
                "width": round(100 * (share or 0.0), 1),
                "mean_value": sum(vals) / len(vals) if vals else None,
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
    column = probability_column(annotations)
    table = annotations
    if column is None and predictions is not None:
        column = probability_column(predictions)
        if column is not None:
            table = predictions.filter(pc.fill_null(pc.equal(predictions.column("rank"), 1), False))
    if column is None:
        return None
    out = {}
    for sid, group, p in zip(*(table.column(c).to_pylist() for c in ("sample_id", "group", column)), strict=True):
        if group is not None and p is not None:
            out[(sid, group)] = float(p)
    return out or None


def csv_row(row: Mapping[str, Any]) -> list[Any]:
    """The values of one review row for "Download CSV", in CSV_COLUMNS order.

    Author text is clipped as the table cell shows it: 3,000 rows of megabyte titles must not make the page heavy
    (the whole text stays in `annotations.parquet`).
    """
    return [clip(row.get(c)) if c in _CLIPPED else row.get(c) for c in CSV_COLUMNS]
