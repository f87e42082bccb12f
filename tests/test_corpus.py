"""Reading a training corpus: metadata CSV + BED folder -> sample x token matrix and labels."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from modelkit import write_bed

from annotator.errors import InputError
from annotator.model.corpus import metadata_columns, read_corpus, read_metadata
from annotator.regions.universe import TileUniverse

UNIVERSE = TileUniverse(1000)
CHR2 = int(UNIVERSE.offsets[1])


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _corpus_dir(tmp_path: Path) -> tuple[Path, Path]:
    beds = tmp_path / "beds"
    (beds / "sub").mkdir(parents=True)
    write_bed(beds / "a.bed", [("chr1", 0, 1500), ("chr1", 5000, 5100)])  # tiles 0, 1, 5
    write_bed(beds / "sub" / "b.bed.gz", [("2", 100, 200), ("chr1", 999, 1001)])  # chr2 tile 0; chr1 tiles 0, 1
    write_bed(beds / "c.bed", [("chr1", 2000, 3000)])  # tile 2 (touching tile 3 does not count)
    meta = _write_csv(
        tmp_path / "samples.csv",
        [
            {"file_name": "a.bed", "antibody": "H3K4me3", "cell_type": "CD14+ monocytes"},
            {"file_name": "sub/b.bed.gz", "antibody": "H3K27me3", "cell_type": "fibroblast, lung"},
            {"file_name": "c.bed", "antibody": "", "cell_type": " K562 "},
        ],
    )
    return beds, meta


def test_read_corpus_tokenizes_each_file_and_keeps_labels_verbatim(tmp_path: Path) -> None:
    beds, meta = _corpus_dir(tmp_path)
    corpus = read_corpus(beds, meta, ["antibody", "cell_type"], UNIVERSE, workers=1)
    assert corpus.files == ("a.bed", "sub/b.bed.gz", "c.bed")
    assert corpus.matrix.shape == (3, UNIVERSE.n_tokens)
    rows = [corpus.matrix[i].indices.tolist() for i in range(3)]
    assert rows == [[0, 1, 5], [0, 1, CHR2], [2]]
    assert corpus.matrix.data.tolist() == [1.0] * 7
    assert corpus.labels["cell_type"] == ("CD14+ monocytes", "fibroblast, lung", "K562")
    assert corpus.labels["antibody"] == ("H3K4me3", "H3K27me3", "")
    assert corpus.label_names("antibody") == ("H3K27me3", "H3K4me3")
    assert corpus.label_ids("antibody", ["H3K27me3", "H3K4me3"]).tolist() == [1, 0, -1]
    assert corpus.n_regions.tolist() == [2, 2, 1]
    sub = corpus.subset(np.array([2, 0]))
    assert sub.files == ("c.bed", "a.bed") and sub.labels["cell_type"] == ("K562", "CD14+ monocytes")


def test_augmented_rows_are_seeded_subsets_of_their_file(tmp_path: Path) -> None:
    beds = tmp_path / "beds"
    beds.mkdir()
    write_bed(beds / "big.bed", [("chr1", i * 10_000, i * 10_000 + 500) for i in range(200)])
    write_bed(beds / "small.bed", [("chr3", 0, 100)])
    meta = _write_csv(tmp_path / "m.csv", [{"file_name": "big.bed", "g": "x"}, {"file_name": "small.bed", "g": "y"}])
    corpus = read_corpus(beds, meta, ["g"], UNIVERSE, augment=3, augment_fraction=(0.1, 0.3), seed=7, workers=1)
    assert corpus.augmented is not None and corpus.augmented.shape[0] == 6
    assert corpus.augmented_source.tolist() == [0, 0, 0, 1, 1, 1]
    for i, src in enumerate(corpus.augmented_source):
        part, full = set(corpus.augmented[i].indices), set(corpus.matrix[src].indices)
        assert part and part <= full
    sizes = [corpus.augmented[i].nnz for i in range(3)]
    assert all(5 <= s <= 100 for s in sizes)  # 10-30 % of 200 peaks, with sampling noise
    again = read_corpus(beds, meta, ["g"], UNIVERSE, augment=3, augment_fraction=(0.1, 0.3), seed=7, workers=1)
    assert again.augmented is not None and (again.augmented != corpus.augmented).nnz == 0
    sub = corpus.subset(np.array([1]))
    assert sub.augmented is not None and sub.augmented.shape[0] == 3 and sub.augmented_source.tolist() == [0, 0, 0]


def test_worker_processes_give_the_same_matrix(tmp_path: Path) -> None:
    beds = tmp_path / "beds"
    beds.mkdir()
    rows = []
    for i in range(8):
        write_bed(beds / f"f{i}.bed", [("chr1", 1000 * i, 1000 * i + 2500), ("chrX", 50, 60)])
        rows.append({"file_name": f"f{i}.bed", "g": "x" if i % 2 else "y"})
    meta = _write_csv(tmp_path / "m.csv", rows)
    serial = read_corpus(beds, meta, ["g"], UNIVERSE, workers=1)
    parallel = read_corpus(beds, meta, ["g"], UNIVERSE, workers=2)
    assert (serial.matrix != parallel.matrix).nnz == 0 and serial.labels == parallel.labels


def test_missing_files_columns_and_duplicates_are_named(tmp_path: Path) -> None:
    beds, meta = _corpus_dir(tmp_path)
    with pytest.raises(InputError, match=r"no column 'tissue'.*file_name"):
        read_corpus(beds, meta, ["antibody", "tissue"], UNIVERSE)
    gone = _write_csv(tmp_path / "gone.csv", [{"file_name": "a.bed", "g": "x"}, {"file_name": "nope.bed", "g": "y"}])
    with pytest.raises(InputError, match=r"1 of 2 files .* not in .*nope\.bed"):
        read_corpus(beds, gone, ["g"], UNIVERSE)
    twice = _write_csv(tmp_path / "twice.csv", [{"file_name": "a.bed", "g": "x"}, {"file_name": "a.bed", "g": "y"}])
    with pytest.raises(InputError, match=r"more than once.*a\.bed"):
        read_metadata(twice, ["g"])
    with pytest.raises(InputError, match="at least one label column"):
        read_metadata(meta, [])
    assert metadata_columns(meta) == ["file_name", "antibody", "cell_type"]


def test_unreadable_bed_files_are_all_reported(tmp_path: Path) -> None:
    beds, _ = _corpus_dir(tmp_path)
    (beds / "binary.bed").write_bytes(b"\x00\x01\x02" * 100)
    (beds / "empty.bed").write_text("")
    meta = _write_csv(
        tmp_path / "m.csv",
        [{"file_name": n, "g": "x"} for n in ("a.bed", "binary.bed", "empty.bed")],
    )
    with pytest.raises(InputError, match=r"2 file\(s\) cannot be used.*binary\.bed: .*binary.*empty\.bed: .*empty"):
        read_corpus(beds, meta, ["g"], UNIVERSE, workers=1)
