"""Kind "yunet": OpenCV Zoo's YuNet face detector (box, score, 5 landmarks), decoded as FaceDetectorYN does.

The graph takes one BGR 0..255 image and emits, per stride 8/16/32, cls, obj, bbox and kps per anchor (one
anchor per grid cell, row-major). Images are placed top-left on a zero canvas without enlarging (as
FaceDetectorYN pads), so a small photo is seen at its own scale. The canvas is input_size, or with a `stride`
in the descriptor (the graph is fully convolutional; its height and width are free) the smallest multiple of
it that holds the image, as FaceDetectorYN does; the priors are laid on the grid of the canvas actually run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from daemon.analysis.vision import transforms
from daemon.analysis.vision.base import FaceDetector, RawFace, check_images
from daemon.analysis.vision.spec import ModelSpec

STRIDES = (8, 16, 32)


def decode(
    outputs: dict[str, NDArray[np.float32]], size: tuple[int, int]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """All anchors of one image -> (boxes x1y1x2y2 (N, 4), scores (N,), landmarks (N, 5, 2)) in canvas pixels."""
    width, height = size
    all_boxes, all_scores, all_kps = [], [], []
    for stride in STRIDES:
        cols, rows = width // stride, height // stride
        cls = outputs[f"cls_{stride}"].reshape(-1)
        obj = outputs[f"obj_{stride}"].reshape(-1)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)
        kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)
        index = np.arange(rows * cols)
        col = (index % cols).astype(np.float32)
        row = (index // cols).astype(np.float32)
        scores = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        cx = (col + bbox[:, 0]) * stride
        cy = (row + bbox[:, 1]) * stride
        w = np.exp(bbox[:, 2]) * stride
        h = np.exp(bbox[:, 3]) * stride
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        points = np.empty_like(kps)
        points[:, :, 0] = (col[:, None] + kps[:, :, 0]) * stride
        points[:, :, 1] = (row[:, None] + kps[:, :, 1]) * stride
        all_boxes.append(boxes)
        all_scores.append(scores)
        all_kps.append(points)
    return (
        np.concatenate(all_boxes).astype(np.float32),
        np.concatenate(all_scores).astype(np.float32),
        np.concatenate(all_kps).astype(np.float32),
    )


class YuNetDetector(FaceDetector):
    """YuNet: faces with 5 landmarks; one image per run (the graph's batch is fixed at 1)."""

    kind: ClassVar[str] = "yunet"
    has_landmarks = True
    kind_conf = 0.6
    kind_iou = 0.3

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        super().__init__(spec, session)
        self.output_names = [o.name for o in session.get_outputs()]

    def _check_graph(self) -> None:
        names = {o.name for o in self.session.get_outputs()}
        wanted = {f"{part}_{s}" for part in ("cls", "obj", "bbox", "kps") for s in STRIDES}
        if any(side % max(STRIDES) for side in self.input_size):
            raise self._bad_graph(f"input_size {list(self.input_size)} is not a multiple of {max(STRIDES)}")
        if self.spec.stride is not None and self.spec.stride % max(STRIDES):
            raise self._bad_graph(f"stride {self.spec.stride} is not a multiple of {max(STRIDES)}")
        if not wanted <= names:
            raise self._bad_graph(f"missing outputs {sorted(wanted - names)}")

    def detect(self, images: Sequence[NDArray[np.uint8]], *, conf: float | None = None) -> list[list[RawFace]]:
        """Faces in each RGB image, best score first; conf None means the descriptor's threshold."""
        check_images(images)
        threshold = self.default_conf if conf is None else conf
        return [self._detect_one(image, threshold) for image in images]

    def _detect_one(self, image: NDArray[np.uint8], conf: float) -> list[RawFace]:
        canvas, mapping = transforms.letterbox(
            image, self.input_size, pad_value=0, center=False, scaleup=False, stride=self.spec.stride,
            pad=self.spec.pad,
        )
        # RGB -> BGR: YuNet was trained on OpenCV's BGR frames.
        batch = transforms.to_nchw([canvas], bgr=True)
        values = self.session.run(self.output_names, {self.input_name: batch})
        # The priors for the canvas actually run (its grid), not for input_size.
        size = (canvas.shape[1], canvas.shape[0])
        boxes, scores, kps = decode(dict(zip(self.output_names, values, strict=True)), size)
        keep = scores >= conf
        boxes, scores, kps = boxes[keep], scores[keep], kps[keep]
        kept = transforms.nms(boxes, scores, self.iou)
        height, width = image.shape[:2]
        boxes = mapping.to_image(boxes[kept], width, height)
        kps = mapping.points_to_image(kps[kept])
        return [
            RawFace(box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])), score=float(s), landmarks=k)
            for b, s, k in zip(boxes, scores[kept], kps, strict=True)
        ]
