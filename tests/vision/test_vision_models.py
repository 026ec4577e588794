"""The shipped models (YOLOv10n, YuNet, SFace) on real photos, cross-checked against OpenCV's own runners."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from vision_data import DLIB_FACES, FACE_RECOGNITION, JOHNS, REPO, SKIMAGE, iou, read_rgb, shipped_models

from daemon.analysis.vision import Models, RawFace

YUNET_ONNX = REPO / "models" / "face_detection_yunet_2023mar.onnx"
SFACE_ONNX = REPO / "models" / "face_recognition_sface_2021dec.onnx"
ASTRONAUT_FACE = (179.0, 63.0, 270.0, 174.0)


@pytest.fixture(scope="module")
def models() -> Models:
    return shipped_models()


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {
        "astronaut": read_rgb(SKIMAGE / "astronaut.png"),
        "chelsea": read_rgb(SKIMAGE / "chelsea.png"),
        "coffee": read_rgb(SKIMAGE / "coffee.png"),
        "obama": read_rgb(FACE_RECOGNITION / "obama.jpg"),
        "obama2": read_rgb(FACE_RECOGNITION / "obama2.jpg"),
        "biden": read_rgb(FACE_RECOGNITION / "biden.jpg"),
    }


def only_face(models: Models, image: np.ndarray) -> RawFace:
    faces = models.faces.detect([image])[0]
    assert len(faces) == 1, faces
    return faces[0]


def test_roles_and_sizes(models: Models) -> None:
    assert models.objects.input_size == (640, 640)
    assert models.faces.input_size == (640, 640)
    assert models.faces.has_landmarks and models.faces.default_conf == pytest.approx(0.6)
    assert models.embeddings.dim == 128
    assert len(models.objects.labels) == 80 and models.objects.labels[0] == "person"


def test_astronaut_person_and_one_face_with_landmarks(models: Models, photos: dict[str, np.ndarray]) -> None:
    image = photos["astronaut"]
    objects = models.objects.detect([image], conf=0.25, iou=0.5)[0]
    people = [o for o in objects if o.label == "person"]
    assert people and people[0].score >= 0.7
    x1, y1, x2, y2 = people[0].box
    assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    face = only_face(models, image)
    assert iou(face.box, ASTRONAUT_FACE) >= 0.5
    assert face.score >= 0.6
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    fx1, fy1, fx2, fy2 = face.box
    assert ((face.landmarks[:, 0] > fx1) & (face.landmarks[:, 0] < fx2)).all()
    assert ((face.landmarks[:, 1] > fy1) & (face.landmarks[:, 1] < fy2)).all()
    right_eye, left_eye, nose, right_mouth, left_mouth = face.landmarks
    # Subject's right eye is on the image's left; eyes above nose above mouth.
    assert right_eye[0] < left_eye[0] and right_mouth[0] < left_mouth[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < min(right_mouth[1], left_mouth[1])


def test_chelsea_is_a_cat_without_faces(models: Models, photos: dict[str, np.ndarray]) -> None:
    objects = models.objects.detect([photos["chelsea"]], conf=0.5, iou=0.5)[0]
    assert objects and objects[0].label == "cat"
    assert "person" not in {o.label for o in objects}
    assert models.faces.detect([photos["chelsea"]])[0] == []


def test_coffee_has_a_cup(models: Models, photos: dict[str, np.ndarray]) -> None:
    objects = models.objects.detect([photos["coffee"]], conf=0.5, iou=0.5)[0]
    assert "cup" in {o.label for o in objects}
    assert models.faces.detect([photos["coffee"]])[0] == []


def test_yolo_batch_equals_one_at_a_time(models: Models, photos: dict[str, np.ndarray]) -> None:
    images = [photos["astronaut"], photos["chelsea"], photos["coffee"]]
    batched = models.objects.detect(images, conf=0.3, iou=0.5)
    for image, together in zip(images, batched, strict=True):
        alone = models.objects.detect([image], conf=0.3, iou=0.5)[0]
        assert [o.label for o in alone] == [o.label for o in together]
        for a, b in zip(alone, together, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)
            np.testing.assert_allclose(a.box, b.box, atol=0.05)
    assert models.objects.detect([], conf=0.3, iou=0.5) == []


def opencv_faces(image_rgb: np.ndarray, conf: float) -> list[tuple[tuple[float, ...], float, np.ndarray]]:
    """OpenCV's FaceDetectorYN on the same ONNX file; images larger than 640 are shrunk first (as pictod
    does), results mapped back to the original pixels."""
    h, w = image_rgb.shape[:2]
    scale = min(1.0, 640 / w, 640 / h)
    bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    if scale < 1.0:
        bgr = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    detector = cv2.FaceDetectorYN.create(str(YUNET_ONNX), "", (bgr.shape[1], bgr.shape[0]), conf, 0.3, 5000)
    _, rows = detector.detect(bgr)
    faces = []
    for row in [] if rows is None else rows:
        x, y, bw, bh = (float(v) for v in row[:4])
        sx, sy = w / bgr.shape[1], h / bgr.shape[0]
        box = (x * sx, y * sy, (x + bw) * sx, (y + bh) * sy)
        landmarks = row[4:14].reshape(5, 2) * np.array([sx, sy], np.float32)
        faces.append((box, float(row[14]), landmarks))
    return faces


def test_yunet_agrees_with_opencv_face_detector(models: Models, photos: dict[str, np.ndarray]) -> None:
    images = [photos[name] for name in ("astronaut", "obama", "obama2", "biden")]
    images += [read_rgb(p) for p in sorted(DLIB_FACES.glob("20*.jpg"))]
    total = 0
    for image in images:
        ours = models.faces.detect([image], conf=0.6)[0]
        theirs = opencv_faces(image, 0.6)
        assert len(ours) == len(theirs)
        scale = max(1.0, image.shape[1] / 640, image.shape[0] / 640)
        for box, score, landmarks in theirs:
            best = max(ours, key=lambda f, box=box: iou(f.box, box))
            # Not identical: OpenCV pads to a multiple of 32, pictod to 640x640, which shifts faces near
            # the border by a pixel or two (measured worst IoU 0.91 on these photos).
            assert iou(best.box, box) >= 0.85
            assert best.score == pytest.approx(score, abs=0.02)
            assert float(np.abs(best.landmarks - landmarks).max()) <= 2.0 * scale
        total += len(ours)
    assert total >= 20  # the dlib VOC photos hold dozens of faces: the comparison covered real crowds


def test_yunet_decode_matches_opencv_on_the_same_canvas(models: Models) -> None:
    # With the identical 640x640 input both runners see the same tensor: the decode must agree closely.
    image = read_rgb(DLIB_FACES / "2008_002470.jpg")
    canvas = np.zeros((640, 640, 3), np.uint8)
    canvas[: image.shape[0], : image.shape[1]] = image
    ours = models.faces.detect([canvas], conf=0.5)[0]
    theirs = opencv_faces(canvas, 0.5)
    assert len(ours) == len(theirs) >= 5
    for box, score, landmarks in theirs:
        best = max(ours, key=lambda f, box=box: iou(f.box, box))
        np.testing.assert_allclose(best.box, box, atol=0.5)
        assert best.score == pytest.approx(score, abs=1e-3)
        np.testing.assert_allclose(best.landmarks, landmarks, atol=0.5)


def test_sface_agrees_with_opencv_face_recognizer(models: Models, photos: dict[str, np.ndarray]) -> None:
    recognizer = cv2.FaceRecognizerSF.create(str(SFACE_ONNX), "")
    for name in ("astronaut", "obama", "biden"):
        image = photos[name]
        face = only_face(models, image)
        ours = models.embeddings.embed(image, [face])[0]
        x1, y1, x2, y2 = face.box
        row = np.array([[x1, y1, x2 - x1, y2 - y1, *face.landmarks.reshape(-1), face.score]], np.float32)
        aligned = recognizer.alignCrop(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), row)
        theirs = recognizer.feature(aligned).reshape(-1)
        theirs /= np.linalg.norm(theirs)
        assert float(np.linalg.norm(ours)) == pytest.approx(1.0, abs=1e-5)
        assert float(ours @ theirs) >= 0.99, name


def test_same_person_closer_than_another(models: Models, photos: dict[str, np.ndarray]) -> None:
    vectors = {}
    for name in ("obama", "obama2", "biden"):
        image = photos[name]
        vectors[name] = models.embeddings.embed(image, [only_face(models, image)])[0]
    same = float(vectors["obama"] @ vectors["obama2"])
    other = float(vectors["obama"] @ vectors["biden"])
    assert same > other + 0.2
    # sface.toml's match threshold (cosine distance) separates them.
    match = models.embeddings.spec.match
    assert match is not None and 1 - same < match < 1 - other


def test_identities_separate_on_the_johns_set(models: Models) -> None:
    # 5 people x 11 face crops: every same-person pair must be closer than every different-person pair, and
    # the descriptor's match distance must accept nearly all of the former and none of the latter.
    vectors, names = [], []
    for folder in sorted(p for p in JOHNS.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.jpg")):
            image = read_rgb(path)
            faces = models.faces.detect([image])[0]
            assert faces, path.name
            largest = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            vectors.append(models.embeddings.embed(image, [largest])[0])
            names.append(folder.name)
    assert len(vectors) == 55 and len(set(names)) == 5
    matrix = np.stack(vectors)
    distance = 1.0 - matrix @ matrix.T
    upper = np.triu_indices(len(names), 1)
    same = (np.array(names)[:, None] == np.array(names)[None, :])[upper]
    pairs = distance[upper]
    assert pairs[same].max() < pairs[~same].min()
    match = models.embeddings.spec.match
    assert match is not None
    assert (pairs[same] < match).mean() >= 0.95
    assert not (pairs[~same] < match).any()


def test_sface_batch_equals_one_at_a_time(models: Models) -> None:
    image = read_rgb(DLIB_FACES / "2008_002506.jpg")
    faces = models.faces.detect([image])[0]
    assert len(faces) >= 3
    together = models.embeddings.embed(image, faces)
    assert together.shape == (len(faces), 128) and together.dtype == np.float32
    for face, row in zip(faces, together, strict=True):
        alone = models.embeddings.embed(image, [face])[0]
        np.testing.assert_allclose(alone, row, atol=1e-4)
    assert models.embeddings.embed(image, []).shape == (0, 128)


def test_models_serve_several_threads_at_once(models: Models, photos: dict[str, np.ndarray]) -> None:
    images = [photos["astronaut"], photos["coffee"]]
    expected = [models.objects.detect([i], conf=0.5, iou=0.5)[0] for i in images]
    expected_faces = models.faces.detect([photos["astronaut"]])[0]
    failures: list[str] = []

    def work(k: int) -> None:
        for _ in range(3):
            got = models.objects.detect([images[k % 2]], conf=0.5, iou=0.5)[0]
            if [o.label for o in got] != [o.label for o in expected[k % 2]]:
                failures.append(f"objects thread {k}")
            faces = models.faces.detect([photos["astronaut"]])[0]
            if len(faces) != len(expected_faces):
                failures.append(f"faces thread {k}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_rejects_non_rgb_arrays(models: Models) -> None:
    with pytest.raises(ValueError, match="RGB"):
        models.objects.detect([np.zeros((10, 10), np.uint8)], conf=0.5, iou=0.5)
    with pytest.raises(ValueError, match="RGB"):
        models.faces.detect([np.zeros((10, 10, 3), np.float32)])


def test_degenerate_images_and_faces_do_not_break_the_models(models: Models) -> None:
    rng = np.random.default_rng(7)
    odd_shapes = [(1, 1), (1, 3000), (3000, 2), (7, 9), (2000, 2600)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in odd_shapes]
    for image, objects in zip(images, models.objects.detect(images, conf=0.5, iou=0.5), strict=True):
        for o in objects:
            assert 0 <= o.box[0] <= o.box[2] <= image.shape[1] and 0 <= o.box[1] <= o.box[3] <= image.shape[0]
    for image, faces in zip(images, models.faces.detect(images, conf=0.6), strict=True):
        for f in faces:
            assert 0 <= f.box[0] <= f.box[2] <= image.shape[1] and 0 <= f.box[1] <= f.box[3] <= image.shape[0]
    # Faces a caller might build by hand: zero-size, outside the image, all landmarks on one point.
    image = images[-1]
    faces = [
        RawFace(box=(10, 10, 10, 10), score=0.9, landmarks=np.zeros((0, 2), np.float32)),
        RawFace(box=(5000, 5000, 5100, 5100), score=0.9, landmarks=np.zeros((0, 2), np.float32)),
        RawFace(box=(0, 0, 50, 50), score=0.9, landmarks=np.full((5, 2), 25.0, np.float32)),
    ]
    vectors = models.embeddings.embed(image, faces)
    assert vectors.shape == (3, 128) and np.isfinite(vectors).all()
