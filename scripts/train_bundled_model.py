"""Train the bundled model `models/encode-hg19-v2` from the four corpora in ../shared/data, and check it.

    python scripts/train_bundled_model.py                 # train, calibrate, evaluate, write models/encode-hg19-v2
    python scripts/train_bundled_model.py --check         # retrain into a temporary folder: identical bytes?
    python scripts/train_bundled_model.py --tables        # print the held-out tables of the bundled model.json
    python scripts/train_bundled_model.py --samples-only  # (re)write the training samples `annotator search` ships

Needs ../shared/data (or $ANNOTATOR_TRAINING_DATA); a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from annotator.model.bundle import default_data_root, train_bundled
from annotator.model.card import COLUMNS, format_cell, held_out_rows
from annotator.model.format import MODEL_CARD, load_model
from annotator.model.samples import TrainingSamples, training_sample_vectors, write_training_samples
from annotator.model.sources import DEFAULT_SOURCES, GROUPS, load_cache, read_source_labels

MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "encode-hg19-v2"
_WEIGHTS = ("model.json", "token_ids.npy", "token_vectors.npy", "label_vectors.npy", "reference_vectors.npy",
            "reference_tiles.npy", "training_vectors.npy")  # fmt: skip


def print_tables(meta: dict) -> None:
    print("| " + " | ".join(COLUMNS.values()) + " |")
    print("|---" * len(COLUMNS) + "|")
    for r in held_out_rows(meta["metrics"]):
        print("| " + " | ".join(format_cell(r[k]) for k in COLUMNS) + " |")
    print()
    print()
    print("| group | condition | known-label calls | no_known_label on them | unknown-label calls | no_known_label on "
          "them |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for r in meta["metrics"].get("no_known_label", []):
        print(f"| {r['group']} | {r['condition']} | {r['n_known']} | {format_cell(r['on_known'])} | {r['n_unknown']} "
              f"| {format_cell(r['on_unknown'])} |")  # fmt: skip
    print()
    print("| group | condition | true labels | false alarms | recall | across | within | slip | wrong labels ranked "
          "first, not flagged |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in meta["metrics"].get("mislabels", []):
        cells = [format_cell(r[k]) for k in ("false_alarm", "recall", "recall_across", "recall_within", "recall_slip")]
        print(f"| {r['group']} | {r['condition']} | {r['n']} | " + " | ".join(cells)
              + f" | {r['wrong_rank1_unflagged']} of {r['wrong']} |")  # fmt: skip
    for g, v in (meta.get("verdict") or {}).get("groups", {}).items():
        print(f"verdict {g}: threshold {v['threshold']:.4f} on {v['n_files']} held-out true labels")
    print()
    for b in meta["metrics"]["reliability"]:
        print(f"reliability {b['group']}: [{b['lo']:.2f},{b['hi']:.2f}) n={b['n']} p={b['mean_p']:.2f} "
              f"right={b['right']:.2f}")


def add_samples(data: Path, model_dir: Path) -> TrainingSamples:
    """Ship every training file's region-set vector and labels with the model, for `annotator search`."""
    model = load_model(model_dir)
    parts = []
    for source, folder in DEFAULT_SOURCES.items():
        rows = read_source_labels(data / folder, source)
        labels = [{g: r[g] or None for g in GROUPS} for r in rows]
        parts.append(training_sample_vectors(model, data / folder, [r["file_name"] for r in rows], labels))
    samples = TrainingSamples(
        [i for p in parts for i in p.sample_ids], [lab for p in parts for lab in p.labels],
        np.concatenate([p.vectors for p in parts]), [sha for p in parts for sha in p.file_sha256],
    )
    write_training_samples(model_dir, model.digest, samples)
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=MODEL_DIR)
    ap.add_argument("--cache", type=Path, default=None, help="corpus cache from scripts/study_model_v2.py")
    ap.add_argument("--check", action="store_true", help="retrain into a temporary folder and compare bytes")
    ap.add_argument("--tables", action="store_true", help="only print the tables of --out")
    ap.add_argument("--samples-only", action="store_true", help="only (re)write the training samples of --out")
    args = ap.parse_args()
    if args.tables:
        print_tables(json.loads((args.out / "model.json").read_text()))
        return 0
    data = args.data or default_data_root()
    if args.samples_only:
        print(f"{len(add_samples(data, args.out))} training samples written to {args.out}")
        return 0
    corpus = load_cache(args.cache) if args.cache and args.cache.is_file() else None
    started = time.perf_counter()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            again = Path(tmp) / args.out.name
            train_bundled(data, again, corpus=corpus)
            add_samples(data, again)
            same = [f for f in _WEIGHTS if filecmp.cmp(args.out / f, again / f, shallow=False)]
            print(f"retrained in {time.perf_counter() - started:.0f} s; identical: {same}")
            return 0 if len(same) == len(_WEIGHTS) else 1
    bundle = train_bundled(data, args.out, corpus=corpus)
    add_samples(data, args.out)
    print(f"trained {bundle.model.name} in {time.perf_counter() - started:.0f} s: {bundle.model.token_ids.size:,} "
          f"tokens x {bundle.model.dim} dims -> {args.out} (card {MODEL_CARD} kept if present)")
    print_tables(json.loads((args.out / "model.json").read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
