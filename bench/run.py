"""`make bench` / `make bench-quick`: every figure of the benchmark issue, measured side by side, written to
bench/results.md and bench/results.json.

Owns the harness: machine description, config files for the runs, the alternating rounds (pictod scan vs
the model-bound limit vs the seed's sequential design, paired per round, medians and spreads), result
sameness from the database, drop-to-commit latency of an idle daemon, peak RSS and RSS trend, restart cost
over many already-indexed files, and calling the other engineers' bench scripts (clusters.py) for theirs.
The machines are shared and noisy: each ratio is taken within a round, between runs made back to back.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

sys.path.insert(0, str(REPO / "tests"))

import harness  # noqa: E402
import reference  # noqa: E402
import workload  # noqa: E402
from harness import LibraryDB, RssSampler  # noqa: E402

from daemon import config as config_mod  # noqa: E402


@dataclass(frozen=True)
class Profile:
    """How big each part of the run is."""

    name: str
    photos: int  # the workload set
    throughput: int  # photos per throughput round (the first k of the set)
    rounds: int
    drops: int  # latency drops
    small: int  # already-indexed files for the restart figure
    whole_scan: bool  # one extra scan of the whole set for the memory figure


QUICK = Profile("quick", 200, 40, 3, 10, 50_000, False)
CYCLES = {"photos": 300, "rounds": 6}  # figure 3's add/delete cycles (full profile, or --whole-scan)
FULL = Profile("full", 2000, 160, 4, 50, 50_000, True)

# Config changes `make bench` measures against the default (what reduced decoding and the thread layout buy).
DEFAULT_VARIANTS = ("analysis.reduced_decode=false", "daemon.workers=1,models.intra_op_threads=2")

TARGETS = {
    "vs_limit": 0.7,  # issue 15: of the limit measured with the shipped detector shapes (was 0.85)
    "vs_sequential": 2.0,
    "latency_extra_s": 1.0,
    "peak_rss_mib": 1024,
    "restart_s": 20.0,
    "rss_slope_mib_per_min": 5.0,  # "no upward trend": what a leak of a few KiB per photo would exceed
    # Over the add/delete cycles of a running daemon: growth of the per-cycle median RSS per photo analysed.
    "rss_growth_kib_per_photo": 20.0,
}


def log(msg: str) -> None:
    """Progress on stderr (stdout stays clean)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- statistics


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Median with min, max and the relative spread (max - min) / median."""
    vals = [float(v) for v in values]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "rel_spread": None, "values": []}
    med = statistics.median(vals)
    return {
        "median": med,
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "rel_spread": (max(vals) - min(vals)) / med if med else None,
        "values": [round(v, 4) for v in vals],
    }


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile, q in 0..100."""
    vals = sorted(values)
    if len(vals) == 1:
        return vals[0]
    pos = (len(vals) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def slope_per_min(samples: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB) samples, in MiB per minute."""
    if len(samples) < 3:
        return None
    xs = [s[0] for s in samples]
    ys = [s[1] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    if den == 0:
        return None
    return 60.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


# --------------------------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    """CPU, cores, RAM, load and library versions."""
    import cv2
    import numpy
    import onnxruntime
    import PIL

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    try:
        import pillow_heif

        heif = pillow_heif.__version__
    except ImportError:
        heif = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "pillow_heif": heif,
        "load_at_start": os.getloadavg(),
        "git_commit": _git("rev-parse", "--short", "HEAD"),
    }


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# --------------------------------------------------------------------------------------------- configs


def write_config(path: Path, folders: Sequence[Path], db: Path, overrides: dict[str, dict[str, Any]] | None = None,
                 ) -> Path:
    """A config file for one run (tests/harness.py): the repo's config.toml, these folders and database, JSON
    logs on stdout; validated by pictod's own loader."""
    harness.write_config(path.parent, folders=list(folders), database=db, sections=overrides, config=path,
                         create_folders=False, defaults="repo")
    config_mod.load(path)  # fail here, loudly, if the harness wrote something pictod refuses
    return path


def pictod_cmd() -> list[str]:
    """The installed console script if there is one, else the module."""
    script = Path(sys.executable).parent / "pictod"
    return [str(script)] if script.exists() else [sys.executable, "-m", "daemon.cli.main"]


# --------------------------------------------------------------------------------------------- processes


def rss_sampler(pid: int) -> RssSampler:
    """The harness's sampler at the benchmarks' pace (every 0.5 s), started."""
    sampler = RssSampler(pid, interval=0.5)
    sampler.start()
    return sampler


def memory_summary(sampler: RssSampler, warmup_fraction: float = 0.25) -> dict[str, Any]:
    """A sampler's peak (max of VmHWM and samples), and the slope after the warm-up part of the run."""
    peak = max([sampler.hwm_mib] + [s[1] for s in sampler.samples])
    if sampler.samples:
        end = sampler.samples[-1][0]
        # The last 2 s are shutdown (buffers freed): they would bend the trend down.
        after = [s for s in sampler.samples if end * warmup_fraction <= s[0] <= end - 2.0]
        if after and after[-1][0] - after[0][0] < 30:  # a trend over less than 30 s says nothing
            after = []
    else:
        after = []
    wall = sampler.samples[-1][0] if sampler.samples else 0.0
    return {
        "cpu_seconds": round(sampler.cpu_s, 1),
        # Cores kept busy on average (2.0 = both cores of this machine all the time).
        "cores_busy": round(sampler.cpu_s / wall, 2) if wall else None,
        "peak_mib": round(peak, 1),
        "samples": len(sampler.samples),
        "slope_mib_per_min_after_warmup": _round(slope_per_min(after), 2),
        "first_mib": round(sampler.samples[0][1], 1) if sampler.samples else None,
        "last_mib": round(sampler.samples[-1][1], 1) if sampler.samples else None,
        "series": [(round(t, 1), round(m, 1)) for t, m in sampler.samples[:: max(1, len(sampler.samples) // 120)]],
    }


def _round(v: float | None, nd: int) -> float | None:
    return None if v is None else round(v, nd)


@dataclass
class ScanRun:
    """One `pictod scan` subprocess."""

    seconds: float
    returncode: int
    summary: dict[str, Any]
    memory: dict[str, Any]
    log: Path


def run_scan(cfg: Path, log_path: Path, *, timeout: float = 3600, paths: Sequence[Path] = (),
             env: dict[str, str] | None = None) -> ScanRun:
    """Run `pictod scan --json` to completion, timing it and sampling its memory."""
    cmd = [*pictod_cmd(), "scan", "--json", "--config", str(cfg), *map(str, paths)]
    with log_path.open("w") as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, cwd=REPO,
                                env={**os.environ, **env} if env else None)
        sampler = rss_sampler(proc.pid)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        seconds = time.perf_counter() - start
        sampler.stop()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary: dict[str, Any] = {}
    if proc.returncode == 0:
        with contextlib.suppress(json.JSONDecodeError):
            summary = json.loads(out)
    memory = memory_summary(sampler)
    # The child's exact CPU (the sampler's last reading can be 0.5 s old): the only child reaped meanwhile.
    memory["cpu_seconds"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
    memory["cores_busy"] = round(memory["cpu_seconds"] / seconds, 2) if seconds else None
    return ScanRun(seconds, proc.returncode, summary, memory, log_path)


def _tail(path: Path, n: int = 5) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    return ""


# --------------------------------------------------------------------------------------------- the database


def read_only(db: Path) -> contextlib.AbstractContextManager[sqlite3.Connection]:
    """A connection that never writes (the daemon may be writing): tests/harness.py's LibraryDB."""
    return LibraryDB(db).connect()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def read_results(db: Path) -> dict[str, reference.PhotoResult]:
    """Per file name: the object labels and face boxes pictod stored."""
    with read_only(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        photo_fk = "photo_id"
        files = conn.execute(f"SELECT path, {photo_fk} FROM files WHERE status = 'done'").fetchall()
        objects: dict[int, list[tuple[str, tuple[float, float, float, float]]]] = {}
        obj_cols = _columns(conn, "objects")
        label = "label" if "label" in obj_cols else "tag"
        box = [c for c in ("x1", "y1", "x2", "y2") if c in obj_cols]
        for row in conn.execute(f"SELECT {photo_fk}, {label}{''.join(', ' + c for c in box)} FROM objects"):
            objects.setdefault(row[0], []).append((row[1], tuple(row[2:6]) if box else (0, 0, 0, 0)))
        faces: dict[int, list[tuple[float, float, float, float]]] = {}
        if "faces" in tables:
            face_cols = _columns(conn, "faces")
            fbox = [c for c in ("x1", "y1", "x2", "y2") if c in face_cols]
            for row in conn.execute(f"SELECT {photo_fk}{''.join(', ' + c for c in fbox)} FROM faces"):
                faces.setdefault(row[0], []).append(tuple(row[1:5]) if fbox else (0, 0, 0, 0))
    results = {}
    for path, photo_id in files:
        name = Path(os.fsdecode(path) if isinstance(path, bytes) else path).name
        results[name] = reference.PhotoResult(
            name, tuple(objects.get(photo_id, ())), tuple(faces.get(photo_id, ()))  # type: ignore[arg-type]
        )
    return results


def file_done(conn: sqlite3.Connection, path: str) -> bool:
    """True once the file's row is committed as done (or failed: latency then counts the failure)."""
    try:
        # The store keeps paths as BLOBs of os.fsencode(path).
        row = conn.execute("SELECT status FROM files WHERE path = ?", (os.fsencode(path),)).fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet while the daemon starts
        return False
    return row is not None and row[0] in ("done", "failed")


# --------------------------------------------------------------------------------------------- figures


def subset_folder(wl: workload.Workload, k: int) -> Path:
    """A folder of hard links to the first k photos of the set (same bytes, same names, no copy)."""
    folder = wl.root / f"first-{k}"
    names = [i.name for i in wl.items[:k]]
    if folder.is_dir() and sorted(p.name for p in folder.iterdir()) == sorted(names):
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    for name in names:
        try:
            os.link(wl.photos / name, folder / name)
        except OSError:
            shutil.copy2(wl.photos / name, folder / name)
    return folder


def cpu_budget(paths: Sequence[Path], models: Any, inputs: reference.LimitInputs, cfg: config_mod.Config,
               t: Throughput) -> dict[str, Any]:
    """CPU milliseconds a photo of the throughput set, by where they go: the limit's inference replayed on one
    thread, pictod's decode alone, its Analyzer (decode + pre/post + inference) in-process on one thread, and
    `pictod scan` (start-up's CPU, from the empty-folder scans, taken off). Process CPU time, not wall time:
    what the two cores have to share out, whatever the layout."""
    from daemon.analysis import analyzer as analysis
    from daemon.analysis import imaging
    datas = [p.read_bytes() for p in paths]
    n = len(paths)
    c0 = time.process_time()
    reference.run_limit(models, inputs, workers=1, batch=1)
    inference = (time.process_time() - c0) * 1000 / n
    c0 = time.process_time()
    for data in datas:
        imaging.decode(data, max_pixels=cfg.analysis.max_pixels, target_long_side=analysis.TARGET_LONG_SIDE)
    decode = (time.process_time() - c0) * 1000 / n
    analyzer = analysis.Analyzer(cfg.analysis, models)
    c0 = time.process_time()
    for data in datas:
        analyzer.analyze_header(analyzer.open_header(data))
    chain = (time.process_time() - c0) * 1000 / n
    scans = [(m.get("cpu_seconds") or 0) - (e.get("cpu_seconds") or 0)
             for m, e in zip(t.memory, t.startup_memory, strict=True)]
    scan = statistics.median(scans) * 1000 / n if scans else None
    return {
        "inference": round(inference, 1),
        "decode": round(decode, 1),
        "pre_post": round(chain - decode - inference, 1),
        "analyzer": round(chain, 1),
        "pictod_scan": _round(scan, 1),
        "pictod_own": _round(None if scan is None else scan - chain, 1),
        "heic_photos": sum(1 for p in paths if p.suffix.lower() in (".heic", ".heif")),
    }


@dataclass
class Throughput:
    """The throughput rounds' raw numbers."""

    pictod_s: list[float] = field(default_factory=list)
    pictod_startup_s: list[float] = field(default_factory=list)
    sequential_s: list[float] = field(default_factory=list)
    limit_s: dict[str, list[float]] = field(default_factory=dict)
    limit_best_s: list[float] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    startup_memory: list[dict[str, Any]] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def throughput(profile: Profile, wl: workload.Workload, tmp: Path, seq_results: dict[str, Any],
               shipped_results: dict[str, Any]) -> dict[str, Any]:
    """Figure 1: pictod scan vs the limit vs the sequential design, alternating, paired per round; fills the
    sequential design's round-0 results, at the seed's square and at the shipped detector shapes (figure 1c)."""
    folder = subset_folder(wl, profile.throughput)
    paths = sorted(folder.iterdir())
    n = len(paths)
    cfg = config_mod.load(write_config(tmp / "probe.toml", [folder], tmp / "probe.db"))
    cores = os.cpu_count() or 1
    log(f"throughput: {n} photos x {profile.rounds} rounds; loading models for the references")
    seq_models = reference.models_with_threads(cfg, intra=cores, workers=1)
    layouts = reference.layouts(cores)
    limit_models = {
        (lay.intra, lay.workers): reference.models_with_threads(cfg, intra=lay.intra, workers=lay.workers)
        for lay in layouts
    }
    # The limit replays the very model calls pictod's chain makes on the same photos (recorded once here).
    limit_inputs = reference.LimitInputs.prepare(paths, seq_models, cfg)
    # Warm-up: first runs pay for allocations and page faults that later ones do not.
    for lay in layouts:
        reference.run_limit(limit_models[(lay.intra, lay.workers)], limit_inputs, workers=lay.workers,
                            batch=lay.batch)
    reference.run_sequential(paths[:2], seq_models, cfg)
    empty = tmp / "empty"
    empty.mkdir(exist_ok=True)

    t = Throughput()

    def do_pictod(r: int) -> None:
        run_dir = tmp / f"scan-{r}"
        run_dir.mkdir()
        cfg_path = write_config(run_dir / "config.toml", [folder], run_dir / "library.db")
        res = run_scan(cfg_path, run_dir / "scan.log")
        if res.returncode != 0 or res.summary.get("analysed") != n:
            t.errors.append(f"round {r}: pictod scan rc={res.returncode} summary={res.summary}: "
                            f"{_tail(res.log)}")
        t.pictod_s.append(res.seconds)
        t.memory.append(res.memory)
        t.summaries.append(res.summary)
        # Start-up (interpreter, imports, model loading, DB creation) measured on an empty folder.
        cfg_empty = write_config(run_dir / "empty.toml", [empty], run_dir / "empty.db")
        empty_run = run_scan(cfg_empty, run_dir / "empty.log")
        t.pictod_startup_s.append(empty_run.seconds)
        t.startup_memory.append(empty_run.memory)
        log(f"  round {r}: pictod {n / res.seconds:.2f} photos/s ({res.seconds:.1f} s)")

    def do_sequential(r: int) -> None:
        seconds, results = reference.run_sequential(paths, seq_models, cfg, margin=r == 0)
        t.sequential_s.append(seconds)
        if r == 0:
            seq_results.update(results)
            shipped_results.update(reference.shipped_shapes(paths, seq_models, cfg))
        log(f"  round {r}: sequential {n / seconds:.2f} photos/s")

    def do_limit(r: int) -> None:
        best = None
        for lay in layouts:
            s = reference.run_limit(limit_models[(lay.intra, lay.workers)], limit_inputs, workers=lay.workers,
                                    batch=lay.batch)
            t.limit_s.setdefault(lay.label, []).append(s)
            best = s if best is None else min(best, s)
        assert best is not None
        t.limit_best_s.append(best)
        log(f"  round {r}: limit {len(limit_inputs) / best:.2f} photos/s")

    steps: list[Callable[[int], None]] = [do_pictod, do_sequential, do_limit]
    for r in range(profile.rounds):
        for fn in steps if r % 2 == 0 else list(reversed(steps)):
            fn(r)

    cpu = cpu_budget(paths, limit_models.get((1, 2), seq_models), limit_inputs, cfg, t)
    m = len(limit_inputs)
    pictod_rate = [n / s for s in t.pictod_s]
    pictod_rate_warm = [n / max(s - u, 1e-6) for s, u in zip(t.pictod_s, t.pictod_startup_s, strict=True)]
    seq_rate = [n / s for s in t.sequential_s]
    limit_rate = [m / s for s in t.limit_best_s]
    per_layout = {label: spread([m / s for s in vals]) for label, vals in t.limit_s.items()}
    best_layout = max(per_layout, key=lambda k: per_layout[k]["median"])
    return {
        "photos": n,
        "limit_photos": m,
        "limit_faces": limit_inputs.n_faces,
        "limit_face_passes": limit_inputs.n_face_passes,
        "rounds": profile.rounds,
        "pictod_photos_per_s": spread(pictod_rate),
        "pictod_photos_per_s_without_startup": spread(pictod_rate_warm),
        "pictod_startup_s": spread(t.pictod_startup_s),
        "sequential_photos_per_s": spread(seq_rate),
        "limit_photos_per_s": spread(limit_rate),
        "limit_layouts_photos_per_s": per_layout,
        "limit_best_layout": best_layout,
        # Paired: each ratio from runs made back to back in one round.
        "ratio_vs_limit": spread([p / lim for p, lim in zip(pictod_rate, limit_rate, strict=True)]),
        "ratio_vs_limit_without_startup": spread(
            [p / lim for p, lim in zip(pictod_rate_warm, limit_rate, strict=True)]),
        "ratio_vs_sequential": spread([p / s for p, s in zip(pictod_rate, seq_rate, strict=True)]),
        "limit_vs_sequential": spread([lim / s for lim, s in zip(limit_rate, seq_rate, strict=True)]),
        "memory": t.memory,
        "cpu_budget_ms": cpu,
        "scan_summaries": t.summaries,
        "errors": t.errors,
        "db_round0": str(tmp / "scan-0" / "library.db"),
    }


def stage_costs(wl: workload.Workload, tmp: Path, k: int = 12, rounds: int = 3) -> dict[str, Any]:
    """Where a photo's time goes outside inference: full decode, pictod's decode, sha256 (ms per photo)."""
    from daemon.analysis import analyzer as analysis
    from daemon.analysis import imaging
    from daemon.analysis.hashing import file_digest

    paths = [wl.photos / i.name for i in wl.items[:k]]
    target = analysis.TARGET_LONG_SIDE
    costs: dict[str, list[float]] = {"full_decode_ms": [], "pictod_decode_ms": [], "sha256_ms": []}
    for _ in range(rounds):
        t0 = time.perf_counter()
        for p in paths:
            reference._read_full(p)
        costs["full_decode_ms"].append((time.perf_counter() - t0) * 1000 / k)
        t0 = time.perf_counter()
        for p in paths:
            imaging.load(p, max_pixels=120_000_000, max_file_bytes=1 << 30, target_long_side=target)
        costs["pictod_decode_ms"].append((time.perf_counter() - t0) * 1000 / k)
        t0 = time.perf_counter()
        for p in paths:
            file_digest(p, max_bytes=1 << 30)
        costs["sha256_ms"].append((time.perf_counter() - t0) * 1000 / k)
    # pictod's own chain in this process, one photo at a time with the daemon's thread layout: where a
    # worker's time goes per photo (decode, objects, faces, embed as the Analyzer reports them).
    from daemon.analysis.analyzer import Analyzer

    cfg = config_mod.load(write_config(tmp / "costs.toml", [wl.photos], tmp / "costs.db"))
    analyzer = Analyzer.from_config(cfg, workers=cfg.daemon.workers)
    analyzer.analyze_file(paths[0])
    stages: dict[str, list[float]] = {}
    for _ in range(rounds):
        per: dict[str, float] = {}
        t0 = time.perf_counter()
        for p in paths:
            for name, ms in analyzer.analyze_file(p).timings_ms.items():
                per[name] = per.get(name, 0.0) + ms
        per["total"] = (time.perf_counter() - t0) * 1000
        for name, ms in per.items():
            stages.setdefault(name, []).append(ms / k)
    out: dict[str, Any] = {name: spread(v) for name, v in costs.items()}
    out["analyzer_ms"] = {name: spread(v) for name, v in stages.items()}
    out["analyzer_threads"] = {"workers": cfg.daemon.workers, "intra_op_threads": cfg.models.intra_op_threads}
    out["photos"] = k
    out["mean_file_mb"] = round(sum(p.stat().st_size for p in paths) / k / 1e6, 2)
    return out


def _stop_daemon(proc: subprocess.Popen[bytes], sampler: RssSampler) -> int:
    """SIGTERM a `pictod run` (killed after 60 s), stop its sampler; the exit code."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    sampler.stop()
    return proc.returncode


def latency(profile: Profile, wl: workload.Workload, tmp: Path) -> dict[str, Any]:
    """Figure 2: copy a photo into the watched folder of an idle daemon; seconds until its row is committed."""
    watched = tmp / "watched"
    watched.mkdir()
    db = tmp / "latency.db"
    cfg_path = write_config(tmp / "latency.toml", [watched], db)
    settle = config_mod.load(cfg_path).daemon.settle_seconds
    log_path = tmp / "daemon.log"
    # Photos from the end of the set: never part of the throughput rounds' folder.
    items = list(reversed(wl.items))[: profile.drops]
    out: dict[str, Any] = {"drops": len(items), "settle_s": settle, "target_p95_s": settle + TARGETS["latency_extra_s"]}
    with log_path.open("w") as logf:
        proc = subprocess.Popen([*pictod_cmd(), "run", "--config", str(cfg_path)], stdout=logf,
                                stderr=subprocess.STDOUT, cwd=REPO)
    sampler = rss_sampler(proc.pid)
    lat: list[float] = []
    try:
        deadline = time.monotonic() + 120
        while "daemon_ready" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                out["error"] = f"daemon did not become ready (rc={proc.poll()}): {_tail(log_path)}"
                return out
            time.sleep(0.1)
        time.sleep(1.0)  # idle: start-up reconciliation of the empty folder done
        while not db.exists():
            time.sleep(0.05)
        with read_only(db) as conn:
            for item in items:
                dest = watched / item.name
                shutil.copyfile(wl.photos / item.name, dest)  # a plain copy, as a user or a sync tool does
                t0 = time.monotonic()
                key = os.path.abspath(dest)
                while not file_done(conn, key):
                    if time.monotonic() - t0 > 60 or proc.poll() is not None:
                        out["error"] = f"{item.name} not committed within 60 s: {_tail(log_path)}"
                        return out
                    time.sleep(0.01)
                lat.append(time.monotonic() - t0)
                time.sleep(0.3)
    finally:
        out["daemon_exit_code"] = _stop_daemon(proc, sampler)
        out["memory"] = memory_summary(sampler)
        if lat:
            out.update({
                "p50_s": round(percentile(lat, 50), 3),
                "p95_s": round(percentile(lat, 95), 3),
                "max_s": round(max(lat), 3),
                "latencies_s": [round(x, 3) for x in lat],
            })
    return out


def _count_done(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("SELECT count(*) FROM files WHERE status IN ('done', 'failed')").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet while the daemon starts
        return 0


def _count_files(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("SELECT count(*) FROM files").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def cycles(wl: workload.Workload, tmp: Path, *, photos: int, rounds: int) -> dict[str, Any]:
    """Figure 3's trend over a long-running daemon: `pictod run` watching a folder into which the same
    `photos` photos are dropped (hard links, one folder per cycle), analysed, then the folder is deleted and
    the daemon prunes them; `rounds` times. A leak grows the daemon's RSS from cycle to cycle; the library
    (and so what the daemon legitimately holds) is the same at the same point of every cycle. Two readings a
    cycle: the median RSS while the photos are analysed (what the daemon keeps plus the burst's transient
    buffers and the free heap not yet trimmed), and the RSS once it is idle again after the prune (what it
    keeps: the status tick that sees the queue empty trims the heap, daemon/runtime/memory.py)."""
    watched = tmp / "watched"
    watched.mkdir()
    db = tmp / "cycles.db"
    cfg_path = write_config(tmp / "cycles.toml", [watched], db)
    status_interval = config_mod.load(cfg_path).daemon.status_interval
    log_path = tmp / "daemon.log"
    items = wl.items[:photos]
    out: dict[str, Any] = {"photos": len(items), "rounds": rounds, "per_cycle": []}
    with log_path.open("w") as logf:
        proc = subprocess.Popen([*pictod_cmd(), "run", "--config", str(cfg_path)], stdout=logf,
                                stderr=subprocess.STDOUT, cwd=REPO)
    sampler = rss_sampler(proc.pid)

    def wait_for(what: str, ok: Callable[[], bool], limit: float) -> bool:
        deadline = time.monotonic() + limit
        while not ok():
            if proc.poll() is not None or time.monotonic() > deadline:
                out["error"] = f"{what} (rc={proc.poll()}): {_tail(log_path)}"
                return False
            time.sleep(0.2)
        return True

    try:
        if not wait_for("daemon not ready", lambda: "daemon_ready" in log_path.read_text(errors="replace"), 120):
            return out
        for c in range(rounds):
            folder = watched / f"cycle-{c}"
            start = time.monotonic()
            first = len(sampler.samples)
            staging = tmp / f"staging-{c}"
            staging.mkdir()
            for item in items:  # linked outside the watched tree, then moved in at once: a folder dropped in
                try:
                    os.link(wl.photos / item.name, staging / item.name)
                except OSError:  # another file system: copy
                    shutil.copyfile(wl.photos / item.name, staging / item.name)
            staging.rename(folder)
            with read_only_wait(db) as conn:
                if not wait_for(f"cycle {c}: not all analysed", lambda conn=conn: _count_done(conn) >= len(items),
                                1800):
                    return out
                busy = [m for _, m in sampler.samples[first:]]
                shutil.rmtree(folder)
                if not wait_for(f"cycle {c}: not pruned", lambda conn=conn: _count_files(conn) == 0, 600):
                    return out
            seconds = time.monotonic() - start
            time.sleep(2 * status_interval + 1)  # the idle tick's trim has run
            idle_from = len(sampler.samples)
            time.sleep(3.0)
            idle = [m for _, m in sampler.samples[idle_from:]]
            out["per_cycle"].append({"seconds": round(seconds, 1),
                                     "median_mib": round(statistics.median(busy), 1) if busy else None,
                                     "peak_mib": round(max(busy), 1) if busy else None,
                                     "idle_mib": round(statistics.median(idle), 1) if idle else None})
            log(f"  cycle {c}: {out['per_cycle'][-1]}")
    finally:
        out["daemon_exit_code"] = _stop_daemon(proc, sampler)
        out["memory"] = {k: v for k, v in memory_summary(sampler).items() if k != "series"}
    for key, reading in (("slope_mib_per_cycle", "median_mib"), ("idle_slope_mib_per_cycle", "idle_mib")):
        values = [c[reading] for c in out["per_cycle"][1:] if c.get(reading) is not None]
        if len(values) >= 3:  # cycle 0 is the warm-up
            per_cycle = slope_per_min([(float(i), m) for i, m in enumerate(values)])
            out[key] = _round(None if per_cycle is None else per_cycle / 60.0, 2)
    return out


@contextlib.contextmanager
def read_only_wait(db: Path, limit: float = 60) -> Iterator[sqlite3.Connection]:
    """A read-only connection once the daemon has created the database."""
    deadline = time.monotonic() + limit
    while not db.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with read_only(db) as conn:
        yield conn


def fill_store(db: Path, folder: Path) -> dict[str, Any]:
    """Put every file under `folder` in the DB as analysed (empty analysis), through the store's own API."""
    from daemon.analysis.hashing import file_digest
    from daemon.analysis.imaging import load as load_image
    from daemon.store import Store
    from daemon.types import PhotoAnalysis

    files = sorted(p for p in folder.rglob("*") if p.is_file())
    start = time.perf_counter()
    store = Store.open(db)
    try:
        for p in files:
            digest = file_digest(p, max_bytes=1 << 30)
            meta = load_image(p, max_pixels=1 << 20, max_file_bytes=1 << 20).meta
            store.record_analysis(os.path.abspath(p), digest.size, digest.mtime_ns, digest.sha256,
                                  PhotoAnalysis(meta=meta))
    finally:
        store.close()
    return {"files": len(files), "fill_seconds": round(time.perf_counter() - start, 1)}


def restart(profile: Profile, tmp: Path, rounds: int = 3) -> dict[str, Any]:
    """Figure 4: `pictod scan` of a library of many already-indexed, unchanged files."""
    out: dict[str, Any] = {"files": profile.small}
    # Pilot: a few hundred files filled the same way must give zero re-analyses, or the fill is not what the
    # daemon writes and the big run would re-analyse everything (hours).
    pilot = workload.small_files(300, tmp / "pilot", per_dir=100)
    pilot_db = tmp / "pilot.db"
    fill_store(pilot_db, pilot)
    pilot_run = run_scan(write_config(tmp / "pilot.toml", [pilot], pilot_db), tmp / "pilot.log", timeout=600)
    if pilot_run.summary.get("analysed", -1) != 0:
        out["error"] = (f"pilot: filled DB still re-analysed by pictod scan: rc={pilot_run.returncode} "
                        f"summary={pilot_run.summary} {_tail(pilot_run.log)}")
        return out
    log(f"restart: building/reusing {profile.small} tiny files and filling the DB")
    t0 = time.perf_counter()
    small = workload.small_files(profile.small)
    out["generate_seconds"] = round(time.perf_counter() - t0, 1)
    db = tmp / "restart.db"
    out.update(fill_store(db, small))
    cfg_path = write_config(tmp / "restart.toml", [small], db)
    empty = tmp / "restart-empty"
    empty.mkdir()
    times, startups, analysed = [], [], []
    for r in range(rounds):
        res = run_scan(cfg_path, tmp / f"restart-{r}.log", timeout=1800)
        times.append(res.seconds)
        analysed.append(res.summary.get("analysed"))
        out.setdefault("summaries", []).append(res.summary)
        out.setdefault("memory", []).append(res.memory)
        startups.append(run_scan(write_config(tmp / f"re-{r}.toml", [empty], tmp / f"re-{r}.db"),
                                 tmp / f"re-{r}.log").seconds)
        log(f"  restart round {r}: {res.seconds:.1f} s, analysed {analysed[-1]}")
    out["scan_seconds"] = spread(times)
    out["startup_seconds"] = spread(startups)
    out["reanalysed"] = analysed
    out["target_s"] = TARGETS["restart_s"]
    return out


def others(profile: Profile, tmp: Path) -> dict[str, Any]:
    """Figures owned by other engineers' scripts, run as they are (JSON on stdout)."""
    out: dict[str, Any] = {}
    script = REPO / "bench" / "clusters.py"
    if not script.exists():
        out["clusters"] = {"pending": "bench/clusters.py not in the repo yet"}
        return out
    if profile.name == "quick":  # 10k faces only
        args, timeout = ["--sizes", "10000", "--skip-import", "--recluster-sizes"], 240
    else:  # the three sizes of the issue, without the bulk-import part (minutes of its own, another figure)
        # 191 s on a quiet machine (2026-11-26: 100k DBSCAN 14 s, 300k 137 s); ~12 min on loaded cores.
        args, timeout = ["--sizes", "10000", "100000", "300000", "--skip-import", "--recluster-sizes", "100000"], 1200
    cmd = [sys.executable, str(script), "--json", *args]
    out["clusters_command"] = " ".join(["python", "bench/clusters.py", *cmd[2:]])
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        out["clusters"] = {"error": f"{out['clusters_command']} did not finish in {timeout} s"}
        return out
    try:
        out["clusters"] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        out["clusters"] = {"error": f"rc={proc.returncode}: {proc.stderr[-800:]}"}
    out["clusters_seconds"] = round(time.perf_counter() - start, 1)
    return out


def model_trials(profile: Profile) -> dict[str, Any]:
    """bench/model_trials.py: faster detector variants judged against ground truth and the square fp32 run."""
    photos = 40 if profile.name == "quick" else 200
    cmd = [sys.executable, str(REPO / "bench" / "model_trials.py"), "--json", "--photos", str(photos)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=2400, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": "bench/model_trials.py did not finish in 2400 s"}
    try:
        return dict(json.loads(proc.stdout))
    except json.JSONDecodeError:
        return {"error": f"rc={proc.returncode}: {proc.stderr[-800:]}"}


_CATEGORIES = (
    ("inference (onnxruntime session.run)", ("onnxruntime",)),
    ("decode (daemon/analysis/imaging.py, Pillow, cv2 decode)", ("imaging.py", "PIL/", "pillow_heif")),
    ("pre/post-processing (analysis/vision/transforms.py, model classes)", ("transforms.py", "yolo.py", "yunet.py",
                                                                         "sface.py")),
    ("hashing (daemon/analysis/hashing.py)", ("hashing.py",)),
    ("store (daemon/store, sqlite3)", ("daemon/store/", "sqlite3")),
    ("people / clustering", ("people/manager.py", "clusters.py", "sklearn")),
    ("start-up imports and model loading", ("<module>", "_find_and_load", "session.py", "registry.py")),
)


_IDLE_LEAVES = ("_worker (thread.py)", "Condition.wait (", "Event.wait (", "EpollSelector.select (",
                "Thread._wait_for_tstate_lock (", "SimpleQueue.get (", "Queue.get (")


def profile_scan(profile: Profile, wl: workload.Workload, tmp: Path, py_spy: str) -> dict[str, Any]:
    """A py-spy profile (all threads, CPU samples only) of one `pictod scan` of the throughput folder."""
    folder = subset_folder(wl, profile.throughput)
    cfg_path = write_config(tmp / "profile.toml", [folder], tmp / "profile.db")
    raw = tmp / "profile.txt"
    cmd = [py_spy, "record", "--format", "raw", "--rate", "100", "--threads", "-o", str(raw), "--",
           *pictod_cmd(), "scan", "--json", "--config", str(cfg_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, cwd=REPO)
    if proc.returncode != 0 or not raw.exists():
        return {"error": f"py-spy rc={proc.returncode}: {proc.stderr[-600:]}"}
    leaf: dict[str, int] = {}
    cats: dict[str, int] = {}
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = stack.split(";")
        top = frames[-1]
        name = top.split(" (")[0] + " (" + top.split(" (")[-1].split(":")[0].rsplit("/", 2)[-1].rstrip(")") + ")"
        if any(name.startswith(w) for w in _IDLE_LEAVES):
            # py-spy's idle detection misses threads blocked in C (an executor thread waiting for work).
            idle += count
            total -= count
            continue
        leaf[name] = leaf.get(name, 0) + count
        # The first category (in _CATEGORIES order) found anywhere in the stack, innermost frames first.
        found = "other (asyncio, event handling, Python glue)"
        for label, needles in _CATEGORIES:
            if any(any(n in f for n in needles) for f in reversed(frames)):
                found = label
                break
        cats[found] = cats.get(found, 0) + count
    return {
        "photos": len(list(folder.iterdir())),
        "samples": total,
        "idle_samples_dropped": idle,
        "rate_hz": 100,
        "categories_pct": {k: round(100 * v / total, 1) for k, v in sorted(cats.items(), key=lambda x: -x[1])},
        "top_leaf_pct": {k: round(100 * v / total, 1) for k, v in sorted(leaf.items(), key=lambda x: -x[1])[:15]},
    }


# --------------------------------------------------------------------------------------------- report


def _f(x: Any, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _sp(s: dict[str, Any] | None, nd: int = 2) -> str:
    if not s or s.get("median") is None:
        return "-"
    return f"{_f(s['median'], nd)} (min {_f(s['min'], nd)}, max {_f(s['max'], nd)}, n={s['n']})"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def write_report(res: dict[str, Any], path_md: Path) -> None:
    """bench/results.md from the results dict."""
    m = res["machine"]
    wl = res["workload"]
    lines = [
        "# pictod benchmark results",
        "",
        f"Generated by `python bench/run.py --{res['profile']}` on {res['started']} UTC "
        f"({res['seconds_total']:.0f} s). Every ratio is taken between runs made back to back in the same round "
        f"(order alternating between rounds); the figure is the median over rounds, with min/max.",
        *([f"Merged from an earlier run (`--merge-parts`): {res['merged_parts']}.", ""] if res.get("merged_parts")
          else []),
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['os']}",
        f"- Python {m['python']}, onnxruntime {m['onnxruntime']}, numpy {m['numpy']}, opencv {m['opencv']}, "
        f"pillow {m['pillow']}, pillow-heif {m['pillow_heif']}; pictod commit {m['git_commit']}",
        f"- load average at start: {', '.join(f'{x:.2f}' for x in m['load_at_start'])} "
        "(a shared machine: other jobs ran during the measurements)",
        "",
        "## Inputs",
        "",
        f"- {wl['photos']} photos built by `bench/workload.py` from the real test photos: {wl['jpeg']} JPEG "
        f"(4032x3024 / 3000x4000, quality 88-92), {wl['heic']} HEIC (x265), {wl['faces']} cut from photos with "
        f"faces; {wl['mb']:.0f} MB; each unique (crop, flip, exposure, sensor grain seeded by index); "
        f"cached in `{wl['dir']}`.",
        "- Models: the ones config.toml names (fp32 YOLOv10n, YuNet 2023mar, SFace 2021dec), thresholds from "
        "config.toml (objects conf 0.7, IoU 0.5; YuNet's descriptor threshold).",
        "",
        "## Figures",
        "",
        "| # | figure | measured | target | verdict |",
        "| --- | --- | --- | --- | --- |",
    ]
    tp = res.get("throughput") or {}
    if tp and tp["errors"]:
        lines.append(f"| 1 | throughput | INVALID: pictod scan failed ({len(tp['errors'])} rounds), see below | | |")
    if tp and not tp["errors"]:
        r_lim = tp["ratio_vs_limit"]["median"]
        r_seq = tp["ratio_vs_sequential"]["median"]
        lines += [
            f"| 1a | pictod scan / model-bound limit (photos/s ratio) | {_sp(tp['ratio_vs_limit'])} | "
            f">= {TARGETS['vs_limit']} | "
            f"{_verdict(r_lim >= TARGETS['vs_limit'] if r_lim is not None else None)} |",
            f"| 1b | pictod scan / sequential design | {_sp(tp['ratio_vs_sequential'])} | "
            f">= {TARGETS['vs_sequential']} | "
            f"{_verdict(r_seq >= TARGETS['vs_sequential'] if r_seq is not None else None)} |",
        ]
        # Issue 15: differences count only beyond the scores' noise around the thresholds. 1c holds pictod's
        # execution to the sequential design at the same detector shapes; the seed's square is shown beside it,
        # the shape change being judged against ground truth (bench/model_trials.py), not against the square.
        for fig, key, what in (("1c", "sameness_shipped", "at the shipped detector shapes"),
                               ("1c'", "sameness", "at the seed's square canvas")):
            mr = (res.get(key) or {}).get("margin_rule")
            if not mr:
                continue
            beyond = mr["objects_lost"] + mr["objects_gained"] + mr["faces_lost"] + mr["faces_gained"]
            target, verdict = ("none", _verdict(beyond == 0)) if fig == "1c" else (
                "shape judged by ground truth", "see trials")
            lines.append(
                f"| {fig} | same results as sequential {what}, margin rule (objects/faces lost although it scored "
                f">= threshold + {mr['margin']}, or gained although it scores < threshold - {mr['margin']}) | "
                f"{mr['photos_same']}/{mr['photos_compared']} photos; objects lost {mr['objects_lost']}, gained "
                f"{mr['objects_gained']} (of {mr['objects_sequential']}); faces lost {mr['faces_lost']}, gained "
                f"{mr['faces_gained']} (of {mr['faces_sequential']}) | {target} | {verdict} |")
    else:
        lines.append("| 1 | throughput | pending | | |")
    lat = res.get("latency") or {}
    if "p95_s" in lat:
        lines.append(f"| 2 | drop-to-commit latency, idle daemon (p50 / p95 over {len(lat['latencies_s'])}) | "
                     f"{lat['p50_s']:.2f} s / {lat['p95_s']:.2f} s | p95 <= {lat['target_p95_s']:.1f} s "
                     f"(settle {lat['settle_s']} s + 1 s) | {_verdict(lat['p95_s'] <= lat['target_p95_s'])} |")
    else:
        lines.append(f"| 2 | latency | {lat.get('error', 'pending')[:200]} | | |")
    mem = res.get("memory") or {}
    if mem:
        slope = mem["slope_mib_per_min_after_warmup"]
        cyc = res.get("cycles") or {}
        if cyc.get("slope_mib_per_cycle") is not None:
            # The daemon's trend is judged over the add/delete cycles: minutes of the same work, repeated.
            growth = cyc["slope_mib_per_cycle"] * 1024 / cyc["photos"]
            flat = growth <= TARGETS["rss_growth_kib_per_photo"]
            peak = max(mem["peak_mib"], cyc["memory"]["peak_mib"])
            medians = ", ".join(f"{c['median_mib']:.0f}" for c in cyc["per_cycle"])
            trend = (f"median RSS per add/delete cycle of {cyc['photos']} photos: {medians} MiB, slope after the "
                     f"first {cyc['slope_mib_per_cycle']:+.1f} MiB a cycle = {growth:+.1f} KiB a photo; "
                     f"the scan's own slope {_f(slope)} MiB/min")
            if cyc.get("idle_slope_mib_per_cycle") is not None:
                idle = ", ".join(f"{c['idle_mib']:.0f}" for c in cyc["per_cycle"] if c.get("idle_mib") is not None)
                trend += (f"; idle after each prune: {idle} MiB, slope after the first "
                          f"{cyc['idle_slope_mib_per_cycle'] * 1024 / cyc['photos']:+.1f} KiB a photo")
            target = f"<= 1024 MiB, no upward trend (<= {TARGETS['rss_growth_kib_per_photo']:.0f} KiB a photo)"
        else:
            flat = slope is None or slope <= TARGETS["rss_slope_mib_per_min"]
            peak = mem["peak_mib"]
            trend = f"trend after warm-up {_f(slope)} MiB/min"
            target = f"<= 1024 MiB, no upward trend (<= {TARGETS['rss_slope_mib_per_min']} MiB/min)"
        lines.append(f"| 3 | daemon peak RSS over the {mem['photos']}-photo scan (and the cycles) | {peak:.0f} MiB "
                     f"({trend}) | {target} | {_verdict(peak <= TARGETS['peak_rss_mib'] and flat)} |")
    rs = res.get("restart") or {}
    if "scan_seconds" in rs:
        med = rs["scan_seconds"]["median"]
        zero = all(a == 0 for a in rs["reanalysed"])
        lines.append(f"| 4 | restart: `pictod scan` of {rs['files']} indexed unchanged files | "
                     f"{_sp(rs['scan_seconds'], 1)} s, "
                     f"re-analysed {rs['reanalysed']} | <= 20 s, 0 re-analysed | "
                     f"{_verdict(med <= TARGETS['restart_s'] and zero)} |")
    else:
        lines.append(f"| 4 | restart cost | {str(rs.get('error', 'pending'))[:200]} | | |")
    cl = (res.get("others") or {}).get("clusters")
    dbscan = (cl or {}).get("full_dbscan") or []
    if dbscan:
        text = ", ".join(f"{d['n'] // 1000}k: {d['seconds']:.1f} s ({d['peak_rss_mib']:.0f} MiB)" for d in dbscan)
        lines.append(f"| 5 | full DBSCAN recluster by face count (time, peak RSS) | {text} | "
                     "(store/people issue) | see 5 |")
    else:
        lines.append("| 5 | reclustering 10k/100k/300k faces | "
                     f"{str((cl or {}).get('error') or (cl or {}).get('pending') or 'pending')[:200]} | | |")
    lines += ["", "## 1. Throughput", ""]
    if tp:
        lines += [
            f"{tp['photos']} photos per round, {tp['rounds']} rounds. pictod: `pictod scan` subprocess on a fresh "
            "database each round (wall clock from spawn to exit, so start-up and model loading are included; the "
            "'without start-up' line subtracts a scan of an empty folder made in the same round). Sequential: the "
            "seed's design in `bench/reference.py`, in the harness process, models loaded beforehand. Limit: "
            f"every model call pictod's chain makes on the same {tp['limit_photos']} photos "
            f"({tp.get('limit_face_passes', '?')} face-detector passes, {tp['limit_faces']} faces embedded), recorded "
            "once with their ready tensors and replayed back to back: only `session.run` is timed; best thread "
            "layout per round.",
            "",
            "| what | photos/s, median (min, max) |",
            "| --- | --- |",
            f"| pictod scan | {_sp(tp['pictod_photos_per_s'])} |",
            f"| pictod scan without start-up | {_sp(tp['pictod_photos_per_s_without_startup'])} |",
            f"| model-bound limit (best layout) | {_sp(tp['limit_photos_per_s'])} |",
            f"| sequential design | {_sp(tp['sequential_photos_per_s'])} |",
            "",
            "pictod scan CPU use (user + system CPU seconds / wall seconds of the process, i.e. cores kept "
            f"busy on average): {', '.join(str(m.get('cores_busy')) for m in tp['memory'])} by round. "
            f"pictod start-up (empty folder scan): {_sp(tp['pictod_startup_s'])} s. "
            f"Ratio to the limit without start-up: {_sp(tp['ratio_vs_limit_without_startup'])}. "
            f"Limit / sequential: {_sp(tp['limit_vs_sequential'])}.",
            "",
            *_cpu_budget_lines(tp.get("cpu_budget_ms") or {}),
            "Limit by thread layout (intra-op threads per session x concurrent workers, YOLO batch):",
            "",
        ]
        for label, s in tp["limit_layouts_photos_per_s"].items():
            mark = " (best)" if label == tp["limit_best_layout"] else ""
            lines.append(f"- {label}: {_sp(s)} photos/s{mark}")
        if tp["errors"]:
            lines += ["", "Errors:", *[f"- `{e[:400]}`" for e in tp["errors"]]]
    same = res.get("sameness") or {}
    if same:
        lines += ["", "Sameness (round 0 pictod DB vs round 0 sequential): "
                  f"{same['photos_same']}/{same['photos_compared']} photos identical in object labels and face count; "
                  f"objects {same['objects']['pictod']} vs {same['objects']['sequential']}, faces "
                  f"{same['faces']['pictod']} vs {same['faces']['sequential']}; boxes matched one to one at IoU >= 0.8 "
                  f"(same label): objects {same.get('objects_matched_iou_0_8')}/{same['objects']['sequential']}, "
                  f"faces {same.get('faces_matched_iou_0_8')}/{same['faces']['sequential']}."]
        for d in same["differences"][:10]:
            lines.append(f"- {d['photo']}: pictod {d['pictod']} vs sequential {d['sequential']}")
        if same.get("margin_rule"):
            mr = same["margin_rule"]
            lines += ["", f"Figure 1c's margin rule (`bench/reference.py`): objects and faces the sequential design "
                      f"scored within {mr['margin']} of its threshold flip under any change of the pixels (the reduced "
                      "decode, the photo-shaped canvas), so only the rest count; the sequential design's scores "
                      "down to the threshold minus the margin come from a second pass outside the clock. Photos "
                      f"differing beyond the margin: {mr['photos_compared'] - mr['photos_same']}."]
            for d in mr["differences"][:10]:
                lines.append(f"- {d['photo']}: objects lost {d['objects_lost']}, gained {d['objects_gained']}; faces "
                             f"lost {d['faces_lost']}, gained {d['faces_gained']} (pictod {d['pictod']} vs "
                             f"sequential {d['sequential']})")
    shipped = (res.get("sameness_shipped") or {}).get("margin_rule")
    if shipped:
        lines += ["", "Figure 1c proper: the same margin rule against the sequential design run (outside the clock) "
                  "with the detectors at the shapes pictod ships, so only pictod's execution (reduced decode, one "
                  "shrink for both detectors, overlap, batching) differs; the change of canvas itself is judged "
                  "against labelled truth in the trials section. Photos differing beyond the margin: "
                  f"{shipped['photos_compared'] - shipped['photos_same']}."]
        for d in shipped["differences"][:10]:
            lines.append(f"- {d['photo']}: objects lost {d['objects_lost']}, gained {d['objects_gained']}; faces "
                         f"lost {d['faces_lost']}, gained {d['faces_gained']} (pictod {d['pictod']} vs "
                         f"sequential {d['sequential']})")
    sc = res.get("stage_costs")
    if sc:
        lines += ["", "Per-photo costs outside inference (ms, median of rounds over "
                  f"{sc['photos']} photos of {sc['mean_file_mb']} MB):",
                  f"full-resolution decode {_sp(sc['full_decode_ms'], 1)}; pictod's decode (reduced) "
                  f"{_sp(sc['pictod_decode_ms'], 1)}; sha256 {_sp(sc['sha256_ms'], 1)}.", "",
                  "pictod's Analyzer in-process, one photo at a time, with the daemon's per-session threads "
                  f"(workers {sc['analyzer_threads']['workers']}, intra-op setting "
                  f"{sc['analyzer_threads']['intra_op_threads']}: 0 = cores / workers), ms per photo: "
                  + "; ".join(f"{name} {_sp(v, 1)}" for name, v in sc["analyzer_ms"].items())
                  + ". With 2 workers a scan at the limit would need about total / 2 ms of wall time per photo."]
    prof = res.get("profile_scan")
    if prof and "error" not in prof:
        lines += ["", f"py-spy profile of one `pictod scan` of {prof['photos']} photos ({prof['samples']} CPU samples "
                  "at 100 Hz over all threads, threads waiting for work left out), share of CPU samples by what the "
                  "stack is in:",
                  "", *[f"- {k}: {v}%" for k, v in prof["categories_pct"].items()],
                  "", "Top functions on CPU (leaf frame):", "",
                  *[f"- `{k}`: {v}%" for k, v in prof["top_leaf_pct"].items()]]
    elif prof:
        lines += ["", f"py-spy profile failed: {prof['error']}"]
    lines += ["", "## 2. Latency", ""]
    if "p95_s" in lat:
        lines += [f"`pictod run` watching an empty folder; each of {lat['drops']} photos copied in "
                  "(`shutil.copyfile`), clock started when the copy is closed, stopped when the file's row reads "
                  "done in a read-only connection (polled every 10 ms), 0.3 s idle between drops. "
                  f"p50 {lat['p50_s']} s, "
                  f"p95 {lat['p95_s']} s, max {lat['max_s']} s; settle time {lat['settle_s']} s. Idle daemon RSS: "
                  f"peak {lat['memory']['peak_mib']} MiB."]
    else:
        lines.append(str(lat.get("error", "pending")))
    lines += ["", "## 3. Memory", ""]
    if mem.get("photos_per_s"):
        seq = (tp.get("sequential_photos_per_s") or {}).get("median")
        lines += [f"The whole-set scan ran at {mem['photos_per_s']:.2f} photos/s ({mem['seconds']:.0f} s for "
                  f"{mem['photos']} photos, start-up included)"
                  + (f"; {mem['photos_per_s'] / seq:.2f}x the median sequential rate of the throughput rounds "
                     "(not paired: another moment of a shared machine)." if seq else ".")
                  + f" Summary: {mem.get('summary')}.", ""]
    if mem:
        lines += [f"Sampled VmRSS every 0.5 s (and VmHWM) of the `pictod scan` process over {mem['photos']} photos: "
                  f"peak {mem['peak_mib']} MiB, first sample {mem['first_mib']} MiB, last {mem['last_mib']} MiB, "
                  f"least-squares slope after the first quarter {_f(mem['slope_mib_per_min_after_warmup'])} MiB/min "
                  f"over {mem['samples']} samples.",
                  "", "RSS over time (s, MiB): " + ", ".join(f"{t:.0f}:{v:.0f}" for t, v in mem["series"][::4])]
    cyc = res.get("cycles") or {}
    if cyc.get("per_cycle") or cyc.get("error"):
        lines += ["", f"Add/delete cycles (`pictod run`, the daemon as a service runs): {cyc['rounds']} times, the "
                  f"same {cyc['photos']} photos hard-linked into a new folder, moved into the watched folder at "
                  "once, analysed, then the folder deleted and its photos pruned. RSS of the daemon per cycle:", "",
                  "| cycle | seconds | median MiB | peak MiB | idle after the prune MiB |",
                  "| --- | --- | --- | --- | --- |",
                  *[f"| {i} | {c['seconds']} | {c['median_mib']} | {c['peak_mib']} | {c.get('idle_mib', '-')} |"
                    for i, c in enumerate(cyc.get("per_cycle", []))], ""]
        if cyc.get("error"):
            lines.append(f"Stopped early: {cyc['error'][:300]}")
        if cyc.get("slope_mib_per_cycle") is not None:
            lines.append(f"Least-squares slope of the medians after the first cycle: "
                         f"{cyc['slope_mib_per_cycle']:+.2f} MiB a cycle "
                         f"({cyc['slope_mib_per_cycle'] * 1024 / cyc['photos']:+.1f} KiB per photo analysed); "
                         f"daemon peak over all cycles {cyc['memory']['peak_mib']:.0f} MiB, exit code "
                         f"{cyc.get('daemon_exit_code')}.")
        if cyc.get("idle_slope_mib_per_cycle") is not None:
            lines.append(f"Slope of the idle RSS after each prune (what the daemon keeps), after the first cycle: "
                         f"{cyc['idle_slope_mib_per_cycle']:+.2f} MiB a cycle "
                         f"({cyc['idle_slope_mib_per_cycle'] * 1024 / cyc['photos']:+.1f} KiB per photo).")
    lines += ["", "## 4. Restart cost", ""]
    if "scan_seconds" in rs:
        lines += [f"{rs['files']} unique 8x8 PNGs in folders of 1,000. The DB was filled through the store's own "
                  "API (`Store.record_analysis` with the file's real sha256, size, mtime and an empty analysis), "
                  "because running the models on 50,000 files takes far longer than the benchmark budget; a pilot "
                  "of 300 files filled the same way is checked first to give zero re-analyses under `pictod scan`. "
                  f"Fill: {rs.get('fill_seconds')} s. Then `pictod scan` (start-up included) "
                  f"x{rs['scan_seconds']['n']}: {_sp(rs['scan_seconds'], 1)} s; of which start-up (empty folder) "
                  f"{_sp(rs['startup_seconds'], 1)} s; "
                  f"photos re-analysed per round: {rs['reanalysed']}; peak RSS "
                  f"{max(x['peak_mib'] for x in rs['memory']):.0f} MiB."]
    else:
        lines.append(str(rs.get("error", "pending")))
    lines += ["", "## 5. Reclustering (bench/clusters.py)", ""]
    if cl:
        lines += [f"`{res['others'].get('clusters_command', 'bench/clusters.py')}` "
                  + (f"({res['others']['clusters_seconds']} s)" if "clusters_seconds" in res["others"] else "")
                  + ", its JSON as printed:", "",
                  "```json", json.dumps(cl, indent=1)[:6000], "```"]
    lines += ["", "## Faster detector variants judged against ground truth (bench/model_trials.py)", ""]
    from model_trials import report_lines  # the trials render their own table

    if res.get("trials_command"):
        lines += [f"From `{res['trials_command']}`.", ""]
    lines += report_lines(res.get("trials") or {})
    from review_report import report_lines as review_lines  # issue 21's section, from its scripts' JSON

    lines += [
        "",
        "People quality on hard photos (issue 11: clustering, suggestions, the scripted users) is reported in "
        "`bench/people_quality.md`, from `bench/people_quality.py`.",
        *review_lines(),
        "",
        "## What each change bought",
        "",
        "Filled from the figures above; the lead adds the changes made in the code (e.g. an optimised model) "
        "with their before/after runs. Config variants are measured with "
        "`python bench/run.py --quick --only none --variant SECTION.KEY=VALUE ...` (alternating with the default).",
        "",
        "| change | measured by | effect (first five rows: this run's figures; the rest: measured at the "
        "change's own commit, see its message) |",
        "| --- | --- | --- |",
        *_change_rows(res),
    ]
    if res.get("variants"):
        lines += ["", "### Variants measured", "",
                  f"`pictod scan` with one config change against the default config, alternating, paired per round "
                  f"({res.get('variants_from') or 'this run'}).", "",
                  "| variant | photos/s | ratio to default (paired) | peak RSS MiB |", "| --- | --- | --- | --- |"]
        for v in res["variants"]:
            lines.append(f"| {v['variant']} | {_sp(v['photos_per_s'])} | {_sp(v['ratio_to_default'])} | "
                         f"{_sp(v.get('peak_rss_mib'), 0)} |")
    if res.get("pending"):
        lines += ["", "## Pending", "", *[f"- {p}" for p in res["pending"]]]
    # bench/video.py's section (between its markers) is its own: kept as it is.
    old = path_md.read_text() if path_md.exists() else ""
    start, end = old.find("<!-- bench/video.py: begin -->"), old.find("<!-- bench/video.py: end -->")
    if 0 <= start < end:
        lines += ["", old[start:end].rstrip("\n"), "<!-- bench/video.py: end -->"]
    path_md.write_text("\n".join(lines) + "\n")


def _variant(res: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((v for v in res.get("variants") or [] if v["variant"] == key), None)


def _cpu_budget_lines(cb: dict[str, Any]) -> list[str]:
    """Where each photo's CPU goes (bench.run.cpu_budget), as a table with the share of pictod's total."""
    if not cb.get("pictod_scan"):
        return []
    total = cb["pictod_scan"]
    rows = [("inference (the limit's session.run calls, one thread)", cb["inference"]),
            (f"decode (pictod's reduced decode; {cb['heic_photos']} HEIC among them, not DCT-scalable)", cb["decode"]),
            ("pre/post-processing (shrink, letterbox, tensors, NMS, face alignment)", cb["pre_post"]),
            ("pictod's own (hashing, SQLite, people, asyncio, logging)", cb["pictod_own"])]
    return [
        "CPU per photo of this set (process CPU time, so whatever the thread layout: what the two cores share "
        "out). The limit spends only the first line; pictod spends all four, so on the same cores its rate can "
        f"reach at most inference / total = {cb['inference'] / total:.2f} of the limit's.",
        "",
        "| where | CPU ms a photo | share of pictod's |",
        "| --- | --- | --- |",
        *[f"| {what} | {ms:.1f} | {ms / total:.0%} |" for what, ms in rows],
        f"| pictod scan, start-up taken off | {total:.1f} | 100% |",
        "",
    ]


def _change_rows(res: dict[str, Any]) -> list[str]:
    """The 'what each change bought' rows, filled from the figures this run (or a merged one) has."""
    tp = res.get("throughput") or {}
    sc = res.get("stage_costs") or {}
    lay = tp.get("limit_layouts_photos_per_s") or {}

    def med(label: str) -> float | None:
        return (lay.get(label) or {}).get("median")

    rows = []
    a, b = med("1 thread(s) x 2 worker(s), batch 1"), med("2 thread(s) x 1 worker(s), batch 1")
    v = _variant(res, "daemon.workers=1,models.intra_op_threads=2")
    eff = []
    if a and b:
        eff.append(f"limit: 2 workers x 1 thread {a / b:.2f}x 1 worker x 2 threads")
    if v and v["ratio_to_default"]["median"]:
        eff.append(f"pictod scan: default (2 workers x 1 thread) {1 / v['ratio_to_default']['median']:.2f}x "
                   "1 worker x 2 threads")
    rows.append(f"| executor workers x intra-op threads | limit layouts; `--variant` runs | {'; '.join(eff) or '-'} |")
    c, d = med("1 thread(s) x 2 worker(s), batch 4"), med("1 thread(s) x 2 worker(s), batch 1")
    rows.append("| batching YOLO across photos (4 per run) | limit layouts | "
                + (f"{c / d:.2f}x batch 1 (1 thread x 2 workers)" if c and d else "-") + " |")
    eff = []
    if sc:
        eff.append(f"decode {sc['full_decode_ms']['median']:.0f} -> {sc['pictod_decode_ms']['median']:.0f} ms a photo")
    v = _variant(res, "analysis.reduced_decode=false")
    if v and v["ratio_to_default"]["median"]:
        eff.append(f"pictod scan {1 / v['ratio_to_default']['median']:.2f}x faster than with full decode")
    rows.append(f"| reduced (DCT-scaled) JPEG decode | decode costs; `--variant analysis.reduced_decode=false` | "
                f"{'; '.join(eff) or '-'} |")
    rows.append("| overlap of decode and inference, several photos in flight | pictod vs sequential | "
                + (f"pictod {tp['ratio_vs_sequential']['median']:.2f}x the sequential design (all changes together)"
                   if tp.get("ratio_vs_sequential", {}).get("median") else "-") + " |")
    rows.append("| hashing (sha256 of every file) | sha256 cost | "
                + (f"{sc['sha256_ms']['median']:.1f} ms a photo" if sc else "-") + " |")
    # Code changes measured when they were made, at their own commits (alternating before/after runs on this
    # machine; the commit messages carry the same figures), not by this run. Their effect is inside every
    # figure above.
    rows += [
        "| onnxruntime's CPU memory arena off | 400-photo scan, alternating | peak RSS 934-1015 -> 687-765 MiB, "
        "same wall time |",
        "| shrink each photo once for both detectors | 24 photos in-process, alternating | 77.1/74.5 -> 68.1/68.7 ms a "
        "photo, same results |",
        "| to_nchw writing channel planes directly (and BGR on the way) | one 640x640 image | 3.0 -> 0.2 ms (3.8 -> "
        "0.2 ms with the BGR copy), once for YOLO and once or twice for YuNet per photo, bit-identical |",
        "| two photos in flight per analysis worker (tried, reverted) | 80-photo scan, 3 alternating rounds | "
        "6.01-6.14 -> 5.84-6.01 s: within noise, and it doubled the file bytes held; reverted after this run |",
        "| at most 4 faces per embedding run (was 32) | SFace, 25 faces, 1 thread | 26.1 -> 20.4 ms a face; the "
        "110-190 MiB RSS steps of group photos gone |",
        "| reduced decoding for HEIC/PNG/TIFF/WebP too (box filter after decode) | 8 HEICs of the set | 342-350 -> "
        "320-324 ms a photo, same results |",
        "| 2 glibc malloc arenas + malloc_trim every 10 s and when idle | 2,000-photo scans, alternating | peak "
        "822-842 -> 680-709 MiB, median RSS after warm-up 599-644 -> 471-472 MiB, same CPU time |",
        "| detectors at the photo's own shape (640x480 for 4:3; issue 15) | bench/model_trials.py (section above) | "
        "shipped: ground truth not worse, objects/faces stages faster (see there); int8 not shipped (recall lower) |",
        "| turned-face probe on the rows it fills plus one empty row (640x320 for one box, was 640x640) | "
        "bench/turned_faces.py --photos 100, search on/off alternating | the search's cost +7.8% -> +3.9% CPU, same "
        "faces, no false turn |",
        "| border colour of the close-up pass and the probe by cv2.mean, once per photo | one 640x480 image | "
        "8.2 -> 0.1 ms a call, same colour |",
        "| `pictod web` registered without importing the web libraries | empty-folder `pictod scan`, 3 alternating "
        "runs | start-up 1.01-1.33 -> 0.85-1.04 s user CPU |",
        "| a close-after-write ends the settle wait; events of a file already stored in that state skip it | "
        "`--only latency`, 50 drops | drop to commit p50 2.23 -> 0.29 s, p95 2.50 -> 0.72 s |",
        "| model sessions built from the file's path, not its bytes (onnxruntime kept the bytes) | 3 sessions in "
        "one process | 152 -> 107 MiB RSS; daemon ready 231.8 -> 187.6 MiB |",
    ]
    return rows


# --------------------------------------------------------------------------------------------- variants


def variants(profile: Profile, wl: workload.Workload, tmp: Path, specs: Sequence[str]) -> list[dict[str, Any]]:
    """pictod scan with config variants (section.key=value) vs the default, alternating, paired per round."""
    folder = subset_folder(wl, profile.throughput)
    n = len(list(folder.iterdir()))
    parsed = []
    for spec in specs:
        over: dict[str, dict[str, Any]] = {}
        for part in spec.split(","):  # "daemon.workers=1,models.intra_op_threads=2": one variant, two keys
            key, _, raw = part.partition("=")
            section, _, name = key.strip().partition(".")
            over.setdefault(section, {})[name] = tomllib.loads(f"v = {raw}")["v"]
        parsed.append((spec, over))
    runs: dict[str, list[float]] = {"default": []}
    peaks: dict[str, list[float]] = {"default": []}
    for r in range(profile.rounds):
        order: list[tuple[str, dict[str, dict[str, Any]]]] = [("default", {}), *parsed]
        if r % 2:
            order.reverse()
        for i, (label, over) in enumerate(order):
            d = tmp / f"var-{r}-{i}"
            d.mkdir()
            over = dict(over)
            env = {k: str(v) for k, v in over.pop("env", {}).items()}  # env.NAME=VALUE: the process environment
            res = run_scan(write_config(d / "c.toml", [folder], d / "l.db", over), d / "scan.log", env=env)
            if res.returncode != 0:
                log(f"  variant {label} failed: {_tail(res.log)}")
            runs.setdefault(label, []).append(n / res.seconds)
            peaks.setdefault(label, []).append(res.memory["peak_mib"])
            log(f"  variant {label} round {r}: {n / res.seconds:.2f} photos/s, peak {res.memory['peak_mib']:.0f} MiB")
    out = []
    for label, _ in parsed:
        out.append({"variant": label, "photos_per_s": spread(runs[label]), "peak_rss_mib": spread(peaks[label]),
                    "ratio_to_default": spread([a / b for a, b in zip(runs[label], runs["default"], strict=True)])})
    out.append({"variant": "default", "photos_per_s": spread(runs["default"]), "peak_rss_mib": spread(peaks["default"]),
                "ratio_to_default": None})
    return out


# Which results.json keys each part of the benchmark writes (for --merge-parts).
PART_KEYS = {
    "throughput": ("throughput", "sameness", "sameness_shipped"),
    "costs": ("stage_costs", "profile_scan"),
    "memory": ("memory", "cycles"),
    "latency": ("latency",),
    "restart": ("restart",),
    "clusters": ("others",),
    "trials": ("trials", "trials_command"),
    "variants": ("variants", "variants_from"),
}


def merge_parts(res: dict[str, Any], earlier: dict[str, Any], ran: set[str]) -> None:
    """Copy into `res` the parts this run did not make from an earlier run's results, saying which and whence."""
    taken = [part for part, keys in PART_KEYS.items()
             if part not in ran and not any(k in res for k in keys) and any(k in earlier for k in keys)]
    for part in taken:
        for key in PART_KEYS[part]:
            if key in earlier:
                res[key] = earlier[key]
    if taken:
        commit = (earlier.get("machine") or {}).get("git_commit", "?")
        here = f"the {earlier.get('profile')} run of {earlier.get('started')} UTC (pictod commit {commit})"
        inherited = earlier.get("part_sources") or {}  # parts that run had itself merged keep their source
        sources = {part: inherited.get(part, here) for part in taken}
        res["part_sources"] = sources
        by_source: dict[str, list[str]] = {}
        for part, source in sources.items():
            by_source.setdefault(source, []).append(part)
        res["merged_parts"] = "; ".join(f"{', '.join(parts)} from {source}" for source, parts in by_source.items())


# --------------------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and write bench/results.md and bench/results.json."""
    parser = argparse.ArgumentParser(description="pictod benchmarks (see bench/results.md)")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="profile")
    size.add_argument("--full", action="store_const", const="full", dest="profile")
    parser.add_argument("--only", nargs="*", default=None,
                        choices=["throughput", "latency", "memory", "restart", "clusters", "costs", "trials",
                                 "variants", "none"],
                        help="run only these parts")
    parser.add_argument("--variant", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="measure pictod scan with this config change against the default (instead of "
                             f"the default variants: {', '.join(DEFAULT_VARIANTS)})")
    parser.add_argument("--py-spy", default=os.environ.get("PYSPY") or shutil.which("py-spy"),
                        help="py-spy binary: if found, one extra scan is profiled to show where the time goes")
    parser.add_argument("--merge-variants", type=Path, metavar="RESULTS_JSON",
                        help="copy the variants of an earlier run (e.g. --quick --variant ...) into this report")
    parser.add_argument("--whole-scan", action="store_true", help="memory figure over the whole set in --quick too")
    parser.add_argument("--merge-clusters", type=Path, metavar="CLUSTERS_JSON",
                        help="use this saved `bench/clusters.py --json` output instead of running it")
    parser.add_argument("--merge-trials", type=Path, metavar="TRIALS_JSON",
                        help="use this saved `bench/model_trials.py --json` output instead of running it")
    parser.add_argument("--merge-parts", type=Path, metavar="RESULTS_JSON",
                        help="take the parts not run now (see --only) from this earlier results.json, e.g. the "
                             "load-insensitive memory/latency/restart/clusters figures while the ratios are re-run")
    parser.add_argument("--profile-scan", action="store_true", help="py-spy profile in --quick runs too")
    parser.add_argument("--out", type=Path, default=REPO / "bench", help="folder for results.md/json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (DBs, logs)")
    parser.add_argument("--throughput-photos", type=int, help="override the photos per throughput round")
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--drops", type=int, help="override the number of latency drops")
    parser.add_argument("--small", type=int, help="override the number of files of the restart figure")
    args = parser.parse_args(argv)
    profile = FULL if args.profile == "full" else QUICK
    overrides = {"throughput": args.throughput_photos, "rounds": args.rounds, "drops": args.drops,
                 "small": args.small}
    profile = dataclasses.replace(profile, **{k: v for k, v in overrides.items() if v is not None})
    parts = set(args.only) if args.only else {"throughput", "latency", "memory", "restart", "clusters", "costs",
                                              "trials", "variants"}
    started = time.time()

    def _terminate(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through `finally`: partial results are still written

    signal.signal(signal.SIGTERM, _terminate)
    res: dict[str, Any] = {"profile": profile.name, "started": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                           "machine": machine(), "targets": TARGETS, "pending": []}
    log(f"profile {profile.name}: building/reusing the {profile.photos}-photo workload")
    t0 = time.perf_counter()
    wl = workload.build(profile.photos)
    res["workload"] = {
        "photos": len(wl.items), "jpeg": sum(i.fmt == "jpeg" for i in wl.items),
        "heic": sum(i.fmt == "heic" for i in wl.items), "faces": sum(i.faces for i in wl.items),
        "mb": wl.total_bytes / 1e6, "dir": str(wl.root), "build_or_verify_seconds": round(time.perf_counter() - t0, 1),
        "manifest_sha256": hashlib.sha256((wl.root / "manifest.json").read_bytes()).hexdigest(),
    }
    tmp = Path(tempfile.mkdtemp(prefix="pictod-bench-"))
    try:
        if "throughput" in parts:
            seq_results: dict[str, reference.PhotoResult] = {}
            shipped_results: dict[str, reference.PhotoResult] = {}
            (tmp / "tp").mkdir()
            res["throughput"] = throughput(profile, wl, tmp / "tp", seq_results, shipped_results)
            db0 = Path(res["throughput"]["db_round0"])
            if db0.exists():
                try:
                    ours = read_results(db0)
                    res["sameness"] = reference.compare(ours, seq_results)
                    res["sameness_shipped"] = reference.compare(ours, shipped_results)
                except sqlite3.Error as exc:
                    res["pending"].append(f"sameness: could not read pictod's results from the DB: {exc}")
            mems = res["throughput"]["memory"]
            if mems and not (profile.whole_scan or args.whole_scan):
                worst = max(mems, key=lambda x: x["peak_mib"])
                res["memory"] = {"photos": res["throughput"]["photos"], **worst}
        if "costs" in parts:
            res["stage_costs"] = stage_costs(wl, tmp)
            if args.py_spy and (profile.name == "full" or args.profile_scan):
                log("profile: one pictod scan under py-spy")
                d = tmp / "profile"
                d.mkdir()
                res["profile_scan"] = profile_scan(profile, wl, d, args.py_spy)
            elif not args.py_spy and (profile.name == "full" or args.profile_scan):
                res["pending"].append("no py-spy found (pip install py-spy, or --py-spy PATH): scan not profiled")
        if "memory" in parts and (profile.whole_scan or args.whole_scan):
            log(f"memory: one pictod scan of all {profile.photos} photos")
            d = tmp / "whole"
            d.mkdir()
            run = run_scan(write_config(d / "config.toml", [wl.photos], d / "library.db"), d / "scan.log")
            res["memory"] = {"photos": profile.photos, **run.memory, "seconds": round(run.seconds, 1),
                             "photos_per_s": round(profile.photos / run.seconds, 3), "summary": run.summary,
                             "returncode": run.returncode}
        if "memory" in parts and (profile.whole_scan or args.whole_scan):
            log(f"memory: {CYCLES['rounds']} cycles of {CYCLES['photos']} photos added and deleted")
            d = tmp / "cycles"
            d.mkdir()
            res["cycles"] = cycles(wl, d, **CYCLES)
        if "latency" in parts:
            log(f"latency: {profile.drops} drops into an idle daemon")
            d = tmp / "lat"
            d.mkdir()
            res["latency"] = latency(profile, wl, d)
        if "restart" in parts:
            d = tmp / "restart"
            d.mkdir()
            try:
                res["restart"] = restart(profile, d)
            except ImportError as exc:
                res["restart"] = {"error": f"store not available yet: {exc}"}
        if args.merge_clusters:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(args.merge_clusters.stat().st_mtime))
            res["others"] = {"clusters": json.loads(args.merge_clusters.read_text()),
                             "clusters_command": f"bench/clusters.py --json (saved output {args.merge_clusters.name}, "
                                                 f"written {when} UTC, merged with --merge-clusters)"}
        elif "clusters" in parts:
            log("clusters: bench/clusters.py --json")
            res["others"] = others(profile, tmp)
        if args.merge_trials:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(args.merge_trials.stat().st_mtime))
            res["trials"] = json.loads(args.merge_trials.read_text())
            res["trials_command"] = (f"bench/model_trials.py --json (saved output {args.merge_trials.name}, written "
                                     f"{when} UTC, merged with --merge-trials)")
        elif "trials" in parts:
            log("trials: bench/model_trials.py --json")
            res["trials"] = model_trials(profile)
        if args.merge_variants:
            prev = json.loads(args.merge_variants.read_text())
            res["variants"] = prev.get("variants") or []
            res["variants_from"] = (f"{prev.get('profile')} run of {prev.get('started')} UTC, "
                                    f"{(prev.get('workload') or {}).get('photos')}-photo set, "
                                    f"{QUICK.throughput if prev.get('profile') == 'quick' else FULL.throughput} photos "
                                    "per round")
        specs = args.variant or (list(DEFAULT_VARIANTS) if "variants" in parts and not args.merge_variants else [])
        if specs:
            log(f"variants: {', '.join(specs)}")
            d = tmp / "variants"
            d.mkdir()
            res["variants"] = variants(profile, wl, d, specs)
        if args.merge_parts:
            merge_parts(res, json.loads(args.merge_parts.read_text()), parts)
    finally:
        res["seconds_total"] = time.time() - started
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(res, indent=1, default=_json_default))
        write_report(res, args.out / "results.md")
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    log(f"done in {res['seconds_total']:.0f} s: {args.out / 'results.md'}")
    return 0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "__dataclass_fields__"):
        return asdict(obj)
    raise TypeError(type(obj).__name__)


if __name__ == "__main__":
    sys.exit(main())
