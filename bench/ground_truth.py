"""Labelled truth of the test photos, and precision / recall of detections against it at IoU 0.5, per class.

Owns the truth sets the detector variants are judged by (bench/model_trials.py) and the matching rule:

- `labelme COCO`: the COCO annotations shipped in labelme's examples (3 VOC 2011 photos; 6 person, 2 bus, car,
  bottle, chair, sofa -> COCO's couch); every VOC class is judged on them (VOC annotates all its 20 classes);
- `labelme VOC`: the rectangles of labelme's bbox_detection example, the same 3 photos (person, bus, car);
- `dlib VOC faces`: dlib's imglab XML (training.xml + testing.xml), 9 photos with 43 face boxes;
- `johns`: dlib's 5 x 11 face close-ups (150x150), one face each, no box: judged per photo (found or not);
- `hand-labelled`: astronaut (person; the face box the tests use), chelsea (cat), coffee (cup), labelme's
  classification cat and dog. Their object boxes were drawn here by eye on a pixel grid (the packages give
  only the image-level label); at IoU 0.5 that is tolerance enough. Judged classes: the labelled one and
  person; faces: the astronaut's one, none on the others;
- `derived`: the benchmark workload photos (bench/workload.py: 12 MP crops, flips, upscales of these same
  photos) with the truth of their source mapped through the same crop and flip; `rendered`: more of the same
  kind, rendered at 1/4 of the size into a temporary folder (`rendered()`), for counts large enough to
  judge. A box the crop cuts to less than 70% of its area is "ignored" (a detection on it is neither right
  nor wrong); one cut to less than 30% is out of the picture.

Matching: per photo and class, greedy by IoU (highest first), one detection per truth box, IoU >= 0.5.
Detections of classes not judged on that photo, and those matching an ignored box, are left out.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH))

from pictod_testdata import DLIB_FACES, JOHNS, LABELME, SKIMAGE  # noqa: E402

Box = tuple[float, float, float, float]
IOU = 0.5
KEEP_VISIBLE = 0.7  # a truth box the crop leaves at least this share of stays a truth box
GONE_VISIBLE = 0.3  # below this share it is out of the picture; in between it is ignored

# VOC's 20 classes by their COCO-80 names (labelme's COCO file uses VOC's names).
VOC_TO_COCO = {
    "aeroplane": "airplane", "bicycle": "bicycle", "bird": "bird", "boat": "boat", "bottle": "bottle",
    "bus": "bus", "car": "car", "cat": "cat", "chair": "chair", "cow": "cow", "diningtable": "dining table",
    "dog": "dog", "horse": "horse", "motorbike": "motorcycle", "person": "person", "potted plant": "potted plant",
    "sheep": "sheep", "sofa": "couch", "train": "train", "tv/monitor": "tv",
}
VOC_CLASSES = frozenset(VOC_TO_COCO.values())

# Drawn by eye on a 25 px grid (see the module docstring): photo -> (label, box) in its pixels.
HAND_LABELLED: dict[str, tuple[Path, str, Box]] = {
    "astronaut": (SKIMAGE / "astronaut.png", "person", (25.0, 15.0, 440.0, 512.0)),
    "chelsea": (SKIMAGE / "chelsea.png", "cat", (0.0, 0.0, 451.0, 300.0)),
    "coffee": (SKIMAGE / "coffee.png", "cup", (172.0, 18.0, 418.0, 290.0)),
    "labelme_cat": (LABELME / "classification" / "data_annotated" / "0001.jpg", "cat", (85.0, 40.0, 600.0, 445.0)),
    "labelme_dog": (LABELME / "classification" / "data_annotated" / "0002.jpg", "dog", (245.0, 40.0, 640.0, 480.0)),
}
ASTRONAUT_FACE: Box = (179.0, 63.0, 270.0, 174.0)  # the box tests/test_analysis.py checks


@dataclass(frozen=True)
class Truth:
    """What one photo holds. `judged` is the set of object classes judged on it; `faces` None means faces
    are not judged; `face_count` (with faces None) judges faces per photo when their boxes are unknown."""

    set: str
    path: Path
    objects: tuple[tuple[str, Box], ...] = ()
    judged: frozenset[str] = frozenset()
    faces: tuple[Box, ...] | None = None
    face_count: int | None = None
    ignored_objects: tuple[tuple[str, Box], ...] = ()
    ignored_faces: tuple[Box, ...] = ()
    source: str = ""  # the workload source a derived photo was cut from


@dataclass
class Counts:
    """True positives, false positives and misses of one class (or of all together)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Counts) -> None:
        """Accumulate another photo's or class's counts."""
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    @property
    def precision(self) -> float | None:
        """tp / (tp + fp), None when nothing was detected."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """tp / (tp + fn), None when there was nothing to find."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn}


