"""Shared fixtures: where the fetched test photos and extra models are (see tools/fetch_testdata.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (SKIMAGE / "astronaut.png").exists():
        raise pytest.UsageError(f"test photos missing in {TESTDATA}: run `python tools/fetch_testdata.py` (or make test)")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
