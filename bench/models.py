"""Model timings: ms per image / per face for YOLO (batch 1 vs 4), YuNet, SFace (batch 1 vs 8), at 1 and 2
intra-op threads; and both detectors on a 4:3 photo at 640x480 ("fit", the shipped descriptors' stride) and on
the 640x640 square. Real photos from the test cache; end-to-end calls (pre-processing, run, decode).

    .venv/bin/python bench/models.py [--repeat 10]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import structlog

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "vision"))

from vision_data import FACE_RECOGNITION, SKIMAGE  # noqa: E402

from daemon.analysis.vision import Models, load_models  # noqa: E402
from daemon.config import ModelsConfig  # noqa: E402


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def timed_ms(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cases(models: Models, photos: list[np.ndarray]) -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (call, how many images or faces one call handles)."""
    astronaut = photos[0]
    face = models.faces.detect([astronaut])[0][0]
    out: dict[str, tuple[Callable[[], object], int]] = {}
    for i, photo in enumerate(photos):
        out[f"yolo b1 #{i}"] = (lambda p=photo: models.objects.detect([p], conf=0.5, iou=0.5), 1)
        out[f"yunet #{i}"] = (lambda p=photo: models.faces.detect([p]), 1)
    # A phone-sized frame (12 MP): what the letterbox shrink costs on top of the run.
    phone = np.asarray(cv2.resize(photos[3], (4032, 3024), interpolation=cv2.INTER_CUBIC), dtype=np.uint8)
    out["yolo 12MP"] = (lambda: models.objects.detect([phone], conf=0.5, iou=0.5), 1)
    out["yunet 12MP"] = (lambda: models.faces.detect([phone]), 1)
    out["yolo b4"] = (lambda: models.objects.detect(photos, conf=0.5, iou=0.5), len(photos))
    # A 4:3 photo as the chain hands it over (640x480), fitted and on the square canvas (stride None).
    four_three = np.asarray(cv2.resize(photos[2], (640, 480), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    square_objects = models.objects.with_spec(dataclasses.replace(models.objects.spec, stride=None, pad=0))
    square_faces = models.faces.with_spec(dataclasses.replace(models.faces.spec, stride=None, pad=0))
    out["yolo 4:3 fit"] = (lambda: models.objects.detect([four_three], conf=0.5, iou=0.5), 1)
    out["yolo 4:3 square"] = (lambda: square_objects.detect([four_three], conf=0.5, iou=0.5), 1)
    out["yunet 4:3 fit"] = (lambda: models.faces.detect([four_three]), 1)
    out["yunet 4:3 square"] = (lambda: square_faces.detect([four_three]), 1)
    out["sface b1"] = (lambda: models.embeddings.embed(astronaut, [face]), 1)
    out["sface b8"] = (lambda: models.embeddings.embed(astronaut, [face] * 8), 8)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="calls per case per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, alternating thread settings")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    photos = [
        read_rgb(SKIMAGE / "astronaut.png"),
        read_rgb(SKIMAGE / "coffee.png"),
        read_rgb(SKIMAGE / "chelsea.png"),
        read_rgb(FACE_RECOGNITION / "obama.jpg"),
    ]
    settings = (1, 2)
    runs: dict[int, dict[str, tuple[Callable[[], object], int]]] = {}
    for threads in settings:
        cfg = ModelsConfig(
            objects=REPO / "models" / "yolov10n.toml",
            faces=REPO / "models" / "yunet.toml",
            embeddings=REPO / "models" / "sface.toml",
            intra_op_threads=threads,
        )
        runs[threads] = cases(load_models(cfg, workers=1), photos)
        for fn, _ in runs[threads].values():
            fn()  # warm-up: the first run allocates arenas
    load_before = os.getloadavg()[0]
    # Rounds alternate the thread settings so a burst of load from elsewhere hits both alike.
    samples: dict[tuple[int, str], list[float]] = {}
    for _ in range(args.rounds):
        for threads in settings:
            for name, (fn, per) in runs[threads].items():
                samples.setdefault((threads, name), []).append(timed_ms(fn, args.repeat) / per)
    load_after = os.getloadavg()[0]

    def ms(threads: int, prefix: str) -> float:
        values = [statistics.median(v) for (t, n), v in samples.items() if t == threads and n.startswith(prefix)]
        return statistics.mean(values)

    print(
        f"cores={os.cpu_count()} rounds={args.rounds} repeat={args.repeat} "
        f"loadavg {load_before:.1f} -> {load_after:.1f}; median ms per image (per face for sface)"
    )
    columns = ("yolo b1", "yolo b4", "yolo 12MP", "yolo 4:3 fit", "yolo 4:3 square", "yunet #", "yunet 12MP",
               "yunet 4:3 fit", "yunet 4:3 square", "sface b1", "sface b8")
    print(f"{'threads':>7} " + " ".join(f"{c.rstrip(' #'):>16}" for c in columns))
    for threads in settings:
        print(f"{threads:>7} " + " ".join(f"{ms(threads, c):>16.1f}" for c in columns))


if __name__ == "__main__":
    main()
