"""The analyzer: the real models on real photos (skimage, dlib VOC faces and johns, face_recognition, labelme)."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from pictod_testdata import FACE_RECOGNITION, JOHNS, LABELME, PILLOW_IMAGES, REPO, SKIMAGE, dlib_voc_faces, matched
from PIL import Image

from daemon import config
from daemon.analysis.analyzer import TARGET_LONG_SIDE, Analyzer, imaging
from daemon.errors import PhotoError
from daemon.types import PhotoAnalysis

Box = tuple[float, float, float, float]


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    cfg = config.load(REPO / "config.toml", check_folders=False)
    return Analyzer.from_config(cfg, workers=1)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_recall(analyzer: Analyzer) -> tuple[int, int]:
    hits = total = 0
    for path, truth in dlib_voc_faces():
        result = analyzer.analyze_file(path)
        hits += matched(truth, [f.box for f in result.faces])
        total += len(truth)
    return hits, total


# -- single photos -------------------------------------------------------------------------------------------


def test_astronaut_person_and_one_face(analyzer: Analyzer) -> None:
    result = analyzer.analyze_file(SKIMAGE / "astronaut.png")
    persons = [o for o in result.objects if o.label == "person"]
    assert persons and persons[0].score >= 0.7
    assert len(result.faces) == 1
    face = result.faces[0]
    assert iou(face.box, (179, 63, 270, 174)) >= 0.5
    assert len(face.landmarks) == 5
    x1, y1, x2, y2 = face.box
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)
    assert face.embedding.dtype == np.float32 and face.embedding.shape == (analyzer.models.embeddings.dim,)
    assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-4
    assert set(result.timings_ms) == {"decode", "objects", "faces", "embed"}
    assert result.meta.width == 512 and result.meta.format == "PNG"


def test_chelsea_cat_no_face(analyzer: Analyzer) -> None:
    result = analyzer.analyze_file(SKIMAGE / "chelsea.png")
    assert "cat" in {o.label for o in result.objects}
    assert result.faces == ()


def same_detections(a: PhotoAnalysis, b: PhotoAnalysis, atol: float) -> None:
    assert [o.label for o in a.objects] == [o.label for o in b.objects]
    for x, y in zip(a.objects, b.objects, strict=True):
        assert np.allclose(x.box, y.box, atol=atol), (x, y)
    assert len(a.faces) == len(b.faces)
    for x, y in zip(a.faces, b.faces, strict=True):
        assert np.allclose(x.box, y.box, atol=atol), (x.box, y.box)
        assert np.allclose(x.landmarks, y.landmarks, atol=atol)
        assert float(x.embedding @ y.embedding) > 0.9


def test_pillow_orientation_files_agree(analyzer: Analyzer) -> None:
    # Pillow's hopper_orientation_2..8 (there is no _1; hopper.jpg is a different encoding where a "tie"
    # sits right at the 0.7 threshold, so orientation 2 is the reference).
    reference = analyzer.analyze_file(PILLOW_IMAGES / "hopper_orientation_2.jpg")
    assert [o.label for o in reference.objects] == ["person"] and len(reference.faces) == 1
    for orientation in range(3, 9):
        same_detections(analyzer.analyze_file(PILLOW_IMAGES / f"hopper_orientation_{orientation}.jpg"),
                        reference, atol=3)


# The transpose that stores an upright picture so that EXIF orientation k shows it upright again.
STORE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def test_astronaut_in_every_exif_orientation(analyzer: Analyzer, tmp_path: Path) -> None:
    upright = Image.open(SKIMAGE / "astronaut.png").convert("RGB")
    results = {}
    for orientation in range(1, 9):
        stored = upright if orientation == 1 else upright.transpose(STORE_FOR_ORIENTATION[orientation])
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = tmp_path / f"astronaut_{orientation}.jpg"
        stored.save(path, quality=95, exif=exif.tobytes())
        results[orientation] = analyzer.analyze_file(path)
    assert len(results[1].faces) == 1 and "person" in {o.label for o in results[1].objects}
    for orientation in range(2, 9):
        same_detections(results[orientation], results[1], atol=4)


def test_obama_closer_to_obama_than_to_biden(analyzer: Analyzer) -> None:
    emb = {}
    for name in ("obama.jpg", "obama2.jpg", "biden.jpg"):
        faces = analyzer.analyze_file(FACE_RECOGNITION / name).faces
        assert len(faces) == 1, name
        emb[name] = faces[0].embedding
    same = 1 - float(emb["obama.jpg"] @ emb["obama2.jpg"])
    other = 1 - float(emb["obama.jpg"] @ emb["biden.jpg"])
    print(f"\ncosine distance obama-obama2 {same:.3f}, obama-biden {other:.3f}")
    assert same < other


def test_labelme_voc_people_and_vehicles(analyzer: Analyzer) -> None:
    folder = LABELME / "bbox_detection" / "data_annotated"
    found = total = 0
    for path in sorted(folder.glob("*.json")):
        shapes = json.loads(path.read_text())["shapes"]
        result = analyzer.analyze_file(folder / path.with_suffix(".jpg").name)
        for label in ("person", "bus"):
            truth = [(*s["points"][0], *s["points"][1]) for s in shapes if s["label"] == label]
            found += matched(truth, [o.box for o in result.objects if o.label == label])
            total += len(truth)
    print(f"\nlabelme person+bus recall at IoU 0.5: {found}/{total}")
    assert found >= total - 2  # at conf 0.7 a small, half-hidden person may be missed


# -- faces ---------------------------------------------------------------------------------------------------


def test_dlib_voc_face_recall(analyzer: Analyzer) -> None:
    hits, total = face_recall(analyzer)
    print(f"\ndlib VOC face recall at IoU 0.5: {hits}/{total} = {hits / total:.3f}")
    assert total == 43
    assert hits / total >= 0.9


def test_person_gate_recall(analyzer: Analyzer) -> None:
    gated = Analyzer(dataclasses.replace(analyzer.config, person_gate=True), analyzer.models)
    on, total = face_recall(gated)
    off, _ = face_recall(analyzer)
    print(f"\ndlib VOC face recall: person_gate on {on}/{total}, off {off}/{total}")
    assert on <= off and off >= 0.95 * total  # measured: 42/43 either way
    # Close-ups are where the gate costs faces: YOLO rarely calls a 150 px face crop a "person".
    crops = sorted(JOHNS.glob("*/*.jpg"))
    with_face = sum(bool(gated.analyze_file(p).faces) for p in crops)
    print(f"johns crops with a face: person_gate on {with_face}/{len(crops)}")
    assert with_face < len(crops)  # why the gate is off by default: it loses close-ups (measured 42/55)
    # The gate really gates: the cat photo gets no face search, and its timings say so.
    assert gated.analyze_file(SKIMAGE / "chelsea.png").timings_ms["faces"] == 0.0


@pytest.fixture(scope="module")
def johns(analyzer: Analyzer) -> tuple[np.ndarray, list[str], list[int]]:
    vectors, names, counts = [], [], []
    for path in sorted(JOHNS.glob("*/*.jpg")):
        faces = analyzer.analyze_file(path).faces
        counts.append(len(faces))
        if faces:
            best = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
            vectors.append(best.embedding)
            names.append(path.parent.name)
    return np.stack(vectors), names, counts


def test_every_johns_crop_has_a_face(johns: tuple[np.ndarray, list[str], list[int]]) -> None:
    _, names, counts = johns
    assert len(counts) == 55 and len(set(names)) == 5
    assert min(counts) >= 1


def test_johns_verification(johns: tuple[np.ndarray, list[str], list[int]]) -> None:
    vectors, names, _ = johns
    distance = 1.0 - vectors @ vectors.T
    same, diff = [], []
    for i, j in itertools.combinations(range(len(names)), 2):
        (same if names[i] == names[j] else diff).append(float(distance[i, j]))
    values = np.array(same + diff)
    truth = np.array([True] * len(same) + [False] * len(diff))
    accuracy, threshold = max(
        (float(((values <= t) == truth).mean()), float(t)) for t in np.unique(values)
    )
    separated = max(same) < min(diff)
    print(
        f"\njohns: {len(same)} same / {len(diff)} different pairs; max same {max(same):.3f}, "
        f"min different {min(diff):.3f}, fully separated {separated}; "
        f"best accuracy {accuracy:.4f} at distance {threshold:.3f}"
    )
    assert separated and accuracy == 1.0  # the figure the README states


def test_extreme_close_up_needs_and_gets_the_padded_pass(analyzer: Analyzer) -> None:
    """Half the face box, enlarged to 1000 px: the detector alone misses most (measured 3 of 5); the padded
    second pass finds them all, and boxes come back in the photo's pixels."""
    missed_alone = 0
    for path in [SKIMAGE / "astronaut.png", *(FACE_RECOGNITION / n for n in ("obama.jpg", "obama2.jpg",
                                                                           "obama3.jpg", "biden.jpg"))]:
        face = analyzer.analyze_file(path).faces[0]
        decoded = imaging.load(path, max_pixels=10**8, max_file_bytes=10**9)
        x1, y1, x2, y2 = face.box
        cx, cy, half = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) / 4
        crop = decoded.rgb[round(cy - half) : round(cy + half), round(cx - half) : round(cx + half)]
        crop = np.ascontiguousarray(cv2.resize(crop, (1000, 1000), interpolation=cv2.INTER_LINEAR))
        missed_alone += not analyzer.models.faces.detect([crop])[0]
        buffer = io.BytesIO()
        Image.fromarray(crop).save(buffer, "PNG")
        faces = analyzer.analyze_header(analyzer.open_header(buffer.getvalue(), name=path.name)).faces
        assert len(faces) >= 1, path.name
        fx1, fy1, fx2, fy2 = faces[0].box
        assert 0 <= fx1 < fx2 <= 1000 and 0 <= fy1 < fy2 <= 1000
        assert fx2 - fx1 > 400  # the face fills the frame
    assert missed_alone >= 1


