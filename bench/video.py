"""Videos (issue 24): CPU per minute and per video against photos, the daemon's peak RSS with a long 4K file,
people found on a labelled set of clips, and the sampling defaults chosen from a grid on that set.

Clips (tools/make_clips.py, made once into the cache `bench/video/`; none ships in a package):
- the labelled set: `--clips` clips of `--seconds` s at 1280x720 30 fps H.264 (key frame every 1 s, as phones),
  each a seeded sequence of scenes of 1.5-8 s: a real background photo panned, 0-2 of the dlib johns crops
  (5 people, other crops than the test clips use) moving and scaling, some walking in mid-scene, hard cuts;
  the labels say who is visible when;
- cost: 60 s of 1080p H.264 (30 fps, key frame every 1 s) as a phone films it, one take (a slow pan, three
  johns walking in and out in turn: `one_take`), and the same length made like the labelled set (a cut every
  ~5 s); 60 s of 4K HEVC: a 4 s composed stretch encoded with x265 and its packets repeated (no re-encoding);
- RSS: the same 4 s 4K HEVC stretch repeated to `--long-seconds` (default an hour), scanned by a real
  `pictod scan` subprocess whose process tree is sampled every 0.1 s.
Photos for the comparison: 10 phone-sized (4032 px) JPEGs derived from the real test photos (harness
make_variants), through the same analyzer in the same process and run (open_header + analyze_header, as the
daemon does). CPU is process CPU time (user + system, every thread), so the thread layout does not matter.

People found: a (clip, person) visible for >= 2 s in total is found when one of the clip's faces is nearest
(mean embedding of that john's 11 crops) to that person within cosine 0.5. Duplicates: a `pictod scan` of the
labelled set; any person holding two faces of one (video, track) would be one (each track gives one face).

`--variants`: the cost savers side by side in the same run (VARIANTS: borrowed embeddings, same_look,
objects_threshold), each against the first row: people found, object labels and seconds kept, CPU per cost clip.

    .venv/bin/python bench/video.py [--clips 12] [--seconds 30] [--long-seconds 3600] [--skip-rss] [--grid]
                                    [--variants] [--looks]

`--looks` prints the check behind `video.same_look`: over the labelled set and the 1080p cost clips, every face
near a face of the previous analysed frame (all embedded), how alike their looks are against how far apart
their embeddings are (last run: 93 pairs; the 19 at or above 0.8 within cosine 0.126; the 40 pairs of two
people, cosine > 0.5, at most 0.534 alike).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tools"))

from harness import Daemon, make_variants, query, write_config  # noqa: E402
from make_clips import Actor, Scene, Sources, compose, encode, labelled_scenes, labelled_set, long_clip  # noqa: E402
from pictod_testdata import FACE_RECOGNITION, JOHNS, SKIMAGE, TESTDATA, cache_root  # noqa: E402

from daemon import config  # noqa: E402
from daemon.analysis import video  # noqa: E402
from daemon.analysis.analyzer import Analyzer  # noqa: E402
from daemon.config import VideoConfig  # noqa: E402

CACHE = cache_root() / "bench" / "video"
RESULTS_JSON = REPO / "bench" / "video_results.json"
RESULTS_MD = REPO / "bench" / "results.md"
MARK_START, MARK_END = "<!-- bench/video.py: begin -->", "<!-- bench/video.py: end -->"
FOUND_EPS = 0.5
COST_ROUNDS = 3  # the cost figures: best of this many rounds of (10 photos, each cost clip)
# The grid of the last run (`--grid`); the rows of earlier runs are in the commit that chose the defaults.
GRID = [dict(sample_every=s, scene_threshold=t) for s in (3.0, 4.0, 6.0) for t in (0.2, 0.3)]


def cpu() -> float:
    return time.process_time()


def johns_centres(analyzer: Analyzer) -> dict[str, np.ndarray]:
    out = {}
    for folder in sorted(p for p in JOHNS.iterdir() if p.is_dir()):
        vectors = []
        for path in sorted(folder.glob("*.jpg")):
            faces = analyzer.analyze_file(path).faces
            if faces:
                vectors.append(max(faces, key=lambda f: f.score).embedding)
        mean = np.mean(vectors, axis=0)
        out[folder.name] = mean / np.linalg.norm(mean)
    return out


def identify(embedding: np.ndarray, centres: dict[str, np.ndarray]) -> str | None:
    best = max(centres, key=lambda n: float(centres[n] @ embedding))
    return best if 1.0 - float(centres[best] @ embedding) <= FOUND_EPS else None


def visible(people: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds each person is visible in a clip (intervals of one person merged)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for p in people:
        spans.setdefault(p["who"], []).append((p["start"], p["end"]))
    total = {}
    for who, items in spans.items():
        items.sort()
        merged: list[list[float]] = []
        for a, b in items:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        total[who] = sum(b - a for a, b in merged)
    return total


def judge(analyzer: Analyzer, cfg: VideoConfig, clips: dict[str, Any], folder: Path,
          centres: dict[str, np.ndarray], objects: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Recall of people visible >= 2 s, wrong identities, frames and CPU over the labelled set."""
    wanted = found = wrong = frames = probes = 0
    seconds = cpu_s = 0.0
    missed = []
    for name, label in clips.items():
        c0 = cpu()
        result = analyzer.analyze_video(folder / name, cfg)
        cpu_s += cpu() - c0
        seconds += label["seconds"]
        if objects is not None:
            objects[name] = seen_objects(result)
        frames += int(result.timings_ms["frames"])
        probes += int(result.timings_ms["probes"])
        seen = {identify(f.embedding, centres) for f in result.faces}
        truth = visible(label["people"])
        wrong += len({s for s in seen if s is not None} - set(truth))
        for who, secs in truth.items():
            if secs >= 2.0:
                wanted += 1
                if who in seen:
                    found += 1
                else:
                    missed.append(f"{name}:{who}:{secs:.1f}s")
    return {"recall": round(found / max(1, wanted), 4), "found": found, "wanted": wanted, "wrong_people": wrong,
            "frames_per_minute": round(frames / seconds * 60, 2), "probes_per_minute": round(probes / seconds * 60, 2),
            "cpu_s_per_minute": round(cpu_s / seconds * 60, 3), "video_minutes": round(seconds / 60, 2),
            "missed": missed[:20]}


