"""`config.toml` -> frozen dataclasses: defaults, search order, path resolution and errors naming the key.

The config is read once at start-up and passed in; no module reads the environment on import.
Relative paths in the file are resolved against the directory holding the file, `~` is expanded.
Every key has a built-in default (documented in daemon/defaults.toml, what `pictod init` writes), so no file is
needed: without one the library lives in $XDG_DATA_HOME/pictod and ~/Pictures is watched.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon.errors import ConfigError
from daemon.resources import shipped

DEFAULT_EXTENSIONS = (
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif", ".hif", ".avif",
)
DEFAULT_VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".3gp", ".webm", ".mkv", ".avi")


@dataclass(frozen=True)
class FolderConfig:
    """One watched folder."""

    path: Path
    recursive: bool = True
    # Polling for network drives; native (inotify/FSEvents) otherwise, falling back to polling with a warning.
    polling: bool = False


@dataclass(frozen=True)
class LibraryConfig:
    """What is watched and where the library lives."""

    folders: tuple[FolderConfig, ...] = ()
    database: Path | None = None  # None: $XDG_DATA_HOME/pictod/library.db
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    video_extensions: tuple[str, ...] = DEFAULT_VIDEO_EXTENSIONS  # [] : videos are not looked at
    follow_symlinks: bool = False
    keep_missing_days: float = 30.0  # a photo whose files vanished is kept (hidden) this long, then purged
                                     # (0: at the next check; `pictod purge` purges at once)

    def __post_init__(self) -> None:
        # One spelling for every reader (the watcher, is_video, the Live Photo rule): ".MP4" or "mp4" is ".mp4".
        for name in ("extensions", "video_extensions"):
            given = getattr(self, name)
            if isinstance(given, tuple | list):
                spelled = tuple(dict.fromkeys(
                    ("" if str(e).startswith(".") else ".") + str(e).lower() for e in given))
                object.__setattr__(self, name, spelled)

    @property
    def all_extensions(self) -> tuple[str, ...]:
        """Photo and video extensions: what the watcher and the reconciliation pick up."""
        return self.extensions + tuple(e for e in self.video_extensions if e not in self.extensions)

    def is_video(self, path: Path | str) -> bool:
        """A file name with one of the video extensions (compared lower-cased)."""
        return os.path.splitext(str(path))[1].lower() in self.video_extensions


# The models shipped with the package (daemon/models in a wheel, models/ at the top of a checkout); a config that
# names no model uses these, wherever the config file itself lives.
SHIPPED_MODELS = shipped("models")


@dataclass(frozen=True)
class ModelsConfig:
    """Which model descriptors to load and how to run them."""

    objects: Path = SHIPPED_MODELS / "yolov10n.toml"
    faces: Path = SHIPPED_MODELS / "yunet.toml"
    embeddings: Path = SHIPPED_MODELS / "sface.toml"
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    intra_op_threads: int = 0  # 0: one per core divided by the number of workers
    inter_op_threads: int = 1


@dataclass(frozen=True)
class AnalysisConfig:
    """Thresholds and limits of the analysis chain."""

    object_conf: float = 0.7
    object_iou: float = 0.5
    person_gate: bool = False
    face_conf: float | None = None  # None: the face model descriptor's threshold
    min_face_px: int = 20
    max_pixels: int = 120_000_000
    max_file_bytes: int = 512 * 1024 * 1024
    reduced_decode: bool = True


@dataclass(frozen=True)
class VideoConfig:
    """How a video is sampled (daemon/analysis/video.py); the defaults are measured by bench/video.py."""

    # A key frame is probed (decoded alone, a 32x18 grey signature taken) about every probe_every seconds
    # (the labelled set of bench/video.py, sample_every 4: probing every 1, 2, 3, 4 s found 42, 44, 37, 39 of its
    # 44 people seen >= 2 s; measured 2026-12-08 with its `judge`);
    # a probe is analysed like a photo when it is the first, when its signature differs from the last analysed
    # frame's by more than scene_threshold (a cut, someone walking in), or sample_every seconds after it.
    probe_every: float = 2.0
    sample_every: float = 4.0
    scene_threshold: float = 0.2
    # An analysed frame is searched for objects when its signature differs from the last one searched by more
    # than objects_threshold (0: every analysed frame); otherwise the objects found there stand for it
    # (bench/video.py --variants: 0.1 keeps every object label and second the detector finds in every frame).
    objects_threshold: float = 0.1
    max_frames: int = 40  # analysed frames per video at most (long videos: the spacing grows to fit)
    max_probes: int = 600  # probed key frames per video at most (a 4K hour: one every 6 s)
    max_file_bytes: int = 64 * 1024**3  # videos are hashed streaming, never held in memory
    # Faces of neighbouring samples are one track within track_eps (cosine) when their boxes are near,
    # within track_eps_alone whatever the position (the same person after a cut).
    track_eps: float = 0.45
    track_eps_alone: float = 0.3
    # A face that looks the same as one near it in the last analysed frame (their aligned grey crops correlate
    # >= same_look) takes that face's embedding instead of running the embedder; 1.0: every face is embedded
    # (daemon/analysis/tracks.py; bench/video.py --looks).
    same_look: float = 0.8
    live_max_seconds: float = 15.0  # a video this short beside a still of the same name is its Live Photo


@dataclass(frozen=True)
class ClusteringConfig:
    """Face clustering (cosine distance)."""

    eps: float = 0.3
    min_samples: int = 2
    recluster_every: int = 5
    assign_k: int = 3  # a new face's distance to a person: 1 - mean of its k best similarities to their faces
    suggest_eps: float = 0.45  # looser distance for suggesting people for unassigned faces
    # Faces of lower quality (analysis/hard_faces.py; NULL: good) are never DBSCAN cores and join a person only within
    # low_quality_eps. bench/people_quality.py: precision is 1.0 with or without the rule on its sets, and every
    # stricter setting costs recall on small faces (0.05: small-set recall 0.85 -> 0.78), so it is off by default.
    min_core_quality: float = 0.0
    low_quality_eps: float = 0.3
    # A face DBSCAN leaves alone joins its nearest person (the nearest-faces distance of assign_k) within
    # attach_eps when the next person is at least attach_margin farther (attach_eps <= eps: off).
    attach_eps: float = 0.45
    attach_margin: float = 0.15


@dataclass(frozen=True)
class DaemonConfig:
    """The running service."""

    workers: int = 2
    queue_size: int = 1000
    settle_seconds: float = 1.0
    shutdown_timeout: float = 30.0
    status_interval: float = 5.0


@dataclass(frozen=True)
class LogConfig:
    """Logging: level, format (auto: JSON lines unless stdout is a terminal) and optional file."""

    level: str = "info"
    format: str = "auto"
    file: Path | None = None


@dataclass(frozen=True)
class WebConfig:
    """`pictod web`, the review app."""

    thumbnail_cache_mb: int = 256  # disk cap of the thumbnail and face-crop cache (least recently used go first)
    session_idle_minutes: float = 60.0  # a browser is signed out after this long without a request (0: never)


@dataclass(frozen=True)
class MetadataConfig:
    """XMP metadata: names and face regions read from photos and sidecars, sidecars written (opt-in)."""

    read: bool = True  # import names and regions from embedded XMP and sidecars
    write_sidecars: bool = False  # keep photo.jpg.xmp in step with pictod's named people
    write_tags: bool = False  # also write object tags as dc:subject keywords (needs write_sidecars)


@dataclass(frozen=True)
class EventsConfig:
    """Events (issue 25): photos grouped by time gaps and distance."""

    # Measured on a labelled year (bench/places.py, bench/results.md): the best pairwise F1 of the sweep.
    gap_hours: float = 20.0  # a longer pause between two photos starts a new event
    split_km: float = 250.0  # ...and so does a move farther than this between two consecutive photos


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    library: LibraryConfig = field(default_factory=LibraryConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    log: LogConfig = field(default_factory=LogConfig)
    web: WebConfig = field(default_factory=WebConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    source: Path | None = None  # the file this was read from

    @property
    def database_path(self) -> Path:
        """The SQLite file: configured, else in the XDG data directory."""
        if self.library.database is not None:
            return self.library.database
        return xdg_data_home() / "pictod" / "library.db"


def xdg_data_home() -> Path:
    """$XDG_DATA_HOME or ~/.local/share."""
    value = os.environ.get("XDG_DATA_HOME")
    return Path(value) if value else Path.home() / ".local" / "share"


def user_config_path() -> Path:
    """$XDG_CONFIG_HOME/pictod/config.toml (~/.config/pictod/config.toml): where `pictod init` writes."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "pictod" / "config.toml"