@dataclass
class Score:
    """Counts per class (objects) and for faces, over a set of photos."""

    objects: dict[str, Counts] = field(default_factory=dict)
    faces: Counts = field(default_factory=Counts)

    def add(self, other: Score) -> None:
        """Accumulate another photo's score."""
        for label, counts in other.objects.items():
            self.objects.setdefault(label, Counts()).add(counts)
        self.faces.add(other.faces)

    def objects_total(self) -> Counts:
        """All classes together."""
        total = Counts()
        for counts in self.objects.values():
            total.add(counts)
        return total

    def as_dict(self) -> dict[str, Any]:
        """For JSON."""
        return {"objects": {k: v.as_dict() for k, v in sorted(self.objects.items())},
                "objects_total": self.objects_total().as_dict(), "faces": self.faces.as_dict()}


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes."""
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match(truth: Sequence[Box], found: Sequence[Box], threshold: float = IOU) -> tuple[set[int], set[int]]:
    """Greedy one-to-one matching by IoU (highest first): (matched truth indices, matched found indices)."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)), reverse=True)
    used_t: set[int] = set()
    used_f: set[int] = set()
    for value, i, j in pairs:
        if value < threshold:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return used_t, used_f


def _judge(truth: Sequence[Box], ignored: Sequence[Box], found: Sequence[Box]) -> Counts:
    hit_t, hit_f = match(truth, found)
    rest = [f for j, f in enumerate(found) if j not in hit_f]
    _, on_ignored = match(ignored, rest)
    return Counts(tp=len(hit_t), fp=len(rest) - len(on_ignored), fn=len(truth) - len(hit_t))


def score_photo(truth: Truth, objects: Iterable[tuple[str, Box]], faces: Sequence[Box]) -> Score:
    """One photo's detections (object labels with boxes, face boxes; its own pixels) against its truth."""
    score = Score()
    found = list(objects)
    for label in truth.judged:
        score.objects[label] = _judge(
            [b for lab, b in truth.objects if lab == label],
            [b for lab, b in truth.ignored_objects if lab == label],
            [b for lab, b in found if lab == label],
        )
    if truth.faces is not None:
        score.faces = _judge(truth.faces, truth.ignored_faces, faces)
    elif truth.face_count is not None:
        tp = min(len(faces), truth.face_count)
        score.faces = Counts(tp=tp, fp=len(faces) - tp, fn=truth.face_count - tp)
    return score


# --------------------------------------------------------------------------------------------- the sets


def labelme_coco() -> list[Truth]:
    """labelme's instance-segmentation example: COCO-style boxes (x, y, w, h) with VOC category names."""
    folder = LABELME / "instance_segmentation" / "data_dataset_coco"
    data = json.loads((folder / "annotations.json").read_text(encoding="utf-8"))
    names = {c["id"]: c["name"] for c in data["categories"]}
    out = []
    for image in data["images"]:
        boxes = tuple(
            (VOC_TO_COCO[names[a["category_id"]]], (a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                                                    a["bbox"][1] + a["bbox"][3]))
            for a in data["annotations"]
            if a["image_id"] == image["id"] and not a.get("iscrowd")
        )
        # The photo itself: the bbox example holds the same file (the COCO folder's copy is the same bytes).
        out.append(Truth("labelme COCO", folder / image["file_name"], boxes, VOC_CLASSES,
                         source="labelme_" + Path(image["file_name"]).stem))
    return out


