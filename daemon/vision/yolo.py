"""Kind "yolo": ultralytics-layout object detectors (YOLOv8/v10 one-to-many head), output [B, 4 + C, N].

Rows 0-3 are cx, cy, w, h in letterboxed input pixels, rows 4.. the per-class scores (already sigmoid, no
objectness). Decoding: best class per anchor, score threshold, class-wise NMS, map back through the letterbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from daemon.errors import ModelError
from daemon.types import DetectedObject
from daemon.vision import transforms
from daemon.vision.base import ObjectDetector, check_images
from daemon.vision.spec import ModelSpec

# Bound on images per run: memory for a batch of 640x640 float inputs and [84, 8400] outputs stays small.
MAX_BATCH = 8


def load_labels(name: str, spec_dir: Path) -> tuple[str, ...]:
    """Labels shipped with pictod (e.g. "coco80" -> daemon/vision/coco80.txt) or a text file beside the
    descriptor, one name per line."""
    local = spec_dir / name
    if local.is_file():
        text = local.read_text(encoding="utf-8")
    else:
        shipped = resources.files("daemon.vision") / f"{name}.txt"
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

    def detect(self, images: Sequence[NDArray[np.uint8]], *, conf: float, iou: float) -> list[list[DetectedObject]]:
        """Objects in each RGB image, boxes in that image's pixels, best score first."""
        check_images(images)
        step = 1 if self._fixed_batch() else MAX_BATCH
        results: list[list[DetectedObject]] = []
        for start in range(0, len(images), step):
            results.extend(self._detect_batch(images[start : start + step], conf, iou))
        return results

    def _detect_batch(self, images: Sequence[NDArray[np.uint8]], conf: float, iou: float) -> list[list[DetectedObject]]:
        canvases: list[NDArray[np.uint8]] = []
        boxes_maps: list[transforms.Letterbox] = []
        for image in images:
            canvas, mapping = transforms.letterbox(image, self.input_size, pad_value=114)
            canvases.append(canvas)
            boxes_maps.append(mapping)
        batch = transforms.to_nchw(canvases, scale=1.0 / 255.0)
        (output,) = self.session.run(None, {self.input_name: batch})
        results: list[list[DetectedObject]] = []
        for image, mapping, out in zip(images, boxes_maps, output, strict=True):
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
