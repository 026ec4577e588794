"""The two references pictod's throughput is compared with, run in the same benchmark run.

Owns:
- the model-bound limit (`LimitInputs.prepare` + `run_limit`): the very ONNX sessions pictod builds
  (`daemon.analysis.vision.load_models`), replaying back-to-back every `session.run` pictod's chain makes on the same
  photos (objects, both face passes, batched embeddings), with the tensors recorded beforehand, so only
  `session.run` is inside the clock; thread layouts
  (intra-op threads x concurrent workers) and YOLO batch sizes are tried and the best is kept;
- the sequential design of the seed (PictoPy) (`run_sequential`): one photo at a time, full-resolution decode
  (`cv2.imread`, Pillow for HEIC), each model resizing the full image itself onto its square 640x640 input
  (the seed's letterbox, whatever the photo's shape), batch size 1, faces embedded one by one, no overlap of
  decoding with inference; onnxruntime's default threads (all cores). The analysis logic itself is pictod's
  `Analyzer` (same models, thresholds and face passes) so the per-photo results, which pictod's are compared
  with, differ only by what the execution changes (reduced decoding, the photo-shaped detector inputs);
- the comparison of the two (`compare`, figure 1c) with the margin rule of issue 15, against the sequential
  design at the detector shapes pictod ships (`shipped_shapes`: what the execution changes) and at the seed's
  square (what the execution and the shape change together; the shape is judged by ground truth): a
  difference counts only beyond the scores' noise, i.e. an object or face the sequential design found with a
  score >= its threshold + MARGIN that pictod lost, or one pictod found that the sequential design does not
  find even at its threshold - MARGIN (same label, IoU >= 0.5). A photo whose results differ only near the
  threshold is the same photo: any perturbation of the pixels (a reduced decode, another canvas) flips such
  objects.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import ground_truth  # bench/: the one greedy box matching
import numpy as np
from numpy.typing import NDArray

from daemon.analysis.analyzer import Analyzer
from daemon.analysis.imaging import DecodedImage
from daemon.analysis.vision import FaceEmbedder, Models, RawFace, load_models
from daemon.config import Config
from daemon.types import PhotoAnalysis, PhotoMeta

Box = tuple[float, float, float, float]
MARGIN = 0.05  # figure 1c: score distance from the threshold within which a difference is noise


@dataclass(frozen=True)
class PhotoResult:
    """What one photo gave: object labels with boxes, face boxes (original pixels). The sequential design's
    results also carry, for the margin rule, what it found with a score >= threshold + MARGIN (`sure_*`) and
    everything it finds down to threshold - MARGIN (`seen_*`); None where that pass was not made."""

    name: str
    objects: tuple[tuple[str, Box], ...]
    faces: tuple[Box, ...]
    sure_objects: tuple[tuple[str, Box], ...] | None = None
    sure_faces: tuple[Box, ...] | None = None
    seen_objects: tuple[tuple[str, Box], ...] | None = None
    seen_faces: tuple[Box, ...] | None = None

    def key(self) -> tuple[tuple[str, ...], int]:
        """The comparison key: the sorted object labels and the number of faces."""
        return tuple(sorted(label for label, _ in self.objects)), len(self.faces)


def models_with_threads(cfg: Config, *, intra: int, workers: int) -> Models:
    """pictod's three models with an explicit intra-op thread count."""
    mcfg = dataclasses.replace(cfg.models, intra_op_threads=intra, inter_op_threads=1)
    return load_models(mcfg, workers=workers)


