"""Kind "yolov8-face": single-class YOLOv8 face detectors (PictoPy's), output [B, 5, N]: cx, cy, w, h, score.

No landmarks: faces carry an empty (0, 2) landmark array and embedders fall back to a box crop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from daemon.analysis.vision import transforms
from daemon.analysis.vision.base import NO_LANDMARKS, FaceDetector, RawFace, check_images

MAX_BATCH = 8


class YoloV8FaceDetector(FaceDetector):
    """YOLOv8 face boxes; several images per run when the graph's batch is dynamic."""

    kind: ClassVar[str] = "yolov8-face"
    has_landmarks = False
    kind_conf = 0.5
    kind_iou = 0.45


    def _check_graph(self) -> None:
        outputs = self.session.get_outputs()
        if len(outputs) != 1 or len(outputs[0].shape) != 3 or outputs[0].shape[1] not in (5, "5"):
            raise self._bad_graph("expected one output [batch, 5, anchors]")

    def detect(self, images: Sequence[NDArray[np.uint8]], *, conf: float | None = None) -> list[list[RawFace]]:
        """Faces in each RGB image, best score first; conf None means the descriptor's threshold."""
        check_images(images)
        threshold = self.default_conf if conf is None else conf
        step = 1 if self._fixed_batch() else MAX_BATCH
        results: list[list[RawFace]] = []
        for start in range(0, len(images), step):
            results.extend(self._detect_batch(images[start : start + step], threshold))
        return results

    def _detect_batch(self, images: Sequence[NDArray[np.uint8]], conf: float) -> list[list[RawFace]]:
        # Small photos are padded, not enlarged: faces filling an enlarged frame are outside what the model
        # learnt. Measured with faceghost v0-1 at conf 0.5: dlib's 150x150 "johns" face crops 45/55 missed
        # when enlarged, 0/55 when padded; dlib's VOC photos 43/43 faces either way, 3 false positives -> 0.
        placed = [
            transforms.letterbox(
                image, self.input_size, pad_value=114, scaleup=False, stride=self.spec.stride, pad=self.spec.pad
            )
            for image in images
        ]
        output = self._run_by_shape([canvas for canvas, _ in placed], scale=1.0 / 255.0)
        results: list[list[RawFace]] = []
        for image, (_, mapping), out in zip(images, placed, output, strict=True):
            scores = out[4]
            keep = scores >= conf
            boxes = transforms.cxcywh_to_xyxy(out[:4, keep].T)
            scores = scores[keep].astype(np.float32)
            kept = transforms.nms(boxes, scores, self.iou)
            boxes = mapping.to_image(boxes[kept], image.shape[1], image.shape[0])
            results.append(
                [
                    RawFace(
                        box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                        score=float(s),
                        landmarks=NO_LANDMARKS,
                    )
                    for b, s in zip(boxes, scores[kept], strict=True)
                ]
            )
        return results
