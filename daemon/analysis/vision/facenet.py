"""Kind "facenet": David Sandberg's FaceNet (PictoPy's), 160x160 prewhitened box crop -> 512-d.

Preprocessing follows the original: the detector box enlarged by a 44/160 margin, clipped to the image,
resized to 160x160 RGB, then per-crop standardisation ("prewhiten"). Landmarks are not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from daemon.analysis.vision import transforms
from daemon.analysis.vision.base import FaceEmbedder, RawFace

MARGIN = 44 / 160


class FaceNetEmbedder(FaceEmbedder):
    """FaceNet: one crop per run when the graph's batch is fixed (the converted TF graph is), else batched."""

    kind: ClassVar[str] = "facenet"

    def _inputs(self, image: NDArray[np.uint8], faces: Sequence[RawFace]) -> NDArray[np.float32]:
        size = self.input_size[0]
        crops = [
            transforms.prewhiten(transforms.crop_box(image, face.box, size, margin=MARGIN).astype(np.float32))
            for face in faces
        ]
        return np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2))
