"""Genome-build check from a region file's content (pure): is an "hg19" peak file really hg19?

GEO metadata says which build a file is on (`annotator.geo.build`), but authors upload hg38 files to hg19 samples
and the other way round. Projected as hg19, an hg38 file gets a confident label that means nothing, so projection
asks the file itself. Evidence, any one of which is enough:

1. **a header that declares another build**: ``track db=hg38``, ``#genome=hg38``, ``# assembly: GRCh38`` (names as
   `annotator.geo.build` normalises them; a header that declares hg19 is not evidence against the file);
2. **sequence names only other builds have**: GRCh38's ``KI270…`` scaffolds, UCSC hg38's versioned contigs
   (``chrUn_GL000195v1``, ``chr1_KI270706v1_random``), alternate and fix patches (``chr1_KI270762v1_alt``, ``_fix``),
   decoys (``_decoy``) and ``chrEBV``. hg19's own contigs (``chrUn_gl000220``, ``chr6_apd_hap1``, ``GL000191.1`` of
   b37) carry no version suffix and are not evidence;
3. **regions past the ends of hg19 chromosomes**: at least `MIN_PAST_END_LINES` lines end more than
   `PAST_END_SLACK` bases past an hg19 chromosome end. hg38's chr3, 5, 7, 11, 17, 18, 20 and X are longer than
   hg19's (chr17 by 2.1 Mb, chr18 by 2.3 Mb, chr20 by 1.4 Mb), and GRCh38 moved the q-arms of those chromosomes
   right, so an hg38 file with peaks near the q-arm ends has regions an hg19 chromosome does not reach. This is the
   lift-shift signature: the ends say which build they fit, and the reason names it (``fit hg38``, ``fit hg18``,
   ``fit mm10``). Lines past the ends that no known build holds either (an hg19 file's region on chr1 past hg38's
   end cannot be hg38's) are taken as junk lines of an hg19 file unless there are many (`MIN_UNFIT_LINES`,
   `UNFIT_FRACTION`): another genome.

The real hg19 corpora in the shared data (346 files, 14 million regions) have no such header, name or region: not
one file is flagged (`scripts/check_builds.py`). A few base pairs past an end are a peak caller's slop, not a
build, hence the slack. What the check cannot see: a sparse hg38 file with no region past an hg19 end and no
telltale name reads as hg19 (`scripts/check_builds.py` measures how often that happens).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from annotator.geo.build import builds_in_text
from annotator.regions.bed import RegionSet
from annotator.regions.genome import HG19

STATUS_WRONG_BUILD = "wrong_build"

#: Lines past an hg19 end (by more than the slack) that make a file another build's.
MIN_PAST_END_LINES = 1
#: Bases past a chromosome end that are still read as a peak caller's slop rather than another build.
PAST_END_SLACK = 1_000
#: Lines past the ends that fit no other known build either are junk in an hg19 file unless there are this many
#: and this share of the file (a genome `BUILD_SIZES` does not list).
MIN_UNFIT_LINES, UNFIT_FRACTION = 10, 0.01

#: Primary chromosome sizes of the builds a file may fit instead (UCSC chrom.sizes).
BUILD_SIZES: dict[str, dict[str, int]] = {
    "hg19": dict(zip(HG19.chroms, HG19.sizes.tolist(), strict=True)),  # the reader's own genome
    "hg38": {
        "chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr4": 190214555, "chr5": 181538259,
        "chr6": 170805979, "chr7": 159345973, "chr8": 145138636, "chr9": 138394717, "chr10": 133797422,
        "chr11": 135086622, "chr12": 133275309, "chr13": 114364328, "chr14": 107043718, "chr15": 101991189,
        "chr16": 90338345, "chr17": 83257441, "chr18": 80373285, "chr19": 58617616, "chr20": 64444167,
        "chr21": 46709983, "chr22": 50818468, "chrX": 156040895, "chrY": 57227415, "chrM": 16569,
    },
    "hg18": {
        "chr1": 247249719, "chr2": 242951149, "chr3": 199501827, "chr4": 191273063, "chr5": 180857866,
        "chr6": 170899992, "chr7": 158821424, "chr8": 146274826, "chr9": 140273252, "chr10": 135374737,
        "chr11": 134452384, "chr12": 132349534, "chr13": 114142980, "chr14": 106368585, "chr15": 100338915,
        "chr16": 88827254, "chr17": 78774742, "chr18": 76117153, "chr19": 63811651, "chr20": 62435964,
        "chr21": 46944323, "chr22": 49691432, "chrX": 154913754, "chrY": 57772954, "chrM": 16571,
    },
    "mm10": {
        "chr1": 195471971, "chr2": 182113224, "chr3": 160039680, "chr4": 156508116, "chr5": 151834684,
        "chr6": 149736546, "chr7": 145441459, "chr8": 129401213, "chr9": 124595110, "chr10": 130694993,
        "chr11": 122082543, "chr12": 120129022, "chr13": 120421639, "chr14": 124902244, "chr15": 104043685,
        "chr16": 98207768, "chr17": 94987271, "chr18": 90702639, "chr19": 61431566, "chrX": 171031299,
        "chrY": 91744698, "chrM": 16299,
    },
}  # fmt: skip

_OTHER_BUILD_CONTIG = re.compile(
    r"KI27\d{4}|(?:GL|JH|KN|KQ|KV|KZ|ML|MU)\d{6}v\d|_alt$|_fix$|_decoy$|^chrEBV$|^HLA-", re.IGNORECASE
)
#: Header words that introduce a build: ``db=hg38``, ``genome=hg38``, ``assembly: GRCh38``, ``build hg38``.
_DECLARATION = re.compile(
    r"\b(?:genome[ _-]?build|genome|assembly|db|build|reference)\s*[=:]?\s*\"?([A-Za-z][\w.]*)", re.IGNORECASE
)
_MAX_NAMES = 3


@dataclass(frozen=True)
class BuildCheck:
    """What a file's content says about its build: no evidence means it reads as the expected build."""

    expected: str
    evidence: tuple[str, ...] = ()  # one phrase per kind of evidence, for the reason
    likely: str | None = None  # the build the evidence points to, when it points to one

    @property
    def wrong(self) -> bool:
        """True when the file is not on the expected build."""
        return bool(self.evidence)

    @property
    def reason(self) -> str:
        """One line for a curator: what was found and what to do."""
        if not self.wrong:
            return f"content consistent with {self.expected}"
        guess = f"looks like {self.likely}" if self.likely else "build unknown"
        return (
            f"not {self.expected} ({guess}): {'; '.join(self.evidence)}; "
            f"give the {self.expected} file or lift it over to {self.expected}"
        )


