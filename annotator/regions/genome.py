"""Reference genomes: chromosome names and sizes, and chromosome-name normalisation.

Only the primary assembly (chr1-22, X, Y, M) is tiled; unplaced and alternate contigs (`chrUn_*`, `*_random`,
`*_hap*`, `GL000…`) are real hg19 names but carry no universe tokens, so the BED reader counts them apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

_HG19_SIZES = {
    "chr1": 249250621, "chr2": 243199373, "chr3": 198022430, "chr4": 191154276, "chr5": 180915260,
    "chr6": 171115067, "chr7": 159138663, "chr8": 146364022, "chr9": 141213431, "chr10": 135534747,
    "chr11": 135006516, "chr12": 133851895, "chr13": 115169878, "chr14": 107349540, "chr15": 102531392,
    "chr16": 90354753, "chr17": 81195210, "chr18": 78077248, "chr19": 59128983, "chr20": 63025520,
    "chr21": 48129895, "chr22": 51304566, "chrX": 155270560, "chrY": 59373566, "chrM": 16571,
}  # fmt: skip

_UNPLACED = re.compile(r"(_random$|^chrUn|_hap\d|^(chr)?GL\d|^(chr)?NC_|_gl\d)", re.IGNORECASE)
_PLAIN = re.compile(r"^(?:chr)?(\d{1,2}|X|Y|M|MT)$", re.IGNORECASE)


@dataclass(frozen=True)
class Genome:
    """A genome's primary chromosomes in a fixed order (that order defines chromosome codes)."""

    name: str
    chroms: tuple[str, ...]
    sizes: np.ndarray = field(repr=False)

    def code_of(self) -> dict[str, int]:
        """Chromosome name -> code (index into `chroms`)."""
        return {c: i for i, c in enumerate(self.chroms)}


HG19 = Genome("hg19", tuple(_HG19_SIZES), np.array(list(_HG19_SIZES.values()), dtype=np.int64))

GENOMES = {"hg19": HG19}


def normalise_chrom(name: str) -> str:
    """UCSC-style name for `name`: '1' -> 'chr1', 'MT'/'chrMT' -> 'chrM', 'x' -> 'chrX'.

    Names that are not primary chromosomes come back unchanged; nothing is guessed (`23` stays `23`, because some
    tools mean chrX by it and others do not).
    """
    m = _PLAIN.match(name.strip())
    if not m:
        return name
    core = m.group(1).upper()
    if core == "MT":
        core = "M"
    elif core.isdigit():
        core = str(int(core))
        if not 1 <= int(core) <= 22:
            return name
    return "chr" + core


def is_unplaced_contig(name: str) -> bool:
    """True for real but untiled contigs: chrUn_*, *_random, haplotypes, GL/NC scaffolds."""
    return bool(_UNPLACED.search(name))
