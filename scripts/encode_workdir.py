"""Make an annotator workdir from a folder of peak files and its metadata CSV (e.g. the 140 shared ENCODE files),
so `annotator project/reconcile/report/search --workdir` run on real data without GEO.

Each file becomes one selected, "downloaded" sample under WORKDIR/beds/<stem>/ (one folder per sample, as the
harvest keeps them) — a hard link when the workdir is on the same file system, else a copy; never a symbolic link,
which annotator refuses as a path leading out of the workdir — whose
characteristics carry the CSV's labels as an author would write them (`chip antibody`, `cell line`); accessions are
not GEO's, so the report does not link them.

    python scripts/encode_workdir.py --beds ../shared/data/encode-broad-histone-hg19 --workdir /tmp/encode-work
    annotator project --workdir /tmp/encode-work && annotator reconcile --workdir /tmp/encode-work
    annotator report --workdir /tmp/encode-work && annotator search --workdir /tmp/encode-work --label H3K27ac
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
from pathlib import Path

from annotator.tables import to_table, write_table


def make_workdir(beds: Path, metadata: Path, workdir: Path, series: str) -> int:
    """Write WORKDIR/samples.parquet for every file listed in `metadata`; returns the number of samples."""
    (workdir / "beds").mkdir(parents=True, exist_ok=True)
    rows = []
    with metadata.open(newline="", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            name = r["file_name"]
            source = (beds / name).resolve()
            stem = name.split(".")[0]
            target = workdir / "beds" / stem / name  # one folder per sample, as the harvest keeps them
            target.parent.mkdir(exist_ok=True)
            _place(source, target)
            characteristics = [{"key": "chip antibody", "value": r.get("antibody") or ""},
                               {"key": "cell line", "value": r.get("cell_type") or ""}]  # fmt: skip
            if r.get("treatment"):
                characteristics.append({"key": "treatment", "value": r["treatment"]})
            rows.append({
                "gsm": stem, "gse": series, "title": f"{r.get('cell_type', '')} {r.get('antibody', '')}",
                "organism": "Homo sapiens", "library_strategy": "ChIP-Seq", "characteristics": characteristics,
                "genome_build": "hg19", "build_evidence": "ENCODE hg19 track", "file_name": name,
                "file_kind": "broadPeak", "selected": True, "local_path": f"beds/{stem}/{name}",
                "file_size": source.stat().st_size, "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                "download_status": "downloaded", "sample_id": f"{stem}/{name}",
            })  # fmt: skip
    write_table("samples", to_table("samples", rows), workdir / "samples.parquet")
    return len(rows)


def _place(source: Path, target: Path) -> None:
    """Put `source`'s bytes at `target`: a hard link on the same file system, else a copy (a symlink is refused)."""
    if target.is_symlink():  # left by an older version of this script
        target.unlink()
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed there
        shutil.copyfile(source, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--beds", type=Path, required=True, help="folder of peak files")
    parser.add_argument("--metadata", type=Path, help="CSV: file_name, antibody, cell_type (default BEDS/samples.csv)")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--series", default="wgEncodeBroadHistone", help="series name recorded for every sample")
    args = parser.parse_args()
    n = make_workdir(args.beds, args.metadata or args.beds / "samples.csv", args.workdir, args.series)
    print(f"{n} samples -> {args.workdir / 'samples.parquet'}")


if __name__ == "__main__":
    main()
