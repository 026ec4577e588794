"""ModelSpec: one parsed model descriptor (`models/*.toml`), the plain record every model class is built from.

Below the model classes and the registry: they import it, it imports nothing of vision/, so vision/ has no
import cycle (registry -> model classes -> spec).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model descriptor."""

    kind: str
    role: str
    path: Path  # the ONNX file, resolved against the descriptor's folder
    sha256: str
    input_size: tuple[int, int]  # width, height (with a stride: the largest input)
    descriptor: Path
    # Set for graphs with free height and width: each image runs on the smallest multiple of it that holds the
    # image (a 4:3 photo at 640x480, not letterboxed to a 640x640 square); None: always input_size.
    stride: int | None = None
    pad: int = 0  # with a stride: letterbox pixels kept at least on each side of the image (its short axis)
    labels: str | None = None
    dim: int | None = None
    conf: float | None = None
    iou: float | None = None
    match: float | None = None
    licence: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
