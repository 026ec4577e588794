"""The analysis chain for one photo: objects -> person gate -> faces -> embeddings, in original pixels.

Owns the order of the stages, their thresholds (from `AnalysisConfig`), the second face pass for close-ups,
when daemon/analysis/hard_faces.py's turned-face search and face quality run, the mapping from decoded (possibly
DCT-reduced) pixels back to the original oriented photo, and the per-stage timings. Pure: no database, no
files beyond the photo itself; safe to call from several executor threads at once (the models are, and an
Analyzer keeps no mutable state).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from daemon.analysis import hard_faces as facelib
from daemon.analysis import imaging, tracks, video
from daemon.analysis.imaging import DecodedImage
from daemon.analysis.vision import Models, RawFace, load_models, transforms
from daemon.analysis.vision.base import NO_LANDMARKS
from daemon.config import AnalysisConfig, Config, VideoConfig
from daemon.logs import ms_since
from daemon.types import Box, DetectedFace, DetectedObject, PhotoAnalysis, PhotoMeta, iou

# Decoded long side the chain asks of reduced JPEG decoding. Both detectors shrink every photo to their
# 640 px input anyway, so detection loses nothing; what the extra resolution buys is the 112 px face crop
# for the embedder: a face the detector can just find (~10-12 px at 640) keeps >= 2x those pixels at 1280+.
# A 12 MP phone photo (4032 px) decodes at 1/2 (2016 px), a 48 MP one at 1/4. Measured by bench/analyze.py
# on phone-sized JPEGs incl. a mosaic of small (75-105 px) faces, embedding cosine to the full decode:
# 1/2 (target 1280) median 0.97, min 0.90; 1/4 (target 1000) median 0.76, min 0.22, so 1/4 is too coarse
# for a 12 MP photo. Decode 75 -> 21 ms, whole chain 201 -> 109 ms.
TARGET_LONG_SIDE = 1280

# Second face pass: a face that fills the frame (a tight crop, an extreme close-up) has no context around it
# and the detector misses it. When the first pass finds nothing, the photo is shrunk to half of the
# detector's input and given a border of its mean colour (mirroring would create half-faces) on every side,
# so the face sits in surroundings like those it was trained with. Shrinking first keeps the pass at the
# cost of one detector run whatever the photo's size.
PAD_FRACTION = 0.5

# A named metadata region the full-frame pass did not find: its crop, padded by this fraction of the box on each
# side (the context the detector expects), is searched for landmarks before the crop is embedded.
REGION_PAD = 0.5


class Analyzer:
    """Runs the chain with one set of loaded models and one analysis configuration."""

    def __init__(self, analysis: AnalysisConfig, models: Models) -> None:
        self.config = analysis
        self.models = models
        self.target_long_side: int | None = TARGET_LONG_SIDE if analysis.reduced_decode else None
        self._detector_side = max(*models.objects.input_size, *models.faces.input_size)
        # Look again, turned, at photos without an orientation tag whose upright pass may have seen them the
        # wrong way up (daemon/analysis/hard_faces.py). An attribute, not config, so the bench can measure both ways.
        self.recover_turned = True
        self.faceless_turns = True  # issue 21: no face but a person -> the three turns' full passes
        self._face_conf = models.faces.default_conf if analysis.face_conf is None else analysis.face_conf

    @classmethod
    def from_config(cls, cfg: Config, *, workers: int | None = None) -> Analyzer:
        """Load the configured models (sha256-checked) for `workers` concurrent callers (default: daemon.workers)."""
        return cls(cfg.analysis, load_models(cfg.models, workers=workers or cfg.daemon.workers))

    def analyze_file(self, path: Path) -> PhotoAnalysis:
        """Decode one file and analyse it; PhotoError on bad input."""
        start = time.perf_counter()
        image = imaging.load(
            path,
            max_pixels=self.config.max_pixels,
            max_file_bytes=self.config.max_file_bytes,
            target_long_side=self.target_long_side,
        )
        return self._timed(image, ms_since(start, 3))

    def open_header(self, data: bytes, name: str = "") -> imaging.Header:
        """Read and check the header with this chain's limits and reduced decode (`imaging.open_header`)."""
        return imaging.open_header(data, max_pixels=self.config.max_pixels, target_long_side=self.target_long_side,
                                   name=name)

    def analyze_header(self, header: imaging.Header) -> PhotoAnalysis:
        """Decode a photo opened by `open_header` and analyse it; PhotoError on bad input."""
        start = time.perf_counter()
        return self._timed(imaging.decode_header(header), ms_since(start, 3))

    def analyze_header_regions(self, header: imaging.Header, regions: Callable[[PhotoAnalysis], Sequence[Box]]
                               ) -> tuple[PhotoAnalysis, tuple[DetectedFace, ...]]:
        """`analyze_header`, then `regions` (given the analysis) names boxes no detected face covers (named
        metadata regions): their crops are embedded from the same decode (`embed_regions`)."""
        start = time.perf_counter()
        image = imaging.decode_header(header)
        analysis = self._timed(image, ms_since(start, 3))
        boxes = regions(analysis)
        return analysis, self.embed_regions(image, boxes) if boxes else ()

    def analyze_video(self, path: Path, cfg: VideoConfig) -> PhotoAnalysis:
        """A video's sampled frames (daemon/analysis/video.py) each through `analyze` as a photo, their faces
        joined into tracks and one face per person, their objects into one per label with when they are seen
        (daemon/analysis/tracks.py); PhotoError when it cannot be decoded."""
        start = time.perf_counter()
        with video.opened(path) as (container, info):
            return self._analyze_video(path, container, info, cfg, start)

    def _analyze_video(self, path: Path, container: Any, info: video.VideoInfo, cfg: VideoConfig,
                       start: float) -> PhotoAnalysis:
        stats = video.SampleStats()
        frame_meta = PhotoMeta(width=info.width, height=info.height, format="video")
        faces: list[tuple[float, tuple[DetectedFace, ...]]] = []
        objects: list[tuple[float, tuple[DetectedObject, ...]]] = []
        timings = {"decode": 0.0, "objects": 0.0, "faces": 0.0, "embed": 0.0}
        decode_start = time.perf_counter()
        seen: tuple[DetectedObject, ...] = ()
        lender = tracks.Lender(cfg.same_look) if cfg.same_look < 1.0 else None
        for sample in video.sample(path, info, cfg, long_side=self.target_long_side, stats=stats,
                                   container=container):
            timings["decode"] += ms_since(decode_start, 3)
            # orientation 1: the display matrix is applied, so the turned-face search never doubts it.
            found = self.analyze(DecodedImage(rgb=sample.rgb, scale=sample.scale, meta=frame_meta, orientation=1),
                                 objects=None if sample.objects else seen, lender=lender, at=sample.time)
            seen = found.objects
            for key in ("objects", "faces", "embed"):
                timings[key] += found.timings_ms.get(key, 0.0)
            faces.append((sample.time, found.faces))
            objects.append((sample.time, found.objects))
            decode_start = time.perf_counter()
        end = max(info.duration, faces[-1][0] if faces else 0.0)
        people = tracks.video_faces(faces, eps=cfg.track_eps, eps_alone=cfg.track_eps_alone, end=end)
        if lender is not None:
            people = self._own_embeddings(people, lender)
        timings["frames"] = float(stats.kept)
        timings["probes"] = float(stats.probes)
        timings["borrowed"] = float(lender.lent if lender is not None else 0)
        timings["total"] = ms_since(start, 3)
        meta = PhotoMeta(width=info.width, height=info.height, format=path.suffix.lstrip(".").upper() or "VIDEO",
                         taken_at=info.taken_at, camera=info.camera, gps=info.gps, kind="video",
                         duration=round(info.duration, 3), codec=info.codec)
        return PhotoAnalysis(meta=meta, objects=tracks.video_objects(objects, end=end), faces=people,
                             timings_ms=timings)

    def load(self, path: Path) -> DecodedImage:
        """Decode one file with this chain's limits (for region crops of a photo already analysed)."""
        return imaging.load(path, max_pixels=self.config.max_pixels, max_file_bytes=self.config.max_file_bytes,
                            target_long_side=self.target_long_side)

    def embed_regions(self, image: DecodedImage, boxes: Sequence[Box]) -> tuple[DetectedFace, ...]:
        """Faces for boxes (original oriented pixels) the full-frame pass missed: the face detector runs on each
        padded crop for landmarks (a small or turned face is often found there); if it finds none, the box crop
        is embedded unaligned. Returned boxes are the given ones, score 0."""
        raw: list[RawFace] = []
        for box in boxes:
            raw.append(self._region_face(image.rgb, tuple(v / image.scale for v in box)))  # type: ignore[arg-type]
        if not raw:
            return ()
        vectors = self.models.embeddings.embed(image.rgb, raw)
        return tuple(
            DetectedFace(box=box, score=0.0,
                         landmarks=tuple((float(x * image.scale), float(y * image.scale)) for x, y in face.landmarks),
                         embedding=np.ascontiguousarray(vector, dtype=np.float32))
            for box, face, vector in zip(boxes, raw, vectors, strict=True))

    def _region_face(self, rgb: NDArray[np.uint8], box: tuple[float, float, float, float]) -> RawFace:
        """The face inside a region box (decoded pixels): the detector's on a crop padded by REGION_PAD, if any
        overlaps the box; else the box without landmarks."""
        x1, y1, x2, y2 = box
        crop, (left, top) = _crop_around(rgb, box, (x2 - x1) * REGION_PAD, (y2 - y1) * REGION_PAD)
        fallback = RawFace(box=box, score=0.0, landmarks=NO_LANDMARKS)
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            return fallback
        found = self._find_faces(crop)
        best, best_iou = None, 0.3
        for face in found:
            shifted = (face.box[0] + left, face.box[1] + top, face.box[2] + left, face.box[3] + top)
            overlap = iou(shifted, box)
            if overlap > best_iou:
                best, best_iou = face, overlap
        if best is None or best.landmarks.shape[0] != 5:
            return fallback
        landmarks = (best.landmarks + np.array([left, top], dtype=np.float32)).astype(np.float32)
        return RawFace(box=box, score=0.0, landmarks=landmarks)

    def analyze(self, image: DecodedImage, *, objects: tuple[DetectedObject, ...] | None = None,
                lender: tracks.Lender | None = None, at: float = 0.0) -> PhotoAnalysis:
        """Objects, faces and embeddings of one decoded photo, boxes in the original photo's pixels. With
        `objects` (a video frame whose view has not changed since they were found) the object detector is not
        run: they stand for this frame's (and the person gate looks at them). With a `lender` (a video's frame at
        `at` seconds) a face that looks as one near it in the last analysed frame borrows its embedding."""
        timings: dict[str, float] = {}
        rgb, scale = image.rgb, image.scale
        cfg = self.config

        start = time.perf_counter()
        # Both detectors see the photo at their input size: shrink it once for both (the shrink of a large
        # photo costs as much as a detector run) and fold the factor into the mapping back.
        small, fx, fy = transforms.fit_within(rgb, self._detector_side)
        everything: list[DetectedObject] = []
        if objects is None:
            # One run at the lower of the two thresholds: weak persons are only hints for the turned-face search
            # (greedy NMS never lets a weaker box remove a stronger one, so the objects kept are the same).
            everything = self.models.objects.detect(
                [small], conf=min(cfg.object_conf, facelib.PERSON_HINT_CONF), iou=cfg.object_iou
            )[0]
            objects = tuple(
                DetectedObject(label=o.label, score=o.score, box=_scale_box(_stretch(o.box, fx, fy), scale, image))
                for o in everything if o.score >= cfg.object_conf
            )
        timings["objects"] = ms_since(start, 3)

        faces: tuple[DetectedFace, ...] = ()
        timings["faces"] = timings["embed"] = 0.0  # stay 0 when the person gate skips them
        if not cfg.person_gate or any(o.label == "person" for o in objects):
            start = time.perf_counter()
            min_side = cfg.min_face_px / scale  # min_face_px is in original pixels
            recover = self.recover_turned and image.orientation is None  # a stated orientation is never doubted
            upright = self._find_faces(small, floor=facelib.PROBE_CONF if recover else None)
            turned = [facelib.FoundFace(f) for f in upright if f.score >= self._face_conf]
            if recover:
                turned, _why = facelib.recover(
                    small, [t.face for t in turned], [o.box for o in everything if o.label == "person"],
                    weak=[f for f in upright if f.score < self._face_conf], find=self._find_faces,
                    probe_detect=lambda im: self.models.faces.detect([im], conf=facelib.PROBE_CONF)[0],
                    side=max(self.models.faces.input_size), faceless_turns=self.faceless_turns,
                    find_plain=lambda im: self.models.faces.detect([im], conf=self._face_conf)[0],
                )
            stretched = [(_stretch_face(t.face, fx, fy), t.rotation) for t in turned]
            kept = [(f, r) for f, r in stretched if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= min_side]
            timings["faces"] = ms_since(start, 3)
            if kept:
                start = time.perf_counter()
                faces = self._embedded(image, kept, lender, at)
                timings["embed"] = ms_since(start, 3)
        return PhotoAnalysis(meta=image.meta, objects=objects, faces=faces, timings_ms=timings)

    def _embedded(self, image: DecodedImage, kept: list[tuple[RawFace, int]], lender: tracks.Lender | None,
                  at: float) -> tuple[DetectedFace, ...]:
        """The kept faces (decoded pixels, with the rotation that found them) with quality and embedding: the
        embedder's, or with a `lender` one borrowed (daemon/analysis/tracks.py)."""
        rgb, scale = image.rgb, image.scale
        crops = [facelib.quality_crop(rgb, face) for face, _rotation in kept]
        qualities = [facelib.quality(rgb, face, scale, crop)
                     for (face, _rotation), crop in zip(kept, crops, strict=True)]
        boxes = [_scale_box(face.box, scale, image) for face, _rotation in kept]
        lent: list[tracks.Lent | None] = [None] * len(kept)
        if lender is not None:
            looks = [tracks.look(crop) for crop in crops]
            ranks = [tracks.rank(q.score, face.score, box)
                     for (face, _rotation), box, q in zip(kept, boxes, qualities, strict=True)]
            lent = [lender.lend(box, face_look, face_rank)
                    for box, face_look, face_rank in zip(boxes, looks, ranks, strict=True)]
        made = iter(self.models.embeddings.embed(rgb, [face for (face, _r), given in zip(kept, lent, strict=True)
                                                       if given is None]))
        vectors = [np.ascontiguousarray(next(made), dtype=np.float32) if given is None else given.embedding
                   for given in lent]
        if lender is not None:
            lender.frame(at, [(box, face_look, vector, face_rank, given,
                               _region(rgb, face) if given is not None and given.keep_payload else None)
                              for (face, _r), box, face_look, vector, face_rank, given
                              in zip(kept, boxes, looks, vectors, ranks, lent, strict=True)])
        return tuple(
            DetectedFace(
                box=box, score=face.score,
                landmarks=tuple((float(x * scale), float(y * scale)) for x, y in face.landmarks),
                embedding=vector, rotation=rotation, quality=q,
            )
            for (face, rotation), box, vector, q in zip(kept, boxes, vectors, qualities, strict=True))

    def _own_embeddings(self, faces: tuple[DetectedFace, ...], lender: tracks.Lender) -> tuple[DetectedFace, ...]:
        """A video's faces kept for its people, each with its own embedding: a borrowed one is embedded now from
        the pixels kept for it."""
        out = []
        for face in faces:
            payload = lender.kept(face.time, face.box)
            if payload is not None:
                region, raw = payload
                vector = self.models.embeddings.embed(region, [raw])[0]
                face = dataclasses.replace(face, embedding=np.ascontiguousarray(vector, dtype=np.float32))
            out.append(face)
        return tuple(out)

    def _find_faces(self, rgb: NDArray[np.uint8], floor: float | None = None) -> list[RawFace]:
        """Faces in decoded pixels; if none, a second pass on the shrunk photo with a border (close-ups).
        With a `floor`, detections scoring between it and the face threshold come too (hints, same runs)."""
        detector = self.models.faces
        conf = self._face_conf if floor is None else min(floor, self._face_conf)
        faces = detector.detect([rgb], conf=conf)[0]
        if any(f.score >= self._face_conf for f in faces):
            return faces
        canvas, factor, border = _padded(rgb, max(detector.input_size))
        found = detector.detect([canvas], conf=conf)[0]
        return faces + [_unpad(face, factor, border, rgb.shape[1], rgb.shape[0]) for face in found]

    def _timed(self, image: DecodedImage, decode_ms: float) -> PhotoAnalysis:
        result = self.analyze(image)
        return dataclasses.replace(result, timings_ms={"decode": decode_ms, **result.timings_ms})