# `--variants`: the sampling's cost savers side by side, each row against the first: (name, VideoConfig values,
# module settings of daemon/analysis/video.py: the key frames' decoder options). The rows of
# earlier rounds (decoder options, objects_threshold) are in the results of the commits that chose them.
LAST_ROUND = {"PROBE_OPTIONS": {"skip_loop_filter": "all"}}
VARIANTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("before (every face embedded)", {"same_look": 1.0}, LAST_ROUND),
    ("faces borrow at same_look 0.8 (the defaults)", {}, LAST_ROUND),
    ("the defaults, same_look 0.7", {"same_look": 0.7}, LAST_ROUND),
    ("the defaults, objects_threshold 0.15", {"objects_threshold": 0.15}, LAST_ROUND),
]


def looks_run(analyzer: Analyzer, paths: list[Path], cfg: VideoConfig) -> dict[str, Any]:
    """`--looks`: every face near a face of the previous analysed frame (every face embedded), the correlation of
    their looks (`tracks.look` of the crop the Lender compares) against the cosine distance of their embeddings:
    how far apart one person and two people are, against `cfg.same_look`."""
    from daemon.analysis import hard_faces, tracks
    from daemon.analysis.imaging import DecodedImage
    from daemon.analysis.vision import RawFace
    from daemon.types import PhotoMeta

    pairs: list[tuple[float, float]] = []  # (look correlation, embedding cosine distance)
    for path in paths:
        with video.opened(path) as (container, info):
            meta = PhotoMeta(width=info.width, height=info.height, format="video")
            last: list[tuple[Any, np.ndarray]] = []
            for sample in video.sample(path, info, cfg, long_side=analyzer.target_long_side, container=container):
                found = analyzer.analyze(DecodedImage(rgb=sample.rgb, scale=sample.scale, meta=meta, orientation=1))
                now = []
                for face in found.faces:  # back to decoded pixels, as the Lender sees them
                    raw = RawFace(box=tuple(v / sample.scale for v in face.box),  # type: ignore[arg-type]
                                  score=face.score,
                                  landmarks=np.asarray(face.landmarks, np.float32).reshape(-1, 2) / sample.scale)
                    now.append((face, tracks.look(hard_faces.quality_crop(sample.rgb, raw))))
                for face, face_look in now:
                    for other, other_look in last:
                        if tracks._near(other.box, face.box):
                            pairs.append((float(np.dot(face_look.ravel(), other_look.ravel())),
                                          1.0 - float(face.embedding @ other.embedding)))
                last = now
    alike = [d for c, d in pairs if c >= cfg.same_look]
    two = [c for c, d in pairs if d > FOUND_EPS]
    return {"pairs": len(pairs), "same_look": cfg.same_look, "at_or_above": len(alike),
            "their_max_cosine": round(max(alike), 3) if alike else None,
            "two_people_pairs": len(two), "their_max_look": round(max(two), 3) if two else None}


