"""Benchmark: training the bundled model on the shared ENCODE corpus — wall time, peak memory, held-out accuracy.

    python scripts/bench_train.py [--data DIR] [--json OUT] [--ablation] [--splits N]

Runs exactly what `annotator train` does with the bundled model's parameters (read + tokenize 140 files, seeded
stratified 15 % test split, train on 119 files, evaluate on 21, save float16), then, in the same run, our trainer
with StarSpace's own settings (sampled-negative hinge, margin 0.05, 5 negatives, unweighted 1 kb tiles, every
token) as a baseline. The StarSpace C++ binary cannot be built here; its numbers, measured by the issue's author on
this corpus and split size (dim 100, 20 epochs, lr 0.05, one thread), are printed next to ours.

`--ablation` adds the parameter study of the model card: each setting is scored by 10 seeded 85/15 splits *of the
119 training files only* (the 21 test files are never looked at), on whole files and on "sparse" copies of the
validation files that keep 2-20 % of their peaks (GEO files often hold far fewer peaks than ENCODE's).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from annotator.model.corpus import Corpus, read_corpus
from annotator.model.evaluate import evaluate_embeddings
from annotator.model.rows import embed_region_sets, stratified_split
from annotator.model.run import train_and_evaluate
from annotator.model.train import TrainParams, train_model
from annotator.regions.universe import TileUniverse

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "encode-broad-histone-hg19"
LABELS = ["antibody", "cell_type"]
BUNDLED = TrainParams()  # the bundled model uses every default of `annotator train` ...
BUNDLED_WIDTH = 5000  # ... including its default tile width
STARSPACE_LIKE = TrainParams(loss="hinge", weighting="none", tokens_per_group=None, min_df=1)
#: Measured by the issue's author with the StarSpace binary (BEDspace settings, one thread, 119 training files).
STARSPACE = {
    "antibody": {"seconds": 1514, "mrr": 0.786, "top1": 0.667},
    "cell_type": {"seconds": 1489, "mrr": 0.668, "top1": 0.550},
}
TARGETS = {"antibody": {"mrr": 0.90, "top1": 0.85}, "cell_type": {"mrr": 0.75, "top1": 0.65}}


def _peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def bench(data: Path) -> dict[str, Any]:
    """Time `annotator train` with the bundled parameters and the StarSpace-like baseline, in one run."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, params, width in (("bundled", BUNDLED, BUNDLED_WIDTH), ("starspace_like", STARSPACE_LIKE, 1000)):
            started = time.perf_counter()
            run = train_and_evaluate(
                data, data / "samples.csv", LABELS, Path(tmp) / label, params, universe=TileUniverse(width), workers=2
            )
            total = time.perf_counter() - started
            size = sum(f.stat().st_size for f in Path(tmp, label).iterdir())
            out[label] = {
                "wall_s": round(total, 1),
                "train_s": run.model.training["seconds"],
                "peak_rss_mb": round(_peak_mb()),
                "model_mb": round(size / 1e6, 1),
                "n_tokens": int(run.model.token_ids.shape[0]),
                "n_train": int(run.train_rows.size),
                "n_test": int(run.test_rows.size),
                "groups": {
                    g: {k: round(m[k], 3) for k in ("mrr", "top1", "micro_f1", "r_precision")}
                    for g, m in run.metrics["groups"].items()
                },
            }
    return out


def _print_bench(result: dict[str, Any]) -> None:
    ours = result["bundled"]
    print(
        f"\nbundled parameters: {ours['n_train']} training files, {ours['n_test']} held out; "
        f"model {ours['model_mb']} MB, {ours['n_tokens']:,} tokens; peak RSS {ours['peak_rss_mb']} MB"
    )
    print(f"{'':32}{'ours':>10}{'ours, StarSpace settings':>28}{'StarSpace binary':>20}{'target':>9}")
    base = result["starspace_like"]
    print(f"{'wall s (read+train+eval+save)':32}{ours['wall_s']:>10}{base['wall_s']:>28}{'-':>20}")
    ref_s = STARSPACE["antibody"]["seconds"] + STARSPACE["cell_type"]["seconds"]
    print(
        f"{'train s (both groups)':32}{ours['train_s']:>10}{base['train_s']:>28}{ref_s:>20}"
        f"   ratio {ref_s / max(ours['train_s'], 1e-9):,.0f}x"
    )
    for g in LABELS:
        for k in ("mrr", "top1"):
            print(
                f"{g + ' ' + k:32}{ours['groups'][g][k]:>10.3f}{base['groups'][g][k]:>28.3f}"
                f"{STARSPACE[g][k]:>20.3f}{TARGETS[g][k]:>9.2f}"
            )


