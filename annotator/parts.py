"""Append-only Parquet parts that carry the SHA-256 of their bytes in their name, checked before they are read.

```
DIR/part-<time>-<pid>-<sha256 of the part>.parquet
```
The projection journal, the embeddings archive and the author-label cache keep their data this way. A part is
written to a temporary sibling and renamed, so its name (with the digest) appears only with its complete content;
a part whose bytes no longer match (flipped bits, truncation, an emptied file) is deleted with a warning, and its
owner rebuilds what it held. Parts an older annotator wrote without a digest (`part-<time>-<pid>.parquet`) are
kept when their owner still accepts them (`legacy`) and read as they are; one that cannot be read is deleted the
same way.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from annotator.hashing import sha256_of

log = logging.getLogger(__name__)

PART_NAME = re.compile(r"^part-\d+-\d+-(?P<digest>[0-9a-f]{64})\.parquet$")
LEGACY_NAME = re.compile(r"^part-\d+-\d+\.parquet$")
REBUILT = "what it held is rebuilt"


def write_part(directory: Path, write: Callable[[Path], Any]) -> Path:
    """Call `write(tmp)` on a fresh temporary file in `directory`, then rename it to its digest-named part."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = f"{time.time_ns():020d}-{os.getpid()}"
    tmp = directory / f".part-{stamp}.{secrets.token_hex(4)}.tmp"  # a name remove_stale_temporaries knows
    try:
        write(tmp)
        part = directory / f"part-{stamp}-{sha256_of(tmp)}.parquet"
        os.replace(tmp, part)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return part


def intact_parts(
    directory: Path, what: str, *, legacy: bool, verified: set[Path] | None = None, then: str = REBUILT
) -> list[Path]:
    """The parts of `directory`, oldest first, whose bytes match their name; damaged ones are deleted.

    Parameters
    ----------
    directory
        Folder of parts (absent: none).
    what
        What the parts are, for the warning ("embeddings archive").
    legacy
        Keep parts named without a digest (they are read as they are; `drop` deletes one that cannot be read).
    verified
        Parts already checked by this process (a cache the caller keeps; checked parts are added).
    then
        What happens to a deleted part's rows, for the warning.
    """
    if not directory.is_dir():
        return []
    out = []
    for part in sorted(directory.glob("part-*.parquet")):
        if verified is not None and part in verified:
            out.append(part)
            continue
        match = PART_NAME.match(part.name)
        if match is None:
            if legacy and LEGACY_NAME.match(part.name):
                out.append(part)
                continue
            why = "has no digest in its name (written by an older annotator)"
        else:
            try:
                ok = sha256_of(part) == match["digest"]
            except FileNotFoundError:  # removed since the listing (another reader dropped it)
                continue
            if ok:
                out.append(part)
                if verified is not None:
                    verified.add(part)
                continue
            why = "does not match its digest (damaged or truncated)"
        drop(part, what, why, then)
    return out


def drop(part: Path, what: str, why: str, then: str = REBUILT) -> None:
    """Delete a damaged part with a warning saying what will happen to its rows."""
    log.warning("%s: %s %s: deleted, %s", what, part, why, then)
    part.unlink(missing_ok=True)
