"""How often the bundled model's `assay` group ranks each real file's own assay first (in-sample: these files
trained it, so this is a sanity check of the assay ranking, not an evaluation).

Reconcile compares the authors' assay (library strategy) with this ranking, so a model that ranks ChIP-seq first for
DNase files turns every DNase sample into a flag and hides a DNase file filed as ChIP-Seq.

    python scripts/check_assay_calls.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from annotator.model.format import load_model
from annotator.project import STATUS_OK, project_file

CORPORA = {"encode-uniform-dnase": "DNase-seq", "encode-broad-histone-hg19": "ChIP-seq", "encode-dream-tf": "ChIP-seq"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--limit", type=int, default=20, help="files per corpus")
    args = parser.parse_args()
    model = load_model()
    for corpus, truth in CORPORA.items():
        tops: Counter[str] = Counter()
        for path in sorted((args.data / corpus).glob("*.gz"))[: args.limit]:
            p = project_file(model, path, sample_id=path.name)
            if p.status == STATUS_OK and p.rankings and "assay" in p.rankings:
                tops[p.rankings["assay"].labels[0]] += 1
        n = sum(tops.values())
        print(f"{corpus}: {n} files, truth {truth}, assay rank-1 {dict(tops)}, right {tops[truth] / max(n, 1):.0%}")


if __name__ == "__main__":
    main()
