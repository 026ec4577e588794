"""Detectors at the photo's own shape (descriptor key stride, issue 15) against the square canvas, on real photos.

With stride 32 each photo runs at the smallest multiple of 32 holding it at the 640 long side; the square
640x640 letterbox (stride None, the same session) is what pictod ran before. Boxes must come back in the
photo's pixels whatever the canvas, and recall and embeddings must stay what they were.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from pictod_testdata import LABELME, dlib_voc_faces, matched
from vision_data import DLIB_FACES, JOHNS, REPO, SKIMAGE, iou, read_rgb, shipped_models

from daemon import config
from daemon.analysis.analyzer import Analyzer
from daemon.analysis.vision import Models, yunet

BUS_PHOTO = LABELME / "bbox_detection" / "data_annotated" / "2011_000025.jpg"
YUNET_ONNX = REPO / "models" / "face_detection_yunet_2023mar.onnx"


def with_stride(models: Models, stride: int | None) -> Models:
    """The same sessions with another stride in both detectors' descriptors."""
    return Models(
        objects=models.objects.with_spec(dataclasses.replace(models.objects.spec, stride=stride)),
        faces=models.faces.with_spec(dataclasses.replace(models.faces.spec, stride=stride)),
        embeddings=models.embeddings,
    )


@pytest.fixture(scope="module")
def shipped() -> Models:
    return shipped_models()


@pytest.fixture(scope="module")
def fitted(shipped: Models) -> Models:
    return with_stride(shipped, 32)


@pytest.fixture(scope="module")
def square(shipped: Models) -> Models:
    """The square canvas: what pictod ran before issue 15."""
    return with_stride(shipped, None)


def test_yunet_priors_follow_the_canvas_grid() -> None:
    # A 640x480 canvas: 80x60 cells at stride 8, 40x30 at 16, 20x15 at 32; one anchor lit at stride 16, row 7,
    # column 11 must decode at that cell of the 40-column grid (a square grid would put it elsewhere).
    width, height = 640, 480
    outputs: dict[str, np.ndarray] = {}
    for stride in yunet.STRIDES:
        n = (width // stride) * (height // stride)
        outputs[f"cls_{stride}"] = np.zeros((1, n, 1), np.float32)
        outputs[f"obj_{stride}"] = np.zeros((1, n, 1), np.float32)
        outputs[f"bbox_{stride}"] = np.zeros((1, n, 4), np.float32)
        outputs[f"kps_{stride}"] = np.zeros((1, n, 10), np.float32)
    index = 7 * (width // 16) + 11
    outputs["cls_16"][0, index, 0] = outputs["obj_16"][0, index, 0] = 0.81
    boxes, scores, kps = yunet.decode(outputs, (width, height))
    assert boxes.shape[0] == 80 * 60 + 40 * 30 + 20 * 15
    best = int(scores.argmax())
    assert scores[best] == pytest.approx(0.81)
    np.testing.assert_allclose(boxes[best], [11 * 16 - 8, 7 * 16 - 8, 11 * 16 + 8, 7 * 16 + 8])
    np.testing.assert_allclose(kps[best], np.tile([11 * 16, 7 * 16], (5, 1)))


def test_fitted_yunet_equals_opencv_on_the_same_canvas(fitted: Models) -> None:
    # OpenCV's FaceDetectorYN pads to a multiple of 32: for a photo with a 640 px long side that is exactly
    # pictod's fitted canvas, so the two runners see the same tensor and must agree to rounding.
    total = 0
    for path in sorted(DLIB_FACES.glob("20*.jpg"))[:5]:
        rgb = read_rgb(path)
        scale = 640 / max(rgb.shape[:2])
        rgb = np.asarray(cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))), np.uint8)
        ours = fitted.faces.detect([rgb], conf=0.5)[0]
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        detector = cv2.FaceDetectorYN.create(str(YUNET_ONNX), "", (bgr.shape[1], bgr.shape[0]), 0.5, 0.3, 5000)
        _, rows = detector.detect(bgr)
        theirs = [] if rows is None else rows
        assert len(ours) == len(theirs), path.name
        for row in theirs:
            box = (row[0], row[1], row[0] + row[2], row[1] + row[3])
            best = max(ours, key=lambda f, box=box: iou(f.box, box))
            np.testing.assert_allclose(best.box, box, atol=0.5)
            assert best.score == pytest.approx(float(row[14]), abs=1e-3)
            np.testing.assert_allclose(best.landmarks, row[4:14].reshape(5, 2), atol=0.5)
        total += len(ours)
    assert total >= 10