def test_min_face_px_in_original_pixels(analyzer: Analyzer) -> None:
    strict = Analyzer(dataclasses.replace(analyzer.config, min_face_px=200), analyzer.models)
    assert strict.analyze_file(SKIMAGE / "astronaut.png").faces == ()  # the face is ~90 px


# -- reduced decoding ----------------------------------------------------------------------------------------


def test_reduced_decode_maps_back_to_original_pixels(analyzer: Analyzer, tmp_path: Path) -> None:
    small = analyzer.analyze_file(SKIMAGE / "astronaut.png")
    big = Image.open(SKIMAGE / "astronaut.png").convert("RGB").resize((4096, 4096), Image.Resampling.BICUBIC)
    path = tmp_path / "astronaut_4096.jpg"
    big.save(path, quality=92)
    decoded = imaging.load(path, max_pixels=10**8, max_file_bytes=10**9, target_long_side=TARGET_LONG_SIDE)
    assert decoded.scale == 2.0  # 4096 / 2 = 2048 >= 1280 > 4096 / 4
    result = analyzer.analyze_file(path)
    assert (result.meta.width, result.meta.height) == (4096, 4096)
    assert len(result.faces) == 1
    expected = tuple(v * 8 for v in small.faces[0].box)
    assert iou(result.faces[0].box, expected) >= 0.8
    assert float(result.faces[0].embedding @ small.faces[0].embedding) > 0.8


# -- bad input -----------------------------------------------------------------------------------------------


def test_broken_files_raise_photo_error(analyzer: Analyzer, tmp_path: Path) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    cases = {
        PILLOW_IMAGES / "truncated_jpeg.jpg": "truncated",
        PILLOW_IMAGES / "decompression_bomb.gif": "too_many_pixels",
        text: "not_an_image",
        tmp_path / "missing.jpg": "unreadable",
    }
    for path, reason in cases.items():
        with pytest.raises(PhotoError) as info:
            analyzer.analyze_file(path)
        assert info.value.reason == reason
    with pytest.raises(PhotoError) as info:
        analyzer.analyze_header(analyzer.open_header(b"", name="empty.jpg"))
    assert info.value.reason == "empty"
