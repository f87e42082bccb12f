"""The held-out tables a model carries in `model.json` ("metrics"), pooled and summarised for `annotator model info`.

A bundled-style model stores rows, each one fold x label group x condition of its cross-validation
(`annotator.model.bundle`):

```
metrics.held_out     [{fold, group, condition, n, top1, mrr, confident_share, confident_precision, n_oov,
                       oov_confident_rate}, …]
metrics.by_source    the same per held-out source ("source" column)
metrics.reliability  [{group, lo, hi, n, mean_p, right}, …]   calibrated probability bins vs the share right
```
Fold families: ``loso:`` (leave one source out), ``out:`` (labels held out), ``within:`` (k-fold, every source in
training). A model trained by `annotator train` / scored by `annotator evaluate --store` instead stores
``{"groups": {group: {metric: value}}}``. Pure functions on plain dicts: no numpy, cheap to import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Fold families in the order a reader should meet them: the hardest (an unseen source) first.
FAMILIES = ("loso", "out", "within")
FAMILY_MEANING = {
    "loso": "leave one source out: every test file comes from a source the fold model never saw",
    "out": "labels held out: the test files' true labels are unknown to the fold model (measures abstention)",
    "within": "k-fold within the sources: every source in training (the optimistic case)",
}
#: The condition the summary shows: the whole file, as GEO hands it over.
SUMMARY_CONDITION = "whole"
#: Columns of a held-out row, with the header `model info` prints.
COLUMNS = {
    "fold": "fold",
    "group": "group",
    "condition": "condition",
    "n": "n",
    "top1": "top-1",
    "mrr": "MRR",
    "confident_share": "confident share",
    "confident_precision": "confident precision",
    "n_oov": "n OOV",
    "oov_confident_rate": "OOV confident",
}
RELIABILITY_COLUMNS = {"group": "group", "bin": "probability bin", "n": "calls", "mean_p": "mean probability",
                       "right": "share right"}  # fmt: skip
_CONDITION_ORDER = ("whole", "top10000", "top2000", "top500", "random1000", "random300", "summit")


def pooled(rows: Sequence[Mapping[str, Any]], family: str) -> list[dict[str, Any]]:
    """The rows of the folds ``<family>:…`` pooled per group and condition (each fold weighted by its files).

    The pooled fold is named ``"<family> (pooled)"``; a rate over no file is None.
    """
    acc: dict[tuple[str, str], dict[str, float]] = {}
    for r in rows:
        if not str(r.get("fold", "")).startswith(family + ":"):
            continue
        a = acc.setdefault((r["group"], r["condition"]), dict.fromkeys(("n", "top1", "mrr", "conf", "right", "oov",
                                                                         "oov_conf"), 0.0))  # fmt: skip
        n, n_oov = r.get("n") or 0, r.get("n_oov") or 0
        a["n"] += n
        a["oov"] += n_oov
        if n:
            a["top1"] += (r.get("top1") or 0.0) * n
            a["mrr"] += (r.get("mrr") or 0.0) * n
            a["conf"] += (r.get("confident_share") or 0.0) * n
            a["right"] += (r.get("confident_precision") or 0.0) * (r.get("confident_share") or 0.0) * n
        if n_oov:
            a["oov_conf"] += (r.get("oov_confident_rate") or 0.0) * n_oov
    out = []
    for (group, condition), a in acc.items():
        n, oov = a["n"], a["oov"]
        out.append({
            "fold": f"{family} (pooled)", "group": group, "condition": condition, "n": int(n),
            "top1": a["top1"] / n if n else None, "mrr": a["mrr"] / n if n else None,
            "confident_share": a["conf"] / n if n else None,
            "confident_precision": a["right"] / a["conf"] if a["conf"] else None,
            "n_oov": int(oov), "oov_confident_rate": a["oov_conf"] / oov if oov else None,
        })  # fmt: skip
    return out


def held_out_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every stored fold row plus each family's pooled rows, sorted by fold, group and condition."""
    rows = [dict(r) for r in metrics.get("held_out") or [] if isinstance(r, Mapping)]
    rows += [p for family in FAMILIES for p in pooled(rows, family)]
    return sorted(rows, key=_order)


def summary_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per fold family x group on whole files: the pooled numbers a user decides by."""
    rows = [dict(r) for r in metrics.get("held_out") or [] if isinstance(r, Mapping)]
    out = [p for family in FAMILIES for p in pooled(rows, family) if p["condition"] == SUMMARY_CONDITION]
    rank = {f"{family} (pooled)": i for i, family in enumerate(FAMILIES)}
    return sorted(out, key=lambda r: (rank[r["fold"]], r["group"]))


def by_source_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stored per-source rows, sorted like `held_out_rows`."""
    return sorted((dict(r) for r in metrics.get("by_source") or [] if isinstance(r, Mapping)), key=_order)


def reliability_rows(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Calibration bins: group, ``[lo, hi)``, calls, mean probability, share right."""
    out = []
    for r in metrics.get("reliability") or []:
        if isinstance(r, Mapping):
            out.append({"group": r.get("group"), "bin": f"[{r.get('lo', 0):.2f}, {min(r.get('hi', 1), 1.0):.2f})",
                        "n": r.get("n"), "mean_p": r.get("mean_p"), "right": r.get("right")})  # fmt: skip
    return out


def group_metrics(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The ``{group: {metric: value}}`` of a model scored by `annotator train`/`evaluate --store` ({} if none)."""
    groups = metrics.get("groups")
    if not isinstance(groups, Mapping):
        return {}
    return {str(g): dict(m) for g, m in groups.items() if isinstance(m, Mapping)}


def format_cell(value: Any) -> str:
    """A table cell: rates to three decimals, counts as integers, missing as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _order(row: Mapping[str, Any]) -> tuple[str, str, str, int, str]:
    condition = str(row.get("condition", ""))
    position = _CONDITION_ORDER.index(condition) if condition in _CONDITION_ORDER else len(_CONDITION_ORDER)
    return str(row.get("fold", "")), str(row.get("source", "")), str(row.get("group", "")), position, condition