def _read_full(path: Path) -> NDArray[np.uint8]:
    """Full-resolution RGB decode, as the seed did (cv2.imread; Pillow only where OpenCV cannot read)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is not None:
        rgb = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return rgb
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


class OneByOneEmbedder:
    """The configured embedder called once per face (batch size 1), as the seed did."""

    def __init__(self, inner: FaceEmbedder) -> None:
        self.inner = inner
        self.dim = inner.dim
        self.input_size = inner.input_size

    def embed(self, image: NDArray[np.uint8], faces: Sequence[RawFace]) -> NDArray[np.float32]:
        """One run per face."""
        if not faces:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([self.inner.embed(image, [face]) for face in faces])


def sequential_models(models: Models, *, square: bool = True) -> Models:
    """The seed's models: the same sessions on the square 640x640 canvas (or, `square=False`, at the shapes
    pictod ships), faces embedded one by one."""
    objects, faces = models.objects, models.faces
    if square:
        objects = objects.with_spec(dataclasses.replace(objects.spec, stride=None))
        faces = faces.with_spec(dataclasses.replace(faces.spec, stride=None))
    return Models(objects, faces, OneByOneEmbedder(models.embeddings))  # type: ignore[arg-type]


def sequential_analyzer(models: Models, cfg: Config, *, square: bool = True) -> Analyzer:
    """pictod's own analysis chain (same stages, thresholds, face passes) the seed's way: square detector
    inputs (unless `square=False`), faces embedded one by one."""
    return Analyzer(cfg.analysis, sequential_models(models, square=square))


def analyse_sequential(path: Path, analyzer: Analyzer) -> PhotoResult:
    """One photo the seed's way: full-resolution decode, then the chain at batch size 1 on the full image."""
    return _result(path.name, analyzer.analyze(_full_image(path)))


def _result(name: str, analysis: PhotoAnalysis) -> PhotoResult:
    return PhotoResult(name=name, objects=tuple((o.label, o.box) for o in analysis.objects),
                       faces=tuple(f.box for f in analysis.faces))


def _full_image(path: Path) -> DecodedImage:
    rgb = _read_full(path)
    height, width = rgb.shape[:2]
    # The chain is pictod's (so results compare like for like); what differs is the execution: the whole
    # 12 MP image goes to each model, which resizes it itself, nothing overlaps, one photo at a time.
    return DecodedImage(rgb=rgb, scale=1.0, meta=PhotoMeta(width=width, height=height, format="JPEG"))


def run_sequential(
    paths: Sequence[Path], models: Models, cfg: Config, *, margin: bool = False
) -> tuple[float, dict[str, PhotoResult]]:
    """Wall seconds for the whole list, one photo after the other, and the per-photo results; with `margin`,
    a second pass at the lowered thresholds, outside the clock, adds what figure 1c's margin rule needs."""
    analyzer = sequential_analyzer(models, cfg)
    analyses: dict[str, PhotoAnalysis] = {}
    start = time.perf_counter()
    for path in paths:
        analyses[path.name] = analyzer.analyze(_full_image(path))
    seconds = time.perf_counter() - start
    results = {name: _result(name, analysis) for name, analysis in analyses.items()}
    if margin:
        results = _with_margins(paths, analyzer, analyses, results)
    return seconds, results


def shipped_shapes(paths: Sequence[Path], models: Models, cfg: Config) -> dict[str, PhotoResult]:
    """The sequential design's results (with figure 1c's margins) with the detectors at the shapes pictod
    ships instead of the seed's square: what pictod's execution alone (reduced decode, one shrink for both
    detectors, overlap, batching) may change; the shape itself is judged against ground truth by
    bench/model_trials.py. Outside any clock."""
    analyzer = sequential_analyzer(models, cfg, square=False)
    analyses = {path.name: analyzer.analyze(_full_image(path)) for path in paths}
    results = {name: _result(name, analysis) for name, analysis in analyses.items()}
    return _with_margins(paths, analyzer, analyses, results)


def _with_margins(paths: Sequence[Path], analyzer: Analyzer, analyses: dict[str, PhotoAnalysis],
                  results: dict[str, PhotoResult]) -> dict[str, PhotoResult]:
    """The sequential results with their sure (>= threshold + MARGIN) and seen (>= threshold - MARGIN) parts."""
    cfg = analyzer.config
    face_conf = cfg.face_conf if cfg.face_conf is not None else analyzer.models.faces.default_conf
    low = Analyzer(dataclasses.replace(cfg, object_conf=cfg.object_conf - MARGIN, face_conf=face_conf - MARGIN),
                   analyzer.models)
    out = {}
    for path in paths:
        normal, lowered = analyses[path.name], low.analyze(_full_image(path))
        # The lowered pass can take another route through the close-up face pass: both runs' faces are seen.
        out[path.name] = dataclasses.replace(
            results[path.name],
            sure_objects=tuple((o.label, o.box) for o in normal.objects if o.score >= cfg.object_conf + MARGIN),
            sure_faces=tuple(f.box for f in normal.faces if f.score >= face_conf + MARGIN),
            seen_objects=tuple((o.label, o.box) for o in (*normal.objects, *lowered.objects)),
            seen_faces=tuple(f.box for f in (*normal.faces, *lowered.faces)),
        )
    return out


