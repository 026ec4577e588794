"""`pictod service install|uninstall|status`: the per-user service, a systemd user unit on Linux or a launchd agent
on macOS, rendered from the templates shipped with the package (daemon/systemd in a wheel, systemd/ in a checkout).
Registered by `daemon.cli.main.build_parser`.

The units run the executable that runs this command (the `pictod` script beside `sys.executable`, else
`sys.executable -m daemon`) on the config in use (--config, $PICTOD_CONFIG or ~/.config/pictod/config.toml; with
none of them the defaults, and no --config in the unit). Each gets the library's (and log file's) folders in its
sandbox's ReadWritePaths=; the web app's unit is installed but not enabled. `--render-only DIR` only writes the
four files into DIR, for a look, for the tests, or for a machine whose service manager pictod does not drive.
"""

from __future__ import annotations

import argparse
import json
import os
import plistlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from daemon import config as config_mod
from daemon.errors import ConfigError
from daemon.resources import shipped

EXIT_OK = 0
EXIT_NOT_RUNNING = 3  # `status`: as `pictod status`, the daemon is not running
EXIT_UNAVAILABLE = 69  # sysexits: no service manager pictod can drive here

# The web app's template and its default unit/agent: installed beside the daemon's, never enabled by install.
DAEMON_UNIT, WEB_UNIT = "pictod.service", "pictod-web.service"
DAEMON_AGENT, WEB_AGENT = "org.pictod.daemon", "org.pictod.web"
# Environment that decides where the library and the thumbnails live: carried into the units when set here.
CARRIED_ENV = ("XDG_DATA_HOME", "XDG_CACHE_HOME")


class ServiceError(Exception):
    """The service manager cannot be used as asked; `str()` says why and what to do instead."""


@dataclass(frozen=True)
class Target:
    """What the units run: the command before the subcommand, the config file (None: the defaults)."""

    command: tuple[str, ...]
    config: Path | None
    cfg: config_mod.Config


def executable() -> tuple[str, ...]:
    """The running pictod: the `pictod` script beside this interpreter (a venv, pipx, uv tool), else `-m daemon`."""
    python = os.path.abspath(sys.executable)  # not resolved: a venv's python is a symlink out of the venv
    script = Path(python).parent / "pictod"
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (python, "-m", "daemon")


def target(args: argparse.Namespace) -> Target:
    """The executable and the config in use, read once (an invalid config stops here, naming its key)."""
    path = Path(args.config) if args.config else config_mod.default_config_path()
    config = path.absolute() if args.config or "PICTOD_CONFIG" in os.environ or path.exists() else None
    cfg = config_mod.load(config, check_folders=False)
    found = Target(command=executable(), config=config, cfg=cfg)
    for name in [*found.command, str(config or ""), *map(str, writable_folders(found, web=True))]:
        if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in name):
            # A unit file is lines of UTF-8 text and a plist is XML: neither can name such a path faithfully.
            raise ConfigError(f"cannot write a service for the path {name!r}: it holds a control character or "
                               "bytes that are not UTF-8 (rename it, or choose another in the config)")
    return found


def _quote(word: str) -> str:
    # systemd: % starts a specifier; a double-quoted word may hold spaces and escaped quotes and backslashes.
    return '"' + word.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"') + '"'


def writable_folders(t: Target, *, web: bool) -> list[Path]:
    """The folders a unit writes: the library's (corrections, the database), the log file's; the web app's cache."""
    folders = [t.cfg.database_path.parent] + ([t.cfg.log.file.parent] if t.cfg.log.file else [])
    if web and os.environ.get("XDG_CACHE_HOME"):
        folders.append(Path(os.environ["XDG_CACHE_HOME"]) / "pictod")
    return folders


