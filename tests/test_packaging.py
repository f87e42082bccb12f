"""The wheel built from the repository carries every package, the templates and the bundled model."""

import ast
import re
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


#: import name -> distribution name, where they differ; optional imports guarded by try/except are listed apart.
_DISTRIBUTION = {"distributed": "dask"}


def _top_level_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "annotator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "annotator"}


def test_every_imported_package_is_declared() -> None:
    """A plain `pip install .` must bring every package annotator imports (click once came only through an extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=\[; ]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}
    optional = {
        re.split(r"[<>=\[; ]", dep, maxsplit=1)[0].lower()
        for name, deps in project["optional-dependencies"].items()
        if name != "test"
        for dep in deps
    }
    missing = {n for n in _top_level_imports() if _DISTRIBUTION.get(n, n).lower() not in declared | optional}
    assert not missing, f"imported but not declared in [project] dependencies: {sorted(missing)}"


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
    # the identifier table and the record of its sources and licences (attribution travels with the data)
    shipped = ("identifiers.sqlite", "identifiers_sources.tsv", "identifiers_NOTICE.txt", "identifiers_pinned.tsv")
    assert {f"annotator/labels/{name}" for name in shipped} <= names
    local = {str(p.relative_to(ROOT)) for p in (ROOT / "annotator").rglob("*.py")}
    assert local <= names, f"modules missing from the wheel: {sorted(local - names)[:5]}"