def default_config_path() -> Path:
    """The config used without --config: $PICTOD_CONFIG, else the user's file (which may not exist)."""
    env = os.environ.get("PICTOD_CONFIG")
    return Path(env) if env else user_config_path()


def default_folders() -> tuple[FolderConfig, ...]:
    """What is watched when no config says: ~/Pictures."""
    return (FolderConfig(path=Path.home() / "Pictures"),)


_SECTIONS: dict[str, type[Any]] = {
    "library": LibraryConfig,
    "models": ModelsConfig,
    "analysis": AnalysisConfig,
    "video": VideoConfig,
    "clustering": ClusteringConfig,
    "daemon": DaemonConfig,
    "log": LogConfig,
    "web": WebConfig,
    "metadata": MetadataConfig,
    "events": EventsConfig,
}

_CHOICES: dict[str, tuple[str, ...]] = {
    "log.level": ("debug", "info", "warning", "error"),
    "log.format": ("auto", "json", "console"),
}


def load(path: Path | str | None = None, *, check_folders: bool = True) -> Config:
    """Read and validate a config file; raise ConfigError naming the key and the fix.

    `path` None: $PICTOD_CONFIG (which must exist), else ~/.config/pictod/config.toml if it exists, else the
    built-in defaults. A file that names no folders watches ~/Pictures."""
    if path is None and "PICTOD_CONFIG" not in os.environ and not user_config_path().exists():
        return _check(Config(library=LibraryConfig(folders=default_folders())), check_folders)
    path = Path(path) if path is not None else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path} (pass --config PATH or set PICTOD_CONFIG; "
                          "without either pictod uses ~/.config/pictod/config.toml or its defaults)") from None
    except OSError as exc:
        raise ConfigError(f"config file not readable: {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file is not valid TOML: {path}: {exc}") from None
    config = from_dict(data, base=path.resolve().parent, source=path)
    library = data.get("library", {})
    if "folders" not in library:
        config = dataclasses.replace(config, library=dataclasses.replace(config.library, folders=default_folders()))
    return _check(config, check_folders)