def check_build(regions: RegionSet) -> BuildCheck:
    """Whether the region set's content is on its genome's build (see the module docstring for the evidence).

    Parameters
    ----------
    regions
        A parsed file: its valid regions, the lines past chromosome ends, skipped sequence names and header lines.

    Returns
    -------
    BuildCheck
        ``wrong`` with the evidence and the build it points to, or no evidence.

    Examples
    --------
    >>> from annotator.regions.bed import parse_bed_bytes
    >>> check_build(parse_bed_bytes(b"track db=hg38\\nchr1\\t100\\t200\\n")).reason.split(":")[0]
    'not hg19 (looks like hg38)'
    """
    expected = regions.genome.name
    evidence: list[str] = []
    pointers: list[str] = []
    declared = [b for line in regions.header for b in _declared_builds(line) if b != expected]
    if declared:
        evidence.append(f"the header declares {declared[0]}")
        pointers.append(declared[0])
    contigs = {name: n for name, n in regions.contigs.items() if _OTHER_BUILD_CONTIG.search(name)}
    if contigs:
        names = ", ".join(sorted(contigs, key=lambda c: -contigs[c])[:_MAX_NAMES])
        evidence.append(f"{sum(contigs.values())} lines on sequences hg19 does not have ({names})")
        pointers.append("hg38")
    far = {c: (n, end) for c, (n, end) in regions.past_end.items() if end > _size(expected, c) + PAST_END_SLACK}
    n_far = sum(n for n, _ in far.values())
    fits = _builds_that_fit(regions) if n_far >= MIN_PAST_END_LINES and expected in BUILD_SIZES else []
    if fits or n_far >= max(MIN_UNFIT_LINES, UNFIT_FRACTION * regions.n_lines):
        where = ", ".join(sorted(far, key=lambda c: -far[c][0])[:_MAX_NAMES])
        fit = f", all within {' and '.join(fits)}'s" if fits else ", past the ends of hg38, hg18 and mm10 too"
        evidence.append(f"{n_far} of {regions.n_lines} lines end past {expected} chromosome ends ({where}){fit}")
        pointers.extend(fits[:1])
    likely = pointers[0] if pointers and all(p == pointers[0] for p in pointers) else None
    return BuildCheck(expected, tuple(evidence), likely)


def _declared_builds(line: str) -> list[str]:
    """Builds a header line declares (``track db=hg38`` -> ["hg38"]); builds merely mentioned do not count."""
    return [b for m in _DECLARATION.finditer(line) for b in builds_in_text(m.group(1))]


def _size(build: str, chrom: str) -> int:
    return BUILD_SIZES.get(build, {}).get(chrom, 0)


def _builds_that_fit(regions: RegionSet) -> list[str]:
    """Other builds whose chromosomes hold every region: the ones past the expected ends and the valid ones."""
    chroms = np.asarray(regions.genome.chroms)
    present = np.unique(regions.chrom) if len(regions) else np.zeros(0, np.int16)
    largest = {str(chroms[c]): int(regions.end[regions.chrom == c].max()) for c in present}
    for chrom, (_, end) in regions.past_end.items():
        largest[chrom] = max(largest.get(chrom, 0), end)
    return [
        build
        for build, sizes in BUILD_SIZES.items()
        if build != regions.genome.name and all(end <= sizes.get(chrom, -1) for chrom, end in largest.items())
    ]
