"""Every error the library raises on purpose.

The CLI turns an `AnnotatorError` into a one-line message and exit code 2; anything else is a bug and keeps its
traceback. Messages name the file or accession involved and say what the user can do.
"""


class AnnotatorError(Exception):
    """Base class: an expected failure with a message meant for the user."""


class ConfigError(AnnotatorError):
    """A configuration value, flag, environment variable or TOML key is invalid."""


class InputError(AnnotatorError):
    """An input file could not be used; the message names the file and the reason."""


class BedFormatError(InputError):
    """A file is not a usable BED-like region file (empty, binary, truncated gzip, no BED-like lines)."""


class UniverseError(AnnotatorError):
    """A universe specification or universe BED file is invalid or does not match the model."""


class ModelError(AnnotatorError):
    """A model directory is missing, corrupt (digest mismatch) or of an unsupported format version."""


class TrainingError(AnnotatorError):
    """Training or evaluation cannot proceed with the given corpus and parameters."""


class SoftParseError(AnnotatorError):
    """A GEO SOFT file is malformed or does not describe the expected accession."""


class DownloadError(AnnotatorError):
    """A remote file could not be fetched intact after all retries."""


class SchemaError(AnnotatorError):
    """A Parquet table does not have the schema (or schema version) this version of annotator expects."""


class WorkdirLockedError(AnnotatorError):
    """Another live run holds the lock on this workdir."""
