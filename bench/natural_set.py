"""The natural-variation evaluation set (issue 21): the same people as they come in a real album rather than
degraded by us, built from what the test-data packages hold. Nothing of it is committed: it is made from the
cache (tests/pictod_testdata.py) each run, deterministically (numpy RNG seeded per photo).

What the packages hold, and what each photo of the set is:
- dlib's johns (5 people x 11 crops, 150x150): different photos of each person, taken years and cameras
  apart (they are not one photo degraded): crops 0-4 of each person (sorted by name) are kept as they are;
- face_recognition's obama.jpg / obama2.jpg / obama3.jpg (one man, three occasions) and biden.jpg: kept;
- group photos with small faces: a person's crop (6, 9 of each john; obama3) shrunk so the face is 36-50 px
  and pasted, away from every face, into one of dlib's VOC group photos (real people, real small faces:
  2007_007763, 2008_002470, 2008_004176, 2008_007676), itself enlarged 1.6x: the person among strangers;
- occluders drawn on real faces, where the packages hold none (no photo of the sets has sunglasses or a
  hand on the face): dark sunglasses over the detector's eye landmarks (crops 5, 9; obama2), a hand (an
  ellipse of the face's own skin colour with finger creases) over the mouth and chin (crops 7, 10);
- three-quarter views approximated where nothing better exists (no package holds a profile or a turned head
  of these people): a perspective warp narrowing one side of the face to 60% (crops 8, 10);
- strangers: dlib's 9 VOC photos and bald_guys.jpg as they are (43+ faces of other people).
Each photo is stored as a JPEG (quality 90) without metadata. The identity's face is the found face
overlapping (IoU >= 0.3) where the clean crop's largest face went, as in bench/people_quality.py.

    .venv/bin/python bench/natural_set.py   # builds and analyses the set, prints what was found
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from people_quality import FR_PHOTOS, Photo, _iou, _load  # noqa: E402
from pictod_testdata import DLIB_FACES, FACE_RECOGNITION, JOHNS  # noqa: E402

SEED = 20_261_207
GROUPS = ("2007_007763.jpg", "2008_002470.jpg", "2008_004176.jpg", "2008_007676.jpg")
# What is done to a john's crop i (sorted by file name); absent: kept as it is.
JOHN_OPS: dict[int, tuple[str, ...]] = {5: ("sunglasses",), 6: ("group",), 7: ("hand",), 8: ("three_quarter",),
                                        9: ("sunglasses", "group"), 10: ("hand", "three_quarter")}
FR_OPS: dict[str, tuple[str, ...]] = {"obama2.jpg": ("sunglasses",), "obama3.jpg": ("group",)}
Box = tuple[float, float, float, float]
Marks = list[tuple[float, float]]  # five landmarks: right eye, left eye, nose, mouth corners


def sunglasses(rgb: np.ndarray, marks: Marks, rng: np.random.Generator) -> np.ndarray:
    """Two dark lenses over the eyes and a bridge between them."""
    out = rgb.copy()
    (rx, ry), (lx, ly) = marks[0], marks[1]
    eye = float(np.hypot(lx - rx, ly - ry))
    angle = float(np.degrees(np.arctan2(ly - ry, lx - rx)))
    axes = (max(2, round(eye * rng.uniform(0.36, 0.44))), max(2, round(eye * rng.uniform(0.26, 0.32))))
    shade = tuple(int(v) for v in rng.integers(10, 40, 3))
    for cx, cy in ((rx, ry), (lx, ly)):
        cv2.ellipse(out, (round(cx), round(cy)), axes, angle, 0, 360, shade, -1, cv2.LINE_AA)
    cv2.line(out, (round(rx), round(ry)), (round(lx), round(ly)), shade, max(1, round(eye * 0.08)), cv2.LINE_AA)
    return out


def hand(rgb: np.ndarray, marks: Marks, rng: np.random.Generator) -> np.ndarray:
    """A hand of the face's own skin colour over the mouth and chin, with finger creases."""
    out = rgb.copy()
    (rx, ry), (lx, ly), (_nx, ny) = marks[0], marks[1], marks[2]
    mx, my = (marks[3][0] + marks[4][0]) / 2, (marks[3][1] + marks[4][1]) / 2
    eye = float(np.hypot(lx - rx, ly - ry))
    # Skin: the cheeks' median colour (between the eyes and the mouth, beside the nose).
    cheek = rgb[max(0, round(ny - eye * 0.1)):round(ny + eye * 0.1) + 1,
                max(0, round(rx - eye * 0.1)):round(lx + eye * 0.1) + 1].reshape(-1, 3)
    skin = np.median(cheek, axis=0) * rng.uniform(0.9, 1.05) if len(cheek) else np.array([180, 140, 120])
    colour = tuple(int(v) for v in np.clip(skin, 0, 255))
    centre = (round(mx + rng.uniform(-0.1, 0.1) * eye), round(my + eye * 0.35))
    axes = (round(eye * 0.95), round(eye * 0.6))
    cv2.ellipse(out, centre, axes, float(rng.uniform(-15, 15)), 0, 360, colour, -1, cv2.LINE_AA)
    crease = tuple(int(v * 0.75) for v in colour)
    for k in (-1, 0, 1):
        y = round(centre[1] + k * axes[1] * 0.35)
        cv2.line(out, (centre[0] - axes[0] + 4, y), (centre[0] + axes[0] - 4, y), crease, 1, cv2.LINE_AA)
    return out


