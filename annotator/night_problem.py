"""Whether a night failed, or most of it did, and why: the one line the terminal ends with, the run's record keeps
and the report's banner shows (pure).

A night "mostly failed" when more than half of its selected files could not be downloaded (or projected); the
cause named is the most common reason, so a night without a network says "cannot reach GEO (…)" rather than a
consequence such as "nothing to project".
"""

from __future__ import annotations

from collections.abc import Mapping


def night_problem(
    *,
    selected: int,
    download_failed: int,
    download_errors: Mapping[str, int],
    projected: int = 0,
    projection_failed: int = 0,
    error: str | None = None,
) -> str | None:
    """One line naming what went wrong with most of a night, or None when most of it went right.

    Parameters
    ----------
    selected
        Files the harvest selected for download.
    download_failed
        Of those, the files that could not be downloaded.
    download_errors
        Why downloads failed (reason -> files; see `without_url`); the most common one is named.
    projected, projection_failed
        Files with a projection tonight, new or kept from an earlier night (ok, no overlap, wrong build or failed),
        and of those the ones whose projection failed.
    error
        Why the run stopped, when it could not finish at all.
    """
    if error:
        return f"the night did not finish: {error}"
    cause = max(download_errors.items(), key=lambda kv: kv[1])[0] if download_errors else "no reason given"
    if selected and download_failed >= selected:
        return f"every download failed ({download_failed} of {selected} selected files): {cause}"
    if selected and 2 * download_failed > selected:
        return f"most downloads failed ({download_failed} of {selected} selected files): {cause}"
    if projected and 2 * projection_failed > projected:
        return f"most projections failed ({projection_failed} of {projected} files): see the review table's reasons"
    return None


def without_url(error: str) -> str:
    """A download error without the URL it starts with (``URL: reason``), so one cause counts once across files."""
    head, sep, rest = error.partition(": ")
    return rest if sep and "://" in head else error
