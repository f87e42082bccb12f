"""Paths built from untrusted text (GEO accessions, file names, ledger lines) that provably stay in the workdir.

Every path whose name comes from metadata goes through `inside`: each part must be one plain file-name component
(no separator, no `.`/`..`, no NUL or other control or invisible format character, not over-long), and the
resolved result — symbolic links followed — must still lie under the resolved workdir. Anything else raises
`UnsafePathError` naming the offending part; nothing is silently rewritten here (`annotator.geo.files` makes safe
names, this module checks them).
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from annotator.errors import InputError

#: Longest component in bytes (UTF-8) most file systems accept.
MAX_NAME_BYTES = 255
#: Unicode categories never allowed in a name: controls, invisible format characters (bidi overrides, zero-width
#: joiners), line/paragraph separators, surrogates, private use and unassigned code points.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_SEPARATORS = frozenset({"/", "\\", os.sep} | ({os.altsep} if os.altsep else set()))


class UnsafePathError(InputError):
    """A path built from untrusted text would not be a plain name inside the workdir."""


def check_name(part: str) -> str:
    """Return `part` when it is a safe single file-name component, else raise `UnsafePathError` saying why."""
    if not isinstance(part, str):
        raise UnsafePathError(f"path part {part!r} is not text")
    why = _unsafe_because(part)
    if why:
        raise UnsafePathError(f"unsafe path part {part[:80]!r}: {why}")
    return part


def inside(workdir: Path, *parts: str) -> Path:
    """`workdir / part / part …`, guaranteed to stay inside `workdir`.

    Parameters
    ----------
    workdir
        The root nothing may escape (trusted: it comes from the user).
    parts
        Untrusted components, each a single name (use `inside_relative` for a stored `a/b/c` path).

    Returns
    -------
    Path
        The joined path, under `workdir` as given (not resolved), so messages and stored paths stay readable.

    Raises
    ------
    UnsafePathError
        A part is empty, `.`/`..`, absolute, holds a separator, NUL, control or invisible character, is over
        255 bytes, or the joined path resolves (through symbolic links) outside `workdir`.
    """
    if not parts:
        raise UnsafePathError("no path part given")
    for part in parts:
        check_name(part)
    path = Path(workdir).joinpath(*parts)
    root = Path(workdir).resolve()
    if not path.resolve().is_relative_to(root):
        raise UnsafePathError(f"{'/'.join(parts)[:120]!r} leads outside {root} (through a symbolic link)")
    return path


def inside_relative(workdir: Path, relative: str) -> Path:
    """`inside(workdir, *relative.split('/'))`: a stored workdir-relative path such as `beds/GSM1_x.bed`."""
    if not isinstance(relative, str) or not relative:
        raise UnsafePathError(f"stored path {relative!r} is not a relative path")
    if relative.startswith("/"):
        raise UnsafePathError(f"stored path {relative[:120]!r} is absolute")
    return inside(workdir, *relative.split("/"))


def _unsafe_because(part: str) -> str | None:
    if part in ("", ".", ".."):
        return "empty or a relative directory reference"
    if any(sep in part for sep in _SEPARATORS):
        return "holds a path separator"
    if "\x00" in part:
        return "holds a NUL character"
    if len(part.encode("utf-8", errors="surrogatepass")) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    odd = next((c for c in part if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if odd is not None:
        return f"holds the control or invisible character U+{ord(odd):04X}"
    if unicodedata.normalize("NFC", part) != part:
        return "is not in Unicode normal form NFC (two spellings of one name)"
    if part != part.strip():
        return "starts or ends with white space"
    return None
