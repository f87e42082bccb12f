"""Series-level supplementary files (`!Series_supplementary_file`): attached to a sample, or kept as series rows.

Authors often deposit peak calls once for the whole series. A file whose name names a sample — its GSM accession,
or its title written as a word of the name (`GSE1_K562_H3K4me3_peaks.bed.gz` for the sample titled
"K562_H3K4me3") — becomes a row of that sample, selected by the same rules as the sample's own files. Any other
file is a series-level row (`sample_id` `GSE…/name`, `gsm` the series accession) with the reason it was not
attached. A series archive the authors deposited (`.tar`, `.tar.gz`) is selected, to be read member by member
(`annotator.geo.archive`), only when some sample lists no file of its own; otherwise it only repeats listed files.
`GSE…_RAW.tar` is never selected: GEO builds it from the samples' own listed files, so it repeats what the samples
list and holds nothing for a sample that lists none (and it can be tens of GB). Pure: decisions only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from annotator.geo.build import UNKNOWN
from annotator.geo.files import classify_file, file_name_from_url
from annotator.geo.select import BUILD_AMBIGUOUS, BUILD_UNKNOWN, NOT_ATTEMPTED, sample_rows
from annotator.geo.soft import Sample, Series

SERIES_FILE_UNATTACHED = "series_file_names_no_sample"
SERIES_FILE_AMBIGUOUS = "series_file_names_several_samples"
SERIES_RAW_ARCHIVE = "series_archive_of_listed_files"
_MIN_TITLE = 4  # shorter titles ("WT", "ko1") would match by accident
_WORD = re.compile(r"[^a-z0-9]+")
_RAW_BUNDLE = re.compile(r"GSE[0-9]+_RAW\.tar", re.IGNORECASE)  # GEO's bundle of the samples' own files


def series_file_rows(series: Series, gse: str, genome: str, strategies: Sequence[str]) -> list[dict[str, Any]]:
    """Rows for the series' own supplementary files, in the order listed."""
    rows: list[dict[str, Any]] = []
    named = {o.gsm for url in series.supplementary_files for o in _owners(file_name_from_url(url), series.samples)}
    # samples listing no file at all, and named by no series file: an archive of the series may hold theirs
    lacking = [
        s for s in series.samples
        if not s.supplementary_files and s.gsm not in named and _wanted(s, gse, genome, strategies)
    ]  # fmt: skip
    for url in series.supplementary_files:
        name = file_name_from_url(url)
        kind = classify_file(name)
        owners = _owners(name, series.samples) if kind != "tar" else []
        if len(owners) == 1:
            rows += sample_rows(replace(owners[0], supplementary_files=(url,)), gse, genome, strategies)
            continue
        reason: str | None = SERIES_FILE_AMBIGUOUS if owners else SERIES_FILE_UNATTACHED
        if kind == "tar":  # read member by member for the samples lacking files; redundant when none lacks any
            reason = None if lacking and not _RAW_BUNDLE.fullmatch(name) else SERIES_RAW_ARCHIVE
        rows.append(
            {
                "gsm": gse,
                "gse": gse,
                "title": series.title,
                "genome_build": UNKNOWN,
                "build_evidence": "a series-level file: no sample's metadata describes it",
                "file_url": url,
                "file_name": name,
                "file_kind": kind,
                "selected": reason is None,
                "skip_reason": reason,
                "download_status": NOT_ATTEMPTED,
                "sample_id": f"{gse}/{name}",
            }
        )
    return rows


def _wanted(sample: Sample, gse: str, genome: str, strategies: Sequence[str]) -> bool:
    """Would a peak file of this sample be taken (strategy, organism; a build only unknown may come from the file)?"""
    probe = replace(sample, supplementary_files=(f"{sample.gsm}_peaks.bed",))
    reason = sample_rows(probe, gse, genome, strategies)[0]["skip_reason"]
    return reason in (None, BUILD_UNKNOWN, BUILD_AMBIGUOUS)


def _owners(name: str, samples: Sequence[Sample]) -> list[Sample]:
    """Samples the file name names: by GSM accession, else by title as a run of whole words."""
    by_gsm = [s for s in samples if re.search(rf"(?<![0-9]){re.escape(s.gsm)}(?![0-9])", name, re.IGNORECASE)]
    if by_gsm:
        return by_gsm
    words = f"_{_WORD.sub('_', name.lower())}_"
    found = []
    for s in samples:
        title = _WORD.sub("_", (s.title or "").lower()).strip("_")
        if len(title) >= _MIN_TITLE and f"_{title}_" in words:
            found.append(s)
    return found
