"""Universes (the vocabulary of genomic tokens) and tokenization of region sets.

A token is a universe interval; a region set's tokens are the distinct universe intervals it overlaps by at least
one base (half-open coordinates, so intervals that merely touch do not overlap). Two universes exist:

* `TileUniverse` — fixed-width tiles of the primary chromosomes, as in the BEDspace paper (1 kb). Token ids are
  computed arithmetically (`chrom offset + start // width`), so no universe file is needed.
* `BedUniverse` — any set of intervals from a BED file (consensus peaks …), possibly overlapping each other.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.errors import UniverseError
from annotator.regions.bed import RegionSet, read_bed
from annotator.regions.genome import GENOMES, HG19, Genome, normalise_chrom

_TOKEN_NAME = re.compile(r"^(?P<chrom>[^:_\s]+)[:_](?P<start>\d+)[-_](?P<end>\d+)$")


@dataclass(frozen=True)
class Tokens:
    """The distinct tokens a region set hits, with the statistics reported per sample."""

    ids: np.ndarray  # unique, sorted int64 token ids
    n_regions: int
    n_regions_hit: int

    @property
    def coverage(self) -> float:
        """Regions that hit at least one counted token / regions."""
        return self.n_regions_hit / self.n_regions if self.n_regions else 0.0


@dataclass(frozen=True)
class KnownTokens:
    """The tokens a model has vectors for: a mask over the universe and its prefix counts.

    The prefix counts answer "does region [first, last] touch any known tile?" in O(1) per region.
    """

    mask: np.ndarray  # bool, one per universe token
    cumsum: np.ndarray  # int32, len n_tokens + 1: known tokens before each id

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> KnownTokens:
        return cls(mask, np.concatenate([[0], np.cumsum(mask, dtype=np.int32)]).astype(np.int32))


def _expand(first: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges [first, first+count) concatenated, and the index of the range each element came from."""
    total = int(count.sum())
    owner = np.repeat(np.arange(first.shape[0]), count)
    within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(first, count) + within, owner


def _as_known(known: KnownTokens | np.ndarray | None) -> KnownTokens | None:
    return KnownTokens.from_mask(known) if isinstance(known, np.ndarray) else known


def _finish(ids: np.ndarray, owner: np.ndarray, n_regions: int, n_tokens: int, known: KnownTokens | None) -> Tokens:
    """Distinct ids via a bitmap over the universe: O(universe) but branch-free, far cheaper than sorting."""
    if known is not None:
        keep = known.mask[ids]
        ids, owner = ids[keep], owner[keep]
    hit = np.zeros(n_regions, dtype=bool)
    hit[owner] = True
    seen = np.zeros(n_tokens, dtype=bool)
    seen[ids] = True
    return Tokens(np.flatnonzero(seen).astype(np.int64), n_regions, int(hit.sum()))


class TileUniverse:
    """Fixed-width tiles over a genome's primary chromosomes (the last tile of a chromosome may be shorter)."""

    kind = "tiles"

    def __init__(self, width: int = 1000, genome: Genome = HG19) -> None:
        if width < 1:
            raise UniverseError(f"tile width must be a positive number of bases, got {width}")
        self.width = int(width)
        self.genome = genome
        n_per_chrom = -(-genome.sizes // self.width)  # ceil
        self.offsets = np.concatenate([[0], np.cumsum(n_per_chrom)]).astype(np.int64)
        self.n_tokens = int(self.offsets[-1])
        self.digest = _sha256_json({"kind": self.kind, "width": self.width, "chroms": list(genome.chroms),
                                    "sizes": genome.sizes.tolist()})  # fmt: skip

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "width": self.width, "genome": self.genome.name, "n_tokens": self.n_tokens}

    def tokenize(self, regions: RegionSet, known: KnownTokens | np.ndarray | None = None) -> Tokens:
        """Distinct tiles overlapped by `regions`; with `known`, only the model's known tiles count.

        Each region covers the tile range [first, last]. Sorting the ranges and merging overlaps (a running
        maximum) yields disjoint blocks, so the distinct tiles come out sorted without a set operation, and only
        once each even where thousands of peaks pile up.
        """
        known = _as_known(known)
        base = self.offsets[regions.chrom.astype(np.int64)]
        first = base + regions.start // self.width
        last = base + (regions.end - 1) // self.width
        n = first.shape[0]
        if n == 0:
            return Tokens(np.zeros(0, np.int64), 0, 0)
        order = np.argsort(first, kind="stable")  # timsort: near-linear on per-chromosome sorted files
        f, reach = first[order], np.maximum.accumulate(last[order])
        new_block = np.empty(n, dtype=bool)
        new_block[0] = True
        np.greater(f[1:], reach[:-1], out=new_block[1:])
        block_first = f[new_block]
        block_last = reach[np.append(np.flatnonzero(new_block)[1:] - 1, n - 1)]
        ids, _ = _expand(block_first, block_last - block_first + 1)
        if known is None:
            return Tokens(ids, n, n)
        n_hit = int(np.count_nonzero(known.cumsum[last + 1] > known.cumsum[first]))
        return Tokens(ids[known.mask[ids]], n, n_hit)

    def token_names(self, ids: np.ndarray) -> list[str]:
        """`chr1_0_1000`-style names (StarSpace / BEDspace convention)."""
        ids = np.asarray(ids, dtype=np.int64)
        code = np.searchsorted(self.offsets, ids, side="right") - 1
        start = (ids - self.offsets[code]) * self.width
        end = np.minimum(start + self.width, self.genome.sizes[code])
        chroms = np.asarray(self.genome.chroms)[code]
        return [f"{c}_{s}_{e}" for c, s, e in zip(chroms.tolist(), start.tolist(), end.tolist(), strict=True)]

    def ids_from_names(self, names: list[str]) -> np.ndarray:
        """Token ids for `chr1_0_1000` or `chr1:0-1000` names; raises UniverseError on a name off the tile grid."""
        code_of = self.genome.code_of()
        out = np.empty(len(names), dtype=np.int64)
        for i, name in enumerate(names):  # runs once per model import, not per region
            chrom, start, _end = _parse_token_name(name)
            code = code_of.get(chrom)
            if code is None or start % self.width or start >= self.genome.sizes[code]:
                raise UniverseError(f"token {name!r} is not a {self.width} bp tile of {self.genome.name}")
            out[i] = self.offsets[code] + start // self.width
        return out


