"""The report's summary numbers (pure: tables in, plain dicts out): sample and file counts that agree with the run's
``run_finished``, the failed-night banner, skip reasons, flag counts, the Fig. 5B agreement bars and the calibration
view. Counting conventions are in `annotator.report.view`'s docstring.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from annotator.flags import Flag
from annotator.night_problem import night_problem, without_url
from annotator.regions.build_check import STATUS_WRONG_BUILD
from annotator.report.curate import NOT_MAPPABLE, calibration_of, probability_table
from annotator.report.details import group_title, parse_json

_SEGMENT_LABELS = {
    "agree": "agrees (match)",
    "misspelling": "misspelling of the model's label",
    "disagree": "maps, but the model disagrees",
    "unpredicted": "maps, but no prediction (file not downloaded or not projected)",
    "unmapped": "does not map (no author label, or out of vocabulary)",
}


def _distinct(table: pa.Table, column: str, mask: pa.Array | None = None) -> int:
    col = table.column(column)
    if mask is not None:
        col = col.filter(mask)
    return len(pc.unique(col.drop_null()))


def summary_counts(samples: pa.Table, ann: pa.Table, predictions: pa.Table | None) -> dict[str, Any]:
    flagged = pc.fill_null(pc.not_equal(ann.column("flag"), Flag.MATCH.value), True)
    of_sample = pc.fill_null(pc.not_equal(samples.column("gsm"), samples.column("gse")), True)  # not a series row
    names_file = pc.fill_null(pc.not_equal(samples.column("file_kind"), "none"), True)
    out: dict[str, Any] = {
        "n_series": _distinct(samples, "gse"),
        "n_gsm": _distinct(samples, "gsm", of_sample),
        "n_files": int(pc.sum(pc.cast(names_file, pa.int64())).as_py() or 0),
        "n_selected": int(pc.sum(pc.cast(samples.column("selected"), pa.int64())).as_py() or 0),
        "n_download_failed": int(pc.sum(pc.equal(samples.column("download_status"), "failed")).as_py() or 0),
        "n_reviewed": pc.count_distinct(ann.column("sample_id"), mode="all").as_py(),
        "n_flagged": pc.count_distinct(ann.column("sample_id").filter(flagged), mode="all").as_py(),
        "n_rows": ann.num_rows,
        "n_swap_pairs": _swap_pairs(ann),
        "n_projected": None,
        "n_no_overlap": None,
        "n_wrong_build": None,
        "n_failed": None,
    }
    if predictions is not None:
        status = predictions.column("status")
        for key, value in (("n_projected", "ok"), ("n_no_overlap", "no_overlap"), ("n_wrong_build", STATUS_WRONG_BUILD),
                           ("n_failed", "failed")):  # fmt: skip
            out[key] = _distinct(predictions, "sample_id", pc.equal(status, value))
    return out


def _swap_pairs(ann: pa.Table) -> int:
    """Pairs of samples whose labels look swapped (both rows of a pair name each other in ``swapped_with``)."""
    if "swapped_with" not in ann.column_names:
        return 0
    return int(pc.sum(pc.cast(pc.is_valid(ann.column("swapped_with")), pa.int64())).as_py() or 0) // 2


def night_banner(run: Mapping[str, Any] | None, samples: pa.Table, summary: Mapping[str, Any]) -> str | None:
    """What went wrong with most of the night (`annotator.night_problem.night_problem`), for the page's banner."""
    if run is not None and run["status"] == "failed":
        counts = parse_json(run["counts"])
        error = counts.get("error") if isinstance(counts, dict) else None
        return night_problem(selected=0, download_failed=0, download_errors={}, error=str(error or "unknown error"))
    failed = samples.filter(pc.fill_null(pc.equal(samples.column("download_status"), "failed"), False))
    errors = failed.column("download_error").to_pylist() if "download_error" in samples.column_names else []
    return night_problem(
        selected=summary["n_selected"],
        download_failed=summary["n_download_failed"],
        download_errors=Counter(without_url(e or "no reason given") for e in errors),
        projected=sum(summary[k] or 0 for k in ("n_projected", "n_no_overlap", "n_wrong_build", "n_failed")),
        projection_failed=summary["n_failed"] or 0,
    )


def skip_reasons(samples: pa.Table) -> list[dict[str, Any]]:
    not_selected = samples.filter(pc.invert(samples.column("selected")))
    reasons = not_selected.column("skip_reason")
    reasons = pc.if_else(pc.equal(pc.fill_null(reasons, ""), ""), "no reason given", reasons)
    counted = pc.value_counts(reasons).to_pylist()  # first-seen order; a stable sort by count, as most_common
    return [{"reason": c["values"], "count": c["counts"]} for c in sorted(counted, key=lambda c: -c["counts"])]


