"""Synthetic but real inputs for the store and people tests: photos whose faces carry embeddings drawn around
identity centres (random unit vectors in 128-d), so same-identity faces are mostly within cosine 0.3."""

from __future__ import annotations

import hashlib
import random

import numpy as np

from daemon.types import DetectedFace, DetectedObject, PhotoAnalysis, PhotoMeta

DIM = 128
SPREAD = 0.045  # per-dimension noise: same-identity cosine distance ~0.21 +- 0.05


def identities(n: int, seed: int = 0) -> np.ndarray:
    """n random unit vectors (nearly orthogonal in 128-d)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((n, DIM))
    return (c / np.linalg.norm(c, axis=1, keepdims=True)).astype(np.float32)


def face_vectors(centres: np.ndarray, who: np.ndarray, rng: np.random.Generator,
                 spread: float = SPREAD) -> np.ndarray:
    """One L2-normalised embedding per entry of `who` around its identity centre."""
    x = centres[who] + rng.standard_normal((len(who), DIM)).astype(np.float32) * spread
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def analysis(embeddings: list[np.ndarray] | np.ndarray, tags: tuple[str, ...] = ()) -> PhotoAnalysis:
    """A PhotoAnalysis with these face embeddings (boxes side by side) and object tags."""
    faces = tuple(DetectedFace(box=(10.0 + 60 * i, 10.0, 60.0 + 60 * i, 70.0), score=0.9,
                               landmarks=((20.0, 30.0), (40.0, 30.0), (30.0, 40.0), (22.0, 55.0), (38.0, 55.0)),
                               embedding=np.asarray(e, np.float32)) for i, e in enumerate(embeddings))
    objects = tuple(DetectedObject(label=t, score=0.8, box=(0.0, 0.0, 5.0, 5.0)) for t in tags)
    return PhotoAnalysis(meta=PhotoMeta(width=640, height=480, format="JPEG"), objects=objects, faces=faces)


def content_hash(seed: object) -> str:
    """A stable fake sha256 for a synthetic photo."""
    return hashlib.sha256(repr(seed).encode()).hexdigest()


def shuffled(items: list, seed: int) -> list:
    """A deterministic shuffle."""
    out = list(items)
    random.Random(seed).shuffle(out)
    return out
