"""Per-sample detail of the report (pure): each group's top labels as bars, the author-label evidence, and the
projection counts, as JSON-ready dicts.

The page embeds these once per sample as a JSON data block and its script builds a sample's detail on first
expand (text nodes only), so a night of thousands of samples stays a few megabytes and opens quickly.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from annotator.report.display import clip_all, rounded

_GROUP_TITLES = {"antibody": "Antibody target", "cell_type": "Cell type"}


def sample_details(
    ann: Sequence[Mapping[str, Any]], predictions: pa.Table | None, groups: Sequence[str], top_k: int = 5
) -> dict[str, dict[str, Any]]:
    """The detail of every sample in the annotations rows.

    Parameters
    ----------
    ann
        Rows of the annotations table (dicts).
    predictions
        The predictions table, or None: the bars then come from each row's evidence ``top`` list and ``stats``
        is None.
    groups
        Label groups in display order.
    top_k
        Bars per group; an author label ranked below them is appended with its rank.

    Returns
    -------
    dict
        sample_id -> {``rankings``: [{group, title, margin, confident, bars, evidence}], ``stats``: projection
        counts or None}.
    """
    bars, stats = _prediction_index(predictions, top_k)
    by_sample: dict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
    for r in ann:
        by_sample[r["sample_id"]][r["group"]] = r
    details: dict[str, dict[str, Any]] = {}
    for sample_id, per_group in by_sample.items():
        rankings = []
        for g in groups:
            row = per_group.get(g)
            if row is None:
                continue
            evidence, top = _evidence(row)
            labels = bars.get((sample_id, g))
            if labels is None:  # no predictions table: fall back on the top labels kept in the evidence
                labels = [(t.get("label"), t.get("score")) for t in top[:top_k] if isinstance(t, dict)]
            rankings.append(
                {
                    "group": g,
                    "title": group_title(g),
                    "margin": rounded(row["margin"]),  # the review row prints this same number
                    "confident": row["confident"],
                    "bars": _bars(labels, row),
                    "evidence": evidence,
                }
            )
        st = stats.get(sample_id)
        if st is not None:
            st = {**st, "coverage": _round(st["coverage"]), "skipped_by_reason": parse_json(st["skipped_by_reason"])}
        details[sample_id] = {"rankings": rankings, "stats": st}
    return details


def _round(value: float | None, digits: int = 4) -> float | None:
    """Float32 values printed in full are mostly noise; four digits keep the page small and exact enough."""
    return None if value is None else round(value, digits)


def group_title(group: str) -> str:
    """Human title of a label group ('cell_type' -> 'Cell type')."""
    return _GROUP_TITLES.get(group, group.replace("_", " ").capitalize())


def evidence_thresholds(text: str | None) -> dict[str, Any]:
    """The thresholds recorded in an annotations row's evidence JSON ({} when there are none)."""
    parsed = parse_json(text)
    thresholds = parsed.get("thresholds") if isinstance(parsed, dict) else None
    return thresholds if isinstance(thresholds, dict) else {}


