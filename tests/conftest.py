"""Shared fixtures; the test-data paths themselves live in pictod_testdata.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from pictod_testdata import (  # noqa: F401 - re-exported for modules that load this file by path
    CLIPS,
    DLIB_EXAMPLES,
    DLIB_FACES,
    EXTRA_MODELS,
    FACE_RECOGNITION,
    FACEGHOST_ONNX,
    FACENET_ONNX,
    HEIF_IMAGES,
    JOHNS,
    LABELME,
    PILLOW_IMAGES,
    REPO,
    SKIMAGE,
    TESTDATA,
    cache_root,
)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (SKIMAGE / "astronaut.png").exists():
        raise pytest.UsageError(
            f"test photos missing in {TESTDATA}: run `python tools/fetch_testdata.py` (or make test)"
        )
    if not (CLIPS / "labels.json").exists():
        raise pytest.UsageError(f"test clips missing in {CLIPS}: run `python tools/fetch_testdata.py --only clips`")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