def seen_objects(result: Any) -> dict[str, float]:
    """Seconds each object label is seen in a video's analysis."""
    return {o.label: sum(b - a for a, b in o.seen) for o in result.objects}


def variants_run(analyzer: Analyzer, clips: dict[str, Any], folder: Path, centres: dict[str, np.ndarray],
                 cost: dict[str, Path], photos: list[Path], rounds: int = 2) -> dict[str, Any]:
    """Each variant over the labelled set (people found, objects against "before") and the cost clips (CPU, best
    of `rounds`, the variants interleaved so a busy machine weighs on all alike), with the 10 photos' CPU."""
    saved = {"PROBE_OPTIONS": dict(video.PROBE_OPTIONS)}
    rows: dict[str, dict[str, Any]] = {}
    reference: dict[str, dict[str, float]] = {}
    photo_cpu = float("inf")
    try:
        for round_ in range(rounds):
            photo_cpu = min(photo_cpu, photos_cpu(analyzer, photos, repeat=1))
            for name, values, options in VARIANTS:
                _settings(options)
                cfg = dataclasses.replace(VideoConfig(), **values)
                row = rows.setdefault(name, {"values": values, "options": options, "cost_cpu_s": {}})
                if round_ == 0:
                    found: dict[str, dict[str, float]] = {}
                    row.update(judge(analyzer, cfg, clips, folder, centres, found))
                    for path in cost.values():
                        found[path.name] = seen_objects(analyzer.analyze_video(path, cfg))
                    labels = wanted = 0
                    secs = ref_secs = 0.0
                    for clip, seen in found.items():
                        ref = reference.setdefault(clip, seen)
                        wanted += len(ref)
                        labels += len(set(ref) & set(seen))
                        ref_secs += sum(ref.values())
                        secs += sum(min(seen.get(k, 0.0), v) for k, v in ref.items())
                    row["object_labels_kept"] = f"{labels}/{wanted}"
                    row["object_seconds_kept"] = round(secs / max(ref_secs, 1e-9), 3)
                for clip_name, path in cost.items():
                    spent, _t = video_cpu(analyzer, path, cfg, repeat=1)
                    old = row["cost_cpu_s"].get(clip_name, float("inf"))
                    row["cost_cpu_s"][clip_name] = round(min(old, spent), 3)
                print("variant", name, {k: v for k, v in row.items() if k != "missed"}, flush=True)
    finally:
        _settings(saved)
    return {"photos_cpu_s_10": round(photo_cpu, 3), "rows": list({"name": n, **r} for n, r in rows.items())}


def _settings(values: dict[str, Any]) -> None:
    """daemon/analysis/video.py's module settings for a variant (PROBE_OPTIONS kept as the same dict)."""
    video.PROBE_OPTIONS.clear()
    video.PROBE_OPTIONS.update(values["PROBE_OPTIONS"])


def one_take(src: Sources) -> list[Scene]:
    """A phone clip: one 60 s take, the camera panning slowly, three people walking in and out in turn."""
    crops = {w: src.crops(w)[5] for w in ("John_Salley", "John_Savage", "John_Simm")}
    return [Scene(src.skimage / "coffee.png", 60.0, (
        Actor("John_Salley", crops["John_Salley"], (0.3, 0.5, 0.16), (0.45, 0.45, 0.2), enters=0.0, leaves=22.0),
        Actor("John_Savage", crops["John_Savage"], (0.7, 0.5, 0.14), (0.6, 0.5, 0.18), enters=15.0, leaves=41.0),
        Actor("John_Simm", crops["John_Simm"], (0.35, 0.55, 0.15), (0.5, 0.5, 0.15), enters=36.0, leaves=60.0)),
        pan=(0.0, 0.6))]


