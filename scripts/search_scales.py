"""What a cosine from `annotator search` means for the bundled model, measured on the training samples it ships.

    python scripts/search_scales.py

Prints (1) the label scores a `--label` search ranks by: each file's score for its own antibody vs for every other
antibody; (2) the cosines a `--bed` search ranks by, between files with the same and with different antibodies, in
the antibody block, the cell-type block and over the whole vector; (3) for each space, how many of a file's 10
nearest other files share its antibody and its cell type (why `--bed` compares in the antibody block by default).
These are the model's own training files, so the numbers are on the optimistic side for unseen files. Needs only
the bundled model (no ../shared data); a few seconds.
"""

from __future__ import annotations

import numpy as np

from annotator.embeddings import label_blocks, unit_rows
from annotator.model.format import load_model
from annotator.model.samples import read_training_samples

_PCT = (10, 25, 50, 75, 90)


def _spread(values: np.ndarray) -> str:
    return " ".join(f"p{p}={v:.3f}" for p, v in zip(_PCT, np.percentile(values, _PCT), strict=True))


def main() -> None:
    model = load_model(None)
    samples = read_training_samples(model)
    if samples is None:
        raise SystemExit(f"model {model.name} ships no training samples")
    labels = model.groups["antibody"]
    rows = [i for i, lab in enumerate(samples.labels) if lab.get("antibody") in labels]
    antibody = [samples.labels[i]["antibody"] for i in rows]
    cell = [samples.labels[i].get("cell_type") for i in rows]
    vectors = samples.vectors[rows]
    print(f"{model.name}: {len(rows)} training files with an antibody label")

    scores = vectors @ model.unit_label_vectors["antibody"].T
    own_col = np.array([labels.index(a) for a in antibody])
    own = scores[np.arange(len(rows)), own_col]
    others = np.delete(scores.reshape(-1), np.arange(len(rows)) * len(labels) + own_col)
    print(f"--label score, own antibody      {_spread(own)}")
    print(f"--label score, other antibodies  {_spread(others)}")

    same = np.equal.outer(np.array(antibody, dtype=object), np.array(antibody, dtype=object))
    same_cell = np.equal.outer(np.array(cell, dtype=object), np.array(cell, dtype=object))
    off = ~np.eye(len(rows), dtype=bool)
    blocks = label_blocks(model)
    spaces = {f"{g} block": unit_rows(vectors[:, dims]) for g, dims in blocks.items() if g in ("antibody", "cell_type")}
    spaces["whole vector"] = vectors
    for name, matrix in spaces.items():
        cosine = matrix @ matrix.T
        print(f"--bed cosine in the {name}: same antibody {_spread(cosine[same & off])}")
        print(f"{'':<24}different antibody {_spread(cosine[~same & off])}")
        ranked = np.argsort(-np.where(off, cosine, -np.inf), axis=1)[:, :10]
        share_ab = np.mean(np.take_along_axis(same, ranked, axis=1))
        share_cell = np.mean(np.take_along_axis(same_cell, ranked, axis=1))
        print(f"{'':<24}10 nearest share the antibody {share_ab:.0%}, the cell type {share_cell:.0%}")


if __name__ == "__main__":
    main()