def _crop_around(rgb: NDArray[np.uint8], box: Box, pad_x: float, pad_y: float
                 ) -> tuple[NDArray[np.uint8], tuple[int, int]]:
    """The pixels of `box` padded by pad_x/pad_y on each side (cut at the image's edges), and their top left."""
    height, width = rgb.shape[:2]
    left, top = max(0, int(box[0] - pad_x)), max(0, int(box[1] - pad_y))
    right, bottom = min(width, int(np.ceil(box[2] + pad_x))), min(height, int(np.ceil(box[3] + pad_y)))
    return np.ascontiguousarray(rgb[top:bottom, left:right]), (left, top)


def _region(rgb: NDArray[np.uint8], face: RawFace) -> tuple[NDArray[np.uint8], RawFace]:
    """The pixels around a face (a face size on every side: all that an aligned or box crop reads) and the face
    moved into them, to embed it later without the whole frame."""
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1)
    crop, (left, top) = _crop_around(rgb, face.box, side, side)
    moved = RawFace(box=(x1 - left, y1 - top, x2 - left, y2 - top), score=face.score,
                    landmarks=(face.landmarks - np.array([left, top], dtype=np.float32)).astype(np.float32)
                    if face.landmarks.shape[0] else face.landmarks)
    return crop, moved


