"""Where the fetched test photos and extra models are (filled by tools/fetch_testdata.py).

A plainly named module on pytest's pythonpath (see pyproject.toml), so every test can
`from pictod_testdata import SKIMAGE` whatever conftest.py files sit in its folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
# Encoded by tools/make_clips.py (the test-data step) from the frames above; labels.json says who is seen when.
CLIPS = TESTDATA / "clips"
FACEGHOST_ONNX = EXTRA_MODELS / "faceghost" / "faceghost" / "model" / "v0-1.onnx"
FACENET_ONNX = EXTRA_MODELS / "facenet.onnx"

Box = tuple[float, float, float, float]


def johns(who: str) -> list[Path]:
    """One john's face crops, in name order."""
    return sorted((JOHNS / who).glob("*.jpg"))


def copy_johns(photos: Path, who: Sequence[str], per_person: int) -> dict[str, list[Path]]:
    """Copy the first `per_person` crops of each of these johns into `photos` as IDENTITY-NAME.jpg (the name
    tells a test whose face it is); every crop of each, copied or not, by identity."""
    crops = {name: johns(name) for name in who}
    for name, files in crops.items():
        for src in files[:per_person]:
            (photos / f"{name}-{src.name}").write_bytes(src.read_bytes())
    return crops


def dlib_voc_faces() -> list[tuple[Path, list[Box]]]:
    """dlib's labelled VOC face photos: (photo, its face boxes x1, y1, x2, y2) from the imglab XML files
    (<image file=...><box top left width height [ignore='1']/>; ignored boxes skipped, the files have none)."""
    import xml.etree.ElementTree as ET

    out = []
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(DLIB_FACES / name).getroot().iter("image"):
            boxes = [(float(b.get("left", 0)), float(b.get("top", 0)),
                      float(b.get("left", 0)) + float(b.get("width", 0)),
                      float(b.get("top", 0)) + float(b.get("height", 0)))
                     for b in image.iter("box") if b.get("ignore") != "1"]
            out.append((DLIB_FACES / str(image.get("file")), boxes))
    return out


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def matched(truth: Sequence[tuple[float, ...]], found: Sequence[tuple[float, ...]], threshold: float = 0.5) -> int:
    """Truth boxes matched one to one (greedy by IoU, best first) by a found box with IoU >= threshold."""
    pairs = sorted(((box_iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_t: set[int] = set()
    used_f: set[int] = set()
    for value, i, j in pairs:
        if value >= threshold and i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t)
