"""Pure parsing of GEO SOFT text into full series and sample records.

SOFT is line-oriented: `^ENTITY = ACCESSION` opens a record, `!Key = value` adds one value to it (keys repeat:
`!Sample_characteristics_ch1` once per characteristic, `!Sample_supplementary_file_N` once per file), `#` lines
describe table columns and `!sample_table_begin` … `!sample_table_end` enclose a data table we do not need.

We parse it ourselves rather than use geofetch's sample CSV because that output truncates long values and glues
repeated characteristic keys together without a separator; here every value of every key is kept, in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from annotator.errors import SoftParseError

#: GEO writes this instead of a URL when a sample has no supplementary file.
NO_FILE = "NONE"

_SUPPLEMENTARY = re.compile(r"^Sample_supplementary_file(_\d+)?$")
_TABLE_BEGIN = re.compile(r"^!\w+_table_begin\s*$", re.IGNORECASE)
_TABLE_END = re.compile(r"^!\w+_table_end\s*$", re.IGNORECASE)
#: ASCII digits only (`\d` would admit any Unicode digit) and a bounded length: accessions become file names.
_SERIES_ACCESSION = re.compile(r"^GSE[0-9]{1,12}$")
_SAMPLE_ACCESSION = re.compile(r"^GSM[0-9]{1,12}$")


@dataclass(frozen=True)
class SoftRecord:
    """One `^ENTITY = ACCESSION` block: every `!Key` with all its values, in file order."""

    entity: str  # "SERIES", "SAMPLE", "PLATFORM", "DATABASE"
    accession: str
    fields: dict[str, list[str]] = field(repr=False)

    def first(self, key: str) -> str | None:
        """First value of `key`, or None when the record lacks it."""
        values = self.fields.get(key)
        return values[0] if values else None

    def joined(self, key: str, sep: str = "\n") -> str | None:
        """All values of `key` joined by `sep`, or None when the record lacks it."""
        values = self.fields.get(key)
        return sep.join(values) if values else None


@dataclass(frozen=True)
class Sample:
    """A GEO sample with the fields the harvest needs, plus every raw field in `record`."""

    gsm: str
    title: str | None
    source_name: str | None
    organism: str | None  # several `!Sample_organism_ch1` lines are joined by "; "
    library_strategy: str | None
    characteristics: tuple[tuple[str | None, str], ...]  # (key, value); key None when the line has no colon
    description: str | None
    data_processing: str | None
    supplementary_files: tuple[str, ...]  # URLs, "NONE" left out
    series_ids: tuple[str, ...]
    record: SoftRecord = field(repr=False)

    @property
    def organisms(self) -> tuple[str, ...]:
        """Every organism the sample lists (channel 1)."""
        return tuple(self.record.fields.get("Sample_organism_ch1", ()))


@dataclass(frozen=True)
class Series:
    """A GEO series and the samples its SOFT text describes."""

    gse: str
    title: str | None
    sample_ids: tuple[str, ...]  # as listed by `!Series_sample_id` (well-formed accessions only)
    samples: tuple[Sample, ...]
    rejected: tuple[str, ...] = ()  # why each malformed sample accession of the text was left out
    supplementary_files: tuple[str, ...] = ()  # `!Series_supplementary_file` URLs, "NONE" left out


def parse_soft(lines: Iterable[str], source: str = "<soft>") -> list[SoftRecord]:
    """Parse SOFT text into records, in file order.

    Parameters
    ----------
    lines
        SOFT text split into lines (a file object works); trailing newlines and carriage returns are ignored.
    source
        Name used in error messages (file path or URL).

    Returns
    -------
    list[SoftRecord]
        One record per `^ENTITY = ACCESSION` line.

    Raises
    ------
    SoftParseError
        When an attribute line comes before any `^ENTITY` line or an entity line has no accession.
    """
    records: list[SoftRecord] = []
    current: SoftRecord | None = None
    in_table = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if in_table:
            in_table = not _TABLE_END.match(line)
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("^"):
            entity, accession = _split_assignment(line[1:])
            if not accession:
                raise SoftParseError(f"{source}:{number}: entity line without an accession: {line[:80]!r}")
            current = SoftRecord(entity.upper(), accession.strip(), {})
            records.append(current)
        elif _TABLE_BEGIN.match(line):
            in_table = True
        elif line.startswith("!"):
            if current is None:
                raise SoftParseError(
                    f"{source}:{number}: attribute before any ^SERIES/^SAMPLE line; is this a SOFT file?"
                )
            key, value = _split_assignment(line[1:])
            current.fields.setdefault(key, []).append(value)
        # anything else is a data row outside a table: GEO does not write those, and they carry no metadata
    return records


def to_sample(record: SoftRecord) -> Sample:
    """The `Sample` view of a `^SAMPLE` record."""
    if record.entity != "SAMPLE":
        raise SoftParseError(f"{record.accession} is a {record.entity} record, not a SAMPLE")
    files = tuple(
        value.strip()
        for key, values in record.fields.items()
        if _SUPPLEMENTARY.match(key)
        for value in values
        if value.strip() and value.strip().upper() != NO_FILE
    )
    organisms = record.fields.get("Sample_organism_ch1")
    return Sample(
        gsm=record.accession,
        title=record.first("Sample_title"),
        source_name=record.first("Sample_source_name_ch1"),
        organism="; ".join(organisms) if organisms else None,
        library_strategy=record.first("Sample_library_strategy"),
        characteristics=tuple(
            parse_characteristic(value) for value in record.fields.get("Sample_characteristics_ch1", ())
        ),
        description=record.joined("Sample_description"),
        data_processing=record.joined("Sample_data_processing"),
        supplementary_files=files,
        series_ids=tuple(record.fields.get("Sample_series_id", ())),
        record=record,
    )


def parse_characteristic(value: str) -> tuple[str | None, str]:
    """Split a characteristics line at its first colon: 'cell line: K562' -> ('cell line', 'K562')."""
    key, sep, rest = value.partition(":")
    if not sep or not key.strip():
        return None, value.strip()
    return key.strip(), rest.strip()


def to_series(accession: str, records: Iterable[SoftRecord], source: str = "<soft>") -> Series:
    """Assemble the series `accession` from parsed records (series and sample text, or one family file).

    Raises
    ------
    SoftParseError
        When the text holds no `^SERIES` record for `accession` (GEO answers an unknown accession with a page that
        is not SOFT, or the file belongs to another series).
    """
    records = list(records)
    series = next((r for r in records if r.entity == "SERIES" and r.accession == accession), None)
    if series is None:
        found = sorted({r.accession for r in records if r.entity == "SERIES"})
        hint = f"it describes {', '.join(found)}" if found else "it holds no ^SERIES record"
        raise SoftParseError(f"{source} does not describe {accession}: {hint}; check the accession")
    samples: dict[str, Sample] = {}
    rejected: list[str] = []
    for record in records:
        if record.entity != "SAMPLE" or record.accession in samples:
            continue
        if is_sample_accession(record.accession):
            samples[record.accession] = to_sample(record)
        else:
            rejected.append(f"^SAMPLE {_shown(record.accession)} is not a GSM accession (GSM followed by digits)")
    listed = []
    for gsm in series.fields.get("Series_sample_id", ()):
        if is_sample_accession(gsm.strip()):
            listed.append(gsm.strip())
        else:
            rejected.append(f"!Series_sample_id {_shown(gsm)} is not a GSM accession (GSM followed by digits)")
    return Series(
        gse=accession,
        title=series.first("Series_title"),
        sample_ids=tuple(listed),
        samples=tuple(samples.values()),
        rejected=tuple(rejected),
        supplementary_files=tuple(
            u.strip() for u in series.fields.get("Series_supplementary_file", ()) if u.strip().upper() != "NONE"
        ),
    )


def is_series_accession(text: str) -> bool:
    """True for 'GSE123456'-shaped text (upper case, ASCII digits, at most 12 of them)."""
    return bool(_SERIES_ACCESSION.fullmatch(text))


def is_sample_accession(text: str) -> bool:
    """True for 'GSM123456'-shaped text (upper case, ASCII digits, at most 12 of them)."""
    return bool(_SAMPLE_ACCESSION.fullmatch(text))


def _shown(text: str) -> str:
    """Hostile text made safe to log: escaped and cut."""
    return ascii(text[:80]) + ("…" if len(text) > 80 else "")


def _split_assignment(text: str) -> tuple[str, str]:
    """'Key = value' -> ('Key', 'value'); the value keeps any further '=' (URLs, formulas)."""
    key, _, value = text.partition("=")
    return key.strip(), value.strip()