def _counts(ann: pa.Table, keys: list[str]) -> dict[tuple[Any, ...], int]:
    """Rows per distinct value of `keys`, counted in Arrow."""
    counted = ann.select(keys).group_by(keys).aggregate([([], "count_all")])
    return {tuple(r[k] for k in keys): r["count_all"] for r in counted.to_pylist()}


def flag_counts(ann: pa.Table, groups: Sequence[str]) -> list[dict[str, Any]]:
    counts = _counts(ann, ["flag", "group"])
    rows: list[dict[str, Any]] = []
    for flag in Flag:
        by_group = {g: counts.get((flag.value, g), 0) for g in groups}
        rows.append(
            {
                "flag": flag.value,
                "label": flag.value.replace("_", " "),
                "description": flag.description,
                "urgency": flag.urgency,
                "total": sum(by_group.values()),
                "by_group": by_group,
            }
        )
    biggest = max((r["total"] for r in rows), default=0) or 1
    for r in rows:
        r["width"] = round(100 * r["total"] / biggest, 1)
    return rows


def agreements(
    ann: pa.Table, groups: Sequence[str], vocabulary: Mapping[str, Sequence[str]] | None
) -> list[dict[str, Any]]:
    """`_agreement` of every group, from counts made in Arrow."""
    keys = pc.binary_join_element_wise(ann.column("group"), ann.column("author_label"), "\x1f")
    known = pa.array(sorted(f"{g}\x1f{label}" for g, labels in (vocabulary or {}).items() for label in labels),
                     pa.string())  # fmt: skip
    table = ann.select(["group", "flag"]).append_column("has_author", pc.is_valid(ann.column("author_label")))
    table = table.append_column("known", pc.fill_null(pc.is_in(keys, value_set=known), False))
    counts = _counts(table, ["group", "flag", "has_author", "known"])
    out = []
    for g in groups:
        mine = {(flag, has, k): n for (group, flag, has, k), n in counts.items() if group == g}
        compared: Counter[str] = Counter()  # rows that map and have a prediction, by flag
        unpredicted = 0  # rows without a prediction whose author label is one of the model's
        for (flag, has, k), n in mine.items():
            if has and flag not in NOT_MAPPABLE:
                compared[flag] += n
            elif has and k and flag == Flag.NO_PREDICTION:
                unpredicted += n
        n_compared = sum(compared.values())
        out.append(_agreement(g, sum(mine.values()), n_compared + unpredicted, n_compared,
                              compared[Flag.MATCH], compared[Flag.MISSPELLING]))  # fmt: skip
    return out


def calibration(
    ann: pa.Table, predictions: pa.Table | None, groups: Sequence[str], margin_threshold: float | None
) -> dict[str, Any]:
    """The calibration view: the light columns, with each row's top-label probability joined on when known."""
    light = ann.select(["sample_id", "group", "flag", "author_label", "predicted_label", "margin", "confident"])
    probabilities = probability_table(ann, predictions)
    if probabilities is not None:
        light = light.append_column("i", pa.array(np.arange(light.num_rows)))
        light = light.join(probabilities, ["sample_id", "group"], join_type="left outer").sort_by("i")
    return calibration_of(light, groups, margin_threshold, with_probability=probabilities is not None)


def _agreement(group: str, n: int, n_map: int, n_compared: int, n_match: int, n_missp: int) -> dict[str, Any]:
    """The Fig. 5B numbers of one group (rows, mappable rows, those of them with a prediction, matches and
    misspellings among those); see the module docstring for what counts."""

    def share(num: int, den: int) -> float | None:
        return num / den if den else None

    def width(k: int) -> float:
        return round(100 * k / n, 2) if n else 0.0

    counts = {
        "agree": n_match,
        "misspelling": n_missp,
        "disagree": n_compared - n_match - n_missp,
        "unpredicted": n_map - n_compared,
        "unmapped": n - n_map,
    }
    segments, x = [], 0.0
    for key, count in counts.items():
        segments.append({"key": key, "label": _SEGMENT_LABELS[key], "count": count, "x": x, "width": width(count)})
        x = round(x + width(count), 2)
    return {
        "group": group,
        "title": group_title(group),
        "n": n,
        "n_mappable": n_map,
        "n_compared": n_compared,
        "n_match": n_match,
        "n_misspelling": n_missp,
        "share_mappable": share(n_map, n),
        "share_agree": share(n_match, n_compared),
        "share_agree_incl_misspelling": share(n_match + n_missp, n_compared),
        "segments": segments,  # stacked bar: agree | misspelling | disagree | no prediction | not mappable
    }