def cost_clips(testdata: Path) -> dict[str, Path]:
    """60 s of 1080p H.264 as one take and with a cut every ~5 s, and 60 s of 4K HEVC (made once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    src = Sources.of(testdata)
    take = CACHE / "cost-1080p-h264-60s-take.mp4"
    if not take.exists():
        encode(take, compose(one_take(src), (1920, 1080), 30), size=(1920, 1080), fps=30, codec="h264")
    cuts = CACHE / "cost-1080p-h264-60s.mp4"
    if not cuts.exists():
        frames = compose(labelled_scenes(src, seed=77, seconds=60.0), (1920, 1080), 30)
        encode(cuts, ((t, f) for t, f in frames if t < 60.0), size=(1920, 1080), fps=30, codec="h264")
    hevc = long_clip(testdata, CACHE, seconds=60.0, size=(3840, 2160), fps=30, codec="hevc")
    return {"1080p H.264": take, "1080p H.264, a cut every ~5 s": cuts, "4K HEVC": hevc}


def photo_set() -> list[Path]:
    folder = CACHE / "photos-4032"
    if not folder.exists() or len(list(folder.glob("*.jpg"))) < 10:
        sources = [FACE_RECOGNITION / n for n in ("obama.jpg", "biden.jpg", "obama2.jpg")]
        sources += [SKIMAGE / n for n in ("astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png")]
        make_variants(sources, folder, 10, seed=24, long_side=4032, prefix="phone")
    return sorted(folder.glob("*.jpg"))[:10]


def photos_cpu(analyzer: Analyzer, paths: list[Path], repeat: int = 2) -> float:
    """CPU seconds for these photos analysed as the daemon does (bytes -> header -> analysis); best of repeat."""
    best = float("inf")
    for _ in range(repeat):
        c0 = cpu()
        for path in paths:
            header = analyzer.open_header(path.read_bytes(), path.name)
            analyzer.analyze_header(header)
        best = min(best, cpu() - c0)
    return best


def video_cpu(analyzer: Analyzer, path: Path, cfg: VideoConfig, repeat: int = 2) -> tuple[float, dict[str, float]]:
    best, timings = float("inf"), {}
    for _ in range(repeat):
        c0 = cpu()
        result = analyzer.analyze_video(path, cfg)
        spent = cpu() - c0
        if spent < best:
            best, timings = spent, result.timings_ms
    return best, timings


def rss_run(testdata: Path, seconds: float) -> dict[str, Any]:
    """A real `pictod scan` of a folder with the long 4K HEVC file: its process tree's peak RSS."""
    clip = long_clip(testdata, CACHE, seconds=seconds, size=(3840, 2160), fps=30, codec="hevc")
    info = video.probe(clip)
    with tempfile.TemporaryDirectory(prefix="pictod-video-rss-") as tmp:
        base = Path(tmp)
        layout = write_config(base)
        (layout.folders[0] / clip.name).symlink_to(clip)
        layout = write_config(base, sections={"library": {"follow_symlinks": True}})
        daemon = Daemon(layout, command="scan", args=("--json",))
        t0 = time.monotonic()
        daemon.start()
        code = daemon.wait(timeout=3600)
        wall = time.monotonic() - t0
        assert code == 0, daemon.tail()
        rows = query(layout.database, "SELECT kind, duration, width, height, codec FROM photos")
        assert daemon._rss is not None
        sampler = daemon._rss
        result = {"file": clip.name, "bytes": clip.stat().st_size, "duration_s": round(info.duration, 1),
                  "size": [info.width, info.height], "codec": info.codec, "recorded": [list(r) for r in rows],
                  "peak_rss_mib": round(daemon.peak_rss / 1024**2, 1), "hwm_mib": round(sampler.hwm_mib, 1),
                  "cpu_s": round(sampler.cpu_s, 1), "wall_s": round(wall, 1)}
        daemon.teardown()
        return result


