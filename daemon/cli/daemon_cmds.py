"""The daemon's commands: `run` (the daemon in the foreground), `scan` (index once), `status`, `analyze` (the
analysis chain on files, nothing stored) and `recluster`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon import logs
from daemon.cli.output import (
    EXIT_INTERRUPTED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    EXIT_PHOTO_FAILED,
    add_common,
    jsonable,
    load_config,
    print_json,
    safe,
    setup_quiet_logs,
    writer,
)
from daemon.errors import ConfigError, PhotoError

if TYPE_CHECKING:
    from daemon.store import Store


def _check_folders_for_run(cfg: config_mod.Config) -> None:
    """A watched folder that is missing at start is a typo unless the library already knows files under it.

    A folder the library has indexed before is more likely an unmounted drive: then the daemon starts, removes
    nothing under it and waits for it to come back (the service's missing-root guard).
    """
    missing = [f.path for f in cfg.library.folders if not f.path.is_dir()]
    if not missing:
        return
    known: set[Path] = set()
    if cfg.database_path.exists():
        # Read-only: the daemon lock is not held yet, so nothing may be written (or migrated) here.
        from daemon.library import open_library
        with open_library(cfg.database_path, read_only=True) as store:
            known = {path for path in missing if store.has_files(str(path))}
    for path in missing:
        if path not in known:
            raise ConfigError(
                f"library.folders: {path} is not a directory (create it, mount it, or remove it from the config)"
            )


def _setup_daemon_logs(cfg: config_mod.Config, stream: Any, *, verbose: bool, json_out: bool = False) -> Any:
    """Logs of `run` / `scan`, and the live progress line when `stream` is a terminal (None otherwise).

    On a terminal (no --json, log.format not forced to json) the progress line replaces the per-photo and
    status lines unless --verbose or log.level = "debug"; those go on to a log file if one is set. Under a
    service manager or in a pipe nothing changes: JSON lines, one per photo."""
    level = "info" if verbose and cfg.log.level in ("warning", "error") else cfg.log.level
    progress = None
    if not json_out and stream.isatty() and (cfg.log.file is not None or cfg.log.format != "json"):
        from daemon.runtime.progress import ProgressLine

        progress = ProgressLine(stream)
    quiet: frozenset[str] = frozenset()
    if progress is not None and cfg.log.file is None and not verbose and cfg.log.level != "debug":
        quiet = frozenset({"photo", "status"})
    logs.setup(level=level, fmt=cfg.log.format, file=cfg.log.file,
               stream=progress.log_stream() if progress is not None else stream, quiet_events=quiet)
    return progress


def _cmd_run(args: argparse.Namespace) -> int:
    from daemon.runtime import service
    cfg = load_config(args)
    _check_folders_for_run(cfg)
    progress = _setup_daemon_logs(cfg, sys.stdout, verbose=args.verbose)
    return service.run(cfg, progress=progress)


def _cmd_scan(args: argparse.Namespace) -> int:
    from daemon.runtime import service
    cfg = load_config(args, check_folders=not args.paths)
    progress = _setup_daemon_logs(cfg, sys.stderr, verbose=args.verbose, json_out=args.json)
    summary = service.scan(cfg, [Path(p) for p in args.paths] or None, progress=progress)
    if args.json:
        print_json(summary)
    else:
        fields = jsonable(summary)
        verb = "scan interrupted" if summary.interrupted else "scan finished"
        print(f"{verb}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items() if k != "interrupted"))
    # Interrupted: what was committed stays; the exit code tells a script the scan is incomplete.
    return EXIT_INTERRUPTED if summary.interrupted else EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from daemon.library import open_library, reads
    from daemon.runtime.lock import daemon_pid
    cfg = load_config(args)
    setup_quiet_logs()
    pid = daemon_pid(cfg)
    db = cfg.database_path
    report: dict[str, Any] = {"database": str(db), "daemon_running": pid is not None, "daemon_pid": pid}
    if db.exists():
        with open_library(db, read_only=True) as store:
            report.update(jsonable(reads.status_counts(store)))
    else:
        report["note"] = "no library yet: start the daemon or run `pictod scan`"
    if args.json:
        print_json(report)
    else:
        lines = [("daemon", f"running (pid {pid})" if pid else "not running"), ("database", safe(str(db)))]
        lines += [(k.replace("_", " "), "" if v is None else "none" if v == {} else
                   "; ".join(f"{safe(r)} (since {t})" for r, t in v.items()) if isinstance(v, dict) else str(v))
                  for k, v in report.items() if k not in ("database", "daemon_running", "daemon_pid")]
        width = max(len(k) for k, _ in lines) + 2
        for key, value in lines:
            print(f"{key + ':':<{width}}{value}")
    return EXIT_OK if pid is not None else EXIT_NOT_RUNNING


def _analysis_dict(path: str, analysis: Any) -> dict[str, Any]:
    video = analysis.meta.kind == "video"
    return {
        "path": path,
        "status": "done",
        "kind": analysis.meta.kind,
        **({"duration": analysis.meta.duration, "codec": analysis.meta.codec} if video else {}),
        "width": analysis.meta.width,
        "height": analysis.meta.height,
        "format": analysis.meta.format,
        "taken_at": analysis.meta.taken_at,
        "camera": analysis.meta.camera,
        "gps": analysis.meta.gps,
        "objects": [{"label": o.label, "score": o.score, "box": o.box,
                     **({"time": o.time, "seen": o.seen} if video else {})} for o in analysis.objects],
        "faces": [
            {"box": f.box, "score": f.score, "landmarks": f.landmarks, "embedding_dim": int(f.embedding.shape[0]),
             **({"time": f.time, "track": f.track, "seen": f.seen} if video else {})}
            for f in analysis.faces
        ],
        "timings_ms": analysis.timings_ms,
    }


def _cmd_analyze(args: argparse.Namespace) -> int:
    from daemon.analysis.analyzer import Analyzer

    cfg = load_config(args, optional=True)  # `analyze` needs no library: without any config, the defaults
    setup_quiet_logs()
    analyzer = Analyzer.from_config(cfg, workers=1)
    results: list[dict[str, Any]] = []
    failed = 0
    for name in args.photos:
        try:
            if cfg.library.is_video(name):
                analysis = analyzer.analyze_video(Path(name), cfg.video)
            else:
                analysis = analyzer.analyze_file(Path(name))
        except PhotoError as exc:
            failed += 1
            results.append({"path": name, "status": "failed", "reason": exc.reason, "message": exc.message})
            if not args.json:
                print(f"{safe(name)}: failed: {exc}")
            continue
        result = _analysis_dict(name, analysis)
        results.append(result)
        if not args.json:
            objects = ", ".join(f"{o['label']} {o['score']:.2f}" for o in result["objects"]) or "none"
            extra = f" {result['codec']} {result['duration']:.1f} s" if result["kind"] == "video" else ""
            print(f"{safe(name)}: {result['width']}x{result['height']} {result['format']}{extra}")
            print(f"  objects: {objects}")
            print(f"  faces:   {len(result['faces'])}")
            for face in result["faces"]:
                x1, y1, x2, y2 = (round(v) for v in face["box"])
                when = f" at {face['time']:.1f} s" if face.get("time") is not None else ""
                print(f"    ({x1},{y1})-({x2},{y2}) score {face['score']:.2f}{when}")
    if args.json:
        print_json(results)
    return EXIT_PHOTO_FAILED if failed else EXIT_OK


def _recluster(args: argparse.Namespace, store: Store, cfg: config_mod.Config) -> int:
    from daemon.library import upkeep
    result = upkeep.recluster(store, cfg.clustering)
    if args.json:
        print_json(result)
    else:
        fields = jsonable(result)
        print("reclustered: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items()))
    return EXIT_OK


def register(sub: Any) -> None:
    """Add `run`, `scan`, `analyze`, `status` and `recluster`."""
    p = sub.add_parser("run", help="run the daemon in the foreground (what the service starts)")
    add_common(p, json_flag=False)
    p.add_argument("--verbose", "-v", action="store_true",
                   help="on a terminal: one log line per photo as well as the progress line")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("scan", help="index the watched folders (or PATHs) once, wait until done, exit")
    add_common(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to scan instead of the configured ones")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="on a terminal: one log line per photo as well as the progress line")
    p.set_defaults(func=_cmd_scan)

    p = sub.add_parser("analyze", help="run the analysis chain on files and print the results; writes nothing")
    add_common(p)
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser("status", help="photos done/pending/failed, faces, people, last recluster, daemon up?")
    add_common(p)
    p.set_defaults(func=_cmd_status)


def register_recluster(sub: Any) -> None:
    """Add `recluster` (after the library commands in the help's order)."""
    p = sub.add_parser("recluster", help="force a full recluster now")
    add_common(p)
    p.set_defaults(func=writer(_recluster))
