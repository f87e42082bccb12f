"""Genome-build check from a file's content: hg19 files pass, hg38 (or other) files get status wrong_build."""

from pathlib import Path

import numpy as np
import pytest
from modelkit import planted_model, write_bed

from annotator.project import project_file, to_predictions_table
from annotator.regions.bed import parse_bed_bytes
from annotator.regions.build_check import BUILD_SIZES, PAST_END_SLACK, check_build

HG19, HG38 = BUILD_SIZES["hg19"], BUILD_SIZES["hg38"]


def _hg19_like(n_per_chrom: int = 400, seed: int = 0) -> list[tuple[str, int, int]]:
    """Peaks spread over every hg19 chromosome up to its end (as real whole files are), 500 bp wide."""
    rng = np.random.default_rng(seed)
    rows = []
    for chrom, size in HG19.items():
        if chrom == "chrM":
            continue
        for start in np.sort(rng.integers(0, size - 500, n_per_chrom)):
            rows.append((chrom, int(start), int(start) + 500))
    return rows


def _lift(rows: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """A crude hg19 -> hg38 lift: each chromosome stretched to its hg38 length."""
    return [(c, round(s * HG38[c] / HG19[c]), round(e * HG38[c] / HG19[c])) for c, s, e in rows]


def _bed(rows: list[tuple[str, int, int]], header: str = "") -> bytes:
    return (header + "".join(f"{c}\t{s}\t{e}\n" for c, s, e in rows)).encode()


def test_hg19_file_reads_as_hg19_and_its_hg38_lift_does_not() -> None:
    rows = _hg19_like()
    hg19 = check_build(parse_bed_bytes(_bed(rows)))
    assert not hg19.wrong and hg19.reason == "content consistent with hg19"
    lifted = parse_bed_bytes(_bed(_lift(rows)))
    hg38 = check_build(lifted)
    assert hg38.wrong and hg38.likely == "hg38"
    assert "lines end past hg19 chromosome ends" in hg38.reason and "all within hg38's" in hg38.reason
    assert "chr17" in hg38.reason or "chr18" in hg38.reason  # the chromosomes that grew most in hg38


@pytest.mark.parametrize(
    ("header", "wrong", "likely"),
    [
        ("track name=peaks db=hg38\n", True, "hg38"),
        ("#genome=GRCh38\n", True, "hg38"),
        ("# assembly: GRCh38.p13\n", True, "hg38"),
        ("browser position chr1:1-1000\ntrack type=narrowPeak db=mm10\n", True, "mm10"),
        ("track name=peaks db=hg19\n", False, None),
        ("#genome build: GRCh37\n", False, None),
        ('track name=x description="lifted from hg38 to hg19"\n', False, None),  # a mention, not a declaration
    ],
)
def test_header_declaring_another_build(header: str, wrong: bool, likely: str | None) -> None:
    check = check_build(parse_bed_bytes(_bed([("chr1", 100, 600), ("chr2", 5000, 5400)], header)))
    assert (check.wrong, check.likely) == (wrong, likely)
    if wrong:
        assert "the header declares" in check.reason


@pytest.mark.parametrize("contig", ["chrUn_KI270742v1", "chr1_KI270762v1_alt", "chr4_GL000008v2_random", "chrEBV",
                                    "chr19_KV575256v1_fix", "chrUn_JTFH01000001v1_decoy", "KI270706.1"])  # fmt: skip
def test_sequences_only_other_builds_have_are_evidence(contig: str) -> None:
    check = check_build(parse_bed_bytes(_bed([("chr1", 100, 600), (contig, 10, 200), (contig, 300, 400)])))
    assert (
        check.wrong
        and check.likely == "hg38"
        and f"2 lines on sequences hg19 does not have ({contig})" in (check.reason)
    )


@pytest.mark.parametrize("contig", ["chrUn_gl000220", "chr1_gl000191_random", "chr6_apd_hap1", "GL000191.1", "chrM"])
def test_hg19_contigs_are_not_evidence(contig: str) -> None:
    assert not check_build(parse_bed_bytes(_bed([("chr1", 100, 600), (contig, 10, 200)]))).wrong


def test_peak_caller_slop_past_an_end_is_not_another_build() -> None:
    end = HG19["chr17"]
    slop = check_build(parse_bed_bytes(_bed([("chr1", 100, 600), ("chr17", end - 300, end + 200)])))
    assert not slop.wrong
    far = check_build(parse_bed_bytes(_bed([("chr1", 100, 600), ("chr17", end + 5000, end + 5500)])))
    assert far.wrong and far.likely == "hg38" and "1 of 2 lines" in far.reason
    assert PAST_END_SLACK < 5000


def test_regions_that_fit_no_known_build_are_named_as_such() -> None:
    mouse = check_build(parse_bed_bytes(_bed([("chr17", 90_000_000, 90_000_500), ("chr2", 100, 600)])))
    assert mouse.wrong and mouse.likely == "mm10"  # chr17 of mm10 is 95 Mb, of hg38 83 Mb
    many = [("chr1", 300_000_000 + i * 1000, 300_000_500 + i * 1000) for i in range(10)]
    nowhere = check_build(parse_bed_bytes(_bed([*many, ("chr2", 100, 600)])))
    assert nowhere.wrong and nowhere.likely is None and "past the ends of hg38, hg18 and mm10 too" in nowhere.reason


def test_a_few_junk_lines_in_an_hg19_file_are_not_another_build() -> None:
    rows = _hg19_like(50)  # it has regions past hg38's ends (chr1, chr9 …): hg38 cannot hold it
    junk = [("chr17", HG19["chr17"] + 10_000, HG19["chr17"] + 10_500)] * 9
    assert not check_build(parse_bed_bytes(_bed(rows + junk))).wrong
    assert check_build(parse_bed_bytes(_bed(_lift(rows) + junk))).likely == "hg38"  # the lift fits hg38


def test_evidence_from_several_sources_is_all_given() -> None:
    rows = [*_lift(_hg19_like(50)), ("chrUn_KI270742v1", 10, 200)]
    check = check_build(parse_bed_bytes(_bed(rows, "track db=hg38\n")))
    assert check.likely == "hg38" and len(check.evidence) == 3


def test_reader_keeps_bounded_build_evidence() -> None:
    header = "".join(f"# comment {i} " + "x" * 300 + "\n" for i in range(30))
    rows = [("chr1", 100, 600)] + [(f"chrUn_KI270{i:03d}v1", 1, 2) for i in range(40)] + [("chrEBV", 1, 2)] * 3
    rows += [("chr17", HG19["chr17"] + 10, HG19["chr17"] + 20), ("chr17", HG19["chr17"] + 99, HG19["chr17"] + 900)]
    regions = parse_bed_bytes(_bed(rows, header))
    assert len(regions.header) == 20 and all(len(line) == 200 for line in regions.header)
    assert len(regions.contigs) == 32 and next(iter(regions.contigs.items())) == ("chrEBV", 3)  # most lines first
    assert regions.past_end == {"chr17": (2, HG19["chr17"] + 900)}
    assert regions.skipped["past_chromosome_end"] == 2 and len(regions) == 1


def test_projection_gives_wrong_build_a_status_and_reason_not_a_label(tmp_path: Path) -> None:
    model = planted_model(tmp_path)
    end = HG19["chr17"]
    rows = [("chr1", 0, 5000), ("chr2", 0, 1000), ("chr17", end + 50_000, end + 50_500)]
    p = project_file(model, write_bed(tmp_path / "s_hg38.bed.gz", rows))
    assert p.status == "wrong_build" and p.rankings == {}
    assert p.reason is not None and p.reason.startswith("not hg19 (looks like hg38): 1 of 3 lines end past")
    assert p.n_regions == 2 and p.skipped == {"past_chromosome_end": 1}
    row = to_predictions_table([p], model.digest).to_pylist()[0]
    assert (row["status"], row["label"], row["reason"]) == ("wrong_build", None, p.reason)
    assert project_file(model, write_bed(tmp_path / "s_hg19.bed.gz", rows[:2])).status == "ok"