def _check(config: Config, check_folders: bool) -> Config:
    if check_folders:
        hint = "create it, mount it, or remove it from the config" if config.source is not None else \
            "create it, or write a config watching other folders with `pictod init FOLDER...`"
        for folder in config.library.folders:
            if not folder.path.is_dir():
                raise ConfigError(f"library.folders: {folder.path} is not a directory ({hint})")
    return config


def from_dict(data: dict[str, Any], *, base: Path, source: Path | None = None) -> Config:
    """Build a Config from parsed TOML; paths relative to `base`."""
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _SECTIONS:
            raise ConfigError(f"unknown section [{key}] (expected one of: {', '.join(_SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table [{key}], got {type(value).__name__}")
        sections[key] = _build(_SECTIONS[key], value, key, base)
    config = Config(**sections, source=source)
    _check_ranges(config)
    return config


def _build(cls: type[Any], values: dict[str, Any], prefix: str, base: Path) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        if key not in names:
            raise ConfigError(f"unknown key {name} (expected one of: {', '.join(sorted(names))})")
        kwargs[key] = _convert(hints[key], value, name, base)
        if name in _CHOICES and kwargs[key] not in _CHOICES[name]:
            raise ConfigError(f"{name}: expected one of {', '.join(_CHOICES[name])}, got {value!r}")
    return cls(**kwargs)


def _convert(hint: Any, value: Any, name: str, base: Path) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        if value == "" and type(None) in args:
            return None
        return _convert(inner[0], value, name, base)
    if hint is FolderConfig:
        if isinstance(value, str):
            return FolderConfig(path=_path(value, base))
        if isinstance(value, dict):
            value = dict(value)
            if "path" not in value:
                raise ConfigError(f"{name}: a folder table needs a path = \"...\" key")
            value["path"] = str(_path(_expect(str, value["path"], f"{name}.path"), base))
            built = _build(FolderConfig, value, name, base)
            return dataclasses.replace(built, path=Path(value["path"]))
        raise ConfigError(f"{name}: expected a path string or a {{ path = ... }} table, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{name}: expected a list, got {type(value).__name__} {value!r}")
        return tuple(_convert(args[0], item, f"{name}[{i}]", base) for i, item in enumerate(value))
    if hint is Path:
        return _path(_expect(str, value, name), base)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    return _expect(hint, value, name)


def _expect(kind: type[Any], value: Any, name: str) -> Any:
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{name}: expected an integer, got a boolean {value!r}")
    if not isinstance(value, kind):
        expected = {int: "an integer", str: "a string", bool: "true or false"}.get(kind, kind.__name__)
        raise ConfigError(f"{name}: expected {expected}, got {type(value).__name__} {value!r}")
    return value


