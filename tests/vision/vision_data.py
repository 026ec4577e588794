"""tests/conftest.py's test-data constants, loaded by file path.

`from conftest import ...` picks whichever conftest module pytest imported last (tests/hardening has its
own), so the vision tests load the root one explicitly under a name of their own.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

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
