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

Alternatives are the same logistic verdict with fewer features (the ranking only, the references only). The last
line is machine-readable: antibody, all features.
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
from annotator.model.verdict import FEATURES, p_wrong
from annotator.model.verdict_fit import KINDS, VERDICT_GROUPS, Evidence, fit_verdict, fold_evidence, mislabel_kind

QUICK_CONDITIONS = ("whole", "top2000", "random1000")
VARIANTS = {
    "all features": FEATURES,
    "ranking only": ("gap", "log_rank", "rank_share", "zscore", "log_tokens", "block_share", "top_score"),
    "ranking + reference vectors": ("gap", "log_rank", "rank_share", "zscore", "ref_gap", "ref_log_rank",
                                    "log_tokens", "block_share", "top_score"),
    "tile overlap only": ("tile_ratio", "tile_log_rank", "log_refs", "log_tokens"),
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


def nested(evidence: Evidence, columns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """P(wrong) and flag of every row, from a verdict fitted on the other sources' rows."""
    ev = Evidence(**{**evidence.__dict__, "features": evidence.features[:, columns]})
    p, flagged = np.zeros(ev.wrong.shape[0]), np.zeros(ev.wrong.shape[0], dtype=bool)
    for source in sorted(set(ev.source.tolist())):
        fitted = fit_verdict(ev.select(ev.source != source))
        for group, model in fitted.items():
            m = (ev.source == source) & (ev.group == group)
            p[m] = p_wrong(model, ev.features[m])
            flagged[m] = p[m] >= model["threshold"]
    return p, flagged


def rates(ev: Evidence, flagged: np.ndarray, rank1: np.ndarray) -> dict[str, float]:
    """Recall (kinds averaged per file, then files), false alarms, per-kind recall and wrong labels at rank 1."""
    known = ev.known
    out: dict[str, float] = {}
    true = known & ~ev.wrong
    out["n"] = int(true.sum())
    out["false_alarm"] = float(flagged[true].mean()) if true.any() else float("nan")
    key = np.char.add(ev.condition.astype(str), np.char.add("|", ev.file.astype(str)))
    per_kind = {}
    for kind in KINDS:
        m = known & (ev.kind == kind)
        per_kind[kind] = _mean_by(key[m], flagged[m])
        out[f"recall_{kind}"] = float(np.mean(list(per_kind[kind].values()))) if per_kind[kind] else float("nan")
    files = sorted(set().union(*[set(d) for d in per_kind.values()]))
    out["recall"] = float(np.mean([np.mean([d[f] for d in per_kind.values() if f in d]) for f in files]))
    wrong = known & ev.wrong
    out["match"] = int((wrong & rank1 & ~flagged).sum())
    return out


def _mean_by(keys: np.ndarray, values: np.ndarray) -> dict[str, float]:
    uniq, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=values.astype(float), minlength=uniq.shape[0])
    counts = np.bincount(inverse, minlength=uniq.shape[0])
    return dict(zip(uniq.tolist(), (sums / counts).tolist(), strict=True))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="corpus cache (written when missing)")
    ap.add_argument("--evidence", type=Path, default=None, help="held-out evidence (written when missing)")
    ap.add_argument("--quick", action="store_true", help="three conditions only: " + ", ".join(QUICK_CONDITIONS))
    args = ap.parse_args()
    conditions = QUICK_CONDITIONS if args.quick else CONDITIONS
    if args.evidence and args.evidence.is_file():
        evidence = Evidence.load(args.evidence)
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
    conditions = tuple(c for c in CONDITIONS if (evidence.condition == c).any())
    rank1 = evidence.features[:, FEATURES.index("log_rank")] == 0.0
    summary: dict[str, dict[str, float]] = {}
    print("| verdict | group | condition | true labels | false alarms | recall | across | within | slip "
          "| wrong at rank 1, not flagged |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for variant, names in VARIANTS.items():
        _, flagged = nested(evidence, [FEATURES.index(n) for n in names])
        for group in VERDICT_GROUPS:
            for condition in conditions:
                m = (evidence.group == group) & (evidence.condition == condition)
                if not m.any():
                    continue
                r = rates(evidence.select(m), flagged[m], rank1[m])
                if variant == "all features" and group == "antibody":
                    summary[condition] = r
                print(f"| {variant} | {group} | {condition} | {r['n']} | {r['false_alarm']:.3f} | {r['recall']:.3f} "
                      f"| {r['recall_across']:.3f} | {r['recall_within']:.3f} | {r['recall_slip']:.3f} "
                      f"| {r['match']} |")  # fmt: skip
    get = lambda c, k: summary.get(c, {}).get(k, float("nan"))  # noqa: E731
    fa_max = max(r["false_alarm"] for r in summary.values())
    print(f"recall_whole={get('whole', 'recall'):.3f} false_alarm_whole={get('whole', 'false_alarm'):.3f} "
          f"recall_top2000={get('top2000', 'recall'):.3f} recall_rand1000={get('random1000', 'recall'):.3f} "
          f"false_alarm_max={fa_max:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
