"""The kinds PictoPy used (yolov8-face, facenet), run on the real model files from the test cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from vision_data import FACE_RECOGNITION, FACEGHOST_ONNX, FACENET_ONNX, JOHNS, REPO, SKIMAGE, read_rgb

from daemon.analysis.vision import FaceDetector, FaceEmbedder, RawFace, build_model, load_descriptor
from daemon.analysis.vision.transforms import box_iou
from daemon.config import ModelsConfig

pytestmark = pytest.mark.skipif(
    not (FACEGHOST_ONNX.is_file() and FACENET_ONNX.is_file()),
    reason="extra models missing from the test cache: run `python tools/fetch_testdata.py`",
)

ASTRONAUT_FACE = (179.0, 63.0, 270.0, 174.0)
CFG = ModelsConfig(intra_op_threads=2)


def describe(folder: Path, onnx: Path, kind: str, role: str, size: int, extra: str) -> Path:
    """A descriptor in tmp_path pointing at the cached file, with the file's real sha256."""
    digest = hashlib.sha256(onnx.read_bytes()).hexdigest()
    path = folder / f"{kind}.toml"
    path.write_text(
        f'kind = "{kind}"\nrole = "{role}"\nfile = "{onnx}"\nsha256 = "{digest}"\n'
        f"input_size = [{size}, {size}]\n{extra}",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def yolo_faces(tmp_path_factory: pytest.TempPathFactory) -> FaceDetector:
    folder = tmp_path_factory.mktemp("yolov8face")
    spec = load_descriptor(
        describe(folder, FACEGHOST_ONNX, "yolov8-face", "faces", 640, "[thresholds]\nconf = 0.5\niou = 0.45\n")
    )
    model = build_model(spec, CFG)
    assert isinstance(model, FaceDetector)
    return model


@pytest.fixture(scope="module")
def facenet(tmp_path_factory: pytest.TempPathFactory) -> FaceEmbedder:
    folder = tmp_path_factory.mktemp("facenet")
    model = build_model(
        load_descriptor(describe(folder, FACENET_ONNX, "facenet", "embeddings", 160, "dim = 512\n")), CFG
    )
    assert isinstance(model, FaceEmbedder)
    return model


def test_yolov8_face_finds_the_astronaut_without_landmarks(yolo_faces: FaceDetector) -> None:
    assert not yolo_faces.has_landmarks and yolo_faces.default_conf == pytest.approx(0.5)
    faces = yolo_faces.detect([read_rgb(SKIMAGE / "astronaut.png")])[0]
    assert len(faces) == 1
    face = faces[0]
    iou = float(box_iou(np.array(face.box, np.float32), np.array([ASTRONAUT_FACE], np.float32))[0])
    assert iou >= 0.5 and face.score >= 0.5
    assert face.landmarks.shape == (0, 2)


def test_yolov8_face_finds_faces_in_small_close_ups(yolo_faces: FaceDetector) -> None:
    # Regression: enlarging 150x150 face crops to 640 made the detector miss 45 of dlib's 55 "johns".
    crops = [read_rgb(sorted(folder.glob("*.jpg"))[0]) for folder in sorted(JOHNS.iterdir()) if folder.is_dir()]
    assert len(crops) == 5
    for crop, faces in zip(crops, yolo_faces.detect(crops), strict=True):
        assert len(faces) == 1
        x1, y1, x2, y2 = faces[0].box
        assert (x2 - x1) * (y2 - y1) >= 0.2 * crop.shape[0] * crop.shape[1]


def test_yolov8_face_batch_equals_one_at_a_time(yolo_faces: FaceDetector) -> None:
    images = [
        read_rgb(SKIMAGE / "astronaut.png"),
        read_rgb(SKIMAGE / "chelsea.png"),
        read_rgb(FACE_RECOGNITION / "obama.jpg"),
    ]
    together = yolo_faces.detect(images)
    assert [len(r) for r in together] == [1, 0, 1]
    for image, faces in zip(images, together, strict=True):
        alone = yolo_faces.detect([image])[0]
        assert len(alone) == len(faces)
        for a, b in zip(alone, faces, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=0.05)


def test_facenet_embeds_the_astronaut_stably_and_apart_from_obama(
    yolo_faces: FaceDetector, facenet: FaceEmbedder
) -> None:
    assert facenet.dim == 512
    astronaut = read_rgb(SKIMAGE / "astronaut.png")
    obama = read_rgb(FACE_RECOGNITION / "obama.jpg")
    face = yolo_faces.detect([astronaut])[0][0]
    x1, y1, x2, y2 = face.box
    shifted = RawFace(box=(x1 + 4, y1 + 3, x2 + 4, y2 + 3), score=face.score, landmarks=face.landmarks)
    vectors = facenet.embed(astronaut, [face, shifted])
    assert vectors.shape == (2, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    obama_vector = facenet.embed(obama, yolo_faces.detect([obama])[0])[0]
    same = float(vectors[0] @ vectors[1])
    other = float(vectors[0] @ obama_vector)
    assert same >= 0.9  # measured 0.96
    assert other <= 0.6  # measured 0.31
    assert facenet.embed(astronaut, []).shape == (0, 512)


def test_facenet_tells_obama_from_biden(yolo_faces: FaceDetector, facenet: FaceEmbedder) -> None:
    vectors = {}
    for name in ("obama", "obama2", "biden"):
        image = read_rgb(FACE_RECOGNITION / f"{name}.jpg")
        vectors[name] = facenet.embed(image, yolo_faces.detect([image])[0][:1])[0]
    assert float(vectors["obama"] @ vectors["obama2"]) > float(vectors["obama"] @ vectors["biden"]) + 0.2


def test_sface_embeds_landmark_less_faces_by_box_crop(yolo_faces: FaceDetector) -> None:
    # yolov8-face + sface is a valid pairing: the embedder falls back to a square box crop.
    sface = build_model(load_descriptor(REPO / "models" / "sface.toml"), CFG)
    assert isinstance(sface, FaceEmbedder)
    vectors = {}
    for name in ("obama", "obama2", "biden"):
        image = read_rgb(FACE_RECOGNITION / f"{name}.jpg")
        vectors[name] = sface.embed(image, yolo_faces.detect([image])[0][:1])[0]
    assert float(vectors["obama"] @ vectors["obama2"]) > float(vectors["obama"] @ vectors["biden"])
