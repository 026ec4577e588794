"""Kind "facenet": David Sandberg's FaceNet (PictoPy's), 160x160 prewhitened box crop -> 512-d.

Preprocessing follows the original: the detector box enlarged by a 44/160 margin, clipped to the image,
resized to 160x160 RGB, then per-crop standardisation ("prewhiten"). Landmarks are not used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from daemon.vision import transforms
from daemon.vision.base import FaceEmbedder, RawFace, check_images

MARGIN = 44 / 160
MAX_BATCH = 32


class FaceNetEmbedder(FaceEmbedder):
    """FaceNet: one crop per run when the graph's batch is fixed (the converted TF graph is), else batched."""

    kind: ClassVar[str] = "facenet"

    def _check_graph(self) -> None:
        if len(self.session.get_outputs()[0].shape) != 2:
            raise self._bad_graph("expected one output [batch, dim]")

    def embed(self, image: NDArray[np.uint8], faces: Sequence[RawFace]) -> NDArray[np.float32]:
        """(len(faces), dim) float32 L2-normalised embeddings of the faces in one RGB image."""
        check_images([image])
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = self.input_size[0]
        crops = [
            transforms.prewhiten(transforms.crop_box(image, face.box, size, margin=MARGIN).astype(np.float32))
            for face in faces
        ]
        batch = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2))
        step = 1 if self._fixed_batch() else MAX_BATCH
        parts = [self.session.run(None, {self.input_name: batch[i : i + step]})[0] for i in range(0, len(batch), step)]
        return transforms.l2_normalize(np.concatenate(parts).astype(np.float32))
