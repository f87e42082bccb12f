"""The real-data recipe of docs/real-data.md, end to end on a few peak files made here (no ../shared needed):
`scripts/encode_workdir.py` -> `annotator project` -> `reconcile` -> `report` -> `search`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from modelkit import planted_model, write_bed
from typer.testing import CliRunner

from annotator.cli import app
from annotator.tables import read_table

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "encode_workdir.py"


def _peak_folder(folder: Path) -> Path:
    """Three broadPeak-named files and their samples.csv, as in the shared ENCODE folder."""
    folder.mkdir()
    chr1 = [("chr1", 1000 * i + 100, 1000 * i + 600) for i in range(10)]  # the model's H3K4me3/K562 tiles
    chr2 = [("chr2", 1000 * i + 100, 1000 * i + 600) for i in range(10)]  # its H3K27me3/HepG2 tiles
    write_bed(folder / "wgEncodeTestK562H3k4me3StdPk.broadPeak.gz", chr1)
    write_bed(folder / "wgEncodeTestHepg2H3k27me3StdPk.broadPeak.gz", chr2)
    shifted = [(c, s + 50, e + 50) for c, s, e in chr1]  # other bytes (search merges identical files), same tiles
    write_bed(folder / "wgEncodeTestK562H3k27me3StdPk.broadPeak.gz", shifted)  # labelled H3K27me3, looks H3K4me3
    (folder / "samples.csv").write_text(
        "file_name,cell_type,antibody,treatment,donor\n"
        "wgEncodeTestK562H3k4me3StdPk.broadPeak.gz,K562,H3K4me3,,\n"
        "wgEncodeTestHepg2H3k27me3StdPk.broadPeak.gz,HepG2,H3K27me3,,\n"
        "wgEncodeTestK562H3k27me3StdPk.broadPeak.gz,K562,H3K27me3,,\n"
    )
    return folder


def test_the_recipe_runs_end_to_end_on_copied_or_linked_files(tmp_path: Path) -> None:
    beds, work = _peak_folder(tmp_path / "encode"), tmp_path / "W"
    model = planted_model(tmp_path / "model")
    made = subprocess.run([sys.executable, str(SCRIPT), "--beds", str(beds), "--workdir", str(work)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "3 samples" in made.stdout
    placed = sorted(p for p in (work / "beds").rglob("*") if p.is_file())  # one folder per sample
    assert len(placed) == 3 and not any(p.is_symlink() for p in placed)  # annotator refuses links out of W
    assert all(p.read_bytes() == (beds / p.name).read_bytes() for p in placed)

    runner = CliRunner()
    common = ["--workdir", str(work), "--model", str(model.path)]
    for command in (["project", "-j", "1", *common], ["reconcile", *common], ["report", "--workdir", str(work)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
    predictions = read_table("predictions", work / "predictions.parquet").to_pylist()
    statuses = {r["sample_id"]: r["status"] for r in predictions}
    assert set(statuses.values()) == {"ok"} and len(statuses) == 3
    flags = {(r["sample_id"].split("StdPk")[0], r["group"]): r["flag"]
             for r in read_table("annotations", work / "annotations.parquet").to_pylist()}  # fmt: skip
    assert flags[("wgEncodeTestK562H3k4me3", "antibody")] == "match"
    assert flags[("wgEncodeTestK562H3k27me3", "antibody")] != "match"  # the mislabelled copy is flagged
    assert (work / "report.html").stat().st_size > 0

    found = runner.invoke(app, ["search", "--label", "H3K4me3", "-n", "2", "--format", "json", *common])
    assert found.exit_code == 0, found.output
    best = [json.loads(line) for line in found.stdout.splitlines() if line.startswith("{")]
    assert {b["sample_id"].split("StdPk")[0] for b in best} == {"wgEncodeTestK562H3k4me3", "wgEncodeTestK562H3k27me3"}

    again = subprocess.run([sys.executable, str(SCRIPT), "--beds", str(beds), "--workdir", str(work)],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert again.returncode == 0, again.stderr  # a second run over the same workdir keeps the placed files
