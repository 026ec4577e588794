"""Model descriptors (`models/*.toml`) -> ModelSpec (spec.py), `kind` -> model class, loading the three roles.

A descriptor names the ONNX file (relative to the descriptor's folder), its sha256, the decoder kind,
input size, labels, embedding size and thresholds. Swapping a model means pointing the config at another
descriptor; nothing else in pictod knows file names.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon.analysis.vision.base import FaceDetector, FaceEmbedder, ObjectDetector, OnnxModel
from daemon.analysis.vision.facenet import FaceNetEmbedder
from daemon.analysis.vision.session import build_session
from daemon.analysis.vision.sface import SFaceEmbedder
from daemon.analysis.vision.spec import ModelSpec
from daemon.analysis.vision.yolo import YoloDetector
from daemon.analysis.vision.yolov8_face import YoloV8FaceDetector
from daemon.analysis.vision.yunet import YuNetDetector
from daemon.config import ModelsConfig
from daemon.errors import ModelError

KINDS: dict[str, type[OnnxModel]] = {
    "yolo": YoloDetector,
    "yunet": YuNetDetector,
    "yolov8-face": YoloV8FaceDetector,
    "sface": SFaceEmbedder,
    "facenet": FaceNetEmbedder,
}

_ROLES: dict[str, type[OnnxModel]] = {
    "objects": ObjectDetector,
    "faces": FaceDetector,
    "embeddings": FaceEmbedder,
}


@dataclass(frozen=True)
class Models:
    """The three models the analysis chain runs."""

    objects: ObjectDetector
    faces: FaceDetector
    embeddings: FaceEmbedder


def load_descriptor(path: Path) -> ModelSpec:
    """Parse a model descriptor TOML; ModelError naming the file and the key on any problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model descriptor not found: {path} (check [models] in config.toml)") from None
    except OSError as exc:
        raise ModelError(f"model descriptor not readable: {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"model descriptor is not valid TOML: {path}: {exc}") from None

    def need(key: str, kind: type) -> Any:
        value = data.get(key)
        if value is None:
            raise ModelError(f"model descriptor {path}: missing key {key}")
        if not isinstance(value, kind):
            raise ModelError(f"model descriptor {path}: {key} must be a {kind.__name__}, got {value!r}")
        return value

    def number(table: dict[str, Any], key: str) -> float | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ModelError(f"model descriptor {path}: thresholds.{key} must be a number, got {value!r}")
        return float(value)

    kind = need("kind", str)
    if kind not in KINDS:
        raise ModelError(f"model descriptor {path}: unknown kind {kind!r} (known kinds: {', '.join(sorted(KINDS))})")
    role = need("role", str)
    if role not in _ROLES:
        raise ModelError(f"model descriptor {path}: unknown role {role!r} (known: {', '.join(_ROLES)})")
    if not issubclass(KINDS[kind], _ROLES[role]):
        raise ModelError(f"model descriptor {path}: a {kind!r} model cannot have role {role!r}")
    size = need("input_size", list)
    if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
        raise ModelError(f"model descriptor {path}: input_size must be [width, height], got {size!r}")
    thresholds = data.get("thresholds", {})
    if not isinstance(thresholds, dict):
        raise ModelError(f"model descriptor {path}: [thresholds] must be a table")
    dim = data.get("dim")
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0):
        raise ModelError(f"model descriptor {path}: dim must be a positive integer, got {dim!r}")
    stride = data.get("stride")
    if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or stride <= 0):
        raise ModelError(f"model descriptor {path}: stride must be a positive integer, got {stride!r}")
    if stride is not None and any(v % stride for v in size):
        raise ModelError(f"model descriptor {path}: input_size {size!r} must be multiples of stride = {stride}")
    pad = data.get("pad", 0)
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0 or (pad and stride is None):
        raise ModelError(f"model descriptor {path}: pad must be a non-negative integer with a stride, got {pad!r}")
    labels = data.get("labels")
    if labels is not None and not isinstance(labels, str):
        raise ModelError(f"model descriptor {path}: labels must be a string, got {labels!r}")
    return ModelSpec(
        kind=kind,
        role=role,
        path=(path.parent / need("file", str)).resolve(),
        sha256=need("sha256", str).lower(),
        input_size=(size[0], size[1]),
        descriptor=path,
        stride=stride,
        pad=pad,
        labels=labels,
        dim=dim,
        conf=number(thresholds, "conf"),
        iou=number(thresholds, "iou"),
        match=number(thresholds, "match"),
        licence=dict(data.get("licence", {})),
        source=dict(data.get("source", {})),
    )


def build_model(
    spec: ModelSpec, cfg: ModelsConfig, *, workers: int = 1
) -> ObjectDetector | FaceDetector | FaceEmbedder:
    """Verify the file, build its session and wrap it in the class for its kind."""
    cls = KINDS.get(spec.kind)
    if cls is None:
        raise ModelError(
            f"model descriptor {spec.descriptor}: unknown kind {spec.kind!r} (known kinds: {', '.join(sorted(KINDS))})"
        )
    session = build_session(spec.path, spec.sha256, cfg, workers=workers)
    model = cls(spec, session)
    assert isinstance(model, ObjectDetector | FaceDetector | FaceEmbedder)
    return model


def load_models(cfg: ModelsConfig, *, workers: int = 1) -> Models:
    """Load the objects, faces and embeddings models named in the config (each file sha256-checked)."""
    built: dict[str, Any] = {}
    for role, descriptor in (("objects", cfg.objects), ("faces", cfg.faces), ("embeddings", cfg.embeddings)):
        spec = load_descriptor(descriptor)
        expected = _ROLES[role]
        if not issubclass(KINDS[spec.kind], expected):
            raise ModelError(
                f"models.{role}: {descriptor} is a {spec.kind!r} model, which cannot serve as {role} "
                f"(pick a descriptor whose role is {role!r})"
            )
        built[role] = build_model(spec, cfg, workers=workers)
    return Models(objects=built["objects"], faces=built["faces"], embeddings=built["embeddings"])