def _padded(rgb: NDArray[np.uint8], detector_side: int) -> tuple[NDArray[np.uint8], float, int]:
    """The photo shrunk (never enlarged) to fit half of the detector's side, with a mean-colour border of
    PAD_FRACTION of its size on every side; returns the canvas, the shrink factor and the border width."""
    height, width = rgb.shape[:2]
    inner = detector_side / (1.0 + 2.0 * PAD_FRACTION)
    factor = min(1.0, inner / max(width, height))
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        rgb = np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        height, width = rgb.shape[:2]
    border = max(1, round(PAD_FRACTION * max(width, height)))
    mean = transforms.mean_colour(rgb)
    canvas = np.empty((height + 2 * border, width + 2 * border, 3), dtype=np.uint8)
    canvas[:] = mean
    canvas[border : border + height, border : border + width] = rgb
    return canvas, factor, border


def _unpad(face: RawFace, factor: float, border: int, width: int, height: int) -> RawFace:
    """A face found on the padded canvas -> the decoded photo's pixels (box clipped, landmarks not)."""
    x1, y1, x2, y2 = ((v - border) / factor for v in face.box)
    box = (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))
    landmarks = ((face.landmarks - border) / factor).astype(np.float32)
    return RawFace(box=box, score=face.score, landmarks=landmarks)


def _stretch(box: tuple[float, float, float, float], fx: float, fy: float) -> tuple[float, float, float, float]:
    """A box on the shrunk detector image -> the decoded photo's pixels."""
    return (box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy)


def _stretch_face(face: RawFace, fx: float, fy: float) -> RawFace:
    """A face on the shrunk detector image -> the decoded photo's pixels (landmarks too)."""
    if fx == fy == 1.0:
        return face
    landmarks = (face.landmarks * np.array([fx, fy], dtype=np.float32)).astype(np.float32)
    return RawFace(box=_stretch(face.box, fx, fy), score=face.score, landmarks=landmarks)


def _scale_box(
    box: tuple[float, float, float, float], scale: float, image: DecodedImage
) -> tuple[float, float, float, float]:
    """Decoded pixels -> original oriented pixels, clipped to the photo."""
    width, height = image.meta.width, image.meta.height
    return (
        min(max(box[0] * scale, 0.0), width),
        min(max(box[1] * scale, 0.0), height),
        min(max(box[2] * scale, 0.0), width),
        min(max(box[3] * scale, 0.0), height),
    )
