"""Faces beyond one upright detector pass: faces in photos stored sideways or upside down without an
orientation tag, and a quality score per face.

Owns when a photo is looked at again turned by 90, 180 or 270 degrees, how the turn is chosen, how faces
found there map back (boxes and landmarks) to the photo's pixels, and how a face's quality is scored.
Pure numpy on `RawFace` records: the detector comes in as a callable, nothing is loaded, nothing is stored.

Why the turn is chosen this way (measured on the dlib VOC photos and johns crops turned without EXIF):
YuNet still finds many faces that lie on their side or upside down, at a lower score (0.3-0.89 against
0.91-0.95 upright), but its landmarks then come out in the upright template's arrangement, so the eye line
says nothing about the roll and the aligned crop (and the embedding) is of a sideways face. YOLO at the
object threshold (0.7) sees almost no sideways person. So: a photo that has a confidently upright face is
upright; one with only weaker faces gets a cheap probe (each face's surroundings in four turns, tiled on one
detector canvas: one detector run), and the turn the detector likes best wins; one with no face but a
person, even a weakly detected one, is searched in the three turns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from daemon.analysis.vision import transforms
from daemon.analysis.vision.base import RawFace
from daemon.types import Box, FaceQuality

Image = NDArray[np.uint8]
FindFaces = Callable[[Image], list[RawFace]]

TURNS = (90, 270, 180)  # sideways first: scans and old cameras store portraits sideways more than upside down
# A face this confident is upright: the photo is never turned (upright faces score 0.91-0.95 on clean
# photos, faces found on their side or upside down at most 0.89).
CONFIDENT_UPRIGHT = 0.9
# A person this weak still says "someone is here" (object scores of sideways people: 0.2-0.9; no-person
# photos of the bench set: none above 0.2). Below the object threshold it is only a hint, never an object.
PERSON_HINT_CONF = 0.25
ROLL_LIMIT = 60.0  # degrees: a head rolled further than this is looked at turned (for detectors whose
# landmarks follow the face; YuNet's do not, see above)
# The probe: each face's square surroundings (PROBE_CONTEXT x its box) in a PROBE_CELL px cell, per turn.
PROBE_CELL = 160
PROBE_CONTEXT = 2.2
PERSON_CONTEXT = 1.1  # a person's box, probed whole: its face may be at any side of it
PROBE_CONF = 0.3  # score floor of the probe's detections (a turn with no detection scores 0)
PROBE_MARGIN = 0.02  # a turn must beat upright by this much detector score per probed face
PROBE_FACE_CONF = 0.6  # from hints alone (no face upright), a turned face must reach this score


@dataclass(frozen=True)
class FoundFace:
    """A face and the clockwise turn (degrees) of the photo under which the detector found it."""

    face: RawFace
    rotation: int = 0


# -- geometry ------------------------------------------------------------------------------------------------


def turn(image: Image, degrees: int) -> Image:
    """The image turned clockwise by 0, 90, 180 or 270 degrees (C-contiguous)."""
    return np.ascontiguousarray(np.rot90(image, k=-(degrees // 90) % 4))


def unturn_points(points: NDArray[np.float32], degrees: int, width: int, height: int) -> NDArray[np.float32]:
    """(..., 2) points on `turn(image, degrees)` -> the same points on the image (width x height) itself."""
    x, y = points[..., 0], points[..., 1]
    if degrees == 90:  # turned clockwise: (x, y) -> (height - y, x)
        out = np.stack([y, height - x], axis=-1)
    elif degrees == 180:
        out = np.stack([width - x, height - y], axis=-1)
    elif degrees == 270:  # turned anticlockwise: (x, y) -> (y, width - x)
        out = np.stack([width - y, x], axis=-1)
    elif degrees == 0:
        out = points
    else:
        raise ValueError(f"rotation must be 0, 90, 180 or 270, got {degrees}")
    return np.asarray(out, dtype=np.float32)


def unturn_face(face: RawFace, degrees: int, width: int, height: int) -> RawFace:
    """A face found on `turn(image, degrees)` -> the image's pixels; the landmarks keep their meaning (right
    eye stays the right eye), so the 5-point alignment turns the face upright again."""
    if degrees == 0:
        return face
    x1, y1, x2, y2 = face.box
    corners = unturn_points(np.array([[x1, y1], [x2, y2]], dtype=np.float32), degrees, width, height)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    box = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    landmarks = unturn_points(face.landmarks, degrees, width, height) if len(face.landmarks) else face.landmarks
    return RawFace(box=box, score=face.score, landmarks=landmarks)


def roll(face: RawFace) -> float | None:
    """The head's roll in degrees (-180..180, 0 upright) from the eye line, None without landmarks."""
    if face.landmarks.shape[0] < 2:
        return None
    dx, dy = (face.landmarks[1] - face.landmarks[0]).tolist()
    return math.degrees(math.atan2(dy, dx))


