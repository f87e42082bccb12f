"""Score the identifiers annotator gives GEO-style strings against a hand-made answer sheet.

Each line of ``tests/data/identifiers.tsv`` is a string an author might write, with the Cellosaurus / CL / UBERON
identifier its cell type should get and the HGNC ID its protein target should get ('-': none). A ``key: value``
string is read as that characteristic of a sample, any other string as its title (what `annotator run` does).

Per expected identifier: *right* (the same identifier, or none where none is expected), *wrong* (another
identifier, or one where none is expected) or *none* (no identifier given: unknown or ambiguous). Printed per split
(``tuned``: strings looked at while the matcher was built; ``heldout``: never tuned on), with every wrong one, and
how many of the protein targets the extractor read got their expected HGNC ID, and the last line
``right=… wrong=… none=…`` over all.

Run: ``python scripts/check_identifiers.py [--file tests/data/identifiers.tsv] [--split heldout]``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotator.labels import extract_labels  # noqa: E402
from annotator.labels.extract import identifier_columns  # noqa: E402

NONE = "-"


def sample_of(text: str) -> dict[str, Any]:
    """A samples row holding `text` as a characteristic (``key: value``) or as the title."""
    key, sep, value = text.partition(": ")
    if sep and 0 < len(key) <= 40:
        return {"characteristics": [{"key": key, "value": value}]}
    return {"title": text}


def verdict(expected: str, got: str | None) -> str:
    if got is None:
        return "right" if expected == NONE else "none"
    return "right" if got == expected else "wrong"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=ROOT / "tests" / "data" / "identifiers.tsv")
    parser.add_argument("--split", help="score only this split (tuned or heldout)")
    args = parser.parse_args(argv)
    rows = [r for r in csv.DictReader(_lines(args.file), delimiter="\t") if not args.split or r["split"] == args.split]
    totals: dict[str, Counter[str]] = {}
    wrong: list[str] = []
    targets = Counter[str]()  # protein targets the extractor read: is their HGNC ID the expected one?
    for row in rows:
        labels = extract_labels(sample_of(row["text"]), {})
        ids = identifier_columns(labels)
        antibody = labels.get("antibody")
        if antibody is not None and antibody.kind == "non_histone" and row["antibody_id"] != NONE:
            targets["right" if antibody.ontology_id == row["antibody_id"] else "wrong"] += 1
        for column, got in (("cell_type_id", ids["cell_type_id"]), ("antibody_id", ids["antibody_id"])):
            outcome = verdict(row[column], got)
            totals.setdefault(row["split"], Counter())[outcome] += 1
            totals.setdefault(f"{row['split']} {column}", Counter())[outcome] += 1
            if outcome == "wrong":
                wrong.append(f"  wrong {column}: {row['text']!r} expected {row[column]} got {got}")
            elif outcome == "none" and args.split:
                print(f"  none  {column}: {row['text']!r} expected {row[column]} (candidates "
                      f"{ids['cell_type_id_candidates']})")  # fmt: skip
    print("\n".join(wrong))
    for name, counts in sorted(totals.items()):
        n = sum(counts.values())
        print(f"{name}: {n} identifiers, right {counts['right'] / n:.1%}, wrong {counts['wrong'] / n:.1%}, "
              f"none {counts['none'] / n:.1%}")  # fmt: skip
    print(f"protein targets read: {sum(targets.values())}, HGNC ID right for {targets['right']}")
    overall = sum((c for name, c in totals.items() if name in ("tuned", "heldout")), Counter())
    print(f"right={overall['right']} wrong={overall['wrong']} none={overall['none']}")
    return 0


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]


if __name__ == "__main__":
    raise SystemExit(main())
