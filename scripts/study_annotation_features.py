"""Study: do cell-type-invariant annotation features help the verdict catch wrong antibody labels?

    python scripts/bench_mislabels.py --evidence /tmp/ev.npz --cache /tmp/corpus.npz   # first: the evidence
    python scripts/study_annotation_features.py --evidence /tmp/ev.npz --cache /tmp/corpus.npz [--tracks tss]

Each file (under each condition) and each training file gets a profile: the share of its 5 kb tiles holding a gene
TSS (GREAT v4 genes, MIT), a CpG island and a lamina-associated domain (ChromHMM's hg19 tracks, GPL-3.0) from
`../shared/data/hg19-annotation`. Two features join the verdict's: the L1 distance between the file's profile and
the nearest training file of the label, and that distance minus the nearest of any label. The verdict is then
fitted and scored exactly as `bench_mislabels.py` does it (nested, leave one source out, the class rule); the table
printed is its antibody and cell-type rows. Not shipped (see the model card): the gain was small, and the CpG and
LAD tracks are GPL-3.0.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import sys
from pathlib import Path

import numpy as np

from annotator.model.bundle import BUNDLED_WIDTH, default_data_root
from annotator.model.crossval import label_out_folds, source_folds
from annotator.model.sources import SourceCorpus, load_cache
from annotator.model.verdict_fit import Evidence, crossfit, mislabel_kind, table
from annotator.regions.genome import HG19
from annotator.regions.universe import TileUniverse


def _flags_of_points(universe: TileUniverse, path: Path) -> np.ndarray:
    """Tiles holding a TSS of the GREAT gene table (CHROM, POS columns)."""
    code, out = HG19.code_of(), np.zeros(universe.n_tokens, dtype=bool)
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if (k := code.get(fields[1])) is not None:
                out[universe.offsets[k] + int(fields[2]) // universe.width] = True
    return out


def _flags_of_intervals(universe: TileUniverse, path: Path) -> np.ndarray:
    """Tiles overlapping any interval of a BED file."""
    code, out = HG19.code_of(), np.zeros(universe.n_tokens, dtype=bool)
    with gzip.open(path, "rt") as fh:
        for line in fh:
            fields = line.split("\t")
            if (k := code.get(fields[0])) is not None:
                first = universe.offsets[k] + int(fields[1]) // universe.width
                out[first : universe.offsets[k] + (int(fields[2]) - 1) // universe.width + 1] = True
    return out


def profile_features(evidence: Evidence, corpus: SourceCorpus, tracks: np.ndarray) -> np.ndarray:
    """(rows, 2): per evidence row, the profile distance to the label's nearest training file, and that minus the
    distance to the nearest training file of any label."""
    profiles = {}
    for condition in np.unique(evidence.condition):
        m = corpus.matrix(condition, (BUNDLED_WIDTH,)).astype(np.float64)
        profiles[condition] = (m @ tracks) / np.maximum(np.asarray(m.sum(axis=1)).ravel(), 1.0)[:, None]
    folds = {f"loso:{s}": v for s, v in source_folds(corpus).items()}
    folds["out:cell-third"] = label_out_folds(corpus)["cell-third"]
    out = np.zeros((evidence.wrong.shape[0], 2))
    for fold, (train, _) in folds.items():
        for group in np.unique(evidence.group):
            rows = np.flatnonzero((evidence.fold == fold) & (evidence.group == group))
            ref_profile, ref_label = profiles["whole"][train], corpus.labels[group][train]
            for condition in np.unique(evidence.condition[rows]):
                r = rows[evidence.condition[rows] == condition]
                files, at = np.unique(evidence.file[r], return_inverse=True)
                dist = np.abs(profiles[condition][files][:, None, :] - ref_profile[None, :, :]).sum(axis=2)
                far = np.full(files.shape[0], float(tracks.shape[1]))  # a label without a training file
                nearest = {lab: dist[:, ref_label == lab].min(axis=1) if (ref_label == lab).any() else far
                           for lab in np.unique(evidence.label[r])}  # fmt: skip
                own = np.array([nearest[lab][i] for lab, i in zip(evidence.label[r], at, strict=True)])
                out[r, 0], out[r, 1] = own, own - dist.min(axis=1)[at]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evidence", type=Path, required=True, help="evidence written by bench_mislabels.py --evidence")
    ap.add_argument("--cache", type=Path, required=True, help="corpus cache written by bench_mislabels.py --cache")
    ap.add_argument("--annotation", type=Path, default=default_data_root() / "hg19-annotation")
    ap.add_argument("--tracks", choices=("tss", "all"), default="all", help="TSS only (MIT data) or TSS, CpG, LAD")
    args = ap.parse_args()
    evidence, corpus = Evidence.load(args.evidence), load_cache(args.cache)
    kinds = [mislabel_kind(g, t, lab) for g, t, lab in zip(evidence.group, evidence.truth, evidence.label, strict=True)]
    evidence = dataclasses.replace(evidence, kind=np.array(kinds, dtype=object))
    universe = TileUniverse(BUNDLED_WIDTH)
    tracks = [_flags_of_points(universe, args.annotation / "great_v4_genes_hg19.tsv.gz")]
    if args.tracks == "all":
        tracks += [_flags_of_intervals(universe, args.annotation / name)
                   for name in ("cpg_islands_hg19.bed.gz", "lamina_lads_hg19.bed.gz")]  # fmt: skip
    extra = profile_features(evidence, corpus, np.stack(tracks, axis=1).astype(np.float64))
    _, flagged = crossfit(dataclasses.replace(evidence, features=np.column_stack([evidence.features, extra])))
    print("| group | condition | false alarms | recall | across | within |")
    print("|---|---|---|---|---|---|")
    for row in table(evidence, flagged):
        across = "-" if row["recall_across"] is None else f"{row['recall_across']:.3f}"
        print(f"| {row['group']} | {row['condition']} | {row['false_alarm']:.3f} | {row['recall']:.3f} | {across} "
              f"| {row['recall_within']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
