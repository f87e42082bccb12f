"""Check the shared target vocabulary against the corpora in ../shared/data: every label of every samples.csv must be
a known symbol that the extractor reads back as itself, and every cell type must be read as written.

Also reports how often the extractor reads the right target and cell type from the corpora's file names alone
(UCSC camel-case names such as ``wgEncodeAwgTfbsHaibGm12878Ebf1sc137065…``, DREAM's ``ChIPseq.A549.CEBPB…``). The
aliases were written while looking at these names, so this is a coverage check, not a held-out accuracy.

    python scripts/check_vocabulary.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from annotator.labels import kind_of, parse_antibody, parse_cell_type, text_labels

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the corpora")
    args = parser.parse_args(argv)
    problems = 0
    for samples in sorted(args.data.glob("*/samples.csv")):
        with samples.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        targets = {row.get("antibody") or row.get("assay") or "" for row in rows} - {""}
        cells = {row["cell_type"] for row in rows}
        bad_targets = sorted(t for t in targets if kind_of(t) is None or _canonical(parse_antibody(t)) != t)
        bad_cells = sorted(c for c in cells if _canonical(parse_cell_type(c)) != c)
        named = [text_labels(row["file_name"]) for row in rows]
        right_target = sum(
            n["antibody"] == (row.get("antibody") or row.get("assay")) for n, row in zip(named, rows, strict=True)
        )
        right_cell = sum(n["cell_type"] == row["cell_type"] for n, row in zip(named, rows, strict=True))
        print(
            f"{samples.parent.name}: {len(rows)} files, {len(targets)} targets ({len(bad_targets)} unknown"
            f"{': ' + ', '.join(bad_targets) if bad_targets else ''}), {len(cells)} cell types ({len(bad_cells)} "
            f"unknown{': ' + ', '.join(bad_cells) if bad_cells else ''}); from file names alone: target right "
            f"{right_target}/{len(rows)}, cell type right {right_cell}/{len(rows)}"
        )
        problems += len(bad_targets) + len(bad_cells)
    if problems:
        print(f"{problems} labels are not in the vocabulary or not read back as themselves", file=sys.stderr)
    return 1 if problems else 0


def _canonical(label: object) -> str | None:
    return getattr(label, "canonical", None)


if __name__ == "__main__":
    sys.exit(main())
