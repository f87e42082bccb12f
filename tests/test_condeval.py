"""`annotator evaluate --conditions`: a saved model scored under GEO-like conditions, unknown labels apart."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
from modelkit import planted_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.model.condeval import evaluate_conditions
from annotator.model.conditions import CONDITIONS


def _peaks(path: Path, chrom: str, n: int = 1200) -> None:
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 9_500, n)  # the planted model's ten 1 kb tiles of the chromosome
    text = "".join(f"{chrom}\t{s}\t{s + 200}\tp\t0\t.\t{rng.uniform(1, 9):.2f}\t-1\t-1\t100\n" for s in starts)
    path.write_bytes(gzip.compress(text.encode()))


def _corpus(tmp_path: Path) -> tuple[Path, Path]:
    beds = tmp_path / "beds"
    beds.mkdir()
    _peaks(beds / "a.narrowPeak.gz", "chr1")
    _peaks(beds / "b.narrowPeak.gz", "chr2")
    meta = tmp_path / "samples.csv"
    meta.write_text("file_name,antibody,cell_type\na.narrowPeak.gz,H3K4me3,K562\nb.narrowPeak.gz,CTCF,HepG2\n")
    return beds, meta


def test_every_condition_is_scored_and_unknown_labels_are_counted_apart(tmp_path: Path) -> None:
    model = planted_model(tmp_path)
    beds, meta = _corpus(tmp_path)
    rows = evaluate_conditions(model, beds, meta, workers=1)
    expected = [(c, g) for c in CONDITIONS for g in ("antibody", "cell_type")]
    assert [(r["condition"], r["group"]) for r in rows] == expected
    for r in rows:
        if r["group"] == "antibody":  # CTCF is not in the planted vocabulary: an OOV file, confidently mislabelled
            assert (r["n"], r["top1"], r["n_oov"], r["oov_confident_rate"]) == (1, 1.0, 1, 1.0)
        else:
            assert (r["n"], r["top1"], r["mrr"], r["confident_precision"], r["n_oov"]) == (2, 1.0, 1.0, 1.0, 0)


def test_cli_evaluate_conditions_prints_and_writes_json(tmp_path: Path) -> None:
    model = planted_model(tmp_path)
    beds, meta = _corpus(tmp_path)
    out = tmp_path / "cond.json"
    result = CliRunner().invoke(app, ["evaluate", "--model", str(model.path), "--beds", str(beds), "--metadata",
                                      str(meta), "--conditions", "--json", str(out), "-j", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "GEO-like conditions" in result.output and "whole" in result.output
    payload = json.loads(out.read_text())
    assert payload["digest"] == model.digest and len(payload["conditions"]) == 2 * len(CONDITIONS)


def test_a_bed3_copy_without_scores_projects_like_the_scored_file(tmp_path: Path) -> None:
    """Why the conditions table has no separate BED3 row: tokens ignore every column after the third."""
    from annotator.project import project_file

    model = planted_model(tmp_path)
    beds, _ = _corpus(tmp_path)
    scored = beds / "a.narrowPeak.gz"
    bed3 = tmp_path / "a.bed"
    lines = gzip.decompress(scored.read_bytes()).decode().splitlines()
    bed3.write_text("".join("\t".join(line.split("\t")[:3]) + "\n" for line in lines))
    one, two = project_file(model, scored), project_file(model, bed3)
    assert one.n_tokens == two.n_tokens > 0
    for group in model.groups:
        assert one.rankings[group].labels == two.rankings[group].labels
        np.testing.assert_array_equal(one.rankings[group].scores, two.rankings[group].scores)
