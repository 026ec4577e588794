"""config.toml -> Config: the shipped files load, the built-in defaults need no file and are the documented ones,
the search order, every invalid value names its key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from daemon import config
from daemon.cli import init
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
    assert cfg.models.objects == repo / "models" / "yolov10n.toml"  # run from a checkout: its models/
    assert cfg.library.folders[0].path == repo / "photos"
    assert cfg.library.database is None


def uncommented(text: str) -> dict[str, object]:
    """daemon/defaults.toml as it would load with every `# key = value` line switched on."""
    return tomllib.loads(re.sub(r"(?m)^# (\w+ = )", r"\1", text))


def test_defaults_file_documents_every_key_at_its_built_in_default(tmp_path: Path) -> None:
    # What `pictod init` writes: every key of every section is there, and switching them all on changes nothing.
    text = init.render([str(tmp_path)])
    data = uncommented(text)
    for section, cls in config._SECTIONS.items():
        assert set(data[section]) == {f.name for f in config.dataclasses.fields(cls)}, section  # type: ignore
    loaded = config.from_dict(data, base=tmp_path)
    built_in = config.Config(library=config.LibraryConfig(folders=(config.FolderConfig(path=tmp_path),)))
    assert loaded == built_in
    assert config.from_dict(tomllib.loads(text), base=tmp_path) == built_in  # as written: all commented out


def test_no_config_file_runs_on_built_in_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("PICTOD_CONFIG", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("[daemon]\nworkers = 7\n")  # ./config.toml is not searched
    cfg = config.load(check_folders=False)
    assert cfg.source is None and cfg.daemon.workers == 2
    assert cfg.library.folders == (config.FolderConfig(path=tmp_path / "Pictures"),)
    assert cfg.database_path == tmp_path / ".local" / "share" / "pictod" / "library.db"
    assert cfg.models.objects.name == "yolov10n.toml" and cfg.models.objects.is_file()
    with pytest.raises(ConfigError, match=r"Pictures is not a directory.*pictod init"):
        config.load()
    (tmp_path / "Pictures").mkdir()
    assert config.load().library.folders[0].path == tmp_path / "Pictures"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert config.load().database_path == tmp_path / "data" / "pictod" / "library.db"


def test_user_config_file_is_found_and_names_no_folders_means_pictures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PICTOD_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    user = tmp_path / "cfg" / "pictod" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[daemon]\nworkers = 3\n[models]\nfaces = "mine/yunet.toml"\n')
    cfg = config.load(check_folders=False)
    assert cfg.source == user and cfg.daemon.workers == 3
    assert cfg.library.folders == (config.FolderConfig(path=tmp_path / "Pictures"),)
    # A user's own descriptor wins over the shipped one; the others stay shipped.
    assert cfg.models.faces == user.parent / "mine" / "yunet.toml"
    assert cfg.models.objects == config.SHIPPED_MODELS / "yolov10n.toml"


def test_an_explicit_config_that_is_missing_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PICTOD_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"config file not found: .*gone\.toml"):
        config.load(check_folders=False)
    monkeypatch.delenv("PICTOD_CONFIG")
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "also-gone.toml", check_folders=False)


def test_every_dataclass_default_matches_the_shipped_file(repo: Path) -> None:
    # The developers' config changes only the watched folder: everything else is the built-in defaults.
    cfg = config.load(repo / "config.toml", check_folders=False)
    assert cfg.analysis == config.AnalysisConfig()
    assert cfg.daemon == config.DaemonConfig()
    assert cfg.log == config.LogConfig()
    assert cfg.models == config.ModelsConfig()
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


def test_extensions_are_one_spelling_whatever_the_config_wrote(tmp_path: Path) -> None:
    """`.MP4` in video_extensions made is_video (lower-cased suffix) miss every clip while the watcher (its own
    lower-cased set) still picked it up: the clip went down the photo path and failed to decode."""
    path = tmp_path / "config.toml"
    path.write_text('[library]\nextensions = [".JPG", "png"]\nvideo_extensions = [".MP4", "mov", ".mp4"]\n')
    library = config.load(path, check_folders=False).library
    assert library.extensions == (".jpg", ".png") and library.video_extensions == (".mp4", ".mov")
    assert library.is_video("clip.MP4") and library.is_video("a.mov") and not library.is_video("a.JPG")
