"""One frozen `Config`: every default and threshold of the pipeline in one place.

Values come from (lowest to highest precedence) these defaults, a TOML file, `ANNOTATOR_*` environment variables
and command-line flags; `annotator.settings` does that resolution. The resolved config is written into the `runs`
table so every output can be traced to the thresholds that made it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Margin (top-1 minus top-2 cosine) at which a prediction counts as confident: the BEDspace paper's value.
DEFAULT_MARGIN_THRESHOLD = 0.1
#: Gain both samples of a label swap must show (`annotator.swaps`): chosen on held-out sources by
#: `scripts/bench_swaps.py` so that correctly labelled pairs are claimed as swapped <= 1 % of the time.
DEFAULT_SWAP_MIN_GAIN = 0.25
#: Caps on one decompressed peak file. The largest real one we know (an ENCODE DNase hotspot set) is 16.7 MB and
#: 380,000 lines; 1 GiB / 20 M lines leaves ~50x headroom and still bounds a projection worker's memory.
DEFAULT_MAX_BED_BYTES = 1 << 30
DEFAULT_MAX_BED_LINES = 20_000_000
#: Limits of the child process that reads one bigBed (`annotator.readers.isolated`): a 5 M-region file needs
#: ~100 MB; the limit stops a header that declares terabytes from taking the machine's memory.
DEFAULT_READER_MEMORY_BYTES = 2 * 1024**3
DEFAULT_READER_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Config:
    """Resolved settings of one run. Paths are absolute once resolved."""

    # where things live
    workdir: Path = Path("annotator-work")
    model: Path | None = None  # None: the bundled model
    soft_dir: Path | None = None  # read pre-downloaded SOFT files instead of the network

    # harvest
    genome: str = "hg19"
    strategies: tuple[str, ...] = ("ChIP-Seq",)
    since_days: int | None = None
    metadata_only: bool = False
    download_timeout_s: float = 60.0
    download_retries: int = 4
    download_backoff_s: float = 2.0
    max_file_bytes: int = 2 * 1024**3
    download_deadline_s: float = 900.0  # the most one file may take, retries and waits included
    download_max_runs: int = 5  # runs in a row a failing file is tried before the harvest gives up on it
    archive_max_members: int = 2_000  # peak files read from one .tar archive; more: the archive is a failed row
    archive_max_entries: int = 100_000  # entries of any kind listed in one archive
    archive_max_ratio: float = 50.0  # archive content (uncompressed) per byte of archive: a bomb is a failed row
    allow_local_urls: bool = False  # fetch file: URLs from SOFT (the offline demo, a local mirror)
    download_workers: int = 4  # supplementary files in flight at once
    download_per_host: int = 4  # of which at most this many on one host
    host_throttle_budget_s: float = 600.0  # the most one host's 429/503 answers in a row may hold its files back
    geo_base_url: str | None = None  # None: the real GEO; else http(s)://host[:port] serving GEO's paths
    max_hours: float | None = None  # stop starting downloads after this long; the next night continues
    reader_memory_bytes: int = DEFAULT_READER_MEMORY_BYTES  # address space of the child that reads one bigBed
    reader_timeout_s: float = DEFAULT_READER_TIMEOUT_S  # the most that child may take

    # projection
    top_k: int = 5
    margin_threshold: float = DEFAULT_MARGIN_THRESHOLD
    max_bed_bytes: int = DEFAULT_MAX_BED_BYTES  # decompressed; a file over a cap is a failed row (gzip bombs)
    max_bed_lines: int = DEFAULT_MAX_BED_LINES
    workers: int | None = None  # None: one per core
    scheduler: str | None = None  # "tcp://host:port" runs projection on a Dask cluster

    # reconciliation
    near_miss_top_k: int = 3
    antibody_fuzzy_threshold: float = 80.0
    cell_type_fuzzy_threshold: float = 88.0
    swap_min_gain: float = DEFAULT_SWAP_MIN_GAIN  # both samples of a swap fit the other's label this much better

    # output
    log_format: str = "text"  # or "json"

    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-friendly dict (paths as strings), for the `runs` table and logs."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out
