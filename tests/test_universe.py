from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.errors import UniverseError
from annotator.regions.bed import RegionSet
from annotator.regions.genome import HG19
from annotator.regions.universe import BedUniverse, TileUniverse, universe_from_spec

CHR_M = HG19.chroms.index("chrM")
M_SIZE = int(HG19.sizes[CHR_M])  # 16,571 bp: small enough to reach its end in random tests


def _regions(rows: list[tuple[int, int, int]]) -> RegionSet:
    arr = np.array(rows, dtype=np.int64).reshape(-1, 3)
    return RegionSet("t", arr[:, 0].astype(np.int16), arr[:, 1], arr[:, 2], n_lines=len(rows))


def _brute(universe: list[tuple[int, int, int]], rows: list[tuple[int, int, int]]) -> tuple[set[int], int]:
    """Token ids (universe row order) overlapped by >= 1 bp, half-open, and how many regions hit any."""
    hit_ids, hit_regions = set(), 0
    for c, s, e in rows:
        ids = {i for i, (uc, us, ue) in enumerate(universe) if uc == c and us < e and s < ue}
        hit_ids |= ids
        hit_regions += bool(ids)
    return hit_ids, hit_regions


interval = st.tuples(st.sampled_from([0, 1, CHR_M]), st.integers(0, M_SIZE - 1), st.integers(1, 3000)).map(
    lambda t: (t[0], t[1], min(t[1] + t[2], M_SIZE))
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(interval, min_size=1, max_size=30), width=st.sampled_from([1, 7, 100, 1000, 5000]))
def test_tiles_match_brute_force(rows: list[tuple[int, int, int]], width: int) -> None:
    u = TileUniverse(width)
    tiles = []
    for code in (0, 1, CHR_M):  # only the tiles random regions can reach
        size = int(HG19.sizes[code])
        for k in range(min(-(-size // width), (M_SIZE + 4000) // width + 2)):
            tiles.append((int(u.offsets[code] + k), (code, k * width, min((k + 1) * width, size))))
    expected_pos, n_hit = _brute([t[1] for t in tiles], rows)
    tokens = u.tokenize(_regions(rows))
    assert set(tokens.ids.tolist()) == {tiles[i][0] for i in expected_pos}
    assert tokens.n_regions_hit == n_hit == len(rows)
    assert np.all(np.diff(tokens.ids) > 0)


@settings(max_examples=60, deadline=None)
@given(universe=st.lists(interval, min_size=1, max_size=25), rows=st.lists(interval, min_size=1, max_size=25))
def test_bed_universe_matches_brute_force_even_when_intervals_overlap(
    universe: list[tuple[int, int, int]], rows: list[tuple[int, int, int]]
) -> None:
    u = BedUniverse(*(np.array(col) for col in zip(*universe, strict=True)))
    sorted_universe = list(zip(u.chrom.tolist(), u.start.tolist(), u.end.tolist(), strict=True))
    expected, n_hit = _brute(sorted_universe, rows)
    tokens = u.tokenize(_regions(rows))
    assert set(tokens.ids.tolist()) == expected
    assert tokens.n_regions_hit == n_hit
    assert tokens.coverage == pytest.approx(n_hit / len(rows))


def test_touching_intervals_do_not_overlap_and_long_regions_span_tiles() -> None:
    u = TileUniverse(1000)
    t = u.tokenize(_regions([(0, 1000, 2000)]))  # exactly tile 1
    assert t.ids.tolist() == [1]
    t = u.tokenize(_regions([(0, 999, 1001)]))  # straddles tiles 0 and 1
    assert t.ids.tolist() == [0, 1]
    t = u.tokenize(_regions([(0, 500, 10_500)]))
    assert t.ids.tolist() == list(range(11))


def test_last_tile_of_a_chromosome_is_shorter_and_next_chromosome_starts_fresh() -> None:
    u = TileUniverse(1000)
    chr1 = int(HG19.sizes[0])
    t = u.tokenize(_regions([(0, chr1 - 1, chr1), (1, 0, 1)]))
    last_chr1 = chr1 // 1000  # 249,250,621 bp -> tiles 0..249250
    assert t.ids.tolist() == [last_chr1, int(u.offsets[1])]
    assert u.token_names(t.ids) == [f"chr1_{last_chr1 * 1000}_{chr1}", "chr2_0_1000"]


def test_known_mask_restricts_tokens_and_coverage() -> None:
    u = TileUniverse(1000)
    known = np.zeros(u.n_tokens, dtype=bool)
    known[[0, 5]] = True
    t = u.tokenize(_regions([(0, 0, 10), (0, 2000, 3000), (0, 5500, 5600), (0, 4000, 6000)]), known=known)
    assert t.ids.tolist() == [0, 5]
    assert t.n_regions_hit == 3 and t.coverage == pytest.approx(0.75)


def test_tile_names_round_trip_in_both_notations() -> None:
    u = TileUniverse(1000)
    ids = np.array([0, 7, int(u.offsets[22]) + 3])
    names = u.token_names(ids)
    assert u.ids_from_names(names).tolist() == ids.tolist()
    assert u.ids_from_names(["chr1:7000-8000"]).tolist() == [7]
    with pytest.raises(UniverseError, match="not a 1000 bp tile"):
        u.ids_from_names(["chr1_500_1500"])


def test_universe_spec_round_trip_and_errors(tmp_path: Path) -> None:
    u = TileUniverse(500)
    assert universe_from_spec(u.spec()).digest == u.digest
    assert TileUniverse(1000).digest != u.digest
    bed = BedUniverse(np.array([0, 0]), np.array([100, 50]), np.array([200, 400]))
    bed.write_bed(tmp_path / "universe.bed.gz")
    assert universe_from_spec(bed.spec(), tmp_path).digest == bed.digest
    with pytest.raises(UniverseError, match="unknown universe kind"):
        universe_from_spec({"kind": "kmers"})
    with pytest.raises(UniverseError, match="positive"):
        TileUniverse(0)