def duplicates_run(folder: Path, clips: dict[str, Any]) -> dict[str, Any]:
    """`pictod scan` of the labelled set: faces per person and (video, track): none may hold two."""
    with tempfile.TemporaryDirectory(prefix="pictod-video-people-") as tmp:
        base = Path(tmp)
        layout = write_config(base)
        for name in clips:
            shutil.copy(folder / name, layout.folders[0] / name)
        done = subprocess.run([sys.executable, "-m", "daemon.cli.main", "scan", "--config", str(layout.config),
                               "--json"], capture_output=True, text=True, cwd=REPO, timeout=3600)
        assert done.returncode == 0, done.stderr[-2000:]
        dup = query(layout.database, "SELECT count(*) FROM (SELECT person_id, photo_id, track, count(*) AS n "
                                     "FROM faces WHERE person_id IS NOT NULL GROUP BY 1, 2, 3 HAVING n > 1)")[0][0]
        same_video = query(layout.database, "SELECT count(*) FROM (SELECT person_id, photo_id, count(*) AS n "
                                            "FROM faces WHERE person_id IS NOT NULL GROUP BY 1, 2 HAVING n > 1)")[0][0]
        faces = query(layout.database, "SELECT count(*), count(person_id) FROM faces")[0]
        people = query(layout.database, "SELECT count(*) FROM people")[0][0]
        return {"duplicate_track_faces_in_a_person": int(dup), "persons_with_two_faces_of_one_video": int(same_video),
                "faces": int(faces[0]), "faces_on_people": int(faces[1]), "people": int(people),
                "truth_people": len({p["who"] for c in clips.values() for p in c["people"]})}


