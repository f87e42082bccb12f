"""The BEDspace paper's activating-marks experiment: how confident is a model trained on activating marks only
about files of repressive marks it has never seen a label for?

    python scripts/activating_only.py [--data DIR] [--json OUT]

Trains on the activating-mark files of the shared ENCODE corpus (everything except H3K27me3, H3K9me3 and
H3K36me3; seeded stratified 15 % of them held out), once with the bundled model's parameters and once with
StarSpace's settings, then projects the held-out activating files and *all* repressive files. For each, the antibody
ranking's top-1 score and margin (top-1 minus top-2 cosine) are compared with the confidence threshold of 0.1. The
paper found no high-confidence antibody label for repressive marks; a repressive file can only receive a wrong
label here, so a confident one is a false alarm.
Cell-type labels are valid for every file, so the cell-type ranking is reported for both sets too.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from annotator.config import DEFAULT_MARGIN_THRESHOLD
from annotator.model.corpus import read_corpus
from annotator.model.rows import embed_region_sets, stratified_split, unit_rows
from annotator.model.train import TrainParams, train_model
from annotator.regions.universe import TileUniverse

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "encode-broad-histone-hg19"
REPRESSIVE = ("H3K27me3", "H3K9me3", "H3K36me3")


def _summary(scores: np.ndarray, names: list[str], truth: list[str]) -> dict[str, Any]:
    """Top-1 score, margin, confident share and accuracy of rankings `scores` (sets x labels)."""
    ranked = np.sort(scores, axis=1)[:, ::-1]
    margin = ranked[:, 0] - ranked[:, 1]
    top = [names[i] for i in np.argmax(scores, axis=1)]
    return {
        "n": len(truth),
        "mean_top1_score": round(float(ranked[:, 0].mean()), 3),
        "mean_margin": round(float(margin.mean()), 3),
        "median_margin": round(float(np.median(margin)), 3),
        "confident_share": round(float(np.mean(margin >= DEFAULT_MARGIN_THRESHOLD)), 3),
        "top1_accuracy": round(float(np.mean([t == p for t, p in zip(truth, top, strict=True)])), 3),
        "predicted": dict(Counter(top).most_common(3)),
    }


#: Settings compared: the bundled model's, and our trainer with StarSpace's (unweighted 1 kb tiles, hinge).
SETTINGS = {
    "bundled parameters (5 kb, eta weights, squared loss)": (TrainParams(), 5000),
    "StarSpace settings (1 kb, unweighted, every token, hinge)": (
        TrainParams(loss="hinge", weighting="none", tokens_per_group=None, min_df=1),
        1000,
    ),
}


def run(data: Path, params: TrainParams, width: int) -> dict[str, Any]:
    """Train on activating marks, score held-out activating and all repressive files."""
    corpus = read_corpus(data, data / "samples.csv", ["antibody", "cell_type"], TileUniverse(width), workers=2)
    antibody = np.array(corpus.labels["antibody"], dtype=object)
    activating = np.flatnonzero(~np.isin(antibody, REPRESSIVE))
    repressive = np.flatnonzero(np.isin(antibody, REPRESSIVE))
    train_idx, test_idx = stratified_split(antibody[activating].astype(str), 0.15, seed=0)
    model = train_model(corpus, params, name="activating-only", train_rows=activating[train_idx])
    vectors = embed_region_sets(corpus.matrix, model.token_ids, model.token_vectors)
    out: dict[str, Any] = {"n_train": int(train_idx.size), "antibody_labels": model.groups["antibody"]}
    sets = {"held-out activating": activating[test_idx], "repressive (all)": repressive}
    sets |= {f"  {mark}": np.flatnonzero(antibody == mark) for mark in REPRESSIVE}
    for group in ("antibody", "cell_type"):
        labels = unit_rows(model.label_vectors[group])
        out[group] = {
            name: _summary(vectors[rows] @ labels.T, model.groups[group], [corpus.labels[group][i] for i in rows])
            for name, rows in sets.items()
        }
    return out


def _print(result: dict[str, Any]) -> None:
    print(f"trained on {result['n_train']} activating-mark files; antibody labels: {result['antibody_labels']}")
    for group in ("antibody", "cell_type"):
        print(
            f"\n{group}: {'files':<22}{'n':>4}{'top-1 score':>13}{'mean margin':>13}{'median':>8}"
            f"{'margin>=0.1':>13}{'top-1 acc':>11}  most predicted"
        )
        for name, s in result[group].items():
            print(
                f"{'':<{len(group) + 2}}{name:<22}{s['n']:>4}{s['mean_top1_score']:>13.3f}{s['mean_margin']:>13.3f}"
                f"{s['median_margin']:>8.3f}{s['confident_share']:>13.3f}{s['top1_accuracy']:>11.3f}  "
                f"{s['predicted']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED, help="folder with the BED files and samples.csv")
    parser.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    args = parser.parse_args()
    results = {}
    for name, (params, width) in SETTINGS.items():
        print(f"\n== {name}")
        results[name] = run(args.data, params, width)
        _print(results[name])
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
