"""What reading XMP metadata costs per photo next to the analysis itself (issue 13's target: at most 2% CPU).

Photos: the first N of the benchmark set (bench/workload.py: 12 MP phone JPEGs and HEICs). Each is read three
ways, interleaved with its analysis so machine noise hits both alike:
  bare      - no sidecar: what every photo without metadata pays (the header walk, the sidecar stat calls);
  digikam   - a sidecar with 3 named MWG regions and People tags (written by pictod's own writer);
  press     - a sidecar with a real press photo's full XMP (>100 properties, 15 KB) plus the 3 regions.
CPU is process time (all threads: the analysis runs onnxruntime on two). Ratios are of sums over the photos.
The integrated path is measured too: the daemon's own analysis job (`Intake._analyse_job`: read the metadata, match
its regions to the detected faces, analyse) with [metadata] read on against read off, on the photos without a
sidecar (what every photo pays); with the digiKam sidecars its regions (placed where no face is) are also embedded.

    .venv/bin/python bench/metadata_cost.py [--photos 30] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))

import structlog  # noqa: E402
import workload  # noqa: E402
from pictod_testdata import FACE_RECOGNITION  # noqa: E402
from PIL import Image  # noqa: E402

from daemon import config  # noqa: E402
from daemon.analysis.analyzer import Analyzer  # noqa: E402
from daemon.metadata import NamedFace, SidecarContent, read_metadata, write_sidecar  # noqa: E402
from daemon.runtime.intake import Intake  # noqa: E402

TARGET = 0.02
KINDS = ("bare", "digikam", "press")


def _faces(width: int, height: int) -> tuple[NamedFace, ...]:
    return tuple(
        NamedFace(name, (width * (0.1 + 0.3 * i), height * 0.2, width * (0.25 + 0.3 * i), height * 0.4), f"face:{i}")
        for i, name in enumerate(("Ana Müller", "Björn Ek", "王芳"))
    )


def prepare(photos: list[Path], tmp: Path) -> dict[str, list[Path]]:
    """Three folders with the same photos: without sidecars, with a digiKam-sized one, with a press one."""
    with Image.open(FACE_RECOGNITION / "obama.jpg") as im:
        press_xmp = im.info["xmp"]  # the photo's own, real XMP packet
    out: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for kind in KINDS:
        folder = tmp / kind
        folder.mkdir()
        for source in photos:
            photo = folder / source.name
            photo.symlink_to(source)  # the same bytes, no copy of 12 MP files
            if kind == "press":
                (folder / f"{source.name}.xmp").write_bytes(press_xmp)
            if kind != "bare":
                with Image.open(source) as im:
                    size = im.size
                result = write_sidecar(photo, SidecarContent(faces=_faces(*size), keywords=("person",)))
                assert result.status == "written", result
            out[kind].append(photo)
    return out


def measure(n: int) -> dict[str, object]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    built = workload.build(workload.SIZES["quick"])
    photos = [built.photos / item.name for item in built.items[:n]]
    cfg = config.load(REPO / "config.toml", check_folders=False)
    analyzer = Analyzer.from_config(cfg, workers=1)
    analyzer.analyze_file(photos[0])  # warm-up: sessions, first allocations
    analysis: list[float] = []
    reads: dict[str, list[float]] = {kind: [] for kind in KINDS}
    integrated: dict[tuple[bool, str], list[float]] = {(False, "bare"): [], (True, "bare"): [], (True, "digikam"): []}
    with tempfile.TemporaryDirectory(prefix="pictod-metadata-bench-") as tmp_name:
        sets = prepare(photos, Path(tmp_name))
        for kind in KINDS:  # warm-up of the reading path (imports, Pillow plugins)
            read_metadata(sets[kind][0])
        jobs = {read: types.SimpleNamespace(cfg=dataclasses.replace(cfg, metadata=dataclasses.replace(
            cfg.metadata, read=read)), analyzer=analyzer) for read in (False, True)}
        for i in range(len(photos)):
            start = time.process_time()
            analyzer.analyze_file(photos[i])
            analysis.append(time.process_time() - start)
            data = photos[i].read_bytes()
            for read, folder in ((False, "bare"), (True, "bare"), (True, "digikam")):
                header = analyzer.open_header(data, photos[i].name)
                start = time.process_time()
                Intake._analyse_job(jobs[read], header, sets[folder][i])  # type: ignore[arg-type]
                integrated[(read, folder)].append(time.process_time() - start)
            for kind in KINDS:
                start = time.process_time()
                for _ in range(5):  # five reads per sample: one read is near the clock's resolution
                    meta = read_metadata(sets[kind][i])
                reads[kind].append((time.process_time() - start) / 5)
                if kind != "bare" and len(meta.regions) != 3:
                    raise RuntimeError(f"{kind}: expected 3 regions, got {meta}")
        shutil.rmtree(tmp_name, ignore_errors=True)
    total = sum(analysis)
    result: dict[str, object] = {
        "photos": len(photos),
        "formats": sorted({p.suffix.lower() for p in photos}),
        "analysis_cpu_ms_median": round(statistics.median(analysis) * 1000, 1),
        "target_ratio": TARGET,
    }
    for kind in KINDS:
        result[f"{kind}_read_cpu_ms_median"] = round(statistics.median(reads[kind]) * 1000, 3)
        result[f"{kind}_ratio"] = round(sum(reads[kind]) / total, 5)
    off = sum(integrated[(False, "bare")])
    result["integrated_job_off_cpu_ms_median"] = round(statistics.median(integrated[(False, "bare")]) * 1000, 1)
    result["integrated_bare_ratio"] = round(sum(integrated[(True, "bare")]) / off - 1, 5)
    result["integrated_digikam_ratio"] = round(sum(integrated[(True, "digikam")]) / off - 1, 5)
    result["meets_target"] = all(float(result[f"{kind}_ratio"]) <= TARGET for kind in KINDS) and \
        float(result["integrated_bare_ratio"]) <= TARGET  # type: ignore[arg-type]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=30, help="photos of the benchmark set to use (default 30)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    result = measure(args.photos)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['photos']} photos {result['formats']}: analysis {result['analysis_cpu_ms_median']} ms CPU "
              f"(median)")
        for kind in KINDS:
            print(f"  {kind:8s} read {result[f'{kind}_read_cpu_ms_median']:>7} ms CPU (median), "
                  f"{float(result[f'{kind}_ratio']) * 100:.3f}% of the analysis")  # type: ignore[arg-type]
        print(f"  integrated analysis job, read on vs off: no sidecar "
              f"{float(result['integrated_bare_ratio']) * 100:+.2f}%, digiKam sidecar (3 regions embedded) "  # type: ignore[arg-type]
              f"{float(result['integrated_digikam_ratio']) * 100:+.2f}%")  # type: ignore[arg-type]
        print(f"target <= {TARGET * 100:.0f}%: {'met' if result['meets_target'] else 'NOT met'}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
