"""Genome-build detection for GEO samples and their files (pure).

Evidence, strongest first:

1. explicit fields: `Genome_build: hg19` / `genome build:` / `assembly:` / `reference genome:` lines in
   `!Sample_data_processing`, and characteristics with such a key;
2. the supplementary file's name (`…_hg38_peaks.bed.gz`, `…GRCh37…`);
3. only when 1 and 2 say nothing: builds named in free text of data processing and description
   ("reads were aligned to hg19 using BWA").

Aliases are normalised to UCSC names (GRCh37, b37, hs37d5 -> hg19). Evidence that disagrees (two builds, a file
name that contradicts the fields, a mouse sample said to be hg19) makes the build `ambiguous`; such files are
reported, never selected by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from annotator.geo.soft import Sample

AMBIGUOUS = "ambiguous"
UNKNOWN = "unknown"

#: Alias (lower case) -> UCSC build name, for names that do not follow the UCSC `<prefix><number>` pattern.
_ALIASES = {
    "grch37": "hg19", "b37": "hg19", "hs37": "hg19", "hs37d5": "hg19", "human_g1k_v37": "hg19", "hg19": "hg19",
    "grch38": "hg38", "hs38": "hg38", "hs38dh": "hg38", "hg38": "hg38",
    "ncbi36": "hg18", "ncbi35": "hg17",
    "grcm38": "mm10", "grcm39": "mm39", "ncbim37": "mm9", "mgscv37": "mm9",
    "grcz10": "danRer10", "grcz11": "danRer11", "bdgp6": "dm6", "bdgp5": "dm3", "wbcel235": "ce11",
    "r64": "sacCer3", "rnor_6.0": "rn6", "mratbn7.2": "rn7",
}  # fmt: skip

#: UCSC assembly prefix -> organism as GEO writes it in `!Sample_organism_ch1`.
ORGANISM_OF_PREFIX = {
    "hg": "Homo sapiens",
    "mm": "Mus musculus",
    "rn": "Rattus norvegicus",
    "dm": "Drosophila melanogaster",
    "ce": "Caenorhabditis elegans",
    "danRer": "Danio rerio",
    "sacCer": "Saccharomyces cerevisiae",
    "galGal": "Gallus gallus",
    "canFam": "Canis lupus familiaris",
    "bosTau": "Bos taurus",
    "susScr": "Sus scrofa",
    "panTro": "Pan troglodytes",
    "rheMac": "Macaca mulatta",
    "xenTro": "Xenopus tropicalis",
}

_UCSC = "|".join(sorted(ORGANISM_OF_PREFIX, key=len, reverse=True))
_ALIAS = "|".join(re.escape(a) for a in sorted(_ALIASES, key=len, reverse=True))
# Build names are delimited by anything but a letter or digit, so `_hg19_`, `(hg19)`, `GRCh37.p13` match and
# `hg19ToHg38` or `lib37` do not.
_BUILD_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9])(?:(?P<ucsc>(?:{_UCSC})\d{{1,2}})|(?P<alias>{_ALIAS}))(?![A-Za-z0-9])", re.IGNORECASE
)
_BUILD_FIELD = re.compile(
    r"^\s*(?:genome[\s_-]*build|genome[\s_-]*assembly|genome[\s_-]*version|assembly|reference[\s_-]*genome)"
    r"\s*[:=]\s*(?P<value>.*)$",
    re.IGNORECASE,
)
_BUILD_KEY = re.compile(r"^(?:genome[\s_-]*build|genome[\s_-]*assembly|assembly|reference[\s_-]*genome)$", re.I)


@dataclass(frozen=True)
class BuildCall:
    """A normalised build ('hg19', 'mm10', 'ambiguous', 'unknown') and where it came from."""

    build: str
    evidence: str


def normalise_build(name: str) -> str | None:
    """UCSC name of a build alias ('GRCh37' -> 'hg19', 'MM10' -> 'mm10'); None when not a known build name."""
    found = builds_in_text(name)
    return found[0] if len(found) == 1 else None


def builds_in_text(text: str) -> list[str]:
    """Distinct normalised builds named in `text`, in order of first mention."""
    found: list[str] = []
    for m in _BUILD_TOKEN.finditer(text):
        build = _normalise_token(m)
        if build not in found:
            found.append(build)
    return found


def organism_of_build(build: str) -> str | None:
    """Organism of a UCSC build ('hg19' -> 'Homo sapiens'); None when the prefix is not known."""
    m = re.match(r"^([A-Za-z]+)\d+$", build)
    return ORGANISM_OF_PREFIX.get(m.group(1)) if m else None


def detect_build(sample: Sample, file_name: str | None = None) -> BuildCall:
    """Genome build of `sample`'s file `file_name` (or of the sample when None), with its evidence.

    Parameters
    ----------
    sample
        The parsed GEO sample.
    file_name
        Base name of one supplementary file; its name can name (or contradict) the build.

    Returns
    -------
    BuildCall
        `build` is a UCSC name, `ambiguous` or `unknown`; `evidence` says which field and text it came from.
    """
    explicit = _explicit_evidence(sample)
    from_name = [(b, f"file name {file_name!r}") for b in builds_in_text(file_name)] if file_name else []
    evidence = explicit
    if from_name:
        explicit_builds = {b for b, _ in explicit}
        name_builds = {b for b, _ in from_name}
        if len(name_builds) == 1 and name_builds <= explicit_builds:
            agreeing = [e for e in explicit if e[0] in name_builds]
            # Authors who map to two builds say so in the fields and tell the files apart by name: then the
            # name is the evidence that decides; otherwise the field is the stronger one to cite.
            evidence = from_name + agreeing if len(explicit_builds) > 1 else agreeing + from_name
        else:
            evidence = explicit + from_name
    if not evidence:
        evidence = _free_text_evidence(sample)
    call = _decide(evidence)
    return _check_organism(call, sample)


def _explicit_evidence(sample: Sample) -> list[tuple[str, str]]:
    evidence: list[tuple[str, str]] = []
    for line in (sample.data_processing or "").splitlines():
        m = _BUILD_FIELD.match(line)
        if m:
            evidence += [(b, f"data_processing {line.strip()!r}") for b in builds_in_text(m.group("value"))]
    for key, value in sample.characteristics:
        if key and _BUILD_KEY.match(key):
            evidence += [(b, f"characteristics {key}: {value!r}") for b in builds_in_text(value)]
    return evidence


def _free_text_evidence(sample: Sample) -> list[tuple[str, str]]:
    evidence: list[tuple[str, str]] = []
    for name, text in (("data_processing", sample.data_processing), ("description", sample.description)):
        for line in (text or "").splitlines():
            evidence += [(b, f"{name} text {_excerpt(line, b)!r}") for b in builds_in_text(line)]
    return evidence


def _decide(evidence: list[tuple[str, str]]) -> BuildCall:
    if not evidence:
        return BuildCall(UNKNOWN, "no genome build in data processing, characteristics or file name")
    builds = list(dict.fromkeys(b for b, _ in evidence))
    if len(builds) == 1:
        return BuildCall(builds[0], evidence[0][1])
    parts = [f"{b} ({next(src for bb, src in evidence if bb == b)})" for b in builds]
    return BuildCall(AMBIGUOUS, "conflicting builds: " + " vs ".join(parts))


def _check_organism(call: BuildCall, sample: Sample) -> BuildCall:
    """A build of another organism than the sample's is a contradiction, not a build (a mouse sample is no hg19)."""
    expected = organism_of_build(call.build)
    organisms = {o.strip().lower() for o in sample.organisms}
    if expected is None or not organisms or expected.lower() in organisms:
        return call
    return BuildCall(AMBIGUOUS, f"{call.build} ({call.evidence}) contradicts organism {'; '.join(sample.organisms)}")


def _normalise_token(m: re.Match[str]) -> str:
    if m.group("ucsc"):
        token = m.group("ucsc")
        prefix = re.match(r"[A-Za-z]+", token)
        assert prefix is not None  # the regex guarantees letters first
        canonical = next(p for p in ORGANISM_OF_PREFIX if p.lower() == prefix.group(0).lower())
        return canonical + token[len(canonical) :]
    return _ALIASES[m.group("alias").lower()]


def _excerpt(line: str, build: str, width: int = 60) -> str:
    """Up to `width` characters of `line` around the first mention of `build` (free text can be long)."""
    m = next((m for m in _BUILD_TOKEN.finditer(line) if _normalise_token(m) == build), None)
    if m is None or len(line) <= width:
        return line.strip()
    start = max(0, m.start() - width // 2)
    return ("…" if start else "") + line[start : start + width].strip() + "…"
