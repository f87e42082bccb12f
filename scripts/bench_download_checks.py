"""Benchmark: what the downloader's integrity checks cost per file, against the same downloads without them.

    python scripts/bench_download_checks.py [--files 30] [--seed 0]

Generates `--files` gzip narrowPeak files (peak counts log-normal around a median of 20,000, as GEO peak files vary),
serves them from a server on 127.0.0.1 — once announcing each length (as GEO does), once without `Content-Length` —
and downloads each with `annotator.geo.download.download` as it is (validator sidecar, deadline watchdog, and the
whole-gzip check, which runs only when no length was announced) and with the whole-gzip check switched off (the
baseline, same run, same server). Prints the time per file and the ratio for both servers. The network here is
loopback, so the ratios are upper bounds: over a real link the transfer dominates.
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np

import annotator.geo.download as dl


def _files(n: int, seed: int) -> dict[str, bytes]:
    rng = np.random.default_rng(seed)
    out = {}
    for i, peaks in enumerate(np.clip(rng.lognormal(np.log(20_000), 0.8, n), 500, 250_000).astype(int)):
        starts = np.sort(rng.integers(0, 200_000_000, peaks))
        lines = "".join(f"chr1\t{s}\t{s + 500}\tp{j}\t100\t.\t5.0\t10.0\t8.0\t250\n" for j, s in enumerate(starts))
        out[f"/GSM{i}_peaks.narrowPeak.gz"] = gzip.compress(lines.encode(), mtime=0)
    return out


class _Handler(BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}
    announce = True

    def do_GET(self) -> None:
        body = self.bodies[self.path]
        self.send_response(200)
        self.send_header("ETag", f'"{len(body)}"')
        if self.announce:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.close_connection = True  # the body ends when the connection does
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _fetch_all(base: str, paths: list[str], out: Path) -> float:
    started = time.perf_counter()
    for path in paths:
        dl.download(base + path, out / path.lstrip("/"), retries=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    _Handler.bodies = _files(args.files, args.seed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    paths = list(_Handler.bodies)
    mb = sum(map(len, _Handler.bodies.values())) / 1e6
    real_check = dl.gzip_problem
    ratios = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for announce in (True, False):
                _Handler.announce = announce
                times: dict[str, float] = {}
                for rep in range(3):  # alternate, keep the best of three rounds each
                    for name, check in (("checked", real_check), ("baseline", lambda part: None)):
                        dl.gzip_problem = check
                        took = _fetch_all(base, paths, Path(tmp) / f"{announce}{name}{rep}")
                        times[name] = min(times.get(name, took), took)
                per = {k: v / len(paths) * 1e3 for k, v in times.items()}
                ratios.append(times["checked"] / times["baseline"])
                print(f"{'with' if announce else 'without'} Content-Length: {len(paths)} files, {mb:.1f} MB gzip, "
                      f"{per['checked']:.1f} ms/file as shipped, {per['baseline']:.1f} ms/file without the "
                      f"whole-gzip check, ratio {ratios[-1]:.2f}")  # fmt: skip
    finally:
        dl.gzip_problem = real_check
        server.shutdown()
    print(f"overhead_ratio_with_length={ratios[0]:.2f} overhead_ratio_without_length={ratios[1]:.2f}")


if __name__ == "__main__":
    main()