class BedUniverse:
    """Universe of arbitrary intervals (sorted by chromosome code and start; token id = row)."""

    kind = "bed"

    def __init__(self, chrom: np.ndarray, start: np.ndarray, end: np.ndarray, genome: Genome = HG19) -> None:
        order = np.lexsort((end, start, chrom))
        self.chrom = np.asarray(chrom, dtype=np.int16)[order]
        self.start = np.asarray(start, dtype=np.int64)[order]
        self.end = np.asarray(end, dtype=np.int64)[order]
        self.genome = genome
        self.n_tokens = int(self.start.shape[0])
        if self.n_tokens == 0:
            raise UniverseError("a universe needs at least one interval")
        self._chrom_base = np.concatenate([[0], np.cumsum(genome.sizes)]).astype(np.int64)
        self._gstart = self._chrom_base[self.chrom] + self.start  # sorted: one coordinate line for all chroms
        self._gend = self._chrom_base[self.chrom] + self.end
        self._max_len = int((self.end - self.start).max())
        h = hashlib.sha256()
        for arr in (self.chrom, self.start, self.end):
            h.update(np.ascontiguousarray(arr).tobytes())
        self.digest = h.hexdigest()

    @classmethod
    def from_bed(cls, path: str | Path, genome: Genome = HG19) -> BedUniverse:
        regions = read_bed(path, genome)
        return cls(regions.chrom, regions.start, regions.end, genome)

    def spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "genome": self.genome.name,
            "n_tokens": self.n_tokens,
            "file": "universe.bed.gz",
        }

    def tokenize(self, regions: RegionSet, known: KnownTokens | np.ndarray | None = None) -> Tokens:
        """Distinct universe intervals overlapped (>= 1 bp) by `regions`; see `TileUniverse.tokenize`."""
        known = _as_known(known)
        base = self._chrom_base[regions.chrom.astype(np.int64)]
        qs, qe = base + regions.start, base + regions.end
        # a universe interval starting at or before qs - max_len ends at or before qs: it cannot overlap
        lo = np.searchsorted(self._gstart, qs - self._max_len, side="right")
        hi = np.searchsorted(self._gstart, qe, side="left")
        ids, owner = _expand(lo, np.maximum(hi - lo, 0))
        overlaps = self._gend[ids] > qs[owner]
        return _finish(ids[overlaps], owner[overlaps], len(regions), self.n_tokens, known)

    def token_names(self, ids: np.ndarray) -> list[str]:
        ids = np.asarray(ids, dtype=np.int64)
        chroms = np.asarray(self.genome.chroms)[self.chrom[ids]]
        return [f"{c}_{s}_{e}" for c, s, e in zip(chroms.tolist(), self.start[ids].tolist(),
                                                  self.end[ids].tolist(), strict=True)]  # fmt: skip

    def ids_from_names(self, names: list[str]) -> np.ndarray:
        lookup = {
            (int(c), int(s), int(e)): i
            for i, (c, s, e) in enumerate(zip(self.chrom, self.start, self.end, strict=True))
        }
        code_of = self.genome.code_of()
        out = np.empty(len(names), dtype=np.int64)
        for i, name in enumerate(names):
            chrom, start, end = _parse_token_name(name)
            key = (code_of.get(chrom, -1), start, end)
            if key not in lookup:
                raise UniverseError(f"token {name!r} is not an interval of the universe")
            out[i] = lookup[key]
        return out

    def write_bed(self, path: Path) -> None:
        import gzip

        chroms = np.asarray(self.genome.chroms)[self.chrom]
        lines = "".join(f"{c}\t{s}\t{e}\n" for c, s, e in zip(chroms.tolist(), self.start.tolist(),
                                                               self.end.tolist(), strict=True))  # fmt: skip
        with gzip.open(path, "wt", compresslevel=6) as fh:
            fh.write(lines)


Universe = TileUniverse | BedUniverse


def universe_from_spec(spec: dict[str, Any], base_dir: Path | None = None) -> Universe:
    """Rebuild the universe a model was trained on from its `model.json` spec."""
    genome = GENOMES.get(spec.get("genome", "hg19"))
    if genome is None:
        raise UniverseError(f"unknown genome {spec.get('genome')!r}; known: {sorted(GENOMES)}")
    kind = spec.get("kind")
    if kind == "tiles":
        return TileUniverse(int(spec["width"]), genome)
    if kind == "bed":
        if base_dir is None:
            raise UniverseError("a BED universe needs the model directory to find its universe file")
        return BedUniverse.from_bed(base_dir / spec.get("file", "universe.bed.gz"), genome)
    raise UniverseError(f"unknown universe kind {kind!r} (expected 'tiles' or 'bed')")


def _parse_token_name(name: str) -> tuple[str, int, int]:
    m = _TOKEN_NAME.match(name.strip())
    if not m:
        raise UniverseError(f"token {name!r} is neither chr_start_end nor chr:start-end")
    return normalise_chrom(m["chrom"]), int(m["start"]), int(m["end"])


def _sha256_json(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
