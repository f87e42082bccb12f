"""The SHA-256 of a file on disk, read in bounded chunks: one helper for downloads, journal parts and model files."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks (memory bounded whatever its size)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