def markdown(report: dict[str, Any]) -> str:
    cost = report["cost"]
    photo10 = cost["photos_cpu_s_10"]
    lines = [MARK_START, "## Videos (`bench/video.py`, issue 24)", "",
             f"Run {report['when']} on {report['machine']}; pictod commit {report['commit']}. "
             "How the clips are made: `bench/video.py`'s docstring and `tools/make_clips.py`.", "",
             "| # | figure | measured | target | verdict |", "| --- | --- | --- | --- | --- |"]
    h = cost["clips"]["1080p H.264"]
    lines.append(f"| v1 | CPU of a 1-minute 1080p H.264 clip (one take) / CPU of 10 photos (4032 px JPEG) | "
                 f"{h['cpu_s']:.2f} s / {photo10:.2f} s = {h['cpu_s'] / photo10:.2f} | <= 1.0 | "
                 f"{'met' if h['cpu_s'] <= photo10 else 'MISSED'} |")
    k = cost["clips"].get("4K HEVC")
    if k:
        lines.append(f"| v2 | CPU of 1 minute of 4K HEVC / CPU of 10 photos | {k['cpu_s']:.2f} s / {photo10:.2f} s = "
                     f"{k['cpu_s'] / photo10:.2f} | (none) | - |")
    rss = report.get("rss")
    if rss:
        lines.append(f"| v3 | `pictod scan` peak RSS (process tree) with a {rss['duration_s'] / 60:.0f}-minute "
                     f"{rss['size'][0]}x{rss['size'][1]} {rss['codec']} file ({rss['bytes'] / 1024**3:.2f} GiB) | "
                     f"{rss['peak_rss_mib']:.0f} MiB | <= 1024 MiB | "
                     f"{'met' if rss['peak_rss_mib'] <= 1024 else 'MISSED'} |")
    chosen = report["chosen"]
    lines.append(f"| v4 | people visible >= 2 s found, labelled set ({report['set']['clips']} clips, "
                 f"{chosen['video_minutes']} min) | {chosen['found']}/{chosen['wanted']} = {chosen['recall']:.3f} | "
                 f">= 0.95 | {'met' if chosen['recall'] >= 0.95 else 'MISSED'} |")
    dup = report["duplicates"]
    lines.append(f"| v5 | faces of one track twice in a person (`pictod scan` of the set) | "
                 f"{dup['duplicate_track_faces_in_a_person']} | 0 | "
                 f"{'met' if dup['duplicate_track_faces_in_a_person'] == 0 else 'MISSED'} |")
    lines += ["", f"CPU per video and per minute (best of {COST_ROUNDS} rounds of photos and clips interleaved, "
              "process CPU seconds; frames analysed, key frames probed):",
              "",
              "| clip | CPU s | CPU s per minute | frames | probes | decode ms | objects ms | faces ms | embed ms |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, c in cost["clips"].items():
        t = c["timings_ms"]
        lines.append(f"| {name} {c['seconds']:.0f} s | {c['cpu_s']:.2f} | {c['cpu_s'] / c['seconds'] * 60:.2f} | "
                     f"{t['frames']:.0f} | {t['probes']:.0f} | {t['decode']:.0f} | {t['objects']:.0f} | "
                     f"{t['faces']:.0f} | {t['embed']:.0f} |")
    lines.append(f"| 10 photos (4032 px JPEG) | {photo10:.2f} | | | | | | | |")
    if report.get("grid"):
        lines += ["", f"Sampling grid on the labelled set (run {report.get('grid_from') or report['when']}), "
                  "probe_every 2 s (the defaults: the sparsest sampling that "
                  "finds >= 0.95; probing every 2 s, sample_every 3 and 4 pick the same frames, their CPU differs by "
                  "noise):", "",
                  "| sample_every | scene_threshold | recall | wrong people | frames/min | probes/min | CPU s/min |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for row in report["grid"]:
            lines.append(f"| {row['sample_every']} | {row['scene_threshold']} | {row['recall']:.3f} | "
                         f"{row['wrong_people']} | {row['frames_per_minute']} | {row['probes_per_minute']} | "
                         f"{row['cpu_s_per_minute']} |")
    var = report.get("variants")
    if var:
        photos10 = var["photos_cpu_s_10"]
        names = list(var["rows"][0]["cost_cpu_s"])
        lines += ["", "Cost savers side by side (`--variants`, one run, the variants interleaved; CPU best of 2; "
                  f"10 photos {var['photos_cpu_s_10']:.2f} s in the same run; objects against the first row over the "
                  "labelled set and the cost clips):", "",
                  "| variant | people found | wrong | object labels kept | object seconds kept | "
                  + " | ".join(f"{n} CPU s (/ 10 photos)" for n in names) + " |",
                  "| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in names) + " |"]
        for row in var["rows"]:
            lines.append(f"| {row['name']} | {row['found']}/{row['wanted']} | {row['wrong_people']} | "
                         f"{row['object_labels_kept']} | {row['object_seconds_kept']:.3f} | "
                         + " | ".join(f"{row['cost_cpu_s'][n]:.2f} ({row['cost_cpu_s'][n] / photos10:.2f})"
                                      for n in names) + " |")
    if rss:
        lines += ["", f"RSS run: `pictod scan` of one {rss['duration_s']:.0f} s file "
                  f"({rss['bytes'] / 1024**2:.0f} MiB, a 4 s 4K HEVC stretch repeated packet by packet): "
                  f"peak {rss['peak_rss_mib']} MiB (main process VmHWM {rss['hwm_mib']} MiB), "
                  f"{rss['cpu_s']} CPU s, {rss['wall_s']} s wall, hashing included."]
    lines.append(MARK_END)
    return "\n".join(lines) + "\n"


def write_markdown(text: str) -> None:
    current = RESULTS_MD.read_text() if RESULTS_MD.exists() else ""
    pattern = re.compile(re.escape(MARK_START) + ".*?" + re.escape(MARK_END) + "\n?", re.S)
    current = pattern.sub("", current).rstrip("\n")
    RESULTS_MD.write_text(current + "\n\n" + text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--long-seconds", type=float, default=3600.0)
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument("--grid", action="store_true", help="also run the sampling grid (and pick the defaults)")
    parser.add_argument("--grid-only", action="store_true", help="only the grid, printed (nothing written)")
    parser.add_argument("--variants", action="store_true",
                        help="also compare the sampling's cost savers side by side (VARIANTS)")
    parser.add_argument("--variants-only", action="store_true", help="only the variants, printed (nothing written)")
    parser.add_argument("--looks", action="store_true",
                        help="only the borrowing check: near faces' look correlation against their embeddings' "
                             "distance over the labelled set and the 1080p cost clips, printed")
    parser.add_argument("--resume", action="store_true",
                        help="keep the parts bench/video_results.json has from an interrupted run of this commit")
    args = parser.parse_args()
    import platform

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    cfg = config.load(REPO / "config.toml", check_folders=False)
    analyzer = Analyzer.from_config(cfg, workers=1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit.strip(),
                              "machine": f"{platform.processor() or platform.machine()}, 2 cores",
                              "defaults": dataclasses.asdict(VideoConfig())}
    # Read before this run rewrites it: --skip-rss keeps the last RSS figure (with its date).
    earlier = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    folder = CACHE / "labelled"
    t0 = time.monotonic()
    clips = labelled_set(TESTDATA, folder, count=args.clips, seconds=args.seconds, size=(1280, 720), fps=30)
    report["set"] = {"clips": len(clips), "seconds": args.seconds, "size": [1280, 720], "fps": 30,
                     "made_s": round(time.monotonic() - t0, 1)}
    if args.looks:
        paths = [folder / name for name in clips] + [p for n, p in cost_clips(TESTDATA).items() if "4K" not in n]
        print(json.dumps(looks_run(analyzer, paths, VideoConfig())))
        return
    centres = johns_centres(analyzer)
    if args.resume and RESULTS_JSON.exists():
        previous = json.loads(RESULTS_JSON.read_text())
        if previous.get("commit") == report["commit"]:
            report.update({k: v for k, v in previous.items()
                           if k in ("grid", "grid_from", "variants", "chosen", "duplicates", "cost")})
    if not (args.grid or args.grid_only) and "grid" not in report and RESULTS_JSON.exists():
        previous = json.loads(RESULTS_JSON.read_text())
        if previous.get("grid"):  # the grid of the run that chose the sampling defaults, kept with its date
            report["grid"], report["grid_from"] = previous["grid"], previous.get("grid_from") or previous.get("when")
    if (args.grid or args.grid_only) and "grid" not in report:
        report["grid"] = []
        for values in GRID:
            row = judge(analyzer, dataclasses.replace(VideoConfig(), **values), clips, folder, centres)
            report["grid"].append({**values, **row})
            print("grid", values, {k: v for k, v in row.items() if k != "missed"}, flush=True)
    if args.grid_only:
        return
    if (args.variants or args.variants_only) and "variants" not in report:
        report["variants"] = variants_run(analyzer, clips, folder, centres, cost_clips(TESTDATA), photo_set())
        if args.variants_only:
            print(json.dumps(report["variants"], indent=1))
            return
        RESULTS_JSON.write_text(json.dumps(report, indent=1) + "\n")
    if "chosen" not in report:
        report["chosen"] = judge(analyzer, VideoConfig(), clips, folder, centres)
        print("defaults", report["chosen"], flush=True)
    if "duplicates" not in report:
        report["duplicates"] = duplicates_run(folder, clips)
        print("duplicates", report["duplicates"], flush=True)
    RESULTS_JSON.write_text(json.dumps(report, indent=1) + "\n")  # a part done is kept for --resume
    if "cost" not in report:
        photos = photo_set()
        cost: dict[str, Any] = {"photos_cpu_s_10": float("inf"), "clips": {}}
        for _round in range(COST_ROUNDS):  # photos and clips interleaved: a busy machine weighs on both alike
            cost["photos_cpu_s_10"] = round(min(cost["photos_cpu_s_10"], photos_cpu(analyzer, photos, repeat=1)), 3)
            for name, path in cost_clips(TESTDATA).items():
                spent, timings = video_cpu(analyzer, path, VideoConfig(), repeat=1)
                if spent < cost["clips"].get(name, {}).get("cpu_s", float("inf")):
                    cost["clips"][name] = {"cpu_s": round(spent, 3), "seconds": video.probe(path).duration,
                                           "timings_ms": {k: round(v, 1) for k, v in timings.items()}}
        report["cost"] = cost
        print("cost", cost, flush=True)
        RESULTS_JSON.write_text(json.dumps(report, indent=1) + "\n")
    if not args.skip_rss:
        report["rss"] = rss_run(TESTDATA, args.long_seconds)
        print("rss", report["rss"], flush=True)
    elif earlier.get("rss"):
        report["rss"] = {**earlier["rss"], "from": earlier["rss"].get("from") or earlier.get("when")}
    RESULTS_JSON.write_text(json.dumps(report, indent=1) + "\n")
    write_markdown(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
