"""The analysis chain on real photos: per-stage ms (median), photos/s, and whole-chain time over the models'
own inference time (the overhead of decoding, letterboxing, NMS, alignment and mapping).

Photos: skimage data, face_recognition, dlib VOC faces, labelme; plus phone-sized (4032x3024) JPEGs derived
in a temp dir from them (cropped/flipped/upscaled, so each is unique). Also compares full and reduced (DCT)
decoding of the phone JPEGs: time and how much the face embeddings move.

    .venv/bin/python bench/analyze.py [--repeat 3] [--phone 6] [--workers 1] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import structlog
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import DLIB_FACES, FACE_RECOGNITION, LABELME, SKIMAGE  # noqa: E402

from daemon import config  # noqa: E402
from daemon.analysis.analyzer import Analyzer  # noqa: E402
from daemon.errors import PhotoError  # noqa: E402
from daemon.types import DetectedFace, PhotoAnalysis  # noqa: E402

PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png"}


class TimedSession:
    """Wraps an InferenceSession: adds each run()'s wall time to the calling thread's counter."""

    def __init__(self, session: Any, counter: threading.local) -> None:
        self._session = session
        self._counter = counter

    def run(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._session.run(*args, **kwargs)
        finally:
            self._counter.ms = getattr(self._counter, "ms", 0.0) + (time.perf_counter() - start) * 1000

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def real_photos() -> list[Path]:
    folders = [SKIMAGE, FACE_RECOGNITION, DLIB_FACES, LABELME / "bbox_detection" / "data_annotated",
               LABELME / "classification"]
    photos: list[Path] = []
    for folder in folders:
        photos += sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_EXTENSIONS)
    return photos


def phone_photos(folder: Path, count: int) -> list[Path]:
    """Unique 4032x3024 JPEGs: crop, flip and upscale real photos (quality 90, like a phone)."""
    sources = [SKIMAGE / "astronaut.png", FACE_RECOGNITION / "obama.jpg", SKIMAGE / "chelsea.png",
               SKIMAGE / "coffee.png", DLIB_FACES / "2008_001009.jpg", LABELME / "bbox_detection" /
               "data_annotated" / "2011_000003.jpg", FACE_RECOGNITION / "biden.jpg", SKIMAGE / "rocket.jpg"]
    out = []
    for i in range(count):
        with Image.open(sources[i % len(sources)]) as im:
            image = im.convert("RGB")
        w, h = image.size
        # Crop to 4:3 (a different margin per copy), mirror every other one.
        crop_h = min(h, round(w * 3 / 4)) - (i // len(sources)) * 4
        crop_w = round(crop_h * 4 / 3)
        image = image.crop((0, 0, min(w, crop_w), crop_h))
        if i % 2:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        image = image.resize((4032, 3024), Image.Resampling.BICUBIC)
        path = folder / f"phone_{i:02d}.jpg"
        image.save(path, quality=90)
        out.append(path)
    return out


def group_mosaic(folder: Path) -> Path:
    """A 4032x3024 JPEG of small faces: dlib VOC group photos at 2x, tiled 4x4 with flips, so faces are
    ~75-105 px (just detectable after the detector shrinks the photo to 640 px): the hard case for reduced
    decoding."""
    tiles = []
    for name in ("2007_007763.jpg", "2008_002079.jpg", "2008_002470.jpg", "2009_004587.jpg"):
        with Image.open(DLIB_FACES / name) as im:
            tiles.append(im.convert("RGB").resize((1008, 756), Image.Resampling.BICUBIC))
    canvas = Image.new("RGB", (4032, 3024))
    for row in range(4):
        for col in range(4):
            tile = tiles[(row + col) % len(tiles)]
            if (row + col) % 2:
                tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            canvas.paste(tile, (col * 1008, row * 756))
    path = folder / "group_mosaic.jpg"
    canvas.save(path, quality=90)
    return path


def run_set(analyzer: Analyzer, photos: Sequence[Path], counter: threading.local, repeat: int,
            workers: int) -> dict[str, Any]:
    """Analyse every photo `repeat` times; medians per stage, photos/s, overhead ratio."""
    stages: dict[str, list[float]] = {"decode": [], "objects": [], "faces": [], "embed": []}
    faces_ms: dict[bool, list[float]] = {True: [], False: []}  # face stage, by whether a face was found
    totals: list[float] = []
    inference: list[float] = []
    errors = 0
    lock = threading.Lock()

    def one(path: Path) -> None:
        nonlocal errors
        counter.ms = 0.0
        start = time.perf_counter()
        try:
            result = analyzer.analyze_file(path)
        except PhotoError:
            with lock:
                errors += 1
            return
        total = (time.perf_counter() - start) * 1000
        with lock:
            totals.append(total)
            inference.append(counter.ms)
            for key in stages:
                stages[key].append(result.timings_ms.get(key, 0.0))
            faces_ms[bool(result.faces)].append(result.timings_ms.get("faces", 0.0))

    jobs = [p for _ in range(repeat) for p in photos]
    start = time.perf_counter()
    if workers == 1:
        for path in jobs:
            one(path)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, jobs))
    wall = time.perf_counter() - start
    return {
        "photos": len(photos),
        "runs": len(totals),
        "errors": errors,
        "median_ms": {k: round(statistics.median(v), 1) for k, v in stages.items() if v},
        "median_total_ms": round(statistics.median(totals), 1),
        "median_inference_ms": round(statistics.median(inference), 1),
        "photos_per_s": round(len(jobs) / wall, 2),
        "overhead_ratio": round(sum(totals) / sum(inference), 2),
        # Without a face the second (padded) pass runs too: the difference is its cost.
        "median_faces_ms_with_face": round(statistics.median(faces_ms[True]), 1) if faces_ms[True] else None,
        "median_faces_ms_without_face": round(statistics.median(faces_ms[False]), 1) if faces_ms[False] else None,
    }


def reduced_vs_full(analyzer: Analyzer, photos: Sequence[Path], targets: Sequence[int]) -> list[dict[str, Any]]:
    """Same phone photos decoded in full and DCT-reduced for each target long side: decode and chain ms,
    faces found, and how far the face embeddings move (cosine similarity to the full-decode embedding)."""
    full = Analyzer(dataclasses.replace(analyzer.config, reduced_decode=False), analyzer.models)
    base = [full.analyze_file(path) for path in photos]
    rows = [{
        "target_long_side": None,
        "decode_ms": round(statistics.median(r.timings_ms["decode"] for r in base), 1),
        "chain_ms": round(statistics.median(sum(r.timings_ms.values()) for r in base), 1),
        "faces": sum(len(r.faces) for r in base),
        "min_embedding_cosine": 1.0,
        "median_embedding_cosine": 1.0,
    }]
    for target in targets:
        reduced = Analyzer(analyzer.config, analyzer.models)
        reduced.target_long_side = target
        results = [reduced.analyze_file(path) for path in photos]
        cosines = [float(x.embedding @ y.embedding) for a, b in zip(base, results, strict=True)
                   for x, y in _pairs(a, b)]
        rows.append({
            "target_long_side": target,
            "decode_ms": round(statistics.median(r.timings_ms["decode"] for r in results), 1),
            "chain_ms": round(statistics.median(sum(r.timings_ms.values()) for r in results), 1),
            "faces": sum(len(r.faces) for r in results),
            "min_embedding_cosine": round(min(cosines), 4) if cosines else None,
            "median_embedding_cosine": round(statistics.median(cosines), 4) if cosines else None,
        })
    return rows


def _pairs(a: PhotoAnalysis, b: PhotoAnalysis) -> list[tuple[DetectedFace, DetectedFace]]:
    """Faces of two analyses of the same photo matched by nearest box centre (within 20 px)."""
    pairs = []
    for x in a.faces:
        cx, cy = (x.box[0] + x.box[2]) / 2, (x.box[1] + x.box[3]) / 2
        near = [(abs((y.box[0] + y.box[2]) / 2 - cx) + abs((y.box[1] + y.box[3]) / 2 - cy), i)
                for i, y in enumerate(b.faces)]
        if near and min(near)[0] < 20:
            pairs.append((x, b.faces[min(near)[1]]))
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--phone", type=int, default=8, help="phone-sized JPEGs to derive (+ 1 group mosaic)")
    parser.add_argument("--workers", type=int, default=1, help="threads calling the analyzer at once")
    parser.add_argument("--targets", default="1280,1000,500", help="reduced-decode long sides to compare")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))

    cfg = config.load(REPO / "config.toml", check_folders=False)
    analyzer = Analyzer.from_config(cfg, workers=args.workers)
    counter = threading.local()
    for model in (analyzer.models.objects, analyzer.models.faces, analyzer.models.embeddings):
        model.session = TimedSession(model.session, counter)

    results: dict[str, Any] = {"workers": args.workers, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp:
        real = real_photos()
        phones = [*phone_photos(Path(tmp), args.phone), group_mosaic(Path(tmp))]
        analyzer.analyze_file(real[0])  # warm-up: first runs allocate
        results["real"] = run_set(analyzer, real, counter, args.repeat, args.workers)
        results["phone"] = run_set(analyzer, phones, counter, args.repeat, args.workers)
        targets = [int(t) for t in args.targets.split(",") if t]
        results["reduced_decode"] = reduced_vs_full(analyzer, phones, targets)

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"analysis chain, workers={args.workers}, repeat={args.repeat} (median ms per photo)")
    header = f"{'set':<8}{'photos':>7}{'decode':>8}{'objects':>9}{'faces':>7}{'embed':>7}{'total':>8}" \
             f"{'models':>8}{'photo/s':>9}{'overhead':>10}"
    print(header)
    for name in ("real", "phone"):
        r = results[name]
        m = r["median_ms"]
        print(f"{name:<8}{r['photos']:>7}{m['decode']:>8}{m['objects']:>9}{m['faces']:>7}{m['embed']:>7}"
              f"{r['median_total_ms']:>8}{r['median_inference_ms']:>8}{r['photos_per_s']:>9}"
              f"{r['overhead_ratio']:>9}x")
    for name in ("real", "phone"):
        r = results[name]
        print(f"{name}: face stage {r['median_faces_ms_with_face']} ms when a face is found, "
              f"{r['median_faces_ms_without_face']} ms when none is (second, padded pass included)")
    print("phone JPEGs, decoded in full vs reduced (scale = 4032 / decoded long side):")
    print(f"{'target':>8}{'decode':>8}{'chain':>8}{'faces':>7}{'min cos':>9}{'med cos':>9}")
    for row in results["reduced_decode"]:
        print(f"{row['target_long_side'] or 'full':>8}{row['decode_ms']:>8}{row['chain_ms']:>8}{row['faces']:>7}"
              f"{row['min_embedding_cosine']!s:>9}{row['median_embedding_cosine']!s:>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