# -- rotation recovery ---------------------------------------------------------------------------------------


def _inside(face: RawFace, box: Box) -> bool:
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def needs_turn(faces: Sequence[RawFace], people: Sequence[Box], weak: Sequence[RawFace] = ()) -> str | None:
    """Why the upright pass may have seen this photo the wrong way up, or None: "rolled" (a face's
    landmarks say its head lies on its side), "weak" (faces, none confidently upright), "faceless" (person
    boxes without a face in them, no face at all), "hints" (only detections below the face threshold)."""
    if any(abs(r) > ROLL_LIMIT for r in (roll(f) for f in faces) if r is not None):
        return "rolled"
    if any(f.score >= CONFIDENT_UPRIGHT for f in faces):
        return None
    if faces:
        return "weak"
    if people:
        return "faceless"
    if weak:
        return "hints"
    return None


def _square(image: Image, box: Box, context: float, cell: int, mean: NDArray[np.uint8]) -> Image:
    """The box's square surroundings (`context` x its longer side) resized to cell x cell; what lies outside
    the photo is its `mean` colour (as the close-up pass pads)."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1, 1.0) * context
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    size = max(1, round(side))
    height, width = image.shape[:2]
    canvas = np.empty((size, size, 3), dtype=np.uint8)
    canvas[:] = mean
    sx0, sy0 = max(0, left), max(0, top)
    sx1, sy1 = min(width, left + size), min(height, top + size)
    if sx1 > sx0 and sy1 > sy0:
        canvas[sy0 - top : sy1 - top, sx0 - left : sx1 - left] = image[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if size > cell else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(canvas, (cell, cell), interpolation=interp), dtype=np.uint8)


PROBE_TURNS = (0, 90, 180, 270)  # the probe's columns


def probe(
    detect: FindFaces, image: Image, boxes: Sequence[Box], side: int, *, context: float = PROBE_CONTEXT,
    centred: bool = True,
) -> NDArray[np.float64]:
    """(len(boxes), 4) best detector score in each box's surroundings turned by 0, 90, 180, 270 degrees (0:
    no detection), all tiled on canvases side wide (PROBE_CELL cells, a row of four turns per box, as many
    rows as boxes up to side // PROBE_CELL): one detector run per side // PROBE_CELL boxes. `centred`: only a
    face near the cell's centre counts (a face box probed, not a neighbour in its surroundings); else any face
    in the cell (a person's box)."""
    per_row = side // PROBE_CELL
    if per_row < 4:
        raise ValueError(f"a {side} px detector canvas cannot hold four {PROBE_CELL} px probe cells")
    scores = np.zeros((len(boxes), 4), dtype=np.float64)
    mean = transforms.mean_colour(image) if len(boxes) else np.zeros(3, np.uint8)
    for start in range(0, len(boxes), per_row):
        chunk = boxes[start : start + per_row]
        # The rows used and one empty row below them: a detector with a free height runs 640x320 for one probed
        # box, not 640x640 (the square path pads it back to the same canvas as before). The empty row keeps the
        # zeros the detector saw below the last cell on the square canvas; without it (640x160) the scores
        # moved and an upright photo of the bench set was taken for a turned one.
        rows = min(per_row, len(chunk) + 1)
        canvas = np.zeros((rows * PROBE_CELL, side, 3), dtype=np.uint8)
        for row, box in enumerate(chunk):
            square = _square(image, box, context, PROBE_CELL, mean)
            for col, degrees in enumerate(PROBE_TURNS):
                y, x = row * PROBE_CELL, col * PROBE_CELL
                canvas[y : y + PROBE_CELL, x : x + PROBE_CELL] = turn(square, degrees)
        for found in detect(canvas):
            cx, cy = (found.box[0] + found.box[2]) / 2, (found.box[1] + found.box[3]) / 2
            row, col = int(cy // PROBE_CELL), int(cx // PROBE_CELL)
            ox, oy = cx - (col + 0.5) * PROBE_CELL, cy - (row + 0.5) * PROBE_CELL
            if row < len(chunk) and col < 4 and (not centred or max(abs(ox), abs(oy)) <= PROBE_CELL / 4):
                scores[start + row, col] = max(scores[start + row, col], found.score)
    return scores


def probe_turns(scores: NDArray[np.float64], *, hints_only: bool) -> list[int]:
    """The turns the probe's scores argue for, best first (empty: stay upright): each whose summed score over
    the boxes beats upright by PROBE_MARGIN a box; from hints alone, only where a turned face reaches
    PROBE_FACE_CONF. Upside down and upright score close (YuNet finds upside-down faces at 0.6-0.89), so
    the probe only shortlists: the full passes decide."""
    if not len(scores):
        return []
    sums = scores.sum(axis=0)
    margin = PROBE_MARGIN * len(scores)
    cols = [c for c in (1, 3, 2) if sums[c] - sums[0] >= margin]  # 90, 270, 180: ties go to sideways
    if hints_only:
        cols = [c for c in cols if scores[:, c].max() >= PROBE_FACE_CONF]
    return [PROBE_TURNS[c] for c in sorted(cols, key=lambda c: -sums[c])]


def recover(
    image: Image,
    faces: Sequence[RawFace],
    people: Sequence[Box],
    *,
    find: FindFaces,
    probe_detect: FindFaces,
    side: int,
    weak: Sequence[RawFace] = (),
    faceless_turns: bool = True,
    find_plain: FindFaces | None = None,
) -> tuple[list[FoundFace], str | None]:
    """The photo's faces, looked for again turned when the upright pass may have seen it the wrong way up.

    `image` is what the upright pass searched, `faces` what it found there, `people` person boxes (hints:
    any score >= PERSON_HINT_CONF), `weak` its detections below the face threshold (hints too), `find` the
    face search (plain pass, then the close-up pass), `probe_detect` the bare detector at PROBE_CONF, `side`
    its canvas; `faceless_turns`: a photo with no face but a person gets the three turns' full passes even
    when the probe shortlists none (off: the probe decides alone, as before issue 21), by `find_plain` (the
    plain pass alone: a face filling the frame would have shown in the probe) if given. Returns the faces in
    `image` pixels, each with the turn that found it, and why a turn was looked for (None: it was not).

    A probe (one detector run) shortlists turns: of the faces' (else the weak detections') surroundings,
    else of the faceless person boxes. Of upright and the shortlisted turns' full passes, the one that finds
    the most detector confidence in all wins, and all the faces come from it: faces the upright pass found in
    a turned photo were seen the wrong way up, with template landmarks, and would embed as strangers."""
    upright = [FoundFace(f) for f in faces]
    lonely = [box for box in people if not any(_inside(f, box) for f in faces)]
    why = needs_turn(faces, lonely, weak)
    if why is None:
        return upright, None
    per_canvas = side // PROBE_CELL
    shortlist: list[int] = []
    probed = sorted(faces or weak, key=lambda f: -f.score)[:per_canvas]
    if probed and why != "faceless":
        scores = probe(probe_detect, image, [f.box for f in probed], side)
        shortlist = probe_turns(scores, hints_only=not faces)
    if not shortlist and lonely:  # someone is there and no face of theirs was found upright
        scores = probe(probe_detect, image, lonely[:per_canvas], side, context=PERSON_CONTEXT, centred=False)
        shortlist = probe_turns(scores, hints_only=True)
    forced = not shortlist and bool(lonely) and not faces and faceless_turns
    if forced:
        # Issue 21: someone is there, no face at all upright, and the probe saw none either: a person's box
        # probed whole makes a small face smaller still (a full-length figure in a 160 px cell: 40 px faces
        # end up ~10 px), so the three turns get their full passes, sideways first, stopping at the first turn
        # with a confidently upright face (bench/turn_search.py: the cost).
        shortlist = list(TURNS)
    if not shortlist:
        return upright, why
    height, width = image.shape[:2]
    best, best_total = upright, sum(f.score for f in faces)
    # The shortlist first; the other turns too when it found nothing better than upright (a probe sees
    # each face small, out of its photo: it may point at upside down for sideways): at most three passes.
    for group in (shortlist, [d for d in TURNS if d not in shortlist]):
        for degrees in group:
            search = find_plain if forced and find_plain is not None else find
            found = [FoundFace(unturn_face(f, degrees, width, height), degrees) for f in search(turn(image, degrees))]
            total = sum(f.face.score for f in found)
            if total > best_total:
                best, best_total = found, total
            if forced and any(f.face.score >= CONFIDENT_UPRIGHT for f in found):
                break
        if best is not upright:
            break
    return best, why


# -- quality -------------------------------------------------------------------------------------------------

# Ramps of the quality parts: below `lo` a part scores 0, above `hi` 1. Chosen on bench/people_quality.py's
# hard sets for the rank correlation between the score and how far degrading a photo moved its face's
# embedding from the clean copy's (Spearman -0.67 with these ramps; the detector score alone -0.65, sharpness
# -0.35, size -0.21, pose ~0 on these mostly frontal faces). Clean faces (detector 0.94-0.95, 120 px) score
# ~0.9; 40-60 px faces 0.1-0.5. JPEG at quality 20-30 goes unseen: block edges keep the Laplacian high.
SIZE_RAMP = (24.0, 96.0)  # shorter side of the box, original pixels
SHARPNESS_RAMP = (20.0, 200.0)  # variance of the Laplacian of the aligned 112 px grey crop
FRONTAL_RAMP = (0.2, 0.5)
DETECTOR_RAMP = (0.8, 0.95)
QUALITY_FLOOR = 0.05  # one weak part lowers the score without zeroing it: the product stays informative
ALIGNED_SIDE = 112


def _ramp(value: float, ramp: tuple[float, float]) -> float:
    lo, hi = ramp
    return min(1.0, max(0.0, (value - lo) / (hi - lo)))


def sharpness(crop: Image) -> float:
    """Variance of the Laplacian of a crop's grey values (high: sharp edges; low: blur or upscaling)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def frontal(face: RawFace) -> float:
    """1 for a frontal face .. 0 for a profile: how centred the nose is between the eyes, along the eye line
    (|offset| / half the eye distance, 0 centred, >= 1 beyond an eye). 1.0 without landmarks."""
    if face.landmarks.shape[0] < 3:
        return 1.0
    right, left, nose = (face.landmarks[i].astype(np.float64) for i in range(3))
    axis = left - right
    half = float(np.linalg.norm(axis)) / 2
    if half < 1e-6:
        return 0.0
    offset = float(np.dot(nose - (left + right) / 2, axis / (2 * half)))
    return max(0.0, 1.0 - abs(offset) / half)


def quality_crop(image: Image, face: RawFace) -> Image:
    """The face as the quality score sees it: aligned on its 5 landmarks (else a square box crop), 112 px."""
    if face.landmarks.shape[0] == 5:
        return transforms.align_face(image, face.landmarks, ALIGNED_SIDE)
    return transforms.crop_box(image, face.box, ALIGNED_SIDE, margin=0.25, square=True)


def quality(image: Image, face: RawFace, scale: float, crop: Image | None = None) -> FaceQuality:
    """The face's quality parts and score; `image` and `face` in decoded pixels, `scale` back to original;
    `crop`: its `quality_crop` when the caller has made it already."""
    size = min(face.box[2] - face.box[0], face.box[3] - face.box[1]) * scale
    sharp = sharpness(quality_crop(image, face) if crop is None else crop)
    pose = frontal(face)
    parts = (
        _ramp(size, SIZE_RAMP), _ramp(sharp, SHARPNESS_RAMP), _ramp(pose, FRONTAL_RAMP),
        _ramp(face.score, DETECTOR_RAMP),
    )
    score = math.prod(QUALITY_FLOOR + (1.0 - QUALITY_FLOOR) * p for p in parts)
    return FaceQuality(score=round(score, 4), size_px=round(size, 2), sharpness=round(sharp, 2), frontal=round(pose, 4))
