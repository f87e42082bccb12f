"""Hostile SOFT and hostile names: nothing GEO writes can make annotator write or read outside the workdir."""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from urllib.parse import quote

import pytest
from geo_fault_servers import PEAKS_GZ, versioned, write_series
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_geo_download import serving

from annotator.config import Config
from annotator.errors import InputError
from annotator.geo.fetch import load_series
from annotator.geo.files import local_file_name, sample_file_path
from annotator.geo.harvest import harvest, resolve_accessions
from annotator.geo.ledger import Ledger
from annotator.geo.soft import is_sample_accession, is_series_accession, parse_soft, to_series
from annotator.paths import UnsafePathError, inside, inside_relative

_FIXTURE = HealthCheck.function_scoped_fixture  # tmp_path is only read, never changed, by these examples

HOSTILE_PARTS = [
    "",
    ".",
    "..",
    "../escape",
    "a/b",
    "/etc",
    "a\\b",
    "a\x00b",
    "x" * 256,
    "é" * 128,  # 256 bytes in UTF-8
    "report\u202egpj.exe",  # right-to-left override
    "zero\u200bwidth",
    "line\nbreak",
    "bell\x07",
    "cafe\u0301",  # not NFC: two spellings of one name
    " leading",
    "trailing ",
    "\ud800",  # a lone surrogate (what os.fsdecode makes of bad bytes)
]


@pytest.mark.parametrize("part", HOSTILE_PARTS, ids=[ascii(p)[:24] for p in HOSTILE_PARTS])
def test_inside_rejects_every_hostile_part(tmp_path: Path, part: str) -> None:
    with pytest.raises(UnsafePathError):
        inside(tmp_path, "beds", part)


def test_inside_refuses_a_symbolic_link_out_of_the_workdir(tmp_path: Path) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    outside.mkdir()
    (work / "beds").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="outside"):
        inside(work, "beds", "GSM1_peaks.bed")
    assert inside(work, "GSM1_peaks.bed") == work / "GSM1_peaks.bed"


def test_inside_relative_refuses_absolute_and_dotted_stored_paths(tmp_path: Path) -> None:
    for stored in ("/etc/passwd", "beds/../../x", "beds//x", "beds/./x", ""):
        with pytest.raises(UnsafePathError):
            inside_relative(tmp_path, stored)
    assert inside_relative(tmp_path, "beds/GSM1_a.bed") == tmp_path / "beds" / "GSM1_a.bed"


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[_FIXTURE])
@given(parts=st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=3))
def test_inside_never_returns_a_path_outside_the_workdir(tmp_path: Path, parts: list[str]) -> None:
    root = tmp_path.resolve()
    try:
        path = inside(tmp_path, *parts)
    except UnsafePathError:
        return
    assert path.resolve().is_relative_to(root) and path.resolve() != root
    assert all(len(p.encode("utf-8", "surrogatepass")) <= 255 for p in path.relative_to(tmp_path).parts)


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[_FIXTURE])
@given(digits=st.integers(min_value=0, max_value=10**12 - 1), name=st.text(max_size=600))
def test_every_local_file_name_is_a_safe_name_inside_beds(tmp_path: Path, digits: int, name: str) -> None:
    local = local_file_name(f"GSM{digits}", name)
    path = inside(tmp_path, "beds", local)  # never raises for what the harvest makes
    assert path.parent == tmp_path / "beds" and len(local) <= 160 and local.startswith(f"GSM{digits}")


@settings(max_examples=200, derandomize=True, deadline=None, suppress_health_check=[_FIXTURE])
@given(digits=st.integers(min_value=0, max_value=10**12 - 1), name=st.text(max_size=600), url=st.text(max_size=300))
def test_every_sample_file_path_is_safe_and_its_own(tmp_path: Path, digits: int, name: str, url: str) -> None:
    gsm = f"GSM{digits}"
    folder, local = sample_file_path(gsm, url, name)
    path = inside(tmp_path, "beds", folder, local)  # never raises for what the harvest makes
    assert path.parent == tmp_path / "beds" / gsm and len((local + ".part.meta").encode()) <= 255
    assert sample_file_path(gsm, url + "x", name) != (folder, local) != sample_file_path(f"GSM{digits + 1}", url, name)


def test_long_names_keep_their_suffix_and_never_collide() -> None:
    a = local_file_name("GSM1", "a" * 300 + "_1_peaks.narrowPeak.gz")
    b = local_file_name("GSM1", "a" * 300 + "_2_peaks.narrowPeak.gz")
    assert a != b and a.endswith("_peaks.narrowPeak.gz") and len(a) <= 160


@pytest.mark.parametrize(
    "text", ["GSM1 ", "gsm1", "GSM", "GSM1\n", "GSM١٢٣", "GSM１２", "GSM1/../x", "GSM" + "1" * 13, "../GSM1"]
)
def test_malformed_sample_accessions_are_refused(text: str) -> None:
    assert not is_sample_accession(text)
    assert not is_series_accession(text.replace("GSM", "GSE"))