def three_quarter(rgb: np.ndarray, box: Box, rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    """A perspective warp narrowing one side of the face box to 60% (its height too): a head turned a little."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = box
    squeeze = float(rng.uniform(0.55, 0.65))
    near_left = rng.uniform() < 0.5
    src = np.float32([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])
    bw, bh = x2 - x1, y2 - y1
    if near_left:  # the right side recedes
        dst = np.float32([[x1, y1], [x1 + bw * 0.8, y1 + bh * (1 - squeeze) / 2],
                          [x1 + bw * 0.8, y2 - bh * (1 - squeeze) / 2], [x1, y2]])
    else:
        dst = np.float32([[x1 + bw * 0.2, y1 + bh * (1 - squeeze) / 2], [x2, y1], [x2, y2],
                          [x1 + bw * 0.2, y2 - bh * (1 - squeeze) / 2]])
    matrix = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(rgb, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
    new_box = (float(dst[:, 0].min()), float(dst[:, 1].min()), float(dst[:, 0].max()), float(dst[:, 1].max()))
    return np.ascontiguousarray(out), new_box


def group(rgb: np.ndarray, box: Box, rng: np.random.Generator, strangers: dict[str, tuple[np.ndarray, list[Box]]]
          ) -> tuple[np.ndarray, Box]:
    """The photo shrunk so its face is 36-50 px, pasted into an enlarged VOC group photo away from its faces."""
    name = GROUPS[int(rng.integers(len(GROUPS)))]
    photo, faces = strangers[name]
    grow = 1.6
    canvas = cv2.resize(photo, (round(photo.shape[1] * grow), round(photo.shape[0] * grow)),
                        interpolation=cv2.INTER_LINEAR)
    taken = [tuple(v * grow for v in f) for f in faces]
    side = min(box[2] - box[0], box[3] - box[1])
    s = float(rng.uniform(36, 50)) / side
    small = cv2.resize(rgb, (max(1, round(rgb.shape[1] * s)), max(1, round(rgb.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    ch, cw = canvas.shape[:2]
    for _try in range(200):
        x0, y0 = int(rng.integers(0, max(1, cw - sw))), int(rng.integers(0, max(1, ch - sh)))
        spot = (float(x0), float(y0), float(x0 + sw), float(y0 + sh))
        if all(_iou(spot, t) == 0.0 for t in taken):
            break
    canvas = np.ascontiguousarray(canvas)
    canvas[y0:y0 + sh, x0:x0 + sw] = small[:ch - y0, :cw - x0]
    return canvas, (box[0] * s + x0, box[1] * s + y0, box[2] * s + x0, box[3] * s + y0)


def encode(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=90)
    return out.getvalue()


def sources() -> list[tuple[Path, str, tuple[str, ...]]]:
    """(photo, identity, what is done to it) for every labelled photo of the set."""
    out: list[tuple[Path, str, tuple[str, ...]]] = []
    for person in sorted(p for p in JOHNS.iterdir() if p.is_dir()):
        for i, path in enumerate(sorted(person.glob("*.jpg"))):
            out.append((path, person.name, JOHN_OPS.get(i, ())))
    out += [(FACE_RECOGNITION / name, who, FR_OPS.get(name, ())) for name, who in FR_PHOTOS.items()]
    return out


def build(analyzer: object | None = None) -> list[Photo]:
    """Analyse every photo of the natural set with the real chain; `Photo`s as bench/people_quality.py's."""
    from pictod_testdata import dlib_voc_faces

    from daemon import config
    from daemon.analysis.analyzer import Analyzer

    chain = analyzer if isinstance(analyzer, Analyzer) else Analyzer.from_config(
        config.load(ROOT / "config.toml", check_folders=False), workers=1)
    strangers = {p.name: (_load(p), boxes) for p, boxes in dlib_voc_faces() if p.name in GROUPS}
    items: list[Photo] = []
    for index, (path, who, ops) in enumerate(sources()):
        rng = np.random.default_rng([SEED, index])
        rgb = _load(path)
        clean = chain.analyze_header(chain.open_header(encode(rgb), path.name))
        if not clean.faces:
            items.append(Photo(f"natural/{who}/{path.name}", who, index, ops, clean, None))
            continue
        big = max(clean.faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
        box, marks = big.box, list(big.landmarks)
        for op in ops:
            if op == "sunglasses" and len(marks) == 5:
                rgb = sunglasses(rgb, marks, rng)
            elif op == "hand" and len(marks) == 5:
                rgb = hand(rgb, marks, rng)
            elif op == "three_quarter":
                rgb, box = three_quarter(rgb, box, rng)
            elif op == "group":
                rgb, box = group(rgb, box, rng, strangers)
        analysis = chain.analyze_header(chain.open_header(encode(rgb), path.name)) if ops else clean
        overlaps = [_iou(f.box, box) for f in analysis.faces]
        labelled = int(np.argmax(overlaps)) if overlaps and max(overlaps) >= 0.3 else None
        items.append(Photo(f"natural/{who}/{path.name}", who, index, ops, analysis, labelled))
    for i, path in enumerate([*sorted(DLIB_FACES.glob("20*.jpg")), DLIB_FACES / "bald_guys.jpg"]):
        analysis = chain.analyze_header(chain.open_header(encode(_load(path)), path.name))
        items.append(Photo(f"natural/distractor/{path.name}", "", 1000 + i, (), analysis, None))
    return items


def main() -> int:
    items = build()
    found: dict[tuple[str, ...], list[int]] = {}
    for item in items:
        if item.identity:
            found.setdefault(item.ops, []).append(item.labelled is not None)
    for ops, hits in sorted(found.items()):
        print(f"{'+'.join(ops) or 'as is':28} {sum(hits)}/{len(hits)} identity faces found")
    print(f"strangers: {sum(len(i.analysis.faces) for i in items if not i.identity)} faces in "
          f"{sum(not i.identity for i in items)} photos, plus the group photos' own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