def render_unit(template: str, t: Target, *, web: bool) -> str:
    """A shipped systemd unit with the real command, config, writable folders and carried environment."""
    lines = []
    for line in (shipped("systemd") / template).read_text(encoding="utf-8").splitlines():
        if line.startswith("ExecStart="):
            # the template's subcommand and options, with the real executable and config
            match = re.fullmatch(r"ExecStart=\S+ (\S+) --config \S+(.*)", line)
            assert match is not None, f"{template}: ExecStart= not in the expected form"
            config = f" --config {_quote(str(t.config))}" if t.config is not None else ""
            line = f"ExecStart={' '.join(map(_quote, t.command))} {match[1]}{config}{match[2]}"
        elif line.startswith("ReadWritePaths="):
            extra = ["-" + _quote(str(f)) for f in writable_folders(t, web=web)]
            line = "ReadWritePaths=" + " ".join(dict.fromkeys(line.split("=", 1)[1].split() + extra))
        elif line.startswith("Environment=PYTHONUNBUFFERED="):
            line += "".join(f"\nEnvironment={_quote(f'{k}={os.environ[k]}')}" for k in CARRIED_ENV
                            if os.environ.get(k))
        lines.append(line)
    return "\n".join(lines) + "\n"


def render_plist(template: str, t: Target) -> bytes:
    """A shipped launchd agent with the real command, config, log paths and carried environment."""
    agent = plistlib.loads((shipped("systemd") / template).read_bytes())
    argv = agent["ProgramArguments"]
    rest = argv[argv.index("--config") + 2:]  # the template's options after its config, e.g. --port 8765
    config = ["--config", str(t.config)] if t.config is not None else []
    agent["ProgramArguments"] = [*t.command, argv[1], *config, *rest]
    home = str(Path.home())
    for key in ("StandardOutPath", "StandardErrorPath"):
        agent[key] = agent[key].replace("@HOME@", home)
    agent.setdefault("EnvironmentVariables", {}).update({k: os.environ[k] for k in CARRIED_ENV if os.environ.get(k)})
    return plistlib.dumps(agent)


def render_all(out: Path, t: Target) -> list[Path]:
    """Write both systemd units and both launchd agents into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        DAEMON_UNIT: render_unit(DAEMON_UNIT, t, web=False).encode(),
        WEB_UNIT: render_unit(WEB_UNIT, t, web=True).encode(),
        f"{DAEMON_AGENT}.plist": render_plist(f"{DAEMON_AGENT}.plist", t),
        f"{WEB_AGENT}.plist": render_plist(f"{WEB_AGENT}.plist", t),
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
    return [out / name for name in files]


# --- the service managers --------------------------------------------------------------------------------


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", f"{' '.join(argv)}: no answer within 60 s")


def _must(argv: list[str]) -> str:
    done = _run(argv)
    if done.returncode != 0:
        raise ServiceError(f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip() or done.returncode}")
    return done.stdout


def manager() -> str:
    """systemd on Linux, launchd on macOS; ServiceError elsewhere."""
    if sys.platform.startswith("linux"):
        return "systemd"
    if sys.platform == "darwin":
        return "launchd"
    raise ServiceError(f"no service manager pictod drives on {sys.platform}: run `pictod run` under your own, or "
                       "`pictod service install --render-only DIR` for the systemd and launchd files")


def unit_dir() -> Path:
    """Where systemd looks for the user's own units."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "systemd" / "user"


def agent_dir() -> Path:
    """Where launchd looks for the user's agents."""
    return Path.home() / "Library" / "LaunchAgents"


def _check_user_manager() -> None:
    done = _run(["systemctl", "--user", "show-environment"])
    if done.returncode != 0:
        raise ServiceError(
            "no systemd user manager answers here (`systemctl --user`: "
            f"{(done.stderr or done.stdout).strip() or done.returncode}): log in through a session that starts "
            "one (or `loginctl enable-linger $USER`), or run `pictod run` under your own service manager; "
            "`pictod service install --render-only DIR` writes the unit files without installing them")