def labelme_voc() -> list[Truth]:
    """labelme's bbox_detection example: rectangles (two corner points) of person, bus and car."""
    folder = LABELME / "bbox_detection" / "data_annotated"
    out = []
    for path in sorted(folder.glob("*.json")):
        shapes = json.loads(path.read_text(encoding="utf-8"))["shapes"]
        boxes = []
        for s in shapes:
            (xa, ya), (xb, yb) = s["points"]
            box = (min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb))
            boxes.append((VOC_TO_COCO.get(s["label"], s["label"]), box))
        out.append(Truth("labelme VOC", path.with_suffix(".jpg"), tuple(boxes),
                         frozenset(label for label, _ in boxes), source="labelme_" + path.stem))
    return out


def dlib_voc_faces() -> list[Truth]:
    """dlib imglab XML: <image file=...><box top left width height [ignore='1']/>."""
    out = []
    for name in ("training.xml", "testing.xml"):
        for image in ET.parse(DLIB_FACES / name).getroot().iter("image"):
            boxes, ignored = [], []
            for b in image.iter("box"):
                left, top = float(b.get("left", 0)), float(b.get("top", 0))
                box = (left, top, left + float(b.get("width", 0)), top + float(b.get("height", 0)))
                (ignored if b.get("ignore") == "1" else boxes).append(box)
            file = str(image.get("file"))
            out.append(Truth("dlib VOC faces", DLIB_FACES / file, faces=tuple(boxes), ignored_faces=tuple(ignored),
                             source="dlib_" + Path(file).stem))
    return out


def johns() -> list[Truth]:
    """dlib's johns: 150x150 close-ups, one face each."""
    return [Truth("johns", path, face_count=1) for path in sorted(JOHNS.glob("*/*.jpg"))]


def hand_labelled() -> list[Truth]:
    """astronaut, chelsea, coffee, labelme's cat and dog (boxes drawn by eye, see the module docstring)."""
    out = []
    for name, (path, label, box) in HAND_LABELLED.items():
        faces = (ASTRONAUT_FACE,) if name == "astronaut" else ()
        out.append(Truth("hand-labelled", path, ((label, box),), frozenset({label, "person"}), faces=faces,
                         source=name))
    return out


def photo_sets() -> list[Truth]:
    """Every labelled test photo, set by set."""
    return [*labelme_coco(), *labelme_voc(), *dlib_voc_faces(), *johns(), *hand_labelled()]


# --------------------------------------------------------------------------------------------- derived


def _source_truths() -> dict[str, Truth]:
    """Per workload source name: the fullest truth of that photo (COCO over VOC for labelme's three)."""
    by_source: dict[str, Truth] = {}
    for truth in [*labelme_voc(), *labelme_coco(), *dlib_voc_faces(), *hand_labelled()]:
        by_source[truth.source] = truth  # later sets win: COCO replaces the VOC rectangles
    return by_source


def crop_geometry(spec: Any, src_w: int, src_h: int) -> tuple[int, int, int, int]:
    """The source pixels bench/workload.render_pixels keeps for a spec: (x0, y0, x1, y1), integer like its
    slicing. Mirrors that function (bench/model_trials.py checks the mapping on real detections)."""
    aspect = spec.width / spec.height
    cw, ch = (src_w, src_w / aspect) if src_w / src_h <= aspect else (src_h * aspect, src_h)
    cw, ch = cw * spec.crop[0], ch * spec.crop[0]
    x0 = (src_w - cw) * spec.crop[1]
    y0 = (src_h - ch) * spec.crop[2]
    left, top = int(x0), int(y0)
    right, bottom = min(src_w, int(x0 + cw)), min(src_h, int(y0 + ch))
    return left, top, right, bottom


