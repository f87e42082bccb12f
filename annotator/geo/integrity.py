"""Integrity facts about a file on disk: whether a gzip file decompresses to its end (SHA-256: annotator.hashing)."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def gzip_problem(path: Path) -> str | None:
    """Why a gzip file does not decompress whole (truncated or corrupt); None when it does or is not gzip.

    Decompresses in chunks and throws the output away: memory stays at one chunk whatever the file expands to.
    """
    with path.open("rb") as fh:
        if fh.read(2) != _GZIP_MAGIC:
            return None
        fh.seek(0)
        try:
            with gzip.open(fh) as gz:
                while gz.read(_CHUNK):
                    pass
        except EOFError as exc:
            return f"truncated gzip: the file ends before its compressed data ({exc})"
        except (gzip.BadGzipFile, zlib.error) as exc:
            return f"corrupt gzip: {exc}"
    return None