def _install(t: Target, kind: str) -> dict[str, Any]:
    if kind == "systemd":
        _check_user_manager()
    for folder in writable_folders(t, web=True):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)  # the sandbox writes only these: they must exist
    if kind == "systemd":
        units = unit_dir()
        units.mkdir(parents=True, exist_ok=True)
        (units / DAEMON_UNIT).write_text(render_unit(DAEMON_UNIT, t, web=False), encoding="utf-8")
        (units / WEB_UNIT).write_text(render_unit(WEB_UNIT, t, web=True), encoding="utf-8")
        _must(["systemctl", "--user", "daemon-reload"])
        _must(["systemctl", "--user", "enable", "--now", DAEMON_UNIT])
        return {"files": [str(units / DAEMON_UNIT), str(units / WEB_UNIT)], "started": [DAEMON_UNIT],
                "next": [f"journalctl --user -u {DAEMON_UNIT.removesuffix('.service')} -f",
                         "systemctl --user enable --now pictod-web", "loginctl enable-linger $USER"]}
    agents = agent_dir()
    agents.mkdir(parents=True, exist_ok=True)
    (Path.home() / "Library" / "Logs").mkdir(parents=True, exist_ok=True)
    daemon_plist, web_plist = agents / f"{DAEMON_AGENT}.plist", agents / f"{WEB_AGENT}.plist"
    _run(["launchctl", "unload", str(daemon_plist)])  # a former install, if any; nothing loaded is fine
    daemon_plist.write_bytes(render_plist(daemon_plist.name, t))
    web_plist.write_bytes(render_plist(web_plist.name, t))  # Disabled: not loaded
    _must(["launchctl", "load", "-w", str(daemon_plist)])
    return {"files": [str(daemon_plist), str(web_plist)], "started": [DAEMON_AGENT],
            "next": ["tail -f ~/Library/Logs/pictod.log", f"launchctl load -w {web_plist}"]}


def _uninstall(kind: str) -> list[str]:
    removed = []
    if kind == "systemd":
        _check_user_manager()
        for unit in (DAEMON_UNIT, WEB_UNIT):
            if (unit_dir() / unit).exists():
                _run(["systemctl", "--user", "disable", "--now", unit])  # already stopped or disabled is fine
                (unit_dir() / unit).unlink()
                removed.append(str(unit_dir() / unit))
        _must(["systemctl", "--user", "daemon-reload"])
        return removed
    for label in (DAEMON_AGENT, WEB_AGENT):
        plist = agent_dir() / f"{label}.plist"
        if plist.exists():
            _run(["launchctl", "unload", "-w", str(plist)])
            plist.unlink()
            removed.append(str(plist))
    return removed


def _systemd_state(unit: str) -> dict[str, Any]:
    enabled = _run(["systemctl", "--user", "is-enabled", unit]).stdout.strip()
    active = _run(["systemctl", "--user", "is-active", unit]).stdout.strip()
    pid = _run(["systemctl", "--user", "show", "-p", "MainPID", "--value", unit]).stdout.strip()
    return {"enabled": enabled in ("enabled", "enabled-runtime", "linked"), "running": active == "active",
            "state": active or "unknown", "pid": int(pid) if pid.isdigit() and pid != "0" else None}


def _launchd_state(label: str) -> dict[str, Any]:
    done = _run(["launchctl", "list", label])
    pid = re.search(r'"PID"\s*=\s*(\d+)', done.stdout)
    return {"enabled": done.returncode == 0, "running": pid is not None,
            "state": ("running" if pid else "loaded") if done.returncode == 0 else "not loaded",
            "pid": int(pid[1]) if pid else None}


def status(t: Target, kind: str) -> dict[str, Any]:
    """Each service: installed (its file), enabled, running, its pid, and where its log is."""
    reachable = True
    if kind == "systemd":
        try:
            _check_user_manager()
        except ServiceError:
            reachable = False
    services = []
    for name, unit, label in (("daemon", DAEMON_UNIT, DAEMON_AGENT), ("web", WEB_UNIT, WEB_AGENT)):
        short = unit.removesuffix(".service")
        if kind == "systemd":
            path, log = unit_dir() / unit, f"journalctl --user -u {short}"
        else:
            path, log = agent_dir() / f"{label}.plist", f"~/Library/Logs/{'pictod' if name == 'daemon' else short}.log"
        entry: dict[str, Any] = {"name": name, "service": unit if kind == "systemd" else label, "file": str(path),
                                 "installed": path.exists(), "enabled": None, "running": None, "state": "unknown",
                                 "pid": None, "log": log}
        if reachable:
            entry.update(_systemd_state(unit) if kind == "systemd" else _launchd_state(label))
        services.append(entry)
    if t.cfg.log.file is not None:
        services[0]["log_file"] = str(t.cfg.log.file)
    return {"manager": kind, "reachable": reachable, "config": None if t.config is None else str(t.config),
            "services": services}


