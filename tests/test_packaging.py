"""The wheel built from the repository carries every package, the templates and the bundled model."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_directory_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "annotator").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


@pytest.mark.slow
def test_wheel_contains_the_bundled_model_and_package_data(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("annotator-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    model = "annotator/bundled_models/encode-hg19-v2/"
    for f in ("model.json", "token_ids.npy", "token_vectors.npy", "label_vectors.npy", "README.md"):
        assert model + f in names, f"{model + f} missing from the wheel"
    assert any(n.startswith("annotator/report/templates/") for n in names)
    assert "annotator/demo/__init__.py" in names and "annotator/py.typed" in names
    assert "annotator/labels/targets.tsv" in names  # the shared target vocabulary
    local = {str(p.relative_to(ROOT)) for p in (ROOT / "annotator").rglob("*.py")}
    assert local <= names, f"modules missing from the wheel: {sorted(local - names)[:5]}"
