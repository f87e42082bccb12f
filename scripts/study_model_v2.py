"""Parameter study for model v2: leave-one-source-out top-1/MRR per GEO-like condition for parameter variants.

    python scripts/study_model_v2.py --cache /tmp/model-v2-cache.npz --folds tf-gm12878 --variant ridge=1

Reads ../shared/data once (or the --cache written by a previous run) and prints one markdown row per variant,
fold, group and condition. Used to choose the bundled parameters on the tuning fold only (see the model card).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from annotator.model.conditions import CONDITIONS
from annotator.model.crossval import fit_rows, label_out_folds, score_rows, source_folds, summarise, within_folds
from annotator.model.sources import SourceCorpus, load_cache, read_sources, save_cache
from annotator.model.train import TrainParams

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def corpus_from(cache: Path | None, data: Path) -> SourceCorpus:
    if cache is not None and cache.is_file():
        return load_cache(cache)
    corpus = read_sources(data, widths=(5000, 25000, 50000))
    if cache is not None:
        save_cache(corpus, cache)
    return corpus


def parse_variant(text: str) -> tuple[TrainParams, tuple[int, ...], tuple[str, ...]]:
    """`ridge=1,widths=5000+50000,augment=top2000+random1000,tokens=30000` -> parameters."""
    params, widths = TrainParams(ridge=1.0), (5000,)
    augment: tuple[str, ...] = ("top10000", "top2000", "top500", "random1000", "random300")
    for item in filter(None, text.split(",")):
        key, value = item.split("=")
        if key == "widths":
            widths = tuple(int(w) for w in value.split("+"))
        elif key == "augment":
            augment = tuple(a for a in value.split("+") if a and a != "none")
        elif key == "tokens":
            params = dataclasses.replace(params, tokens_per_group=int(value))
        elif key == "ridge":
            params = dataclasses.replace(params, ridge=float(value))
        elif key == "power":
            params = dataclasses.replace(params, weight_power=float(value))
        else:
            raise SystemExit(f"unknown variant key {key!r}")
    return params, widths, augment


def folds_for(corpus: SourceCorpus, names: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folds = {f"loso:{k}": v for k, v in source_folds(corpus).items()}
    folds |= {f"out:{k}": v for k, v in label_out_folds(corpus).items()}
    folds |= {f"within:{i}": v for i, v in enumerate(within_folds(corpus))}
    if names == ["within"]:
        return {k: v for k, v in folds.items() if k.startswith("within:")}
    return {k: folds[k if ":" in k else f"loso:{k}"] for k in names} if names else folds


def nested_choice(results: list[dict]) -> dict[str, str]:
    """Per leave-one-source-out fold, the variant with the best mean top-1 (antibody and cell type, every
    condition) on the *other* folds: the parameters that fold's reported numbers may use without tuning on it."""
    folds = sorted({r["fold"] for r in results if r["fold"].startswith("loso:")})
    variants = list(dict.fromkeys(r["variant"] for r in results))
    choice = {}
    for held in folds:
        def score(variant: str, held: str = held) -> float:
            vals = [r["top1"] for r in results if r["variant"] == variant and r["fold"] not in (held,)
                    and r["fold"].startswith("loso:") and r["group"] != "assay" and r["n"]]
            return float(np.mean(vals)) if vals else -1.0
        choice[held] = max(variants, key=score)
    return choice


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--folds", nargs="*", default=[], help="fold names (default: every fold)")
    ap.add_argument("--variant", action="append", default=[], help="parameter variant (repeatable)")
    ap.add_argument("--conditions", nargs="*", default=list(CONDITIONS))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--select", type=Path, default=None, help="print the nested choice from a --json of a run")
    args = ap.parse_args()
    if args.select is not None:
        for fold, variant in nested_choice(json.loads(args.select.read_text())).items():
            print(f"{fold}: {variant}")
        return 0
    corpus = corpus_from(args.cache, args.data)
    folds = folds_for(corpus, args.folds)
    results = []
    print("| variant | fold | group | condition | n | top-1 | MRR |\n|---|---|---|---|---|---|---|")
    for variant in args.variant or [""]:
        params, widths, augment = parse_variant(variant)
        pooled: dict[tuple[str, str], list[np.ndarray]] = {}
        for fold, (train, test) in folds.items():
            started = time.perf_counter()
            fitted = fit_rows(corpus, train, params, widths, augment)
            for condition in args.conditions:
                for group, calls in score_rows(fitted, corpus, test, condition).items():
                    s = summarise(calls)
                    pooled.setdefault((group, condition), []).append(calls.ranks[calls.in_vocab])
                    results.append({"variant": variant, "fold": fold, "group": group, "condition": condition, **s})
                    if s["n"]:
                        print(f"| {variant} | {fold} | {group} | {condition} | {s['n']} | {s['top1']:.3f} | "
                              f"{s['mrr']:.3f} |")
            print(f"<!-- {fold}: {time.perf_counter() - started:.1f} s -->", file=sys.stderr)
        for (group, condition), parts in pooled.items():
            ranks = np.concatenate(parts)
            if ranks.size:
                print(f"| {variant} | pooled | {group} | {condition} | {ranks.size} | {np.mean(ranks == 1):.3f} | "
                      f"{np.mean(1 / ranks):.3f} |")
        sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
