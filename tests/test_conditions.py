"""GEO-like conditions: what a thresholded, subsampled or summit-window upload of a peak file holds."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from annotator.errors import BedFormatError
from annotator.model.conditions import CONDITIONS, SUMMIT_HALF_WIDTH, apply_condition, read_peaks


def _narrow(path: Path, n: int = 3000) -> Path:
    """narrowPeak whose signal (column 7) is the peak index, so the strongest peaks are the last ones."""
    lines = [f"chr2\t{i * 1000}\t{i * 1000 + 300}\tp{i}\t0\t.\t{i}.5\t-1\t-1\t{50 + i % 7}\n" for i in range(n)]
    path.write_bytes(gzip.compress("".join(lines).encode()))
    return path


def test_strongest_peaks_are_chosen_by_signal(tmp_path: Path) -> None:
    peaks = read_peaks(_narrow(tmp_path / "a.narrowPeak.gz"))
    assert peaks.file_format == "narrowPeak" and len(peaks.regions) == 3000
    top = apply_condition(peaks, "top500")
    assert len(top) == 500
    assert top.start.min() == 2500 * 1000  # the 500 highest signals are the last 500 peaks
    assert len(apply_condition(peaks, "top10000")) == 3000  # a smaller file keeps every peak


def test_random_subsets_are_seeded_per_file_and_sized(tmp_path: Path) -> None:
    peaks = read_peaks(_narrow(tmp_path / "a.narrowPeak.gz"))
    one, two = apply_condition(peaks, "random1000"), apply_condition(peaks, "random1000")
    assert len(one) == 1000 and np.array_equal(one.start, two.start)
    assert not np.array_equal(one.start, apply_condition(peaks, "random1000", seed=1).start)
    assert np.all(np.diff(one.start) > 0)  # kept in file order


def test_summit_windows_centre_on_the_summit_or_the_midpoint(tmp_path: Path) -> None:
    peaks = read_peaks(_narrow(tmp_path / "a.narrowPeak.gz", 10))
    windows = apply_condition(peaks, "summit")
    expected = np.maximum(peaks.regions.start + (50 + np.arange(10) % 7) - SUMMIT_HALF_WIDTH, 0)  # clipped at 0
    np.testing.assert_array_equal(windows.start, expected)
    assert np.all(windows.end[1:] - windows.start[1:] == 2 * SUMMIT_HALF_WIDTH)
    broad = tmp_path / "b.broadPeak"
    broad.write_text("chr3\t10000\t30000\tx\t0\t.\t5.0\t-1\t-1\n")
    b = read_peaks(broad)
    assert b.file_format == "broadPeak"
    w = apply_condition(b, "summit")
    assert (w.start[0], w.end[0]) == (20000 - SUMMIT_HALF_WIDTH, 20000 + SUMMIT_HALF_WIDTH)


def test_peaks_off_the_genome_are_dropped_and_bad_files_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.bed"
    path.write_text("chr2\t100\t200\nchrUn_gl000220\t1\t50\nchr2\t300\t250\nchr9\t141213000\t141213999\n")
    peaks = read_peaks(path)
    assert peaks.regions.start.tolist() == [100]  # unknown contig, end<=start, past chromosome end: dropped
    assert np.all(peaks.signal == 0.0) and np.all(peaks.summit == -1)
    assert len(apply_condition(peaks, "top500")) == 1
    two = tmp_path / "d.bed"
    two.write_text("chr2\t100\n")
    with pytest.raises(BedFormatError, match="at least 3"):
        read_peaks(two)
    with pytest.raises(ValueError, match="unknown condition"):
        apply_condition(peaks, "top-ten")
    assert CONDITIONS[0] == "whole"
