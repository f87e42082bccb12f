from pathlib import Path

import pytest

from annotator.errors import ConfigError
from annotator.settings import resolve_config


def test_precedence_defaults_toml_env_flags(tmp_path: Path) -> None:
    toml = tmp_path / "annotator.toml"
    toml.write_text('[annotator]\nmargin_threshold = 0.2\ntop_k = 7\nworkdir = "/data/nightly"\nworkers = 3\n')
    env = {"ANNOTATOR_TOP_K": "9", "ANNOTATOR_STRATEGIES": "ChIP-Seq, ATAC-seq", "ANNOTATOR_WORKERS": ""}
    config = resolve_config({"workers": 2, "model": None}, toml, env)
    assert config.margin_threshold == 0.2  # toml over default
    assert config.top_k == 9  # env over toml
    assert config.workers == 2  # flag over toml; an empty env value does not count
    assert config.strategies == ("ChIP-Seq", "ATAC-seq")
    assert config.workdir == Path("/data/nightly") and config.model is None
    assert resolve_config(environ={}).margin_threshold == 0.1


@pytest.mark.parametrize(
    ("toml", "env", "message"),
    [
        ("margin = 0.2\n", {}, "unknown setting"),
        ("margin_threshold = [\n", {}, "invalid TOML"),
        ("", {"ANNOTATOR_TOP_K": "five"}, r"\$ANNOTATOR_TOP_K: 'five' is not a valid int"),
        ("", {"ANNOTATOR_METADATA_ONLY": "maybe"}, "not a valid bool"),
        ("margin_threshold = 5\n", {}, "within 0..2"),
        ("swap_min_gain = 0\n", {}, r"swap_min_gain must be within \(0, 2\]"),
    ],
)
def test_bad_settings_name_their_source(tmp_path: Path, toml: str, env: dict[str, str], message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        resolve_config(None, path, env)


def test_config_is_written_as_plain_json_values() -> None:
    d = resolve_config({"workdir": Path("w")}, environ={}).to_dict()
    assert d["workdir"] == "w" and d["strategies"] == ["ChIP-Seq"]
