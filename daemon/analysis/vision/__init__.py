"""The model layer: onnxruntime sessions, pure transforms, one class per model kind, descriptors (spec), registry.

Knows nothing of files beyond the model descriptors and ONNX files, nothing of SQLite. The analysis chain
uses `load_models(cfg.models, workers=...)` and the three role interfaces re-exported here.
"""

from __future__ import annotations

from daemon.analysis.vision.base import FaceDetector, FaceEmbedder, ObjectDetector, RawFace
from daemon.analysis.vision.registry import KINDS, Models, build_model, load_descriptor, load_models
from daemon.analysis.vision.spec import ModelSpec

__all__ = [
    "KINDS",
    "FaceDetector",
    "FaceEmbedder",
    "ModelSpec",
    "Models",
    "ObjectDetector",
    "RawFace",
    "build_model",
    "load_descriptor",
    "load_models",
]
