"""config.toml -> Config: the shipped file loads, every invalid value names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon import config
from daemon.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_shipped_config_loads_with_documented_defaults(repo: Path) -> None:
    cfg = config.load(repo / "config.toml", check_folders=False)
    assert cfg.analysis.object_conf == 0.7
    assert cfg.analysis.object_iou == 0.5
    assert cfg.clustering == config.ClusteringConfig(eps=0.3, min_samples=2, recluster_every=5)
    assert cfg.models.objects == repo / "models" / "yolov10n.toml"
    assert cfg.library.folders[0].path == repo / "photos"
    assert cfg.library.database is None


def test_every_dataclass_default_matches_the_shipped_file(repo: Path) -> None:
    # The file documents the defaults: loading it must equal the built-in defaults except for paths.
    cfg = config.load(repo / "config.toml", check_folders=False)
    assert cfg.analysis == config.AnalysisConfig()
    assert cfg.daemon == config.DaemonConfig()
    assert cfg.log == config.LogConfig()
    assert cfg.library.extensions == config.DEFAULT_EXTENSIONS


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "pics").mkdir()
    cfg = config.load(write(tmp_path, '[library]\nfolders = ["pics", { path = "pics", polling = true }]\n'
                                      'database = "db/lib.db"\n'))
    assert cfg.library.folders[0] == config.FolderConfig(path=tmp_path / "pics")
    assert cfg.library.folders[1].polling is True
    assert cfg.database_path == tmp_path / "db" / "lib.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[library]\nfolderz = []\n", "unknown key library.folderz"),
        ("[nope]\n", "unknown section [nope]"),
        ("[analysis]\nobject_conf = 'high'\n", "analysis.object_conf: expected a number"),
        ("[daemon]\nworkers = true\n", "daemon.workers: expected an integer"),
        ("[daemon]\nworkers = 0\n", "daemon.workers: expected an integer >= 1"),
        ("[clustering]\neps = 3.0\n", "clustering.eps"),
        ("[log]\nlevel = 'loud'\n", "log.level: expected one of"),
        ("[library]\nfolders = 'x'\n", "library.folders: expected a list"),
        ("[library]\nfolders = [{ recursive = true }]\n", "needs a path"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load(write(tmp_path, text), check_folders=False)


def test_missing_folder_is_refused_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a directory"):
        config.load(write(tmp_path, '[library]\nfolders = ["absent"]\n'))


def test_missing_config_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--config"):
        config.load(tmp_path / "nope.toml")


def test_pictod_config_environment_variable_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "")
    monkeypatch.setenv("PICTOD_CONFIG", str(path))
    assert config.default_config_path() == path


def test_metadata_section_defaults_and_checks(tmp_path: Path) -> None:
    assert config.from_dict({}, base=tmp_path).metadata == config.MetadataConfig(read=True, write_sidecars=False,
                                                                              write_tags=False)
    cfg = config.from_dict({"metadata": {"write_sidecars": True, "write_tags": True}}, base=tmp_path)
    assert cfg.metadata.write_sidecars and cfg.metadata.write_tags
    with pytest.raises(ConfigError, match=r"metadata\.write_tags.*metadata\.write_sidecars"):
        config.from_dict({"metadata": {"write_tags": True}}, base=tmp_path)
    with pytest.raises(ConfigError, match=r"unknown key metadata\.sidecars"):
        config.from_dict({"metadata": {"sidecars": True}}, base=tmp_path)
    with pytest.raises(ConfigError, match=r"metadata\.read: expected true or false"):
        config.from_dict({"metadata": {"read": "yes"}}, base=tmp_path)
