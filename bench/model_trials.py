"""Trials of faster variants of the objects model, each against the shipped fp32 YOLOv10n on the benchmark photos.

The benchmark issue allows an optimised model only with a test showing agreement with the fp32 model: >= 98% of
the objects matched (same label, IoU >= 0.8), both ways. This script builds each candidate in a temporary
folder, runs it and the fp32 model on the same decoded photos (pictod's reduced decode and shrink), and reports
agreement, speed (alternating rounds, one intra-op thread, median ms per photo) and how many fp32 objects sit
just above the confidence threshold (those flip under any perturbation of the scores).

Candidates:
- rect: the same fp32 weights with free height and width, run on the letterbox cut to a multiple of 32 (a 4:3
  photo runs at 640x480 instead of 640x640 with grey bars);
- int8 QDQ static quantisation (onnxruntime.quantization, per-channel int8 weights, uint8 activations, MinMax
  calibration on 200 other photos of the benchmark set): `int8-head-float` quantises everything but the
  detection head (model.23: its convs, DFL, sigmoid and the output concat stay float); `int8-backbone` only
  the backbone (model.0-9).

Needs the `onnx` package (`pip install .[bench]`). Nothing here is shipped: a candidate only replaces the
shipped model if it passes, and then through models/*.toml and tools/export_models.sh.

    .venv/bin/python bench/model_trials.py [--photos 200] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import workload  # noqa: E402
from reference import _matched  # noqa: E402

from daemon import imaging  # noqa: E402
from daemon.config import ModelsConfig  # noqa: E402
from daemon.types import DetectedObject  # noqa: E402
from daemon.vision import transforms, yolo  # noqa: E402
from daemon.vision.registry import build_model, load_descriptor  # noqa: E402

SHIPPED = REPO / "models" / "yolov10n.toml"
CONF, IOU = 0.7, 0.5  # config.toml's object thresholds
AGREEMENT = 0.98


def shrunk_photos(paths: Sequence[Path]) -> list[NDArray[np.uint8]]:
    """Each photo as pictod's chain hands it to the detectors: reduced decode, shrunk once to 640."""
    out = []
    for path in paths:
        image = imaging.load(path, max_pixels=200_000_000, max_file_bytes=1 << 30, target_long_side=1280)
        out.append(transforms.fit_within(image.rgb, 640)[0])
    return out


def _rect_letterbox(image: NDArray[np.uint8], size: tuple[int, int], **kw: Any) -> Any:
    """The letterbox cut down to the smallest multiple of 32 around the resized photo (ultralytics' 'auto')."""
    h, w = image.shape[:2]
    scale = min(size[0] / w, size[1] / h)
    cw = min(size[0], math.ceil(round(w * scale) / 32) * 32)
    ch = min(size[1], math.ceil(round(h * scale) / 32) * 32)
    return _SQUARE(image, (cw, ch), **kw)


_SQUARE = transforms.letterbox


def make_rect(src: Path, dst: Path) -> None:
    """The fp32 graph with free input height/width and anchor count (the head computes its anchors itself)."""
    import onnx

    model = onnx.load(str(src))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for i, name in ((2, "height"), (3, "width")):
        dims[i].ClearField("dim_value")
        dims[i].dim_param = name
    out = model.graph.output[0].type.tensor_type.shape.dim
    out[2].ClearField("dim_value")
    out[2].dim_param = "anchors"
    onnx.save(model, str(dst))


