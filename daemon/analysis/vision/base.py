"""The model roles (object detector, face detector, face embedder) every kind implements, and RawFace.

A model object is built once with its InferenceSession and keeps no mutable state afterwards, so one
instance can serve several executor threads at once (onnxruntime's `run` is thread-safe).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from daemon.analysis.vision import transforms
from daemon.analysis.vision.spec import ModelSpec
from daemon.errors import ModelError
from daemon.types import DetectedObject

NO_LANDMARKS: NDArray[np.float32] = np.zeros((0, 2), dtype=np.float32)
NO_LANDMARKS.setflags(write=False)  # shared by every landmark-less face


@dataclass(frozen=True)
class RawFace:
    """One detected face before embedding: box (x1, y1, x2, y2 in the input image's pixels), score, and
    landmarks (5, 2) right eye, left eye, nose, right mouth, left mouth, or (0, 2) if the detector has none."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: NDArray[np.float32]


def check_images(images: Sequence[NDArray[np.uint8]]) -> None:
    """Raise ValueError unless every image is an RGB HxWx3 uint8 array (a caller bug, not a photo problem)."""
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB HxWx3 uint8 image, got shape {image.shape} {image.dtype}")
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise ValueError(f"expected a non-empty image, got shape {image.shape}")


class OnnxModel:
    """Tiny base: the descriptor, the session built once, and the graph's first input name."""

    kind: ClassVar[str]

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        self.spec = spec
        self.session = session
        self.input_name: str = session.get_inputs()[0].name
        self.input_size: tuple[int, int] = spec.input_size
        shape = session.get_inputs()[0].shape
        if len(shape) != 4 or shape[1] not in (3, "3"):
            raise self._bad_graph(f"expected one NCHW 3-channel image input, got {shape}")
        fixed = (shape[3], shape[2])
        if all(isinstance(v, int) for v in fixed) and fixed != spec.input_size:
            raise ModelError(
                f"model {spec.path} takes {fixed[0]}x{fixed[1]} images but {spec.descriptor} says input_size = "
                f"{list(spec.input_size)}; fix input_size"
            )
        if spec.stride is not None and any(isinstance(v, int) for v in fixed):
            raise ModelError(
                f"model {spec.path} takes a fixed image size but {spec.descriptor} sets stride = {spec.stride}; "
                "remove stride, or export the graph with free height and width"
            )
        self._check_graph()

    def with_spec(self, spec: ModelSpec) -> Self:
        """The same kind around the same session with another descriptor (e.g. stride None: the square input)."""
        return type(self)(spec, self.session)

    def _check_graph(self) -> None:
        """Raise ModelError if the graph does not have the inputs/outputs this kind decodes."""

    def _bad_graph(self, why: str) -> ModelError:
        return ModelError(
            f"model {self.spec.path} does not look like a {self.kind!r} model ({why}); "
            f"check kind in {self.spec.descriptor}"
        )

    def _fixed_batch(self) -> bool:
        """True if the graph's batch dimension is a fixed number (then images run one at a time)."""
        return isinstance(self.session.get_inputs()[0].shape[0], int)

    def _run_by_shape(self, canvases: Sequence[NDArray[np.uint8]], *, scale: float) -> list[NDArray[np.float32]]:
        """The first output for each HxWx3 canvas, one run per distinct canvas shape: with a stride, photos of
        other aspect ratios get canvases of other shapes, which cannot share a batch."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, canvas in enumerate(canvases):
            groups.setdefault(canvas.shape, []).append(i)
        outputs: list[NDArray[np.float32]] = [np.zeros(0, np.float32)] * len(canvases)
        for indices in groups.values():
            batch = transforms.to_nchw([canvases[i] for i in indices], scale=scale)
            (out,) = self.session.run(None, {self.input_name: batch})
            for i, row in zip(indices, out, strict=True):
                outputs[i] = row
        return outputs


class ObjectDetector(OnnxModel, ABC):
    """Role "objects": COCO objects with labels."""

    labels: tuple[str, ...]

    @abstractmethod
    def detect(self, images: Sequence[NDArray[np.uint8]], *, conf: float, iou: float) -> list[list[DetectedObject]]:
        """Objects in each RGB image, boxes in that image's pixels, best score first."""


class FaceDetector(OnnxModel, ABC):
    """Role "faces": face boxes, scores and (if the model has them) 5 landmarks."""

    has_landmarks: bool
    # Each kind's own thresholds, used when its descriptor names none.
    kind_conf: ClassVar[float]
    kind_iou: ClassVar[float]

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        super().__init__(spec, session)
        self.default_conf: float = spec.conf if spec.conf is not None else self.kind_conf
        self.iou: float = spec.iou if spec.iou is not None else self.kind_iou

    @abstractmethod
    def detect(self, images: Sequence[NDArray[np.uint8]], *, conf: float | None = None) -> list[list[RawFace]]:
        """Faces in each RGB image, best score first; conf None means the descriptor's threshold."""


class FaceEmbedder(OnnxModel, ABC):
    """Role "embeddings": one L2-normalised vector per face."""

    dim: int

    def __init__(self, spec: ModelSpec, session: ort.InferenceSession) -> None:
        super().__init__(spec, session)
        out_dim = session.get_outputs()[0].shape[-1]
        if spec.dim is not None and isinstance(out_dim, int) and out_dim != spec.dim:
            raise ModelError(
                f"model {spec.path} gives {out_dim}-d embeddings but {spec.descriptor} says dim = {spec.dim}"
            )
        if spec.dim is None and not isinstance(out_dim, int):
            raise ModelError(f"model {spec.path}: embedding size unknown; set dim in {spec.descriptor}")
        self.dim = spec.dim if spec.dim is not None else int(out_dim)

    # Faces per run. Large batches buy nothing on a CPU and cost memory: without onnxruntime's arena every run
    # allocates its activations afresh. Measured (SFace, 1 thread, 25 faces, quiet machine): 26.1/23.1/20.4/20.6
    # ms a face at batch 32/8/4/1; in a 2,000-photo scan the group photos (19-26 faces) at batch 32 added
    # 110-190 MiB of RSS for about a second each (the steps of the memory figure), +0 MiB at batch 4.
    max_batch: ClassVar[int] = 4

    def _check_graph(self) -> None:
        if len(self.session.get_outputs()[0].shape) != 2:
            raise self._bad_graph("expected one output [batch, dim]")

    @abstractmethod
    def _inputs(self, image: NDArray[np.uint8], faces: Sequence[RawFace]) -> NDArray[np.float32]:
        """The model's float32 NCHW input batch, one crop per face."""

    def embed(self, image: NDArray[np.uint8], faces: Sequence[RawFace]) -> NDArray[np.float32]:
        """(len(faces), dim) float32 L2-normalised embeddings of the faces in one RGB image."""
        check_images([image])
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = self._inputs(image, faces)
        # A graph with a fixed batch of 1 (the converted FaceNet) takes one crop per run.
        step = 1 if self._fixed_batch() else self.max_batch
        parts = [self.session.run(None, {self.input_name: batch[i : i + step]})[0] for i in range(0, len(batch), step)]
        return transforms.l2_normalize(np.concatenate(parts).astype(np.float32))
