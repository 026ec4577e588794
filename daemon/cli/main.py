"""`pictod` subcommands: argument parsing, human and --json output, exit codes.

Exit codes: 0 success; 1 unexpected failure; 2 usage error or unknown id; 3 `status`: no daemon running;
65 `analyze`: at least one photo could not be analysed; 74 database error; 75 another daemon owns the
database; 78 configuration or model error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from daemon import config as config_mod
from daemon import logs
from daemon.errors import ConfigError, PhotoError, PictodError

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_PHOTO_FAILED = 65

Handler = Callable[[argparse.Namespace], int]


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float):
        return round(value, 4)
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_jsonable(value), ensure_ascii=False, indent=2))


def _safe(text: str) -> str:
    """A path or name made printable on one line (control characters and undecodable bytes escaped)."""
    return logs.escape(text)


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [[_safe(str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _load_config(
    args: argparse.Namespace, *, check_folders: bool = False, optional: bool = False
) -> config_mod.Config:
    # `analyze` needs no library: with no --config and no config file anywhere, the defaults will do.
    if optional and args.config is None and not config_mod.default_config_path().exists():
        return config_mod.Config()
    return config_mod.load(args.config, check_folders=check_folders)


def _setup_quiet_logs() -> None:
    # One-shot commands print results on stdout; their logs go to stderr, warnings and worse only.
    logs.setup(level="warning", fmt="console" if sys.stderr.isatty() else "json", stream=sys.stderr)


# --- daemon commands -------------------------------------------------------------------------------------


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
        from daemon.store import Store
        with Store.open(cfg.database_path, read_only=True) as store:
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
    cfg = _load_config(args)
    _check_folders_for_run(cfg)
    progress = _setup_daemon_logs(cfg, sys.stdout, verbose=args.verbose)
    return service.run(cfg, progress=progress)


def _cmd_scan(args: argparse.Namespace) -> int:
    from daemon.runtime import service
    cfg = _load_config(args, check_folders=not args.paths)
    progress = _setup_daemon_logs(cfg, sys.stderr, verbose=args.verbose, json_out=args.json)
    summary = service.scan(cfg, [Path(p) for p in args.paths] or None, progress=progress)
    if args.json:
        _print_json(summary)
    else:
        fields = _jsonable(summary)
        verb = "scan interrupted" if summary.interrupted else "scan finished"
        print(f"{verb}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items() if k != "interrupted"))
    # Interrupted: what was committed stays; the exit code tells a script the scan is incomplete.
    return 130 if summary.interrupted else EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from daemon.runtime import service
    from daemon.store import Store
    cfg = _load_config(args)
    _setup_quiet_logs()
    pid = service.daemon_pid(cfg)
    db = cfg.database_path
    report: dict[str, Any] = {"database": str(db), "daemon_running": pid is not None, "daemon_pid": pid}
    if db.exists():
        store = Store.open(db, read_only=True)
        try:
            report.update(_jsonable(store.status_counts()))
        finally:
            store.close()
    else:
        report["note"] = "no library yet: start the daemon or run `pictod scan`"
    if args.json:
        _print_json(report)
    else:
        lines = [("daemon", f"running (pid {pid})" if pid else "not running"), ("database", _safe(str(db)))]
        lines += [(k.replace("_", " "), "" if v is None else "none" if v == {} else
                   "; ".join(f"{_safe(r)} (since {t})" for r, t in v.items()) if isinstance(v, dict) else str(v))
                  for k, v in report.items() if k not in ("database", "daemon_running", "daemon_pid")]
        width = max(len(k) for k, _ in lines) + 2
        for key, value in lines:
            print(f"{key + ':':<{width}}{value}")
    return EXIT_OK if pid is not None else EXIT_NOT_RUNNING


# --- analysis --------------------------------------------------------------------------------------------


def _analysis_dict(path: str, analysis: Any) -> dict[str, Any]:
    return {
        "path": path,
        "status": "done",
        "width": analysis.meta.width,
        "height": analysis.meta.height,
        "format": analysis.meta.format,
        "taken_at": analysis.meta.taken_at,
        "camera": analysis.meta.camera,
        "gps": analysis.meta.gps,
        "objects": [{"label": o.label, "score": o.score, "box": o.box} for o in analysis.objects],
        "faces": [
            {"box": f.box, "score": f.score, "landmarks": f.landmarks, "embedding_dim": int(f.embedding.shape[0])}
            for f in analysis.faces
        ],
        "timings_ms": analysis.timings_ms,
    }


def _cmd_analyze(args: argparse.Namespace) -> int:
    from daemon.analysis.analyzer import Analyzer

    cfg = _load_config(args, optional=True)
    _setup_quiet_logs()
    analyzer = Analyzer.from_config(cfg, workers=1)
    results: list[dict[str, Any]] = []
    failed = 0
    for name in args.photos:
        try:
            analysis = analyzer.analyze_file(Path(name))
        except PhotoError as exc:
            failed += 1
            results.append({"path": name, "status": "failed", "reason": exc.reason, "message": exc.message})
            if not args.json:
                print(f"{_safe(name)}: failed: {exc}")
            continue
        result = _analysis_dict(name, analysis)
        results.append(result)
        if not args.json:
            objects = ", ".join(f"{o['label']} {o['score']:.2f}" for o in result["objects"]) or "none"
            print(f"{_safe(name)}: {result['width']}x{result['height']} {result['format']}")
            print(f"  objects: {objects}")
            print(f"  faces:   {len(result['faces'])}")
            for face in result["faces"]:
                x1, y1, x2, y2 = (round(v) for v in face["box"])
                print(f"    ({x1},{y1})-({x2},{y2}) score {face['score']:.2f}")
    if args.json:
        _print_json(results)
    return EXIT_PHOTO_FAILED if failed else EXIT_OK


# --- library queries and corrections ---------------------------------------------------------------------


def _with_store(
    args: argparse.Namespace, action: Callable[[Any, config_mod.Config], int], *, read_only: bool = False
) -> int:
    """Run an action on the library: readers open it read-only (never migrated, never written), writers in full."""
    from daemon.store import Store
    cfg = _load_config(args)
    _setup_quiet_logs()
    if not cfg.database_path.exists():
        raise PictodError(f"no library at {cfg.database_path}: start the daemon or run `pictod scan` first")
    store = Store.open(cfg.database_path, read_only=read_only)
    try:
        return action(store, cfg)
    finally:
        store.close()


def _cmd_people(args: argparse.Namespace) -> int:
    from daemon.library import reads as library
    def action(store: Any, _cfg: config_mod.Config) -> int:
        rows = [_jsonable(r) for r in library.list_people(store)]
        if args.json:
            _print_json(rows)
        elif not rows:
            print("no people yet")
        else:
            print(_table([[r["id"], r.get("name") or "", r["faces"], r["photos"]] for r in rows],
                         ["id", "name", "faces", "photos"]))
        return EXIT_OK

    return _with_store(args, action, read_only=True)


def _cmd_people_show(args: argparse.Namespace) -> int:
    from daemon.library import reads as library
    def action(store: Any, cfg: config_mod.Config) -> int:
        detail = _jsonable(library.person_detail(store, args.id))
        sheet_faces: list[Any] = []
        if args.sheet:
            sheet_faces = library.write_contact_sheet(store, args.id, Path(args.sheet), limits=cfg.analysis)
            detail["sheet"] = str(args.sheet)
            detail["sheet_faces"] = _jsonable(sheet_faces)
        if args.json:
            _print_json(detail)
            return EXIT_OK
        print(f"person {detail['id']}: {detail.get('name') or '(unnamed)'}, "
              f"{detail['faces']} faces in {detail['photos']} photos")
        rows = [[f["id"], f["path"] or "(no file)", " ".join(str(round(v)) for v in f["box"]),
                 "pinned" if f["pinned"] else ""] for f in detail["face_list"]]
        print(_table(rows, ["face", "photo", "box", ""]))
        if args.sheet:
            print(f"\ncontact sheet: {_safe(str(args.sheet))} ({len(sheet_faces)} faces, left to right, top to "
                  "bottom; each tile shows #face id and distance to the person)")
            print(_table([[f.position, f.face_id, "" if f.distance is None else f"{f.distance:.3f}", f.path]
                          for f in sheet_faces], ["tile", "face", "distance", "photo"]))
        return EXIT_OK

    return _with_store(args, action, read_only=True)


def _correction(
    call: Callable[[Any, argparse.Namespace], Any], message: Callable[[argparse.Namespace], str]
) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        def action(store: Any, _cfg: config_mod.Config) -> int:
            result = call(store, args)
            if args.json:
                _print_json({"ok": True, "result": result})
            else:
                print(message(args))
            return EXIT_OK

        return _with_store(args, action)

    return handler


def _near(text: str) -> tuple[float, float, float]:
    """argparse type of --near: LAT,LON[,KM] (KM defaults to 1)."""
    parts = text.split(",")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
        km = float(parts[2]) if len(parts) == 3 else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAT,LON[,KM] in degrees and km, got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km >= 0):
        raise argparse.ArgumentTypeError(f"latitude -90..90, longitude -180..180, km >= 0: got {text!r}")
    return lat, lon, km


def _positive(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _when(text: str) -> str:
    """argparse type of --since/--until: checked here so a typo is a usage error (exit 2)."""
    from daemon.library import reads as library
    try:
        library.date_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _cmd_faces_suggest(args: argparse.Namespace) -> int:
    from daemon.library import reads as library
    def action(store: Any, cfg: config_mod.Config) -> int:
        items = library.suggest_faces(store, person_id=args.person, eps=cfg.clustering.suggest_eps,
                                      k=cfg.clustering.assign_k)
        if args.json:
            _print_json(items)
        elif not items:
            print("no suggestions")
        else:
            rows = [[i.face_id, i.photo_id, s.person_id, s.person_name or "", f"{s.distance:.3f}",
                     "top" if n == 0 else ""] for i in items for n, s in enumerate(i.suggestions)]
            print(_table(rows, ["face", "photo", "person", "name", "distance", ""]))
            print(f"{len(items)} faces with suggestions; take one with `pictod faces accept FACE [PERSON]`")
        return EXIT_OK

    return _with_store(args, action, read_only=True)


def _cmd_faces_accept(args: argparse.Namespace) -> int:
    def action(store: Any, cfg: config_mod.Config) -> int:
        person = _corrections().accept_suggestion(store, args.face, args.person, eps=cfg.clustering.suggest_eps)
        if args.json:
            _print_json({"ok": True, "face_id": args.face, "person_id": person})
        else:
            print(f"face {args.face} is now on person {person} (kept across reclusters)")
        return EXIT_OK

    return _with_store(args, action)


def _cmd_faces_reject(args: argparse.Namespace) -> int:
    def action(store: Any, _cfg: config_mod.Config) -> int:
        if args.person is None:
            result = _corrections().reject_face(store, args.face)
            message = f"face {args.face} rejected" + (f" from person {result}" if result is not None else
                                                       " (it was on no person)")
        else:
            _corrections().reject_suggestion(store, args.face, args.person)
            result = args.person
            message = f"face {args.face} is not person {args.person}: never suggested or put there again"
        if args.json:
            _print_json({"ok": True, "face_id": args.face, "person_id": result})
        else:
            print(message)
        return EXIT_OK

    return _with_store(args, action)


def _cmd_people_accept(args: argparse.Namespace) -> int:
    def action(store: Any, cfg: config_mod.Config) -> int:
        limit = cfg.clustering.suggest_eps if args.max_distance is None else args.max_distance
        accepted = _corrections().accept_person_suggestions(store, args.id, max_distance=limit)
        if args.json:
            _print_json({"ok": True, "person_id": args.id, "accepted": accepted})
        else:
            print(f"person {args.id}: {len(accepted)} suggested faces accepted"
                  + (f" ({', '.join(map(str, accepted))})" if accepted else ""))
        return EXIT_OK

    return _with_store(args, action)


def _cmd_people_new(args: argparse.Namespace) -> int:
    def action(store: Any, _cfg: config_mod.Config) -> int:
        person = _corrections().new_person(store, args.faces, name=args.name)
        if args.json:
            _print_json({"ok": True, "person_id": person, "face_ids": args.faces, "name": args.name})
        else:
            print(f"person {person} made from faces {', '.join(map(str, args.faces))}"
                  + (f", named {_safe(args.name)}" if args.name else ""))
        return EXIT_OK

    return _with_store(args, action)


def _cmd_photos(args: argparse.Namespace) -> int:
    from daemon.library import reads as library
    query = library.PhotoQuery(
        tags=tuple(args.tag or ()), people=tuple(args.person or ()), any_person=args.any_person,
        no_people=args.no_people, since=args.since, until=args.until, camera=args.camera, near=args.near,
        sort=args.sort, descending=args.reverse, limit=args.limit, offset=args.offset)

    def action(store: Any, _cfg: config_mod.Config) -> int:
        hits = library.search_photos(store, query)
        if args.json:
            _print_json(hits)
        elif args.paths:
            for hit in hits:
                for path in hit.paths:
                    print(_safe(path))
        elif not hits:
            print("no photos match")
        else:
            rows = []
            for hit in hits:
                people = sorted({f.person_name or str(f.person_id) for f in hit.faces if f.person_id is not None})
                tags = sorted({o.label for o in hit.objects})
                date = hit.date.replace("T", " ")[:16] + ("" if hit.date_source == "exif" else " (file)")
                rows.append([hit.paths[0] + (f" (+{len(hit.paths) - 1})" if len(hit.paths) > 1 else ""), date,
                             hit.camera or "", ",".join(tags), ", ".join(people)])
            print(_table(rows, ["photo", "date", "camera", "objects", "people"]))
            print(f"{len(hits)} photo(s); date: EXIF capture time, or the file's modification time where marked "
                  "(file)")
        return EXIT_OK

    return _with_store(args, action, read_only=True)


def _cmd_tags(args: argparse.Namespace) -> int:
    from daemon.library import reads as library
    def action(store: Any, _cfg: config_mod.Config) -> int:
        counts = library.tag_counts(store)
        if args.json:
            _print_json(counts)
        else:
            print(_table(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), ["tag", "photos"])
                  if counts else "no tags yet")
        return EXIT_OK

    return _with_store(args, action, read_only=True)


def _cmd_recluster(args: argparse.Namespace) -> int:
    from daemon.people import manager as people
    def action(store: Any, cfg: config_mod.Config) -> int:
        result = people.recluster_now(store, cfg.clustering)
        if args.json:
            _print_json(result)
        else:
            fields = _jsonable(result)
            print("reclustered: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in fields.items()))
        return EXIT_OK

    return _with_store(args, action)


# --- parser ----------------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PICTOD_CONFIG, ~/.config/pictod/config.toml, ./config.toml)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="pictod",
        description="pictod: watches photo folders, finds objects and faces, groups faces into people.",
        epilog="exit codes: 0 ok, 2 usage/unknown id, 3 status: daemon not running, 65 a photo failed, "
        "74 database error, 75 another daemon owns the database, 78 config/model error",
    )
    parser.add_argument("--version", action="version", version="pictod " + _version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the daemon in the foreground (what the service starts)")
    _common(p, json_flag=False)
    p.add_argument("--verbose", "-v", action="store_true",
                   help="on a terminal: one log line per photo as well as the progress line")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("scan", help="index the watched folders (or PATHs) once, wait until done, exit")
    _common(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to scan instead of the configured ones")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="on a terminal: one log line per photo as well as the progress line")
    p.set_defaults(func=_cmd_scan)

    p = sub.add_parser("analyze", help="run the analysis chain on files and print the results; writes nothing")
    _common(p)
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser("status", help="photos done/pending/failed, faces, people, last recluster, daemon up?")
    _common(p)
    p.set_defaults(func=_cmd_status)

    people = sub.add_parser("people", help="list, inspect, name and merge people")
    _common(people)
    people.set_defaults(func=_cmd_people)
    psub = people.add_subparsers(dest="people_command", metavar="ACTION")
    p = psub.add_parser("show", help="a person's faces; --sheet writes a contact sheet PNG")
    _common(p)
    p.add_argument("id", type=int)
    p.add_argument("--sheet", metavar="FILE.png", help="write a contact sheet of this person's face crops")
    p.set_defaults(func=_cmd_people_show)
    p = psub.add_parser("name", help="name a person (kept across reclusters)")
    _common(p)
    p.add_argument("id", type=int)
    p.add_argument("name")
    p.set_defaults(func=_correction(lambda st, a: _corrections().name_person(st, a.id, a.name),
                                    lambda a: f"person {a.id} is now {a.name}"))
    p = psub.add_parser("merge", help="merge person B into person A (kept across reclusters)")
    _common(p)
    p.add_argument("a", type=int)
    p.add_argument("b", type=int)
    p.set_defaults(func=_correction(lambda st, a: _corrections().merge_people(st, a.a, a.b),
                                    lambda a: f"person {a.b} merged into {a.a}"))
    p = psub.add_parser("accept", help="accept every face whose top suggestion is this person (kept across "
                        "reclusters)")
    _common(p)
    p.add_argument("id", type=int, metavar="PERSON")
    p.add_argument("--max-distance", type=float, metavar="D",
                   help="only suggestions at most this distance (default: clustering.suggest_eps)")
    p.set_defaults(func=_cmd_people_accept)
    p = psub.add_parser("new", help="make a person from chosen faces (at most one per photo; kept across "
                        "reclusters)")
    _common(p)
    p.add_argument("faces", type=int, nargs="+", metavar="FACE")
    p.add_argument("--name", help="name the new person")
    p.set_defaults(func=_cmd_people_new)

    faces = sub.add_parser("faces", help="correct face assignments, see and take suggestions")
    fsub = faces.add_subparsers(dest="faces_command", required=True, metavar="ACTION")
    p = fsub.add_parser("move", help="move a face to another person (kept across reclusters)")
    _common(p)
    p.add_argument("face", type=int)
    p.add_argument("person", type=int)
    p.set_defaults(func=_correction(lambda st, a: _corrections().move_face(st, a.face, a.person),
                                lambda a: f"face {a.face} moved to person {a.person}"))
    p = fsub.add_parser("reject", help="this face is not its person, or not PERSON (a suggestion): kept across "
                        "reclusters, never suggested again")
    _common(p)
    p.add_argument("face", type=int)
    p.add_argument("person", type=int, nargs="?", help="the person it is not (default: the one it is on)")
    p.set_defaults(func=_cmd_faces_reject)
    p = fsub.add_parser("suggest", help="people each unassigned face may be, nearest first, with distances")
    _common(p)
    p.add_argument("--person", type=int, metavar="P", help="only suggestions of this person")
    p.set_defaults(func=_cmd_faces_suggest)
    p = fsub.add_parser("accept", help="put a face on its top suggestion, or on PERSON (kept across reclusters)")
    _common(p)
    p.add_argument("face", type=int)
    p.add_argument("person", type=int, nargs="?", help="the person to take (default: the top suggestion)")
    p.set_defaults(func=_cmd_faces_accept)

    p = sub.add_parser("photos", help="search photos: tags, people, dates, camera, place (conditions combine with AND)",
                       epilog="dates: the EXIF capture time, else the file's modification time (local time); "
                       "--json says which in date_source")
    _common(p)
    p.add_argument("--tag", action="append", metavar="LABEL",
                   help="COCO object label, e.g. person, cat, cup; repeat: every tag must be present")
    p.add_argument("--person", action="append", metavar="ID|NAME",
                   help="person id or exact name; repeat: every person must be in the photo")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--any-person", action="store_true", help="at least one face assigned to a person")
    who.add_argument("--no-people", action="store_true", help="no face assigned to any person")
    p.add_argument("--since", type=_when, metavar="DATE", help="from this date: YYYY[-MM[-DD[THH:MM[:SS]]]]")
    p.add_argument("--until", type=_when, metavar="DATE", help="up to and including this date (same forms)")
    p.add_argument("--camera", metavar="TEXT", help="camera make/model contains TEXT (case-insensitive)")
    p.add_argument("--near", type=_near, metavar="LAT,LON[,KM]", help="taken within KM (default 1) of a place")
    p.add_argument("--sort", choices=("path", "date"), default="path", help="order (default: path)")
    p.add_argument("--reverse", action="store_true", help="reverse the order (newest first with --sort date)")
    p.add_argument("--limit", type=_positive, metavar="N", help="at most N photos")
    p.add_argument("--offset", type=_positive, default=0, metavar="N", help="skip the first N photos")
    p.add_argument("--paths", action="store_true", help="print only the paths, one per line (for xargs)")
    p.set_defaults(func=_cmd_photos)

    p = sub.add_parser("tags", help="object tags with photo counts")
    _common(p)
    p.set_defaults(func=_cmd_tags)

    p = sub.add_parser("recluster", help="force a full recluster now")
    _common(p)
    p.set_defaults(func=_cmd_recluster)

    from daemon.web import command as web_command  # the review web app (issue 12); loads no web library here

    web_command.register(sub, _common)

    from daemon.cli import photos as cli_photos  # failed, retry, completion (issue 14)

    cli_photos.register(sub, _common)

    from daemon.cli import metadata as cli_metadata
    cli_metadata.register(sub, _common, _with_store)
    from daemon.cli import purge as cli_purge
    cli_purge.register(sub, _common)
    return parser


def _corrections() -> Any:
    from daemon.library import corrections
    return corrections


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    # Only a shell asking for completions sets _ARGCOMPLETE: then argcomplete answers and exits here.
    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(parser)


def _version() -> str:
    from daemon import __version__
    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pictod` console script."""
    parser = build_parser()
    _autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PictodError as exc:
        print(f"pictod: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `pictod photos | head`: the reader left; not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