#: Ablation settings: name -> (TrainParams overrides, tile width, train on peak-subset copies).
ABLATION: dict[str, tuple[dict[str, Any], int, bool]] = {
    "bundled (5 kb, eta^1, 30k/group, min_df 2, squared, dim 29, float16)": ({}, 5000, False),
    "tile width 1 kb": ({}, 1000, False),
    "10k tokens per group": ({"tokens_per_group": 10_000}, 5000, False),
    "100k tokens per group": ({"tokens_per_group": 100_000}, 5000, False),
    "every token (no selection)": ({"tokens_per_group": None}, 5000, False),
    "min_df 1": ({"min_df": 1}, 5000, False),
    "min_df 5": ({"min_df": 5}, 5000, False),
    "eta^2 weights": ({"weight_power": 2.0}, 5000, False),
    "IDF weights, every token": ({"weighting": "idf", "tokens_per_group": None}, 5000, False),
    "no weights, every token": ({"weighting": "none", "tokens_per_group": None}, 5000, False),
    "softmax over the group": ({"loss": "softmax"}, 5000, False),
    "hinge, 5 sampled negatives": ({"loss": "hinge"}, 5000, False),
    "dim 16": ({"dim": 16}, 5000, False),
    "dim 8": ({"dim": 8}, 5000, False),
    "float32 storage": ({"dtype": "float32"}, 5000, False),
    "augmented: 4 peak subsets (2-20 %) per file": ({}, 5000, True),
    "StarSpace settings (hinge, unweighted, every 1 kb token)": (dataclasses.asdict(STARSPACE_LIKE), 1000, False),
}


def ablation(data: Path, n_splits: int) -> list[dict[str, Any]]:
    """Score every ABLATION setting by seeded splits of the training files (the test split is never used)."""
    corpora: dict[int, Corpus] = {}
    rows = []
    for name, (overrides, width, augmented) in ABLATION.items():
        if width not in corpora:
            full = read_corpus(
                data,
                data / "samples.csv",
                LABELS,
                TileUniverse(width),
                augment=4,
                augment_fraction=(0.02, 0.2),
                seed=1,
                workers=2,
            )
            corpora[width] = full.subset(stratified_split(full.labels["antibody"], 0.15, 0)[0])
        inner = corpora[width]
        params = dataclasses.replace(BUNDLED, **overrides)
        plain = dataclasses.replace(inner, augmented=None, augmented_source=np.zeros(0, np.int64))
        scores, started, size = [], time.perf_counter(), 0.0
        for split in range(n_splits):
            train, test = stratified_split(inner.labels["antibody"], 0.15, 100 + split)
            model = train_model(inner if augmented else plain, params, name=name, train_rows=train)
            vectors = model.token_vectors.astype(params.dtype).astype(np.float32)
            size = model.token_ids.shape[0] * (model.dim * np.dtype(params.dtype).itemsize + 4) / 1e6
            whole = evaluate_embeddings(
                embed_region_sets(inner.matrix, model.token_ids, vectors),
                inner.labels,
                model.groups,
                model.label_vectors,
                test,
            )
            assert inner.augmented is not None
            sub = np.flatnonzero(np.isin(inner.augmented_source, test))
            sparse_labels = {g: [inner.labels[g][i] for i in inner.augmented_source[sub]] for g in LABELS}
            sparse = evaluate_embeddings(
                embed_region_sets(inner.augmented[sub], model.token_ids, vectors),
                sparse_labels,
                model.groups,
                model.label_vectors,
                np.arange(sub.size),
            )
            scores.append([r[g][k] for r in (whole, sparse) for g in LABELS for k in ("mrr", "top1")])
        mean = np.mean(scores, axis=0)
        rows.append(
            {
                "setting": name,
                "model_mb": round(size, 1),
                "s_per_fit": round((time.perf_counter() - started) / n_splits, 1),
                "whole": mean[:4].round(3).tolist(),
                "sparse": mean[4:].round(3).tolist(),
            }
        )
        print(_ablation_row(rows[-1]), flush=True)
    return rows


def _ablation_row(r: dict[str, Any]) -> str:
    cells = " | ".join(f"{v:.3f}" for v in r["whole"] + r["sparse"])
    return f"| {r['setting']} | {cells} | {r['model_mb']} | {r['s_per_fit']} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED, help="folder with the BED files and samples.csv")
    parser.add_argument("--json", type=Path, help="write all numbers to this JSON file")
    parser.add_argument("--ablation", action="store_true", help="also run the parameter study (~15 min)")
    parser.add_argument("--splits", type=int, default=10, help="inner splits per ablation setting")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": bench(args.data)}
    _print_bench(result["bench"])
    if args.ablation:
        print(
            "\n| setting | ab MRR | ab top-1 | ct MRR | ct top-1 | sparse ab MRR | sparse ab top-1 | sparse ct MRR "
            "| sparse ct top-1 | model MB | s/fit |\n|---|" + "---|" * 10
        )
        result["ablation"] = ablation(args.data, args.splits)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