@dataclass(frozen=True)
class Call:
    """One `session.run` the chain made: which model (by role), the output names asked for, the feed."""

    role: str
    outputs: list[str] | None
    feed: dict[str, NDArray[np.float32]]


class _Recorder:
    """Stands in for one model's InferenceSession while the chain runs, keeping a copy of every call."""

    def __init__(self, role: str, session: object, calls: list[Call]) -> None:
        self._role, self._session, self._calls = role, session, calls

    def run(self, outputs: list[str] | None, feed: dict[str, NDArray[np.float32]]) -> object:
        self._calls.append(Call(self._role, outputs, {k: np.array(v, copy=True) for k, v in feed.items()}))
        return self._session.run(outputs, feed)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._session, name)


@dataclass
class LimitInputs:
    """The model inputs pictod's chain builds for a set of photos, recorded once outside the clock: every
    `session.run` of the objects, faces (both passes) and embeddings models, with its ready tensor."""

    photos: list[list[Call]]
    n_faces: int
    n_face_passes: int

    @classmethod
    def prepare(cls, paths: Sequence[Path], models: Models, cfg: Config) -> LimitInputs:
        """Run pictod's Analyzer (reduced decode, shrink once, second face pass, batched embeddings) on each
        photo with the sessions wrapped so that each call's feed is kept; the limit replays exactly those."""
        analyzer = Analyzer(cfg.analysis, models)
        roles = {"objects": models.objects, "faces": models.faces, "embeddings": models.embeddings}
        photos: list[list[Call]] = []
        n_faces = 0
        for path in paths:
            calls: list[Call] = []
            originals = {role: model.session for role, model in roles.items()}
            try:
                for role, model in roles.items():
                    model.session = _Recorder(role, originals[role], calls)  # type: ignore[assignment]
                n_faces += len(analyzer.analyze_file(path).faces)
            finally:
                for role, model in roles.items():
                    model.session = originals[role]
            photos.append(calls)
        passes = sum(1 for calls in photos for c in calls if c.role == "faces")
        return cls(photos, n_faces, passes)

    def __len__(self) -> int:
        return len(self.photos)


def _run_share(models: Models, inputs: LimitInputs, indices: Sequence[int], batch: int) -> None:
    sessions = {"objects": models.objects.session, "faces": models.faces.session,
                "embeddings": models.embeddings.session}
    for start in range(0, len(indices), batch):
        chunk = indices[start : start + batch]
        calls = [c for i in chunk for c in inputs.photos[i]]
        yolo = [c for c in calls if c.role == "objects"]
        if len(yolo) > 1:  # YOLO takes a dynamic batch: the chunk's images in one run (a memcpy to join them)
            name = next(iter(yolo[0].feed))
            # One run per input shape, as pictod batches: landscape and portrait canvases differ.
            shapes: dict[tuple[int, ...], list[NDArray[np.float32]]] = {}
            for c in yolo:
                shapes.setdefault(c.feed[name].shape, []).append(c.feed[name])
            for feeds in shapes.values():
                sessions["objects"].run(None, {name: np.concatenate(feeds)})
            calls = [c for c in calls if c.role != "objects"]
        for call in calls:
            sessions[call.role].run(call.outputs, call.feed)


def run_limit(models: Models, inputs: LimitInputs, *, workers: int, batch: int) -> float:
    """Wall seconds to replay every photo's calls through the three models, `workers` threads sharing them."""
    shares = [list(range(w, len(inputs), workers)) for w in range(workers)]
    if workers == 1:
        start = time.perf_counter()
        _run_share(models, inputs, shares[0], batch)
        return time.perf_counter() - start
    threads = [threading.Thread(target=_run_share, args=(models, inputs, s, batch)) for s in shares]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Layout:
    """One thread layout of the limit: intra-op threads per session, concurrent workers, YOLO batch."""

    intra: int
    workers: int
    batch: int

    @property
    def label(self) -> str:
        """Short name for tables."""
        return f"{self.intra} thread(s) x {self.workers} worker(s), batch {self.batch}"


def layouts(cores: int) -> list[Layout]:
    """The thread layouts tried for the limit on this many cores."""
    out = [Layout(cores, 1, 1), Layout(1, cores, 1), Layout(cores, 1, 4), Layout(1, cores, 4)]
    return list(dict.fromkeys(out))


