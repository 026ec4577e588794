"""The typed results that cross module boundaries: analysis output, consumed by the store and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in the original (oriented) image's pixels


@dataclass(frozen=True)
class DetectedObject:
    """One COCO object."""

    label: str
    score: float
    box: Box


@dataclass(frozen=True)
class DetectedFace:
    """One face: box, detector score, five landmarks (eyes, nose, mouth corners; empty if the detector
    gives none) and its L2-normalised float32 embedding."""

    box: Box
    score: float
    landmarks: tuple[tuple[float, float], ...]
    embedding: NDArray[np.float32]


@dataclass(frozen=True)
class PhotoMeta:
    """What the file itself says: oriented size, format, EXIF capture time, camera and GPS."""

    width: int
    height: int
    format: str
    taken_at: str | None = None  # ISO 8601 as the camera wrote it (no timezone guessing)
    camera: str | None = None
    gps: tuple[float, float] | None = None  # latitude, longitude in degrees


@dataclass(frozen=True)
class PhotoAnalysis:
    """Everything the analysis chain found in one photo."""

    meta: PhotoMeta
    objects: tuple[DetectedObject, ...] = ()
    faces: tuple[DetectedFace, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
