"""`annotator --help`, a usage error and `annotator labels` import none of the heavy modules: they start at once.

Not a timed test (timing is `scripts/bench_startup.py`'s job): it checks which modules a fresh interpreter has
loaded after each command, which is what start-up time follows.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Imported only by the commands that compute with them (hundreds of milliseconds together).
HEAVY = ("numpy", "pyarrow", "scipy", "pandas", "jinja2", "geofetch", "dask", "duckdb", "requests", "pydantic",
         "annotator.model.format", "annotator.pipeline", "rich.progress")  # fmt: skip

_PROBE = r"""
import json, sys
watched = json.loads(sys.argv[2])
sys.argv = ["annotator", *json.loads(sys.argv[1])]
from annotator.cli import main
try:
    main()
except SystemExit:
    pass
sys.__stderr__.write("\n" + json.dumps(sorted(m for m in watched if m in sys.modules)))
"""


def _loaded_after(args: list[str], watched: tuple[str, ...]) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(watched)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return json.loads(proc.stderr.splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = f"import sys, annotator.cli; print([m for m in {(*HEAVY, 'rich', 'rapidfuzz')!r} if m in sys.modules])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("args", "also"),
    [
        (["--help"], ("rich", "rapidfuzz")),
        (["search", "--help"], ("rich", "rapidfuzz")),
        (["run", "--sinse-days", "2"], ("rich", "rapidfuzz")),
        (["--log-format", "json", "runn"], ("rich", "rapidfuzz")),
        (["labels", "H3K4me3 ChIP-seq in K562"], ()),  # reading labels needs rapidfuzz, nothing heavier
    ],
)
def test_a_quick_command_loads_no_heavy_module(args: list[str], also: tuple[str, ...]) -> None:
    import typer

    loaded = _loaded_after(args, (*HEAVY, *also))
    assert loaded == [], f"{loaded} (typer {typer.__version__}; pyproject pins typer<0.29, which needs no pydantic)"
