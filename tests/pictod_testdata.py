"""Where the fetched test photos and extra models are (filled by tools/fetch_testdata.py).

A plainly named module on pytest's pythonpath (see pyproject.toml), so every test can
`from pictod_testdata import SKIMAGE` whatever conftest.py files sit in its folder.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    """The same cache tools/fetch_testdata.py fills."""
    if os.environ.get("PICTOD_CACHE"):
        return Path(os.environ["PICTOD_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pictod"


TESTDATA = cache_root() / "testdata"
EXTRA_MODELS = cache_root() / "models"

# Named places inside the fetched packages.
SKIMAGE = TESTDATA / "scikit-image" / "skimage" / "data"
FACE_RECOGNITION = TESTDATA / "face-recognition" / "tests" / "test_images"
DLIB_EXAMPLES = TESTDATA / "dlib" / "docs" / "docs" / "cache" / "examples"
JOHNS = DLIB_EXAMPLES / "johns"
DLIB_FACES = DLIB_EXAMPLES / "faces"
LABELME = TESTDATA / "labelme" / "examples"
PILLOW_IMAGES = TESTDATA / "pillow" / "Tests" / "images"
HEIF_IMAGES = TESTDATA / "pillow-heif" / "tests" / "images"
FACEGHOST_ONNX = EXTRA_MODELS / "faceghost" / "faceghost" / "model" / "v0-1.onnx"
FACENET_ONNX = EXTRA_MODELS / "facenet.onnx"
