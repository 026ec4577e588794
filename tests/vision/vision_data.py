"""The vision tests' shared pieces: tests/conftest.py's test-data constants (loaded by file path), a photo as
RGB (`read_rgb`), the IoU of two boxes (`iou`) and the shipped models (`shipped_models`).

`from conftest import ...` picks whichever conftest module pytest imported last (tests/hardening has its
own), so the vision tests load the root one explicitly under a name of their own.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from daemon.analysis.vision import Models, load_models
from daemon.analysis.vision.transforms import box_iou
from daemon.config import ModelsConfig

_spec = importlib.util.spec_from_file_location(
    "pictod_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)

REPO: Path = _root.REPO
SKIMAGE: Path = _root.SKIMAGE
FACE_RECOGNITION: Path = _root.FACE_RECOGNITION
DLIB_FACES: Path = _root.DLIB_FACES
JOHNS: Path = _root.JOHNS
FACEGHOST_ONNX: Path = _root.FACEGHOST_ONNX
FACENET_ONNX: Path = _root.FACENET_ONNX


def read_rgb(path: Path) -> np.ndarray:
    """A photo's pixels as RGB (cv2's decoder: independent of daemon.analysis.imaging)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    return float(box_iou(np.array(a, np.float32), np.array([b], np.float32))[0])


def shipped_models() -> Models:
    """YOLOv10n, YuNet and SFace from the repo's descriptors, one worker of two threads."""
    cfg = ModelsConfig(
        objects=REPO / "models" / "yolov10n.toml",
        faces=REPO / "models" / "yunet.toml",
        embeddings=REPO / "models" / "sface.toml",
        intra_op_threads=2,
    )
    return load_models(cfg, workers=1)
