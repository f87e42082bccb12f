"""Simulated nights with mislabelled samples on held-out sources: does the verdict catch wrong authors' labels?

    python scripts/bench_mislabels.py                       # all folds and conditions (~10-20 min on 2 cores)
    python scripts/bench_mislabels.py --quick               # whole / top2000 / random1000 only
    python scripts/bench_mislabels.py --evidence /tmp/ev.npz  # keep (or reuse) the held-out evidence

For each source S, a model is trained without S (leave one source out, the bundled parameters); every file of S
under every GEO-like condition is then "labelled" by an author with its true label and with every other label of
the model's vocabulary (the simulated mislabels, sorted into kinds by `annotator.model.verdict_fit`). Histone
marks are known only to the histone source, so histone files are scored by a model trained without a third of
the cell types (their files held out, `out:cell-third`). The verdict that scores S is fitted and thresholded on the
evidence of the *other* sources only (nested), then:

* recall: share of wrong labels flagged `confident_mismatch`, averaged over the mislabel kinds (across classes,
  within a class, name slips) and files;
* false alarms: share of true labels flagged `confident_mismatch`;
* `match`: wrong labels that the model ranks first and the verdict does not contradict (reconcile would call them
  a match).

Labels the model has seen in one context only (an antibody in one cell type) are judged by their class
(`annotator.model.verdict`); "every label judged alone" is the same verdict without that rule. Alternatives are
the same logistic verdict with fewer features, and three fixed rules (nothing fitted), alone and with the class
rule. The last line is machine-readable: antibody, all features (the shipped verdict), recall over all mislabel
kinds; the line before it gives the same for mislabels across classes only.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

from annotator.model.bundle import BUNDLED_PARAMS, BUNDLED_WIDTH, default_data_root
from annotator.model.conditions import CONDITIONS
from annotator.model.crossval import DEFAULT_AUGMENT, fit_rows, label_out_folds, source_folds
from annotator.model.sources import SourceCorpus, load_cache, read_sources, save_cache
from annotator.model.verdict import FEATURES, contradicted
from annotator.model.verdict_fit import Evidence, class_p_of_rows, crossfit, fold_evidence, mislabel_kind, table

QUICK_CONDITIONS = ("whole", "top2000", "random1000")
VARIANTS = {
    "all features": FEATURES,
    "ranking only": ("gap", "log_rank", "rank_share", "zscore", "log_tokens", "block_share", "top_score"),
    "ranking + reference vectors": (
        "gap",
        "log_rank",
        "rank_share",
        "zscore",
        "ref_gap",
        "ref_log_rank",
        "log_tokens",
        "block_share",
        "top_score",
    ),
    "without tile overlap": tuple(f for f in FEATURES if not f.startswith("tile_")),
    "without cross features": tuple(f for f in FEATURES if "cross" not in f),
    "every label judged alone": FEATURES,
}


def gather(corpus: SourceCorpus, conditions: tuple[str, ...]) -> Evidence:
    folds = {f"loso:{s}": v for s, v in source_folds(corpus).items()}
    folds["out:cell-third"] = label_out_folds(corpus)["cell-third"]
    parts = []
    for name, (train, test) in folds.items():
        started = time.perf_counter()
        fitted = fit_rows(corpus, train, BUNDLED_PARAMS, (BUNDLED_WIDTH,), DEFAULT_AUGMENT)
        ev = fold_evidence(fitted, corpus, name, train, test, conditions)
        if ev is not None:
            parts.append(ev)
        print(f"# fold {name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return Evidence.concat(parts)


def _fmt(v: object) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="corpus cache (written when missing)")
    ap.add_argument("--evidence", type=Path, default=None, help="held-out evidence (written when missing)")
    ap.add_argument("--quick", action="store_true", help="three conditions only: " + ", ".join(QUICK_CONDITIONS))
    args = ap.parse_args()
    conditions = QUICK_CONDITIONS if args.quick else CONDITIONS
    if args.evidence and args.evidence.is_file():
        try:
            evidence = Evidence.load(args.evidence)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {args.evidence}: not evidence written by this script ({exc})", file=sys.stderr)
            return 2
    else:
        if args.cache and args.cache.is_file():
            corpus = load_cache(args.cache)
        else:
            corpus = read_sources(args.data or default_data_root(), widths=(BUNDLED_WIDTH,), seed=0, workers=2)
            if args.cache:
                save_cache(corpus, args.cache)
        evidence = gather(corpus, conditions)
        if args.evidence:
            evidence.save(args.evidence)
    kinds = [mislabel_kind(g, t, lab) for g, t, lab in zip(evidence.group, evidence.truth, evidence.label, strict=True)]
    evidence = dataclasses.replace(evidence, kind=np.array(kinds, dtype=object))  # the current rule, also on old files
    print(
        "| verdict | group | condition | true labels | false alarms | recall | across | within | slip "
        "| wrong labels ranked first, not flagged |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[str, dict] = {}
    for variant, names in VARIANTS.items():
        columns = [FEATURES.index(n) for n in names]
        variant_evidence = dataclasses.replace(evidence, features=evidence.features[:, columns])
        if variant == "every label judged alone":
            variant_evidence = dataclasses.replace(variant_evidence, reliable=np.ones_like(evidence.reliable))
        _, flagged = crossfit(variant_evidence)
        for row in table(evidence, flagged):
            if variant == "all features" and row["group"] == "antibody":
                summary[row["condition"]] = row
            cells = [variant, row["group"], row["condition"], row["n"], row["false_alarm"], row["recall"],
                     row["recall_across"], row["recall_within"], row["recall_slip"],
                     f"{row['wrong_rank1_unflagged']} of {row['wrong']}"]  # fmt: skip
            print("| " + " | ".join(_fmt(c) for c in cells) + " |", flush=True)
    feature = {name: evidence.features[:, i] for i, name in enumerate(FEATURES)}
    rules = {  # the leads, thresholds as given there (nothing fitted)
        "rule: ranked below 5th": np.exp(feature["log_rank"]) > 5,
        "rule: best training file of the label > 0.25 below the best": feature["ref_gap"] > 0.25,
        "rule: tile overlap of the label < 0.6 x the best": feature["tile_ratio"] < 0.6,
    }
    by_class = {}  # the same rules with the class rule: a label not judged alone needs its class flagged too
    for variant, flagged in rules.items():
        hit = flagged.astype(float)
        gated = contradicted(hit, class_p_of_rows(evidence, hit), evidence.reliable, 0.5, 0.5)
        alone_only = flagged & evidence.reliable  # cell types: no class to judge by
        by_class[f"{variant} + the class rule"] = np.where(evidence.group == "antibody", gated, alone_only)
    for variant, flagged in (rules | by_class).items():
        for row in table(evidence, flagged):
            cells = [variant, row["group"], row["condition"], row["n"], row["false_alarm"], row["recall"],
                     row["recall_across"], row["recall_within"], row["recall_slip"],
                     f"{row['wrong_rank1_unflagged']} of {row['wrong']}"]  # fmt: skip
            print("| " + " | ".join(_fmt(c) for c in cells) + " |", flush=True)
    get = lambda c, k: _fmt(summary.get(c, {}).get(k))  # noqa: E731
    print(
        f"across classes only: recall_whole={get('whole', 'recall_across')} "
        f"recall_top2000={get('top2000', 'recall_across')} recall_rand1000={get('random1000', 'recall_across')}"
    )
    fa_max = max(r["false_alarm"] for r in summary.values() if r["false_alarm"] is not None)
    print(
        f"recall_whole={get('whole', 'recall')} false_alarm_whole={get('whole', 'false_alarm')} "
        f"recall_top2000={get('top2000', 'recall')} recall_rand1000={get('random1000', 'recall')} "
        f"false_alarm_max={fa_max:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
