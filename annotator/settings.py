"""Resolving a `Config`: defaults < TOML file < `ANNOTATOR_*` environment variables < command-line flags.

Environment variables are the upper-cased field names (`ANNOTATOR_MARGIN_THRESHOLD=0.15`,
`ANNOTATOR_WORKDIR=/data/annotator`); tuples take comma-separated values (`ANNOTATOR_STRATEGIES=ChIP-Seq,ATAC-seq`).
The TOML file holds the same keys at top level or under `[annotator]`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from annotator.config import Config
from annotator.errors import ConfigError
from annotator.geo.endpoint import check_base_url

ENV_PREFIX = "ANNOTATOR_"
_SCHEDULER = re.compile(r"^((tcp|tls|ucx|ws|wss)://)?[^\s/:]+:\d{1,5}$")
_FIELDS = {f.name: f for f in dataclasses.fields(Config) if f.name != "extra"}
_TYPES = typing.get_type_hints(Config)


def resolve_config(
    flags: Mapping[str, Any] | None = None,
    toml_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Merge the sources in precedence order; flags whose value is None count as not given.

    Raises
    ------
    ConfigError
        Unknown key, unreadable TOML, or a value of the wrong type (names the source).
    """
    values: dict[str, Any] = {}
    if toml_path is not None:
        values.update(_from_toml(toml_path))
    env = os.environ if environ is None else environ
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw, f"${ENV_PREFIX}{name.upper()}")
    for name, value in (flags or {}).items():
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
    config = Config(**values)
    _check(config)
    return config


def _from_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    data = data.get("annotator", data)
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {unknown}; known: {sorted(_FIELDS)}")
    return {k: _coerce(k, v, f"{path}:{k}") for k, v in data.items()}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert `value` (a string from the environment, or a TOML/flag value) to the field's type."""
    hint = _TYPES[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if isinstance(hint, types.UnionType) and args else hint
    if value is None:
        return None
    try:
        if base is Path:
            return Path(value).expanduser()
        if base is bool:
            if isinstance(value, str):
                if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes")
            return bool(value)
        if base is int:
            return int(value)
        if base is float:
            return float(value)
        if typing.get_origin(base) is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {value!r} is not a valid {getattr(base, '__name__', base)}") from exc


def _check(config: Config) -> None:
    if not 0 <= config.margin_threshold <= 2:
        raise ConfigError(f"margin_threshold must be within 0..2 (a cosine difference), got {config.margin_threshold}")
    if not 0 < config.swap_min_gain <= 2:
        raise ConfigError(f"swap_min_gain must be within (0, 2] (a cosine difference), got {config.swap_min_gain}")
    if config.top_k < 1 or config.near_miss_top_k < 2:
        raise ConfigError("top_k must be >= 1 and near_miss_top_k >= 2")
    if config.workers is not None and config.workers < 1:
        raise ConfigError(f"workers must be >= 1, got {config.workers}")
    if config.log_format not in ("text", "json"):
        raise ConfigError(f"log_format must be 'text' or 'json', got {config.log_format!r}")
    if config.download_retries < 0 or config.download_max_runs < 1:
        raise ConfigError("download_retries must be >= 0 and download_max_runs >= 1")
    if config.download_deadline_s <= 0 or config.download_timeout_s <= 0 or config.host_throttle_budget_s <= 0:
        raise ConfigError("download_deadline_s, download_timeout_s and host_throttle_budget_s must be > 0 seconds")
    if config.archive_max_members < 1 or config.archive_max_entries < 1 or not config.archive_max_ratio >= 1:
        raise ConfigError("archive_max_members and archive_max_entries must be >= 1, archive_max_ratio >= 1")
    if config.download_workers < 1 or config.download_per_host < 1:
        raise ConfigError("download_workers and download_per_host must be >= 1")
    if config.max_hours is not None and not config.max_hours > 0:
        raise ConfigError(f"max_hours must be > 0, got {config.max_hours}")
    check_base_url(config.geo_base_url)
    if config.since_days is not None and config.since_days < 1:
        raise ConfigError(f"since_days must be >= 1, got {config.since_days}")
    if config.workdir.exists() and not config.workdir.is_dir():
        raise ConfigError(f"workdir {config.workdir} is a file, not a folder: give a folder (created if needed)")
    if config.soft_dir is not None and not config.soft_dir.is_dir():
        raise ConfigError(f"soft_dir {config.soft_dir} does not exist or is not a folder of saved SOFT files")
    if config.scheduler is not None and not _SCHEDULER.match(config.scheduler):
        raise ConfigError(
            f"scheduler must be a Dask address such as tcp://127.0.0.1:8786 (host and port), got {config.scheduler!r}"
        )
    if config.max_bed_bytes < 1 or config.max_bed_lines < 1:
        raise ConfigError("max_bed_bytes and max_bed_lines must be >= 1")
    if config.reader_memory_bytes < 64 * 1024**2 or config.reader_timeout_s <= 0:
        raise ConfigError("reader_memory_bytes must be >= 67108864 (64 MiB) and reader_timeout_s > 0 seconds")
