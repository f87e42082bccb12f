"""Label swaps through reconcile_workdir on a tiny model: projected files, archived vectors, annotations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from modelkit import ANTIBODIES, CELL_TYPES, WIDTH, labelled_model, write_bed

from annotator.config import Config
from annotator.embeddings import EmbeddingArchive
from annotator.flags import Flag
from annotator.hashing import sha256_of
from annotator.model.format import BedspaceModel
from annotator.project import project_file, to_predictions_table
from annotator.reconcile import reconcile_workdir
from annotator.tables import read_table, to_table, write_table

TILES = 60  # labelled_model's tiles per label


def _label_tiles(antibodies: str, cell: str) -> list[tuple[str, int, int]]:
    """Regions on 40 tiles of the antibodies' chr1 blocks ("A+B": 20 of each) and 20 of the cell type's chr2 block."""
    names = antibodies.split("+")
    rows = []
    for name in names:
        first = ANTIBODIES.index(name) * TILES
        rows += [("chr1", (first + i) * WIDTH + 100, (first + i) * WIDTH + 600) for i in range(40 // len(names))]
    c = CELL_TYPES.index(cell)
    rows += [("chr2", (c * TILES + i) * WIDTH + 100, (c * TILES + i) * WIDTH + 600) for i in range(20)]
    return sorted(rows)


def _night(tmp_path: Path, samples: list[tuple[str, str, str, str]]) -> tuple[Path, BedspaceModel]:
    """A projected workdir: samples (gsm, gse, what the authors wrote, antibody the data are drawn from)."""
    model = labelled_model(tmp_path)
    work = tmp_path / "work"
    (work / "beds").mkdir(parents=True)
    rows, projections = [], []
    for gsm, gse, written, truth in samples:
        path = write_bed(work / "beds" / f"{gsm}.bed", _label_tiles(truth, "K562"))
        sid = f"{gsm}/{gsm}.bed"
        sha = sha256_of(path)
        rows.append({"gsm": gsm, "gse": gse, "sample_id": sid, "title": f"K562 {written} ChIP-seq",
                     "selected": True, "sha256": sha, "local_path": f"beds/{gsm}.bed"})  # fmt: skip
        projections.append(dataclasses.replace(project_file(model, path, sid), file_sha256=sha))
    write_table("samples", to_table("samples", rows), work / "samples.parquet")
    write_table("predictions", to_predictions_table(projections, model.digest), work / "predictions.parquet")
    EmbeddingArchive.for_model(work, model).append(projections)
    return work, model


def _antibody_rows(path: Path) -> dict[str, dict]:
    return {r["gsm"]: r for r in read_table("annotations", path).to_pylist() if r["group"] == "antibody"}


@pytest.mark.parametrize("chunk_size", [256, 1])  # 1: the two samples of a pair are reconciled in different chunks
def test_a_swapped_pair_is_flagged_on_both_samples(tmp_path: Path, chunk_size: int) -> None:
    work, model = _night(tmp_path, [
        ("GSM1", "GSE1", "H3K4me3", "H3K36me3"),  # labelled H3K4me3, data H3K36me3
        ("GSM2", "GSE1", "H3K36me3", "H3K4me3"),  # and the other way round: swapped
        ("GSM3", "GSE1", "H3K27ac", "H3K27ac"),  # right
        ("GSM4", "GSE2", "H3K9me3", "H3K4me1"),  # mislabelled, and its mirror image sits in another series
        ("GSM5", "GSE3", "H3K4me1", "H3K9me3"),
        ("GSM6", "GSE1", "H3K9ac", "H3K27ac"),  # a one-sided misfit in the swap's series
    ])  # fmt: skip
    result = reconcile_workdir(work, model, Config(), chunk_size=chunk_size)
    rows = _antibody_rows(result.path)
    assert rows["GSM1"]["swapped_with"] == "GSM2/GSM2.bed" and rows["GSM2"]["swapped_with"] == "GSM1/GSM1.bed"
    for gsm in ("GSM1", "GSM2"):
        assert rows[gsm]["flag"] == Flag.CONFIDENT_MISMATCH
        assert rows[gsm]["reason"].startswith("labels of GSM1 and GSM2 look swapped: ")
        swap = json.loads(rows[gsm]["evidence"])["swap"]
        assert swap["partner_gsm"] == ("GSM2" if gsm == "GSM1" else "GSM1") and swap["gain"] >= 0.2
    assert json.loads(rows["GSM1"]["evidence"])["swap"]["partner_label"] == "H3K36me3"
    for gsm in ("GSM3", "GSM4", "GSM5", "GSM6"):
        assert rows[gsm]["swapped_with"] is None and "swapped" not in rows[gsm]["reason"], gsm
    assert rows["GSM3"]["flag"] == Flag.MATCH
    assert result.swap_pairs == 1
    counted = read_table("annotations", result.path).column("flag").to_pylist()
    assert result.flags == {f: counted.count(f) for f in set(counted)}


def test_the_swap_overrides_a_weaker_flag_and_keeps_it_in_the_evidence(tmp_path: Path) -> None:
    # data between two marks: no confident call, so without the swap check the rows are weak flags
    work, model = _night(tmp_path, [("GSM1", "GSE1", "H3K27me3", "H3K4me1+H3K9ac"),
                                    ("GSM2", "GSE1", "H3K4me1", "H3K27me3+H3K9ac")])  # fmt: skip
    unchecked = _antibody_rows(reconcile_workdir(work, model, Config(swap_min_gain=2.0)).path)  # no gain reaches 2
    assert all(r["swapped_with"] is None for r in unchecked.values())
    assert unchecked["GSM1"]["flag"] == Flag.REPRESSIVE_LOW_CONFIDENCE
    assert unchecked["GSM2"]["flag"] == Flag.LOW_CONFIDENCE
    rows = _antibody_rows(reconcile_workdir(work, model, Config()).path)
    for gsm in ("GSM1", "GSM2"):
        assert rows[gsm]["flag"] == Flag.CONFIDENT_MISMATCH
        swap = json.loads(rows[gsm]["evidence"])["swap"]
        assert swap["flag_before"] == unchecked[gsm]["flag"] and swap["reason_before"] == unchecked[gsm]["reason"]


def test_no_archived_vector_means_no_swap_claim(tmp_path: Path) -> None:
    work, model = _night(tmp_path, [("GSM1", "GSE1", "H3K4me3", "H3K36me3"), ("GSM2", "GSE1", "H3K36me3", "H3K4me3")])
    for part in EmbeddingArchive.for_model(work, model).parts():
        part.unlink()
    rows = _antibody_rows(reconcile_workdir(work, model, Config()).path)
    assert all(r["swapped_with"] is None for r in rows.values())
