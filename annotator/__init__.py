"""annotator: nightly BEDspace annotation of GEO hg19 peak files and reconciliation with author labels."""

from __future__ import annotations

import functools

__all__ = ["__version__"]


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~50 ms: only when the version is asked for

    try:
        return version("annotator")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'annotator' has no attribute {name!r}")