def strong(objects: list, threshold: float = 0.75) -> list:
    return [o for o in objects if o.score >= threshold]


@pytest.mark.parametrize("name", ["bus", "bus-portrait", "2011_000003", "2011_000006", "astronaut", "chelsea",
                                  "coffee"])
def test_fitted_objects_keep_the_square_canvas_confident_objects(fitted: Models, square: Models, name: str) -> None:
    folder = LABELME / "bbox_detection" / "data_annotated"
    photos = {"bus": read_rgb(BUS_PHOTO), "2011_000003": read_rgb(folder / "2011_000003.jpg"),
              "2011_000006": read_rgb(folder / "2011_000006.jpg"), "astronaut": read_rgb(SKIMAGE / "astronaut.png"),
              "chelsea": read_rgb(SKIMAGE / "chelsea.png"), "coffee": read_rgb(SKIMAGE / "coffee.png")}
    photos["bus-portrait"] = np.ascontiguousarray(photos["bus"].transpose(1, 0, 2)[::-1])  # rotated 90 degrees
    image = photos[name]
    height, width = image.shape[:2]
    ours = fitted.objects.detect([image], conf=0.5, iou=0.5)[0]
    ref = square.objects.detect([image], conf=0.5, iou=0.5)[0]
    for o in ours:
        assert 0 <= o.box[0] < o.box[2] <= width and 0 <= o.box[1] < o.box[3] <= height
    for r in strong(ref):
        same = [o for o in ours if o.label == r.label]
        assert same and max(iou(o.box, r.box) for o in same) >= 0.8, (name, r)


def test_fitted_boxes_follow_a_mirrored_photo_and_a_portrait_one(fitted: Models) -> None:
    # The bus photo (500x375: a 640x480 canvas), its mirror image, and a portrait photo made of it with a plain
    # strip below (500x700: a 480x640 canvas, the photo in its top part): the same buses, with the boxes where
    # the mirror puts them and, in the portrait photo, where they were.
    image = read_rgb(BUS_PHOTO)
    width = image.shape[1]
    portrait = np.concatenate([image, np.full((325, width, 3), 90, np.uint8)])
    assert fitted.objects.spec.stride is not None
    upright = strong(fitted.objects.detect([image], conf=0.5, iou=0.5)[0])
    assert [o.label for o in upright].count("bus") >= 1
    mirrored = strong(fitted.objects.detect([np.ascontiguousarray(image[:, ::-1])], conf=0.5, iou=0.5)[0], 0.6)
    tall = strong(fitted.objects.detect([portrait], conf=0.5, iou=0.5)[0], 0.6)
    for o in upright:
        x1, y1, x2, y2 = o.box
        assert max(iou(m.box, (width - x2, y1, width - x1, y2)) for m in mirrored if m.label == o.label) >= 0.85
        assert max(iou(t.box, o.box) for t in tall if t.label == o.label) >= 0.85


@pytest.fixture(scope="module")
def chains(fitted: Models, square: Models) -> dict[str, dict[str, list]]:
    cfg = config.load(REPO / "config.toml", check_folders=False)
    photos = sorted(DLIB_FACES.glob("20*.jpg")) + sorted(JOHNS.glob("*/*.jpg"))
    out: dict[str, dict[str, list]] = {}
    for name, models in (("fitted", fitted), ("square", square)):
        analyzer = Analyzer(cfg.analysis, models)
        out[name] = {p.name: list(analyzer.analyze_file(p).faces) for p in photos}
    return out


def test_face_recall_unchanged_on_dlib_voc_and_johns(chains: dict[str, dict[str, list]]) -> None:
    for name in ("fitted", "square"):
        faces = chains[name]
        hits = sum(matched(truth, [f.box for f in faces[path.name]]) for path, truth in dlib_voc_faces())
        johns = [n for n in faces if not n.startswith("20")]
        assert (hits, sum(bool(faces[n]) for n in johns), len(johns)) == (42, 55, 55), name  # issue 15's figures


def test_embeddings_of_the_same_faces_within_cosine_0_02(chains: dict[str, dict[str, list]]) -> None:
    compared = 0
    for photo, ref_faces in chains["square"].items():
        ours = chains["fitted"][photo]
        assert len(ours) == len(ref_faces), photo
        for face in ref_faces:
            best = max(ours, key=lambda f, face=face: iou(f.box, face.box))
            assert iou(best.box, face.box) >= 0.9, photo
            assert float(best.embedding @ face.embedding) >= 0.98, photo
            compared += 1
    assert compared >= 95  # 43ish dlib faces and 55 johns: the comparison covered them all
