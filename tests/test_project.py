import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from modelkit import planted_model, write_bed
from typer.testing import CliRunner

from annotator.batch import Job, project_many
from annotator.cli import app
from annotator.project import project_file, region_set_vector, to_predictions_table
from annotator.schema import SCHEMA_VERSION
from annotator.tables import read_table


@pytest.fixture
def model(tmp_path: Path):
    return planted_model(tmp_path)


def test_region_set_vector_is_the_normalised_sum_of_known_token_vectors(model) -> None:
    chr2 = int(model.universe.offsets[1])
    ids = np.array([0, 1, 2, chr2, 123_456])  # three chr1 tiles, one chr2 tile, one unknown tile
    v = region_set_vector(model, ids)
    expected = np.array([3, 1, 3, 1, 0, 0, 0, 0], dtype=np.float32)
    np.testing.assert_allclose(v, expected / np.linalg.norm(expected), rtol=1e-6)
    assert region_set_vector(model, np.array([123_456])) is None


def test_labels_are_ranked_per_group_with_margin_and_confidence(model, tmp_path: Path) -> None:
    bed = write_bed(tmp_path / "s1.bed.gz", [("chr1", 0, 5000), ("chr2", 0, 1000), ("chr7", 0, 100)])
    p = project_file(model, bed)
    assert p.status == "ok" and p.sample_id == "s1"
    ab, ct = p.rankings["antibody"], p.rankings["cell_type"]
    assert ab.labels == ("H3K4me3", "H3K27me3") and ct.labels == ("K562", "HepG2")
    # vector ∝ (5, 1, 5, 1): cos to each axis = 5/sqrt(52) and 1/sqrt(52)
    assert ab.scores[0] == pytest.approx(5 / np.sqrt(52), rel=1e-6)
    assert ab.margin == pytest.approx(4 / np.sqrt(52), rel=1e-6) and ab.confident
    assert (p.n_regions, p.n_regions_hit, p.n_tokens) == (3, 2, 6)
    assert p.coverage == pytest.approx(2 / 3)


def test_margin_threshold_decides_confidence(model, tmp_path: Path) -> None:
    bed = write_bed(tmp_path / "mixed.bed", [("chr1", 0, 5000), ("chr2", 0, 4000)])  # 5 vs 4 tiles
    p = project_file(model, bed, margin_threshold=0.1)
    assert p.rankings["antibody"].margin == pytest.approx(1 / np.sqrt(82), rel=1e-5)  # 0.110
    assert p.rankings["antibody"].confident
    assert not project_file(model, bed, margin_threshold=0.2).rankings["antibody"].confident


def test_no_overlap_and_bad_files_become_rows_not_exceptions(model, tmp_path: Path) -> None:
    far = project_file(model, write_bed(tmp_path / "far.bed", [("chr9", 5_000_000, 5_001_000)]))
    assert far.status == "no_overlap" and "none of 1 regions" in far.reason and not far.rankings
    (tmp_path / "junk.bed").write_bytes(b"\x00\x01binary")
    junk = project_file(model, tmp_path / "junk.bed")
    assert junk.status == "failed" and "binary" in junk.reason
    table = to_predictions_table([far, junk], model.digest)
    assert table.column("status").to_pylist() == ["no_overlap", "failed"]
    assert table.column("label").null_count == 2
    assert not any(np.isnan(x) for x in table.column("coverage").to_pylist())


def test_predictions_table_is_long_format_and_top_k_limited(model, tmp_path: Path) -> None:
    p = project_file(model, write_bed(tmp_path / "a.bed", [("chr1", 0, 100)]))
    t = to_predictions_table([p], model.digest, top_k=1)
    assert t.num_rows == 2 and t.column("rank").to_pylist() == [1, 1]
    assert to_predictions_table([p], model.digest, top_k=None).num_rows == 4


def test_process_pool_gives_the_same_results_in_input_order(model, tmp_path: Path) -> None:
    jobs = [
        Job(f"s{i}", write_bed(tmp_path / f"s{i}.bed", [("chr1" if i % 2 else "chr2", 0, 1000 * (i + 1))]))
        for i in range(6)
    ]
    jobs.insert(3, Job("broken", tmp_path / "missing.bed"))
    serial = list(project_many(jobs, model.path, workers=1))
    pooled = list(project_many(jobs, model.path, workers=2))
    assert [p.sample_id for p in pooled] == [j.sample_id for j in jobs]
    assert pooled[3].status == "failed"
    t1 = to_predictions_table(serial, model.digest)
    t2 = to_predictions_table(pooled, model.digest)
    assert t1.equals(t2)


def test_cli_project_writes_parquet_and_exits_1_when_a_file_fails(model, tmp_path: Path) -> None:
    beds = tmp_path / "beds"
    beds.mkdir()
    write_bed(beds / "good.narrowPeak", [("chr1", 0, 3000)])
    write_bed(beds / "other.bed.gz", [("chr2", 0, 3000)])
    (beds / "empty.bed").write_text("")
    out = tmp_path / "pred.parquet"
    result = CliRunner().invoke(
        app, ["project", str(beds), "--model", str(model.path), "--out", str(out), "--workers", "1"]
    )
    assert result.exit_code == 1, result.output
    table = read_table("predictions", out)
    top = {
        (r["sample_id"], r["group"]): r["label"] for r in table.to_pylist() if r["rank"] == 1
    }
    assert top[("good", "antibody")] == "H3K4me3" and top[("other", "cell_type")] == "HepG2"
    failed = [r for r in table.to_pylist() if r["status"] == "failed"]
    assert [r["sample_id"] for r in failed] == ["empty"] and "empty" in failed[0]["reason"]
    assert json.loads(table.column("skipped_by_reason")[0].as_py()) == {}
    assert pq.read_metadata(out).metadata[b"annotator.schema_version"] == SCHEMA_VERSION.encode()


def test_cli_reports_missing_model_cleanly(tmp_path: Path) -> None:
    bed = write_bed(tmp_path / "a.bed", [("chr1", 0, 100)])
    result = CliRunner().invoke(app, ["project", str(bed), "--model", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no model.json" in result.output and "Traceback" not in result.output


def test_cli_model_info_lists_groups_and_labels(model) -> None:
    result = CliRunner().invoke(app, ["model", "info", "--model", str(model.path)])
    assert result.exit_code == 0, result.output
    assert "antibody (2): H3K4me3, H3K27me3" in result.output
    assert "training samples: none shipped" in result.output  # a version-1 model without samples says so
    assert "calibrated confidence: none (format version 1" in result.output
