"""Cost of the identifier look-up: start-up of `annotator labels` on one string, and reading 32,000 samples.

Both are measured against a baseline in the same run: the ``annotator`` package of another git revision (default:
`WITHOUT_IDENTIFIERS`, the last one without the identifier look-up), unpacked into a temporary folder and put
first on PYTHONPATH, so the two run on the same machine under the same load.

- start-up: wall time of ``python -m annotator labels "K562 CTCF ChIP-seq"``, baseline and current alternated,
  `--runs` each, and the CPU time to import the label code and read that one string (the rest of the CLI's
  imports are the same in both and only add noise); minima and medians and their ratios (current / baseline)
  are printed;
- throughput: `extract_labels` (and, for the current code, `identifier_columns`) over `--samples` synthetic
  GEO samples (titles, source names and characteristics made from the strings of ``tests/data/identifiers.tsv``
  with varied suffixes), each version in its own process; wall and CPU seconds are printed (on a shared machine
  the CPU time is the steadier of the two).

Run: ``python scripts/bench_identifiers.py [--baseline REV] [--runs 9] [--samples 32000]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = "K562 CTCF ChIP-seq"
#: The last revision without the identifier look-up: the default baseline.
WITHOUT_IDENTIFIERS = "d34a4fb7876b571986206573b58b8a8f98a66565"

#: What `annotator labels` adds to its CLI imports (the same in both versions): the label code and one string.
_READ_ONE = f"""
import time
start = time.process_time()
from annotator.labels import text_labels
text_labels({TEXT!r})
print(time.process_time() - start)
"""

_THROUGHPUT = r"""
import csv, json, random, sys, time
from annotator.labels import extract_labels
try:
    from annotator.labels.extract import identifier_columns
except ImportError:  # the baseline has no identifiers
    identifier_columns = None
n = int(sys.argv[1])
rows = [r for r in csv.DictReader((l for l in open(sys.argv[2], encoding="utf-8") if not l.startswith("#")),
                                  delimiter="\t")]
rng = random.Random(0)
samples = []
for i in range(n):
    text = rng.choice(rows)["text"]
    key, sep, value = text.partition(": ")
    title = rng.choice(rows)["text"] + f" rep{i % 3 + 1}"
    chars = [{"key": key, "value": value}] if sep else [{"key": "cell line", "value": text}]
    chars.append({"key": "chip antibody", "value": rng.choice(["CTCF", "H3K27ac", "none", "Pol II (8WG16)"])})
    samples.append({"title": title, "source_name": rng.choice(rows)["text"], "characteristics": chars,
                    "description": "Cells were crosslinked and sonicated.", "library_strategy": "ChIP-Seq"})
start, cpu = time.perf_counter(), time.process_time()
found = 0
for sample in samples:
    labels = extract_labels(sample, {})
    if identifier_columns is not None:
        found += identifier_columns(labels)["cell_type_id"] is not None
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "with_id": found}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=WITHOUT_IDENTIFIERS,
                        help="git revision to compare with (default: the last without identifiers)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--samples", type=int, default=32_000)
    args = parser.parse_args(argv)
    revision = args.baseline
    with tempfile.TemporaryDirectory() as tmp:
        baseline = Path(tmp)
        archive = subprocess.run(["git", "archive", revision, "annotator"], cwd=ROOT, check=True, capture_output=True)
        with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
            tar.extractall(baseline, filter="data")
        versions = {"baseline": baseline, "current": ROOT}
        print(f"baseline: annotator of {revision[:12]}; current: {ROOT}")
        times: dict[str, list[float]] = {name: [] for name in versions}
        reading: dict[str, list[float]] = {name: [] for name in versions}
        for _ in range(args.runs):
            for name, path in versions.items():
                times[name].append(_startup(path))
                reading[name].append(float(_run(path, [sys.executable, "-c", _READ_ONE]).stdout))
        for what, measured in (("annotator labels, wall", times), ("import + first string, CPU", reading)):
            for stat in (min, statistics.median):
                base, now = stat(measured["baseline"]), stat(measured["current"])
                print(f"start-up ({what}), {stat.__name__} of {args.runs}: baseline {base:.3f} s, "
                      f"current {now:.3f} s, ratio {now / base:.3f}")  # fmt: skip
        fixture = ROOT / "tests" / "data" / "identifiers.tsv"
        for name, path in versions.items():
            out = _run(path, [sys.executable, "-c", _THROUGHPUT, str(args.samples), str(fixture)])
            result = json.loads(out.stdout.strip().splitlines()[-1])
            rate = args.samples / result["seconds"]
            print(f"throughput {name}: {args.samples} samples in {result['seconds']:.1f} s wall, "
                  f"{result['cpu']:.1f} s CPU ({rate:,.0f}/s); {result['with_id']} with a cell-type id")  # fmt: skip
    return 0


#: Run with the package at sys.argv[1] first on the path: an editable install's import hook is taken out, or it
#: would serve this checkout to both versions.
_PRELUDE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith('__editable__')]; "
)


def _startup(path: Path) -> float:
    start = time.perf_counter()
    code = _PRELUDE + "import runpy; sys.argv[0] = 'annotator'; runpy.run_module('annotator', run_name='__main__')"
    _run(path, [sys.executable, "-c", code, str(path), "labels", TEXT])
    return time.perf_counter() - start


def _run(path: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    if command[1] == "-c" and not command[2].startswith(_PRELUDE):
        command = [command[0], "-c", _PRELUDE + command[2], str(path), *command[3:]]
    result = subprocess.run(command, cwd=path, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed in {path}: {result.stderr[-2000:]}")
    return result


if __name__ == "__main__":
    raise SystemExit(main())
