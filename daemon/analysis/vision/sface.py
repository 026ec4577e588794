"""Kind "sface": OpenCV Zoo's SFace embedder, 112x112 RGB 0..255 aligned face -> 128-d.

Faces with 5 landmarks are warped onto the ArcFace template (as FaceRecognizerSF.alignCrop); faces without
(a landmark-less detector) are cut as a square around the box, which separates people less well. Measured on
dlib's johns (5 people x 11 crops): aligned (YuNet), same-person cosine distance max 0.46, different-person
min 0.67; box crops (yolov8-face), same-person max 0.46, different-person min 0.41.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from daemon.analysis.vision import transforms
from daemon.analysis.vision.base import FaceEmbedder, RawFace

# A tight detector box around a face covers roughly the central 80% of an ArcFace crop.
BOX_MARGIN = 0.25


def face_crop(image: NDArray[np.uint8], face: RawFace, size: int) -> NDArray[np.uint8]:
    """The model's input crop: aligned with 5 landmarks if there are any, else a square box crop."""
    if face.landmarks.shape[0] == 5:
        return transforms.align_face(image, face.landmarks, size)
    return transforms.crop_box(image, face.box, size, margin=BOX_MARGIN, square=True)


class SFaceEmbedder(FaceEmbedder):
    """SFace: all faces of one image in one run (dynamic batch)."""

    kind: ClassVar[str] = "sface"

    def _inputs(self, image: NDArray[np.uint8], faces: Sequence[RawFace]) -> NDArray[np.float32]:
        size = self.input_size[0]
        return transforms.to_nchw([face_crop(image, face, size) for face in faces])
