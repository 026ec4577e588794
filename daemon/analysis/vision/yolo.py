"""Kind "yolo": ultralytics-layout object detectors (YOLOv8/v10 one-to-many head), output [B, 4 + C, N].

Rows 0-3 are cx, cy, w, h in letterboxed input pixels, rows 4.. the per-class scores (already sigmoid, no
objectness). Decoding: best class per anchor, score threshold, class-wise NMS, map back through the letterbox.
With a `stride` in the descriptor (a graph with free height and width; the head makes its anchors for the
shape it is given) each photo is letterboxed to the smallest multiple of it that holds it, as ultralytics
predicts: 640x480 for a 4:3 photo instead of 640x640 with a quarter of grey bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from daemon.analysis.vision import transforms
from daemon.analysis.vision.base import ObjectDetector, check_images
from daemon.analysis.vision.spec import ModelSpec
from daemon.errors import ModelError
from daemon.types import DetectedObject

# Bound on images per run: memory for a batch of 640x640 float inputs and [84, 8400] outputs stays small.
MAX_BATCH = 8
HEAD_STRIDE = 32  # YOLOv8/v10 detect at strides 8, 16, 32


def load_labels(name: str, spec_dir: Path) -> tuple[str, ...]:
    """Labels shipped with pictod (e.g. "coco80" -> daemon/analysis/vision/coco80.txt) or a text file beside the
    descriptor, one name per line."""
    local = spec_dir / name
    if local.is_file():
        text = local.read_text(encoding="utf-8")
    else:
        shipped = resources.files("daemon.analysis.vision") / f"{name}.txt"
        if not shipped.is_file():
            raise ModelError(f"labels {name!r} not found: neither {local} nor a shipped {name}.txt")
        text = shipped.read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def decode(
    output: NDArray[np.float32], *, conf: float, iou: float
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.intp]]:
    """One image's [4 + C, N] output -> (boxes x1y1x2y2 in canvas pixels, scores, class ids), best first."""
    class_scores = output[4:]
    classes = class_scores.argmax(axis=0)
    scores = class_scores[classes, np.arange(class_scores.shape[1])]
    keep = scores >= conf
    if not keep.any():
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.intp)
    boxes = transforms.cxcywh_to_xyxy(output[:4, keep].T)
    scores, classes = scores[keep], classes[keep]
    kept = transforms.nms_per_class(boxes, scores, classes, iou)
    return boxes[kept], scores[kept].astype(np.float32), classes[kept].astype(np.intp)


class YoloDetector(ObjectDetector):
    """COCO object detector; several images per run (dynamic batch)."""

    kind: ClassVar[str] = "yolo"

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        super().__init__(spec, session)
        self.labels = load_labels(self.spec.labels or "coco80", self.spec.descriptor.parent)
        classes = session.get_outputs()[0].shape[1]
        if isinstance(classes, int) and classes - 4 != len(self.labels):
            raise ModelError(
                f"model {self.spec.path} has {classes - 4} classes but labels {self.spec.labels!r} "
                f"name {len(self.labels)}; fix labels in {self.spec.descriptor}"
            )

    def _check_graph(self) -> None:
        outputs = self.session.get_outputs()
        if len(outputs) != 1 or len(outputs[0].shape) != 3:
            raise self._bad_graph("expected one output [batch, 4 + classes, anchors]")
        # The head's coarsest feature map is 1/32 of the input: other sides break its upsample-and-concat.
        if self.spec.stride is not None and self.spec.stride % HEAD_STRIDE:
            raise self._bad_graph(f"stride {self.spec.stride} is not a multiple of {HEAD_STRIDE}")

    def detect(self, images: Sequence[NDArray[np.uint8]], *, conf: float, iou: float) -> list[list[DetectedObject]]:
        """Objects in each RGB image, boxes in that image's pixels, best score first."""
        check_images(images)
        step = 1 if self._fixed_batch() else MAX_BATCH
        results: list[list[DetectedObject]] = []
        for start in range(0, len(images), step):
            results.extend(self._detect_batch(images[start : start + step], conf, iou))
        return results

    def _detect_batch(self, images: Sequence[NDArray[np.uint8]], conf: float, iou: float) -> list[list[DetectedObject]]:
        placed = [
            transforms.letterbox(image, self.input_size, pad_value=114, stride=self.spec.stride, pad=self.spec.pad)
            for image in images
        ]
        output = self._run_by_shape([canvas for canvas, _ in placed], scale=1.0 / 255.0)
        results: list[list[DetectedObject]] = []
        for image, (_, mapping), out in zip(images, placed, output, strict=True):
            boxes, scores, classes = decode(out, conf=conf, iou=iou)
            boxes = mapping.to_image(boxes, image.shape[1], image.shape[0])
            results.append(
                [
                    DetectedObject(
                        label=self.labels[int(c)],
                        score=float(s),
                        box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                    )
                    for b, s, c in zip(boxes, scores, classes, strict=True)
                ]
            )
        return results