def parse_json(text: str | None) -> Any:
    """JSON text to Python; text that is not JSON is returned as is, so one odd row never breaks the page."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # shown verbatim: better a raw string than a crash on one odd row


def _evidence(row: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """The author-label evidence of one annotations row, and the top labels its evidence JSON recorded.

    The JSON is written by `annotator.reconcile`: ``author`` (with ``candidates`` and every field's ``readings``),
    ``top`` and ``thresholds``; unknown or malformed evidence is shown verbatim rather than dropped.
    """
    parsed = parse_json(row["evidence"])
    parsed = parsed if isinstance(parsed, dict) else {"unparsed": parsed}
    author: dict[str, Any] = parsed["author"] if isinstance(parsed.get("author"), dict) else {}
    candidates = parsed.get("candidates") or author.get("candidates") or []
    readings = author.get("readings") or []
    top = parsed.get("top")
    evidence = {  # clipped: the panel shows author text, which can be megabytes
        "source": row["author_source"],
        "raw": row["author_label_raw"],
        "label": row["author_label"],
        "method": row["author_method"],
        "score": row["author_label_score"],
        "candidates": [_reading_text(c) for c in candidates] if isinstance(candidates, list) else [],
        "readings": [_reading_text(r) for r in readings] if isinstance(readings, list) else [],
        "unparsed": parsed.get("unparsed"),
    }
    return clip_all(evidence), top if isinstance(top, list) else []


def _reading_text(reading: Any) -> str:
    """One reading or candidate as a short line ('title: "k562" → K562 (normalised, 95)'); else compact JSON."""
    if isinstance(reading, str):
        return reading
    if isinstance(reading, dict):
        label = reading.get("canonical", reading.get("label"))
        if label is not None:
            raw = reading.get("raw")
            head = f"“{raw}” → {label}" if raw not in (None, label) else str(label)
            if reading.get("source"):
                head = f"{reading['source']}: {head}"
            extras = [str(reading[k]) for k in ("method", "score") if reading.get(k) is not None]
            return f"{head} ({', '.join(extras)})" if extras else head
    return json.dumps(reading, ensure_ascii=False, sort_keys=True)


def _bars(labels: Sequence[tuple[str, float | None]], row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Detail bars, best first; widths are relative to the best score of the group so small margins show.

    Each bar has ``rank``, ``label``, ``score`` and ``width``, plus ``is_predicted``, ``is_author`` and ``beyond``
    (ranked below the bars shown) when true.

    When the author's label ranks below the bars shown, it is appended with its rank, so a curator sees how far
    the model puts it without opening the Parquet.
    """
    predicted, author = row["predicted_label"], row["author_label"]
    entries: list[tuple[int | None, str, float | None]] = [
        (rank, label, score) for rank, (label, score) in enumerate(labels, start=1)
    ]
    if author is not None and row["author_score"] is not None and author not in {lb for _, lb, _ in entries}:
        entries.append((row["author_rank"], author, row["author_score"]))
    top = max((s for _, _, s in entries if s is not None and s > 0), default=0.0) or 1.0
    bars = []
    for i, (rank, label, score) in enumerate(entries):
        bar: dict[str, Any] = {"rank": rank, "label": label, "score": rounded(score)}  # as the row prints it
        bar["width"] = round(100 * max(score or 0.0, 0.0) / top, 1)
        # markers only when true: thousands of samples x 10 bars make every key count in the page size
        markers = {"is_predicted": label == predicted, "is_author": label == author, "beyond": i >= len(labels)}
        bars.append(bar | {k: True for k, on in markers.items() if on})
    return bars


def _prediction_index(predictions: pa.Table | None, top_k: int) -> tuple[dict, dict]:
    """(sample_id, group) -> [(label, score)] for the top ranks, and sample_id -> projection stats."""
    if predictions is None:
        return {}, {}
    stats_cols = [
        "file", "status", "reason", "coverage", "n_regions", "n_regions_hit", "n_tokens", "n_skipped",
        "skipped_by_reason",
    ]  # fmt: skip
    stats: dict[str, dict[str, Any]] = {}
    ids = predictions["sample_id"].to_pylist()
    for sample_id, r in zip(ids, predictions.select(stats_cols).to_pylist(), strict=True):
        if sample_id not in stats or r["status"] != "ok":  # the same on every rank; a failed row wins
            stats[sample_id] = r
    ok = pc.and_(pc.equal(predictions.column("status"), "ok"), pc.less_equal(predictions.column("rank"), top_k))
    top = predictions.filter(ok).select(["sample_id", "group", "rank", "label", "score"]).to_pylist()
    bars: dict[tuple[str, str], list[tuple[str, float | None]]] = defaultdict(list)
    for r in sorted(top, key=lambda r: r["rank"]):
        bars[(r["sample_id"], r["group"])].append((r["label"], r["score"]))
    return bars, stats
