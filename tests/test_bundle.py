"""The multi-source trainer behind the bundled model, on a tiny generated four-source corpus."""

from __future__ import annotations

import dataclasses
import filecmp
from pathlib import Path

import numpy as np
import pytest
from v2kit import write_sources

from annotator.model.bundle import train_bundled
from annotator.model.format import load_model
from annotator.model.sources import MASKED_CHROMS, read_sources
from annotator.model.train import TrainParams
from annotator.project import project_file
from annotator.regions.genome import HG19

PARAMS = TrainParams(ridge=1.0, tokens_per_group=400)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sources(tmp_path_factory.mktemp("sources"))


def test_labels_are_read_per_source_with_dnase_as_an_assay(data: Path) -> None:
    corpus = read_sources(data, workers=1)
    dnase = corpus.sources == "dnase"
    assert set(corpus.labels["assay"][dnase]) == {"DNase-seq"} and set(corpus.labels["antibody"][dnase]) == {""}
    assert set(corpus.labels["assay"][~dnase]) == {"ChIP-seq"}  # "TF ChIP-seq" and no assay column alike
    assert len(corpus) == 12 + 10 + 10 + 8


def test_masked_chromosomes_give_no_token_in_any_condition(data: Path) -> None:
    corpus = read_sources(data, widths=(5000, 50000), workers=1)
    for (condition, width), matrix in corpus.matrices.items():
        offsets = np.concatenate([[0], np.cumsum(-(-HG19.sizes // width))])
        chrom = np.searchsorted(offsets, matrix.indices, side="right") - 1
        hit = {HG19.chroms[c] for c in np.unique(chrom)}
        assert not hit & set(MASKED_CHROMS), (condition, width)
        assert "chr2" in hit


@pytest.mark.slow
def test_bundled_training_is_byte_reproducible_calibrated_and_projects(data: Path, tmp_path: Path) -> None:
    corpus = read_sources(data, workers=1)
    first = train_bundled(data, tmp_path / "a" / "m", PARAMS, corpus=corpus)
    second = train_bundled(data, tmp_path / "b" / "m", PARAMS, corpus=dataclasses.replace(corpus))
    for name in ("model.json", "token_ids.npy", "token_vectors.npy", "label_vectors.npy", "reference_vectors.npy",
                 "reference_tiles.npy"):  # fmt: skip
        assert filecmp.cmp(first.model.path / name, second.model.path / name, shallow=False), name
    model = load_model(first.model.path)
    assert set(model.groups) == {"antibody", "cell_type", "assay"}
    assert model.groups["assay"] == ["ChIP-seq", "DNase-seq"] and "" not in model.groups["antibody"]
    assert set(model.calibration) == set(model.groups)
    assert {"fold", "group", "condition", "top1", "confident_precision", "oov_confident_rate"} <= set(
        model.metrics["held_out"][0]
    )
    chr1 = np.searchsorted(model.universe.offsets, model.token_ids, side="right") - 1 == 0
    assert not chr1.any()  # chr1 carried label-correlated noise in every non-DREAM file: masked all the same
    folder = data / "encode-uniform-tfbs-gm12878"
    projection = project_file(model, folder / "tf-gm12878-0.narrowPeak.gz")
    antibody = projection.rankings["antibody"]
    assert antibody.labels[0] == "CTCF" and antibody.probability is not None
    # the verdict ships with the model: every label gets a P(wrong), the file's own label among the lowest
    assert set(model.verdict["groups"]) == {"antibody", "cell_type"} and len(model.reference_vectors) == len(corpus)
    assert antibody.p_wrong is not None and antibody.p_wrong.shape == (len(model.groups["antibody"]),)
    assert antibody.p_wrong[0] <= np.median(antibody.p_wrong)
    assert {"group", "condition", "recall", "false_alarm"} <= set(model.metrics["mislabels"][0])
    assert {"on_known", "on_unknown"} <= set(model.metrics["no_known_label"][0])
    dnase = project_file(model, data / "encode-uniform-dnase" / "dnase-0.narrowPeak.gz")
    assert dnase.rankings["assay"].labels[0] == "DNase-seq"
    if dnase.rankings["assay"].confident:
        assert not dnase.rankings["antibody"].confident
        assert dnase.rankings["antibody"].reason == "assay_not_chip"