# --- the commands ----------------------------------------------------------------------------------------


def _print(args: argparse.Namespace, document: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print("\n".join(lines))


def _uses(t: Target) -> list[str]:
    config = str(t.config) if t.config is not None else (
        "none: the built-in defaults (watching ~/Pictures); `pictod init FOLDER...` writes one")
    return [f"  runs:   {' '.join(t.command)}", f"  config: {config}"]


def _cmd_install(args: argparse.Namespace) -> int:
    try:
        t = target(args)
        document: dict[str, Any] = {"command": list(t.command), "config": None if t.config is None else str(t.config)}
        if args.render_only:
            files = render_all(Path(args.render_only).absolute(), t)
            document.update({"manager": None, "rendered_only": True, "files": [str(f) for f in files],
                             "started": []})
            _print(args, document, [f"wrote {len(files)} files into {args.render_only} (nothing installed):",
                                    *(f"  {f}" for f in files), *_uses(t)])
            return EXIT_OK
        kind = manager()
        document.update({"manager": kind, "rendered_only": False, **_install(t, kind)})
    except ServiceError as exc:
        return _fail(args, str(exc))
    _print(args, document, [f"installed and started the pictod daemon ({kind}); the web app is installed, off:",
                            *(f"  {f}" for f in document["files"]), *_uses(t), "next:",
                            *(f"  {step}" for step in document["next"])])
    return EXIT_OK


def _cmd_uninstall(args: argparse.Namespace) -> int:
    try:
        kind = manager()
        removed = _uninstall(kind)
    except ServiceError as exc:
        return _fail(args, str(exc))
    _print(args, {"manager": kind, "removed": removed},
           [f"stopped and removed: {', '.join(removed)}" if removed else "no pictod service was installed",
            "the library and the config are kept"])
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    try:
        report = status(target(args), manager())
    except ServiceError as exc:
        return _fail(args, str(exc))
    lines = [] if report["reachable"] else ["the user's service manager does not answer here: state unknown"]
    for s in report["services"]:
        if not s["installed"]:
            state = "not installed (`pictod service install`)"
        else:
            state = ", ".join([("enabled" if s["enabled"] else "disabled") if s["enabled"] is not None else "?",
                               s["state"] + (f" (pid {s['pid']})" if s["pid"] else "")])
        lines += [f"{s['name']}: {state}", f"  file: {s['file']}", f"  log:  {s['log']}"]
        if s.get("log_file"):
            lines.append(f"  log file: {s['log_file']}")
    _print(args, report, lines)
    return EXIT_OK if report["services"][0]["running"] else EXIT_NOT_RUNNING


def _fail(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print(json.dumps({"error": message}, ensure_ascii=False, indent=2))
    print(f"pictod service: {message}", file=sys.stderr)
    return EXIT_UNAVAILABLE


def register(sub: Any, common: Any) -> None:
    """Add `pictod service install|uninstall|status`; `common` adds --config/--json."""
    service = sub.add_parser("service", help="install, remove or check the background service (systemd user unit "
                             "or launchd agent)")
    ssub = service.add_subparsers(dest="service_command", required=True, metavar="ACTION")
    p = ssub.add_parser("install", help="install and start the daemon's service (the web app's too, left off)",
                        description="Render the shipped service files for the pictod being run and the config in "
                        "use, install them for this user and start the daemon; the web app's unit is installed but "
                        "not enabled. Exit 69 when no service manager can be driven here.")
    common(p)
    p.add_argument("--render-only", metavar="DIR", help="only write the systemd units and launchd agents into DIR")
    p.set_defaults(func=_cmd_install)
    p = ssub.add_parser("uninstall", help="stop and remove the services (the library and the config are kept)")
    common(p)
    p.set_defaults(func=_cmd_uninstall)
    p = ssub.add_parser("status", help="are the services installed, enabled, running; where are their logs",
                        description="Exit 0 when the daemon's service runs, 3 when it does not, 69 when no service "
                        "manager can be asked here.")
    common(p)
    p.set_defaults(func=_cmd_status)
