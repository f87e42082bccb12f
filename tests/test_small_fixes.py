"""Issue 10 item 13: metadata-only workdirs, StarSpace token spacing, CSV output, leftover temporaries."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest
from modelkit import labelled_model, planted_model
from typer.testing import CliRunner

from annotator.cli import app
from annotator.demo import DEMO_GSE, build_demo
from annotator.errors import ModelError
from annotator.model.starspace import import_starspace
from annotator.regions.universe import TileUniverse
from annotator.tables import read_table


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    return labelled_model(tmp_path_factory.mktemp("model"))


def test_project_after_a_metadata_only_harvest_says_nothing_was_downloaded(model, tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "in", model)
    work = str(tmp_path / "work")
    runner = CliRunner()
    harvest = runner.invoke(app, ["harvest", DEMO_GSE, "--workdir", work, "--soft-dir", str(demo.soft_dir),
                                  "--metadata-only", "--allow-local-urls"])  # fmt: skip
    assert harvest.exit_code == 0, harvest.output
    project = runner.invoke(app, ["project", "--workdir", work, "--model", str(model.path)])
    assert project.exit_code == 0, project.output
    assert "selected files was downloaded" in project.stderr and "none of the" in project.stderr
    assert "projecting 0 of 0" not in project.stderr
    assert runner.invoke(app, ["reconcile", "--workdir", work, "--model", str(model.path)]).exit_code == 0
    reasons = {r["reason"] for r in read_table("annotations", tmp_path / "work" / "annotations.parquet").to_pylist()
               if r["flag"] == "no_prediction"}  # fmt: skip
    assert reasons == {"not downloaded: harvested with --metadata-only (harvest again without it to get the file)"}
    assert runner.invoke(app, ["report", "--workdir", work]).exit_code == 0
    page = (tmp_path / "work" / "report.html").read_text()
    assert "harvested with --metadata-only" in page and "run `annotator project`" not in page


def test_import_starspace_refuses_tokens_of_another_width(tmp_path: Path) -> None:
    tsv = tmp_path / "m.tsv"
    tsv.write_text("chr1_0_5000\t0.1\t0.2\nchr1_5000_10000\t0.3\t0.1\n__label__H3K4me3\t1\t0\n")
    with pytest.raises(ModelError, match="tiles:5000"):
        import_starspace(tsv, TileUniverse(1000), {"H3K4me3": "antibody"})
    assert import_starspace(tsv, TileUniverse(5000), {"H3K4me3": "antibody"}).token_ids.tolist() == [0, 1]
    groups = tmp_path / "groups.csv"
    groups.write_text("label,group\nH3K4me3,antibody\n")
    result = CliRunner().invoke(app, ["model", "import-starspace", str(tsv), "--label-groups", str(groups),
                                      "--out", str(tmp_path / "m")])  # fmt: skip
    assert result.exit_code == 2 and "--universe tiles:5000" in result.stderr
    assert not (tmp_path / "m").exists()


def test_project_out_csv_writes_csv_and_other_suffixes_are_refused(tmp_path: Path) -> None:
    m = planted_model(tmp_path)
    bed = tmp_path / "s1.bed"
    bed.write_text("".join(f"chr1\t{i * 1000 + 10}\t{i * 1000 + 500}\n" for i in range(10)))
    out = tmp_path / "preds.csv"
    result = CliRunner().invoke(app, ["project", str(bed), "--model", str(m.path), "--out", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    table = pacsv.read_csv(out)
    assert table.num_rows == 4 and table.column("label").to_pylist()[0] == "H3K4me3"
    assert not out.read_bytes().startswith(b"PAR1")
    refused = CliRunner().invoke(app, ["project", str(bed), "--model", str(m.path), "--out", str(tmp_path / "p.tsv")])
    assert refused.exit_code == 2 and "write .parquet or .csv" in refused.stderr
    assert not (tmp_path / "p.tsv").exists()


def test_leftover_temporaries_of_killed_writes_are_removed_at_start(model, tmp_path: Path) -> None:
    work = tmp_path / "work"
    args = ["run", "--demo", "--model", str(model.path), "--workdir", str(work), "-j", "1"]
    assert CliRunner().invoke(app, args).exit_code == 0
    (journal,) = (work / ".cache" / "projections").iterdir()
    leftovers = [work / ".samples.parquet.0123456789abcdef.tmp", work / ".ledger.k3_x9q2z.tmp",
                 journal / ".part-17-42.deadbeef.tmp",
                 journal / ".part-18-42.parquet.fedcba9876543210.tmp"]  # fmt: skip
    kept = [work / "notes.tmp", work / ".my.tmp", work / "beds" / ".x.0123456789abcdef.tmp"]
    for path in leftovers + kept:
        path.write_text("half")
    assert CliRunner().invoke(app, args).exit_code == 0
    assert [p for p in leftovers if p.exists()] == []
    assert all(p.read_text() == "half" for p in kept)