def map_box(box: Box, geometry: tuple[int, int, int, int], flip: bool, out_w: int, out_h: int) -> tuple[Box, float]:
    """A source box -> the derived photo's pixels (clipped), and the share of its area still in the picture."""
    left, top, right, bottom = geometry
    sx, sy = out_w / (right - left), out_h / (bottom - top)
    x1, y1 = (max(box[0], left) - left) * sx, (max(box[1], top) - top) * sy
    x2, y2 = (min(box[2], right) - left) * sx, (min(box[3], bottom) - top) * sy
    area = (box[2] - box[0]) * (box[3] - box[1])
    kept = max(0.0, min(box[2], right) - max(box[0], left)) * max(0.0, min(box[3], bottom) - max(box[1], top))
    if flip:
        x1, x2 = out_w - x2, out_w - x1
    return (x1, y1, x2, y2), (kept / area if area > 0 else 0.0)


def _split(
    boxes: Iterable[Box], ignored: Iterable[Box], geometry: tuple[int, int, int, int], spec: Any
) -> tuple[list[Box], list[Box]]:
    """Source boxes mapped onto a derived photo: (still truth boxes, ignored boxes) by how much is visible."""
    keep, ignore = [], []
    for box in boxes:
        mapped, visible = map_box(box, geometry, spec.flip, spec.width, spec.height)
        if visible >= KEEP_VISIBLE:
            keep.append(mapped)
        elif visible >= GONE_VISIBLE:
            ignore.append(mapped)
    for box in ignored:
        mapped, visible = map_box(box, geometry, spec.flip, spec.width, spec.height)
        if visible > 0:
            ignore.append(mapped)
    return keep, ignore


def rendered(specs: Sequence[Any], folder: Path, *, scale: float, count: int) -> list[Truth]:
    """`count` more photos cut like the workload's from the labelled sources, rendered at `scale` of the phone
    size (bench/workload.render_pixels) into `folder` as JPEGs, with their truth: many more samples of the
    same objects under other crops, flips, exposures and grain, cheaply (the chain shrinks every photo to
    640 px anyway; at 1/4 scale a photo is 1008x756)."""
    import cv2
    import workload

    sources = _source_truths()
    picked = [s for s in specs if s.source in sources and s.fmt == "jpeg"][:count]
    small = [dataclasses.replace(s, width=max(8, round(s.width * scale)), height=max(8, round(s.height * scale)))
             for s in picked]
    for spec, size in zip(picked, small, strict=True):
        bgr = cv2.cvtColor(workload.render_pixels(spec, scale=scale), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / size.name), bgr, [cv2.IMWRITE_JPEG_QUALITY, spec.quality])
    return [dataclasses.replace(t, set="rendered") for t in derived(small, folder)]


def derived(specs: Sequence[Any], photo_dir: Path) -> list[Truth]:
    """Truth for the workload photos cut from a labelled source (others are skipped)."""
    import cv2

    sources = _source_truths()
    sizes: dict[str, tuple[int, int]] = {}
    out = []
    for spec in specs:
        truth = sources.get(spec.source)
        if truth is None:
            continue
        if spec.source not in sizes:
            image = cv2.imread(str(truth.path), cv2.IMREAD_UNCHANGED)
            sizes[spec.source] = (image.shape[1], image.shape[0])
        geometry = crop_geometry(spec, *sizes[spec.source])
        objects: list[tuple[str, Box]] = []
        ignored_objects: list[tuple[str, Box]] = []
        for label in {lab for lab, _ in truth.objects}:
            keep, ignore = _split([b for lab, b in truth.objects if lab == label], (), geometry, spec)
            objects += [(label, b) for b in keep]
            ignored_objects += [(label, b) for b in ignore]
        faces: tuple[Box, ...] | None = None
        ignored_faces: tuple[Box, ...] = ()
        if truth.faces is not None:
            keep, ignore = _split(truth.faces, truth.ignored_faces, geometry, spec)
            faces, ignored_faces = tuple(keep), tuple(ignore)
        out.append(Truth("derived", photo_dir / spec.name, tuple(objects), truth.judged, faces,
                         ignored_objects=tuple(ignored_objects), ignored_faces=ignored_faces, source=spec.source))
    return out
