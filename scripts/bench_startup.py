"""How long `annotator` takes to answer, against a bare `python -c pass` measured in the same run.

    python scripts/bench_startup.py            # 7 repeats of each, medians
    python scripts/bench_startup.py -r 15

Each command runs in a fresh interpreter (as a user's shell starts it): `annotator --help`, `annotator labels
"H3K4me3 ChIP-seq in K562"`, and a usage error (`annotator run --sinse-days 2`, exit 2). The baseline is the cost of
starting Python itself on this machine at this moment, so the ratios stay comparable on a busy machine; the CPU
seconds (user + system) each command used are printed too, since on a shared machine they move far less with the
load than the wall-clock time does. The last line is machine-readable (medians of wall-clock seconds):
`help_s=… labels_s=… usage_error_s=… baseline_s=…`.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("annotator")  # the console script a user runs
_CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "annotator"]
CASES = {
    "baseline": ([sys.executable, "-c", "pass"], 0),
    "help": ([*_CLI, "--help"], 0),
    "labels": ([*_CLI, "labels", "H3K4me3 ChIP-seq in K562"], 0),
    "usage_error": ([*_CLI, "run", "--sinse-days", "2"], 2),
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _once(argv: list[str], expected: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one run of `argv`."""
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False)
    elapsed, cpu = time.perf_counter() - start, _cpu() - cpu
    if proc.returncode != expected:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}, expected {expected}: {proc.stderr.decode()}")
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-r", "--repeats", type=int, default=7)
    args = parser.parse_args()
    for argv, expected in CASES.values():  # warm the file cache and the .pyc files once
        _once(argv, expected)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    cpus: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):  # interleaved, so a burst of load on the machine hits every case alike
        for name, (argv, expected) in CASES.items():
            wall, cpu = _once(argv, expected)
            times[name].append(wall)
            cpus[name].append(cpu)
    median = {name: statistics.median(t) for name, t in times.items()}
    cpu = {name: statistics.median(t) for name, t in cpus.items()}
    base, base_cpu = median["baseline"], cpu["baseline"]
    print(f"{'':<12} {'wall':>7}  {'x pass':>6}  {'min':>6}  {'cpu':>6}  {'x pass':>6}")
    for name, value in median.items():
        print(f"{name:<12} {value:6.3f}s  {value / base:6.1f}  {min(times[name]):5.3f}s  {cpu[name]:5.3f}s  "
              f"{cpu[name] / max(base_cpu, 1e-3):6.1f}")
    order = ["help", "labels", "usage_error", "baseline"]
    print(" ".join(f"{name}_s={median[name]:.3f}" for name in order))


if __name__ == "__main__":
    main()
