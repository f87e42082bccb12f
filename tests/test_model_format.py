import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from modelkit import planted_model

from annotator.errors import ModelError
from annotator.model.format import load_model, save_model
from annotator.model.starspace import export_starspace, import_starspace


def test_save_load_round_trip_keeps_weights_groups_and_digest(tmp_path: Path) -> None:
    saved = planted_model(tmp_path)
    loaded = load_model(saved.path)
    assert loaded.digest == saved.digest and len(saved.digest) == 64
    assert loaded.groups == saved.groups
    np.testing.assert_array_equal(loaded.token_ids, saved.token_ids)
    np.testing.assert_array_equal(loaded.token_vectors, saved.token_vectors)
    for g in saved.groups:
        np.testing.assert_array_equal(loaded.label_vectors[g], saved.label_vectors[g])


def test_float16_storage_halves_size_and_changes_digest(tmp_path: Path) -> None:
    m32 = planted_model(tmp_path)
    m16 = save_model(m32, tmp_path / "half", dtype="float16")
    assert np.load(m16.path / "token_vectors.npy").dtype == np.float16
    assert load_model(m16.path).token_vectors.dtype == np.float32  # widened once for the maths
    assert m16.digest != m32.digest
    size = lambda p: (p / "token_vectors.npy").stat().st_size  # noqa: E731
    assert size(m16.path) < size(m32.path)


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    m = planted_model(tmp_path)
    arr = np.load(m.path / "token_vectors.npy")
    arr[0, 0] += 1
    np.save(m.path / "token_vectors.npy", arr)
    with pytest.raises(ModelError, match=r"does not match model\.json"):
        load_model(m.path)


def test_unknown_format_version_is_refused_with_advice(tmp_path: Path) -> None:
    m = planted_model(tmp_path)
    meta = json.loads((m.path / "model.json").read_text())
    meta["format_version"] = 99
    (m.path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="format version 99"):
        load_model(m.path)


def test_edited_groups_break_the_model_digest(tmp_path: Path) -> None:
    m = planted_model(tmp_path)
    meta = json.loads((m.path / "model.json").read_text())
    meta["groups"]["antibody"] = ["H3K27me3", "H3K4me3"]  # swapped: predictions would silently flip
    (m.path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="digest"):
        load_model(m.path)


def test_missing_directory_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model\.json"):
        load_model(tmp_path / "nothing")


def test_starspace_tsv_round_trip(tmp_path: Path) -> None:
    m = planted_model(tmp_path)
    rng = np.random.default_rng(1)
    noisy = save_model(
        type(m)(**{**m.__dict__, "token_vectors": rng.normal(size=m.token_vectors.shape).astype(np.float32)}),
        tmp_path / "noisy",
        dtype="float32",
    )
    tsv = export_starspace(noisy, tmp_path / "model.tsv")
    first = tsv.read_text().splitlines()[0].split("\t")
    assert first[0] == "chr1_0_1000" and len(first) == 1 + m.dim
    assert "__label__HepG2" in tsv.read_text()
    groups = {lab: g for g, labels in m.groups.items() for lab in labels}
    back = import_starspace(tsv, m.universe, groups)
    np.testing.assert_array_equal(back.token_ids, noisy.token_ids)
    np.testing.assert_array_equal(back.token_vectors, noisy.token_vectors)
    assert back.groups == noisy.groups
    for g in m.groups:
        np.testing.assert_array_equal(back.label_vectors[g], noisy.label_vectors[g])


def test_starspace_import_names_unmapped_labels(tmp_path: Path) -> None:
    tsv = tmp_path / "m.tsv"
    tsv.write_text("chr1:0-1000\t0.1\t0.2\n__label__H3K4me3\t1\t0\n__label__CTCF binding\t0\t1\n")
    m = planted_model(tmp_path)
    with pytest.raises(ModelError, match="'CTCF binding' has no group"):
        import_starspace(tsv, m.universe, {"H3K4me3": "antibody"})
    back = import_starspace(tsv, m.universe, {"H3K4me3": "antibody", "CTCF binding": "antibody"})
    assert back.groups == {"antibody": ["H3K4me3", "CTCF binding"]}


def test_rewriting_a_model_keeps_its_card(tmp_path: Path) -> None:
    m = planted_model(tmp_path)
    (m.path / "README.md").write_text("# tiny model card\n")
    again = save_model(m, m.path, dtype="float16")
    assert (again.path / "README.md").read_text() == "# tiny model card\n"
    assert load_model(again.path).digest == again.digest


def test_version_1_models_are_read_with_the_margin_rule(tmp_path: Path) -> None:
    from annotator.model.format import _model_digest
    from annotator.project import rank_labels

    m = planted_model(tmp_path)
    meta = json.loads((m.path / "model.json").read_text())
    assert meta["format_version"] == 2
    meta["format_version"] = 1  # what annotator wrote before calibration existed
    del meta["calibration"]
    meta["digest"] = _model_digest(meta)
    (m.path / "model.json").write_text(json.dumps(meta))
    old = load_model(m.path)
    assert old.calibration == {}
    ranking = rank_labels(old, np.eye(8, dtype=np.float32)[0], 0.1, n_tokens=3)["antibody"]
    assert ranking.confident and ranking.probability is None and ranking.reason is None


def test_calibration_is_part_of_the_digest(tmp_path: Path) -> None:
    m = planted_model(tmp_path)
    group = {"correct": {"intercept": 0.0, "coef": [0.0] * 5}, "known": None, "threshold": 0.9}
    calibrated = save_model(dataclasses.replace(m, calibration={"antibody": group}), tmp_path / "c", dtype="float32")
    assert calibrated.digest != m.digest and load_model(calibrated.path).calibration == {"antibody": group}
    meta = json.loads((calibrated.path / "model.json").read_text())
    meta["calibration"]["antibody"]["threshold"] = 0.5  # would make every call confident
    (calibrated.path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="digest"):
        load_model(calibrated.path)