def test_unicode_digits_are_not_a_series_accession() -> None:
    with pytest.raises(Exception, match="not GEO series accessions"):
        resolve_accessions(["GSE١٢٣"])


def test_soft_sample_with_a_traversal_accession_is_left_out_with_a_reason() -> None:
    text = [
        "^SERIES = GSE1",
        "!Series_sample_id = ../../../escape/GSM880009",
        "!Series_sample_id = GSM2",
        "^SAMPLE = ../../../escape/GSM880009",
        "!Sample_title = evil",
        "^SAMPLE = GSM2",
        "!Sample_title = fine",
    ]
    series = to_series("GSE1", parse_soft(text))
    assert [s.gsm for s in series.samples] == ["GSM2"] and series.sample_ids == ("GSM2",)
    assert len(series.rejected) == 2 and all("not a GSM accession" in r for r in series.rejected)


def test_a_hostile_soft_writes_nothing_outside_the_workdir(tmp_path: Path) -> None:
    """The reproduction of issue 10 item 1: `^SAMPLE = ../../../escape/GSM880009` wrote `<workdir>/../../escape`."""
    work = tmp_path / "a" / "b" / "work"
    with serving() as server:
        server.routes["/GSM880009_peaks.bed.gz"] = versioned(PEAKS_GZ)
        url = server.url("/GSM880009_peaks.bed.gz")
        write_series(tmp_path / "soft", [("../../../escape/GSM880009", url), ("GSM2", url)])
        config = Config(workdir=work, soft_dir=tmp_path / "soft", download_retries=0, download_backoff_s=0.0,
                        geo_base_url=server.url(""))  # the local server stands for GEO
        result = harvest(config, ["GSE1"])
    before = {p for p in tmp_path.rglob("*")}
    assert not any("escape" in str(p.relative_to(tmp_path)) for p in before)
    rows = result.samples.to_pylist()
    assert [r["gsm"] for r in rows] == ["GSM2"] and rows[0]["download_status"] == "downloaded"
    ledger = [json.loads(line) for line in (work / "ledger.jsonl").read_text().splitlines()]
    assert all(".." not in (e["local_path"] or "") for e in ledger)


def test_a_ledger_entry_pointing_outside_the_workdir_is_not_trusted(tmp_path: Path) -> None:
    work, secret = tmp_path / "work", tmp_path / "secret.bed"
    work.mkdir()
    secret.write_bytes(b"chr1\t1\t2\n")
    line = {"url": "http://x/GSM1.bed", "status": "downloaded", "local_path": "../secret.bed",
            "size": secret.stat().st_size, "sha256": hashlib.sha256(secret.read_bytes()).hexdigest()}  # fmt: skip
    (work / "ledger.jsonl").write_text(json.dumps(line) + "\n")
    ledger = Ledger(work)
    entry = ledger.get("http://x/GSM1.bed")
    assert entry is not None and not ledger.intact(entry)  # not reused, so the run re-fetches into beds/


def test_hostile_soft_of_many_shapes_never_escapes(tmp_path: Path) -> None:
    """Seeded hostile accessions and file names (percent-encoded in the URL, decoded by the harvest) through the
    whole harvest: the workdir is the only place written."""
    rng = random.Random(10)
    pieces = ["..", "/", "\\", "\x00", "\u202e", "é", "GSM", "1", " ", "~", "$HOME", "%"]
    work = tmp_path / "w1" / "w2" / "work"
    samples = []
    with serving() as server:
        for i in range(30):
            accession = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))).replace("\x00", "")
            name = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) + "_peaks.bed.gz"
            path = f"/f{i}/" + quote(name, safe="")
            server.routes[path] = versioned(PEAKS_GZ)
            samples.append((accession if i % 2 else f"GSM{i}", server.url(path)))
        write_series(tmp_path / "soft", samples)
        config = Config(workdir=work, soft_dir=tmp_path / "soft", download_retries=0, download_backoff_s=0.0,
                        geo_base_url=server.url(""))  # the local server stands for GEO
        result = harvest(config, ["GSE1"])
    assert result.counts["downloaded"] == 15  # the well-formed half was fetched, into beds/
    outside = [p for p in tmp_path.rglob("*") if not p.is_relative_to(work) and not p.is_relative_to(tmp_path / "soft")]
    assert {p.relative_to(tmp_path).as_posix() for p in outside} == {"w1", "w1/w2"}
    assert all(os.path.realpath(p).startswith(os.path.realpath(work) + os.sep) for p in work.rglob("*"))


def test_a_series_accession_never_names_a_cache_path_outside(tmp_path: Path) -> None:
    hostile = "../../escape"
    fetched: list[str] = []

    def fake_geo(gse: str, kind: str) -> list[str]:
        fetched.append(gse)
        return [f"^SERIES = {gse}", "!Series_title = t"] if kind == "GSE" else ["^SAMPLE = GSM1", "!Sample_title = s"]

    with pytest.raises(InputError, match="not a GEO series accession"):
        load_series(hostile, soft_dir=None, cache_dir=tmp_path / "a" / "b" / "soft", fetch_lines=fake_geo)
    assert fetched == [] and not (tmp_path / "escape").exists()