def make_int8(
    src: Path, dst: Path, calibration: Sequence[NDArray[np.uint8]], keep_float: Callable[[str], bool]
) -> None:
    """QDQ int8 of `src` calibrated on `calibration`; nodes for which keep_float(name) is true stay float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    excluded = [n.name for n in onnx.load(str(pre)).graph.node if keep_float(n.name)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[NDArray[np.float32]] = (
                transforms.to_nchw([transforms.letterbox(im, (640, 640), pad_value=114)[0]], scale=1.0 / 255.0)
                for im in calibration
            )

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch}

    quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
                    calibrate_method=CalibrationMethod.MinMax)
    pre.unlink()


def detector(path: Path) -> yolo.YoloDetector:
    """A YoloDetector for an arbitrary ONNX file with the shipped descriptor's labels and sizes, one thread."""
    spec = load_descriptor(SHIPPED)
    spec = replace(spec, path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    model = build_model(spec, ModelsConfig(intra_op_threads=1, inter_op_threads=1))
    assert isinstance(model, yolo.YoloDetector)
    return model


def detect_all(
    det: yolo.YoloDetector, photos: Sequence[NDArray[np.uint8]], rect: bool
) -> tuple[list[list[DetectedObject]], float]:
    """Objects of every photo and the ms per photo."""
    yolo.transforms.letterbox = _rect_letterbox if rect else _SQUARE  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        found = [det.detect([p], conf=CONF, iou=IOU)[0] for p in photos]
        return found, (time.perf_counter() - start) * 1000 / len(photos)
    finally:
        yolo.transforms.letterbox = _SQUARE  # type: ignore[assignment]


def agreement(ours: Sequence[Sequence[DetectedObject]], ref: Sequence[Sequence[DetectedObject]]) -> dict[str, Any]:
    """Objects matched one to one (same label, IoU >= 0.8) as a share of each side's objects."""
    pairs = zip(ours, ref, strict=True)
    matched = sum(_matched([(o.label, o.box) for o in a], [(o.label, o.box) for o in b]) for a, b in pairs)
    n_ours, n_ref = sum(map(len, ours)), sum(map(len, ref))
    same = sum(sorted(o.label for o in a) == sorted(o.label for o in b) for a, b in zip(ours, ref, strict=True))
    share_ref = matched / n_ref if n_ref else 1.0
    share_ours = matched / n_ours if n_ours else 1.0
    return {"objects_fp32": n_ref, "objects": n_ours, "matched": matched, "of_fp32": round(share_ref, 3),
            "of_candidate": round(share_ours, 3), "photos_same_labels": same,
            "passes": min(share_ref, share_ours) >= AGREEMENT}


def margins(det: yolo.YoloDetector, photos: Sequence[NDArray[np.uint8]]) -> dict[str, float]:
    """Share of the fp32 objects kept at CONF whose score is within d above it (and the share within d below)."""
    scores = np.array([o.score for p in photos for o in det.detect([p], conf=CONF - 0.1, iou=IOU)[0]])
    kept = max(1, int((scores >= CONF).sum()))
    out = {}
    for d in (0.01, 0.02, 0.05):
        out[f"above_{d}"] = round(float(((scores >= CONF) & (scores < CONF + d)).sum()) / kept, 3)
        out[f"below_{d}"] = round(float(((scores < CONF) & (scores >= CONF - d)).sum()) / kept, 3)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trials and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200, help="benchmark photos compared (and as many calibrate)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating timing rounds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))
    # Photos 0..n-1 are compared, n..2n-1 calibrate (the sets are prefixes of one deterministic sequence).
    need = 2 * args.photos
    cached = (workload.load(n) for n in (200, 2000) if n >= need)
    wl = next((w for w in cached if w is not None), None) or workload.build(need, log=False)
    items = [wl.photos / i.name for i in wl.items]
    photos, calibration = shrunk_photos(items[: args.photos]), shrunk_photos(items[args.photos : 2 * args.photos])
    fp32_path = load_descriptor(SHIPPED).path
    fp32 = detector(fp32_path)
    ref, _ = detect_all(fp32, photos, rect=False)
    result: dict[str, Any] = {"photos": len(photos), "calibration_photos": len(calibration), "conf": CONF,
                              "threshold_margins": margins(fp32, photos), "candidates": {}}
    with tempfile.TemporaryDirectory() as tmp:
        rect_path, head_path, backbone_path = (Path(tmp) / f"{n}.onnx" for n in ("rect", "head", "backbone"))
        make_rect(fp32_path, rect_path)
        make_int8(fp32_path, head_path, calibration, lambda name: name.startswith("/model.23/"))
        make_int8(fp32_path, backbone_path, calibration,
                  lambda name: not re.match(r"/model\.[0-9]/", name))
        candidates = {"rect": (rect_path, True), "int8-head-float": (head_path, False),
                      "int8-backbone": (backbone_path, False)}
        for name, (path, rect) in candidates.items():
            det = detector(path)
            found, _ = detect_all(det, photos, rect)
            ours_ms, fp32_ms = [], []
            for r in range(args.rounds):  # alternating, so a busy moment hits both
                for which in ((0, 1) if r % 2 == 0 else (1, 0)):
                    if which == 0:
                        ours_ms.append(detect_all(det, photos, rect)[1])
                    else:
                        fp32_ms.append(detect_all(fp32, photos, False)[1])
            result["candidates"][name] = {
                **agreement(found, ref),
                "ms_per_photo": round(statistics.median(ours_ms), 1),
                "fp32_ms_per_photo": round(statistics.median(fp32_ms), 1),
                "speedup": round(statistics.median(f / o for f, o in zip(fp32_ms, ours_ms, strict=True)), 2),
            }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"{result['photos']} photos, conf {CONF}; fp32 objects within +0.02 of the threshold: "
              f"{result['threshold_margins']['above_0.02']:.1%}")
        for name, c in result["candidates"].items():
            print(f"{name:16s} x{c['speedup']:.2f} ({c['fp32_ms_per_photo']} -> {c['ms_per_photo']} ms), matched "
                  f"{c['of_fp32']:.1%} of fp32 / {c['of_candidate']:.1%} of its own, "
                  f"{'passes' if c['passes'] else 'fails'} the {AGREEMENT:.0%} rule")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
