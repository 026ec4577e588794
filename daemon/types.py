"""The typed results that cross module boundaries: analysis output, consumed by the store and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in the original (oriented) image's pixels
Span = tuple[float, float]  # seconds into a video: first and last sampled frame that shows a face or object



def iou(a: Box, b: Box) -> float:
    """Intersection over union of two x1, y1, x2, y2 boxes in the same frame (0 when both are empty)."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1]) + max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class DetectedObject:
    """One COCO object."""

    label: str
    score: float
    box: Box
    time: float | None = None  # a video's: seconds into it of the frame the box is on (None: a photo)
    seen: tuple[Span, ...] = ()  # a video's: when it is seen


@dataclass(frozen=True)
class FaceQuality:
    """How far a face can be trusted for recognition (daemon/analysis/hard_faces.py computes it): the combined score and
    the parts it is made of. The detector's own score is the face's `score`."""

    score: float  # 0 (useless for recognition) .. 1 (good), the product of the parts' ramps
    size_px: float  # shorter side of the face box, in original pixels
    sharpness: float  # variance of the Laplacian of the aligned 112 px grey crop
    frontal: float  # 1 frontal .. 0 profile, from the landmarks (1.0 when the detector gives none)


@dataclass(frozen=True)
class DetectedFace:
    """One face: box, detector score, five landmarks (eyes, nose, mouth corners; empty if the detector
    gives none) and its L2-normalised float32 embedding; the rotation that found it and its quality."""

    box: Box
    score: float
    landmarks: tuple[tuple[float, float], ...]
    embedding: NDArray[np.float32]
    # Degrees (0, 90, 180, 270) the photo was turned clockwise for the detector to see this face upright:
    # non-zero only for a photo stored sideways or upside down without an orientation tag.
    rotation: int = 0
    quality: FaceQuality | None = None  # None: not computed (a face built outside the analysis chain)
    # A video's face is the best face of one track (the same person along neighbouring samples): the time of
    # its frame, the track's number in the video and when the track is seen. None/(): a photo's face.
    time: float | None = None
    track: int | None = None
    seen: tuple[Span, ...] = ()


@dataclass(frozen=True)
class PhotoMeta:
    """What the file itself says: oriented size, format, EXIF capture time, camera and GPS."""

    width: int
    height: int
    format: str
    taken_at: str | None = None  # ISO 8601 as the camera wrote it (no timezone guessing)
    camera: str | None = None
    gps: tuple[float, float] | None = None  # latitude, longitude in degrees
    kind: str = "photo"  # or "video"
    duration: float | None = None  # a video's, in seconds
    codec: str | None = None  # a video's (h264, hevc, vp9, ...); width/height are its displayed frame size


@dataclass(frozen=True)
class PhotoAnalysis:
    """Everything the analysis chain found in one photo."""

    meta: PhotoMeta
    objects: tuple[DetectedObject, ...] = ()
    faces: tuple[DetectedFace, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