def compare(pictod: dict[str, PhotoResult], sequential: dict[str, PhotoResult]) -> dict[str, object]:
    """Sameness of two runs: photos whose object labels and face count agree, and the differences."""
    names = sorted(set(pictod) & set(sequential))
    same = [n for n in names if pictod[n].key() == sequential[n].key()]
    diffs = [
        {"photo": n, "pictod": list(pictod[n].key()), "sequential": list(sequential[n].key())}
        for n in names
        if pictod[n].key() != sequential[n].key()
    ]
    obj_p = sum(len(pictod[n].objects) for n in names)
    obj_s = sum(len(sequential[n].objects) for n in names)
    face_p = sum(len(pictod[n].faces) for n in names)
    face_s = sum(len(sequential[n].faces) for n in names)
    obj_matched = sum(
        _matched([(lab, box) for lab, box in pictod[n].objects], [(lab, box) for lab, box in sequential[n].objects])
        for n in names
    )
    face_matched = sum(
        _matched([("face", b) for b in pictod[n].faces], [("face", b) for b in sequential[n].faces]) for n in names
    )
    return {
        "margin_rule": margin_rule(pictod, sequential),
        "objects_matched_iou_0_8": obj_matched,
        "faces_matched_iou_0_8": face_matched,
        "photos_compared": len(names),
        "photos_missing": sorted(set(sequential) - set(pictod)),
        "photos_same": len(same),
        "fraction_same": len(same) / len(names) if names else 0.0,
        "objects": {"pictod": obj_p, "sequential": obj_s},
        "faces": {"pictod": face_p, "sequential": face_s},
        "differences": diffs[:20],
    }


def margin_rule(pictod: dict[str, PhotoResult], sequential: dict[str, PhotoResult]) -> dict[str, object] | None:
    """Figure 1c: objects and faces that differ beyond the margin (see the module docstring), per photo."""
    names = sorted(n for n in set(pictod) & set(sequential) if sequential[n].seen_objects is not None)
    if not names:
        return None
    lost_o = gained_o = lost_f = gained_f = 0
    changed = []
    for n in names:
        p, s = pictod[n], sequential[n]
        assert s.sure_objects is not None and s.seen_objects is not None
        assert s.sure_faces is not None and s.seen_faces is not None
        lo = len(s.sure_objects) - _matched(list(s.sure_objects), list(p.objects), 0.5)
        go = len(p.objects) - _matched(list(p.objects), list(s.seen_objects), 0.5)
        lf = len(s.sure_faces) - _matched([("face", b) for b in s.sure_faces], [("face", b) for b in p.faces], 0.5)
        gf = len(p.faces) - _matched([("face", b) for b in p.faces], [("face", b) for b in s.seen_faces], 0.5)
        lost_o, gained_o, lost_f, gained_f = lost_o + lo, gained_o + go, lost_f + lf, gained_f + gf
        if lo or go or lf or gf:
            changed.append({"photo": n, "objects_lost": lo, "objects_gained": go, "faces_lost": lf,
                            "faces_gained": gf, "pictod": list(p.key()), "sequential": list(s.key())})
    return {
        "margin": MARGIN,
        "photos_compared": len(names),
        "photos_same": len(names) - len(changed),
        "objects_lost": lost_o,
        "objects_gained": gained_o,
        "faces_lost": lost_f,
        "faces_gained": gained_f,
        "objects_sequential": sum(len(sequential[n].objects) for n in names),
        "faces_sequential": sum(len(sequential[n].faces) for n in names),
        "differences": changed[:20],
    }


def _matched(
    ours: list[tuple[str, tuple[float, float, float, float]]],
    theirs: list[tuple[str, tuple[float, float, float, float]]],
    threshold: float = 0.8,
) -> int:
    """Greedy one-to-one matches of same-label boxes with IoU >= threshold (0.8: the box agreement figure; the
    margin rule matches at 0.5, as the ground truth does): `ground_truth.match` label by label."""
    labels = {label for label, _box in ours} & {label for label, _box in theirs}
    return sum(len(ground_truth.match([b for lab, b in ours if lab == label], [b for lab, b in theirs if lab == label],
                                      threshold)[0]) for label in labels)
