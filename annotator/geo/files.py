"""Supplementary-file classification by name (pure), and the URL and file-name facts the downloader needs.

The name only proposes: a `*_peaks.txt.gz` may turn out to be an expression table, so selected files are confirmed
by sniffing their content after download (`annotator.regions.bed.sniff_bed`).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from urllib.parse import unquote, urlsplit

#: Kinds that may hold genomic regions; everything else is skipped by name (bigBed is converted to BED on arrival).
BED_LIKE_KINDS = frozenset({"bed", "narrowPeak", "broadPeak", "peaks_table", "bigbed"})

#: Why a file of each non-BED-like kind is skipped (the `skip_reason` of its row).
SKIP_REASON_OF_KIND = {
    "bigwig": "bigwig_file",
    "bigbed": "bigbed_file",
    "tar": "tar_archive",
    "other": "not_peak_file",
}

_COMPRESSION = re.compile(r"\.(gz|bz2|xz|zip)$", re.IGNORECASE)
_TAR = re.compile(r"\.(tar|tgz|tar\.(gz|bz2|xz))$", re.IGNORECASE)
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bigwig", re.compile(r"\.(bw|bigwig)$", re.IGNORECASE)),
    ("bigbed", re.compile(r"\.(bb|bigbed)$", re.IGNORECASE)),
    ("narrowPeak", re.compile(r"\.narrowpeak$", re.IGNORECASE)),
    ("broadPeak", re.compile(r"\.broadpeak$", re.IGNORECASE)),
    ("bed", re.compile(r"\.(bed|gappedpeak)$", re.IGNORECASE)),
    # MACS writes `NAME_peaks.xls` (tab-separated text despite the name) and authors post `*peaks*.txt`
    ("peaks_table", re.compile(r"peak[^/]*\.(txt|tsv|xls)$", re.IGNORECASE)),
)

_GEO_FTP = re.compile(r"^ftp://ftp\.ncbi\.nlm\.nih\.gov/", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
#: Local names stay well under the 255-byte file-name limit, leaving room for `.part.meta` and temp suffixes.
_MAX_LOCAL_NAME = 160


def classify_file(name: str) -> str:
    """File kind from a file name: bed, narrowPeak, broadPeak, peaks_table, bigwig, bigbed, tar or other.

    Compression suffixes (.gz, .bz2, .xz, .zip) are looked through, except that `.tar.gz` is a tar archive.
    """
    name = name.strip()
    if _TAR.search(name):
        return "tar"
    stem = _COMPRESSION.sub("", name)
    return next((kind for kind, pattern in _RULES if pattern.search(stem)), "other")


def file_name_from_url(url: str) -> str:
    """Base name of the file a URL points at, percent-decoding undone ('.../GSM1_a%20b.bed' -> 'GSM1_a b.bed')."""
    return posixpath.basename(unquote(urlsplit(url).path.rstrip("/")))


def https_url(url: str) -> str:
    """GEO serves the same paths over https as over ftp; https passes firewalls and reports errors properly."""
    return _GEO_FTP.sub("https://ftp.ncbi.nlm.nih.gov/", url)


def url_digest(gsm: str, url: str) -> str:
    """12 hex digits of the SHA-256 of (sample, URL): what keeps two files' local names and partial files apart."""
    return hashlib.sha256(f"{gsm}\n{url}".encode("utf-8", "surrogatepass")).hexdigest()[:12]


def sample_file_path(gsm: str, url: str, file_name: str) -> tuple[str, str]:
    """The (folder, name) under `beds/` of the file `url` of sample `gsm`: `<gsm>`, `<digest>_<safe name>`.

    One local file per (sample, URL), whatever the file is called: a name that another sample's file also has
    (`GSM610_peaks.bed.gz` listed by GSM61), or that only differs in characters made safe (`a b` and `a_b`), or
    that another URL of the same sample spells alike (`..%2F`), never lands on another file, and the partial
    file of a download (named after it) is never shared by two downloads.
    """
    return gsm, f"{url_digest(gsm, url)}_{local_file_name(gsm, file_name)}"


def local_file_name(gsm: str, file_name: str) -> str:
    """A safe flat file name under `beds/`: only [A-Za-z0-9._+-], always prefixed by the sample accession."""
    safe = _UNSAFE.sub("_", file_name).lstrip(".") or "file"
    name = safe if safe.startswith(gsm) else f"{gsm}_{safe}"
    if len(name) <= _MAX_LOCAL_NAME:
        return name
    # over-long: keep the accession, a digest of the full name (so two long names never collide) and the tail,
    # whose suffixes (.narrowPeak.gz) say what the file is
    digest = hashlib.sha256(file_name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    tail = name[-(_MAX_LOCAL_NAME - len(gsm) - len(digest) - 2) :]
    return f"{gsm}_{digest}_{tail}"