def _path(value: str, base: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else (base / path)


def _check_ranges(config: Config) -> None:
    checks: list[tuple[str, bool, str]] = [
        ("analysis.object_conf", 0.0 < config.analysis.object_conf <= 1.0, "a number in (0, 1]"),
        ("analysis.object_iou", 0.0 < config.analysis.object_iou <= 1.0, "a number in (0, 1]"),
        ("analysis.min_face_px", config.analysis.min_face_px >= 0, "an integer >= 0"),
        ("analysis.max_pixels", config.analysis.max_pixels > 0, "an integer > 0"),
        ("clustering.eps", 0.0 < config.clustering.eps < 2.0, "a cosine distance in (0, 2)"),
        ("clustering.min_samples", config.clustering.min_samples >= 1, "an integer >= 1"),
        ("clustering.recluster_every", config.clustering.recluster_every >= 1, "an integer >= 1"),
        ("clustering.assign_k", config.clustering.assign_k >= 1, "an integer >= 1"),
        ("clustering.suggest_eps", config.clustering.eps <= config.clustering.suggest_eps < 2.0,
         "a cosine distance in [clustering.eps, 2)"),
        ("clustering.min_core_quality", 0.0 <= config.clustering.min_core_quality <= 1.0, "a number in [0, 1]"),
        ("clustering.low_quality_eps", 0.0 < config.clustering.low_quality_eps < 2.0,
         "a cosine distance in (0, 2) (one above clustering.eps acts as clustering.eps)"),
        ("clustering.attach_eps", 0.0 < config.clustering.attach_eps < 2.0,
         "a cosine distance in (0, 2) (one at or below clustering.eps turns attaching off)"),
        ("clustering.attach_margin", 0.0 <= config.clustering.attach_margin < 2.0, "a cosine distance in [0, 2)"),
        ("video.probe_every", config.video.probe_every > 0, "a number of seconds > 0"),
        ("video.sample_every", config.video.sample_every > 0, "a number of seconds > 0"),
        ("video.scene_threshold", 0.0 < config.video.scene_threshold <= 1.0, "a number in (0, 1]"),
        ("video.objects_threshold", 0.0 <= config.video.objects_threshold <= 1.0, "a number in [0, 1]"),
        ("video.max_frames", config.video.max_frames >= 1, "an integer >= 1"),
        ("video.max_probes", config.video.max_probes >= config.video.max_frames, "an integer >= video.max_frames"),
        ("video.max_file_bytes", config.video.max_file_bytes > 0, "an integer > 0"),
        ("video.track_eps", 0.0 < config.video.track_eps < 2.0, "a cosine distance in (0, 2)"),
        ("video.track_eps_alone", 0.0 < config.video.track_eps_alone <= config.video.track_eps,
         "a cosine distance in (0, video.track_eps]"),
        ("video.same_look", 0.0 < config.video.same_look <= 1.0, "a correlation in (0, 1] (1: never borrow)"),
        ("video.live_max_seconds", config.video.live_max_seconds >= 0, "a number of seconds >= 0"),
        ("library.keep_missing_days", config.library.keep_missing_days >= 0, "a number of days >= 0"),
        ("daemon.workers", config.daemon.workers >= 1, "an integer >= 1"),
        ("daemon.queue_size", config.daemon.queue_size >= 1, "an integer >= 1"),
        ("daemon.settle_seconds", config.daemon.settle_seconds >= 0, "a number >= 0"),
        ("models.intra_op_threads", config.models.intra_op_threads >= 0, "an integer >= 0"),
        ("web.thumbnail_cache_mb", config.web.thumbnail_cache_mb >= 1, "an integer >= 1"),
        ("events.gap_hours", 0 < config.events.gap_hours <= 24 * 365, "a number of hours in (0, 8760]"),
        ("events.split_km", config.events.split_km > 0, "a distance in km > 0"),
        ("web.session_idle_minutes", config.web.session_idle_minutes >= 0, "a number of minutes >= 0 (0: no limit)"),
    ]
    if config.analysis.face_conf is not None:
        checks.append(("analysis.face_conf", 0.0 < config.analysis.face_conf <= 1.0, "a number in (0, 1]"))
    for name, ok, expected in checks:
        if not ok:
            raise ConfigError(f"{name}: expected {expected}")
    if config.metadata.write_tags and not config.metadata.write_sidecars:
        raise ConfigError("metadata.write_tags = true needs metadata.write_sidecars = true "
                          "(tags are written into the sidecars pictod keeps)")
