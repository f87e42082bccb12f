"""The bundled default model: what it knows, its calibration, its size, and a card that shows its stored numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from annotator.cli import app
from annotator.model.format import BUNDLED_MODEL_NAME, load_model
from annotator.model.samples import read_training_samples
from annotator.model.sources import MASKED_CHROMS

MODELS = Path(__file__).resolve().parents[1] / "models"
HISTONE_MARKS = {"H2A.Z", "H3K27ac", "H3K27me3", "H3K36me3", "H3K4me1", "H3K4me2", "H3K4me3", "H3K79me2", "H3K9ac",
                 "H3K9me3", "H4K20me1"}  # fmt: skip


def test_default_model_knows_histone_marks_tfs_cell_types_and_the_dnase_assay() -> None:
    model = load_model()
    assert model.name == BUNDLED_MODEL_NAME and model.path is not None
    antibodies = set(model.groups["antibody"])
    assert antibodies >= HISTONE_MARKS and {"CTCF", "POLR2A", "EP300", "SPI1", "REST", "RELA"} <= antibodies
    assert len(antibodies) >= 100 and "" not in antibodies and "DNase-seq" not in antibodies
    assert len(model.groups["cell_type"]) >= 22
    assert model.groups["assay"] == ["ChIP-seq", "DNase-seq"]
    assert set(model.calibration) == set(model.groups)
    assert all(0.5 <= c["threshold"] <= 1.0 for c in model.calibration.values())


def test_default_model_has_no_vector_on_the_masked_chromosomes_and_fits_the_size_budget() -> None:
    model = load_model()
    offsets = model.universe.offsets
    chrom = np.searchsorted(offsets, model.token_ids, side="right") - 1
    names = {model.universe.genome.chroms[c] for c in np.unique(chrom)}
    assert not names & set(MASKED_CHROMS) and "chr2" in names
    size = sum(f.stat().st_size for f in MODELS.rglob("*") if f.is_file())
    assert size <= 40 * 2**20


def test_card_shows_the_stored_leave_one_source_out_numbers() -> None:
    model = load_model()
    card = (MODELS / BUNDLED_MODEL_NAME / "README.md").read_text()
    rows = [r for r in model.metrics["held_out"] if r["fold"].startswith("loso:") and r["condition"] == "whole"]
    assert rows
    for r in rows:
        if r["n"]:
            line = f"| {r['fold']} | {r['group']} | whole | {r['n']} | {r['top1']:.3f} | {r['mrr']:.3f} |"
            assert line in card, line
    for label in model.groups["antibody"] + model.groups["cell_type"]:
        assert label in card, label


def test_model_info_names_the_shipped_training_samples_and_the_calibration() -> None:
    model = load_model()
    samples = read_training_samples(model)
    assert samples is not None
    out = " ".join(CliRunner().invoke(app, ["model", "info"]).output.split())  # rich wraps long lines
    assert f"training samples: {len(samples):,} shipped" in out
    for group, cal in model.calibration.items():
        assert f"{group} p >= {cal['threshold']:.2f} ({cal['n_calls']:,} held-out calls)" in out
