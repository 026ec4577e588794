"""`pictod init`, `pictod service install|uninstall|status`, `python -m daemon` and `pictod --version` as a user runs
them (real subprocesses, HOME in a temp folder, no user manager reachable: XDG_RUNTIME_DIR empty, no session bus),
the rendered units checked by the real `systemd-analyze verify`; and tools/ci_prereqs.sh as a non-root user."""

from __future__ import annotations

import json
import os
import plistlib
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from harness import REPO, verify_unit

from daemon import config
from daemon.cli import service

PICTOD = Path(sys.executable).parent / "pictod"


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """A user with HOME at `home` and no service manager to talk to."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("XDG_") and k not in ("PICTOD_CONFIG", "DBUS_SESSION_BUS_ADDRESS")}
    runtime = home / "runtime"
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {**env, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime), **extra}


def run(*args: str | Path, env: dict[str, str], cwd: Path, command: tuple[str, ...] = (str(PICTOD),)
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_version_and_python_m_daemon_are_pictod(tmp_path: Path) -> None:
    env = user_env(tmp_path)
    script = run("--version", env=env, cwd=tmp_path)
    module = run("--version", env=env, cwd=tmp_path, command=(sys.executable, "-m", "daemon"))
    assert script.returncode == module.returncode == 0
    assert script.stdout == module.stdout == f"pictod {metadata.version('pictod')}\n"
    helped = run("service", "--help", env=env, cwd=tmp_path, command=(sys.executable, "-m", "daemon"))
    assert helped.returncode == 0 and "install" in helped.stdout and helped.stdout.startswith("usage: pictod service")


def test_init_writes_the_config_refuses_to_overwrite_and_says_what_next(tmp_path: Path) -> None:
    home, photos = tmp_path / "home", tmp_path / "my photos"
    photos.mkdir()
    env = user_env(home)
    done = run("init", photos, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = home / ".config" / "pictod" / "config.toml"
    assert f"wrote {written}, watching {photos}" in done.stdout
    assert "pictod service install" in done.stdout and "pictod web --open" in done.stdout
    cfg = config.load(written)
    assert cfg.library.folders == (config.FolderConfig(path=photos),)
    assert cfg.models.objects == config.SHIPPED_MODELS / "yolov10n.toml" and cfg.models.objects.is_file()
    assert "# eps = 0.3" in written.read_text()  # every key shown, commented
    # Found without --config by the other commands.
    status = run("status", "--json", env=env, cwd=tmp_path)
    assert json.loads(status.stdout)["database"] == str(home / ".local" / "share" / "pictod" / "library.db")

    before = written.read_bytes()
    again = run("init", "--json", env=env, cwd=tmp_path)
    assert again.returncode == 73 and written.read_bytes() == before
    assert json.loads(again.stdout) == {"written": False, "config": str(written), "error": json.loads(
        again.stdout)["error"]} and "--force" in again.stderr
    typo = run("init", "--force", tmp_path / "nope", env=env, cwd=tmp_path)
    assert typo.returncode == 2 and "not a directory" in typo.stderr and written.read_bytes() == before
    undecodable = tmp_path / os.fsdecode(b"bad\xff")  # a real folder whose name TOML cannot hold
    undecodable.mkdir()
    refused = run("init", "--force", undecodable, env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "not valid UTF-8" in refused.stderr and written.read_bytes() == before

    forced = run("init", "--force", "--json", env=env, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    report = json.loads(forced.stdout)
    assert report["written"] is True and report["config"] == str(written)
    assert report["folders"] == report["missing_folders"] == [str(home / "Pictures")]
    assert report["next"][0] == "pictod scan"
    assert tomllib.loads(written.read_text())["library"]["folders"] == ["~/Pictures"]


def render_cli(tmp_path: Path, env: dict[str, str], config_file: Path | None) -> tuple[Path, dict[str, object]]:
    out = tmp_path / "rendered"
    extra = ["--config", str(config_file)] if config_file else []
    done = run("service", "install", "--render-only", out, "--json", *extra, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


def test_render_only_points_at_the_running_pictod_and_the_config_and_verifies(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = home / "cfg dir" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f'[library]\nfolders = ["photos"]\ndatabase = "{tmp_path}/db dir/library.db"\n'
                   f'[log]\nfile = "{tmp_path}/logs/p.log"\n')
    env = user_env(home, XDG_DATA_HOME=str(tmp_path / "data 100%"))
    out, report = render_cli(tmp_path, env, cfg)
    assert report["rendered_only"] is True and report["command"] == [str(PICTOD)] and report["config"] == str(cfg)
    assert sorted(Path(f).name for f in report["files"]) == sorted(p.name for p in out.iterdir())  # type: ignore
    unit = (out / "pictod.service").read_text().splitlines()
    assert f'ExecStart="{PICTOD}" run --config "{cfg}"' in unit
    rw = next(line for line in unit if line.startswith("ReadWritePaths="))
    assert f'-"{tmp_path}/db dir"' in rw and f'-"{tmp_path}/logs"' in rw
    assert f'Environment="XDG_DATA_HOME={tmp_path}/data 100%%"' in unit  # % escaped for systemd
    for line in ("Type=notify", "RestrictAddressFamilies=AF_UNIX", "ProtectSystem=strict", "NoNewPrivileges=yes",
                 "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service"):
        assert line in unit, line  # the sandbox as shipped
    report_text = verify_unit(out / "pictod.service", tmp_path, broken=("Type=notify", "Type=notifyish"))
    assert "notifyish" in report_text
    web = (out / "pictod-web.service").read_text().splitlines()
    assert f'ExecStart="{PICTOD}" web --config "{cfg}" --port 8765' in web
    assert "IPAddressDeny=any" in web
    (tmp_path / "w").mkdir()
    verify_unit(out / "pictod-web.service", tmp_path / "w", broken=("Restart=on-failure", "Restart=sometimes"))
    agent = plistlib.loads((out / "org.pictod.daemon.plist").read_bytes())
    assert agent["ProgramArguments"] == [str(PICTOD), "run", "--config", str(cfg)]
    assert agent["StandardOutPath"] == f"{home}/Library/Logs/pictod.log"
    assert agent["EnvironmentVariables"]["XDG_DATA_HOME"] == f"{tmp_path}/data 100%"
    web_agent = plistlib.loads((out / "org.pictod.web.plist").read_bytes())
    assert web_agent["Disabled"] is True and web_agent["ProgramArguments"][1:] == ["web", "--config", str(cfg),
                                                                                 "--port", "8765"]


def test_without_a_config_file_the_units_run_on_the_defaults(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out, report = render_cli(tmp_path, user_env(home), None)
    assert report["config"] is None
    unit = (out / "pictod.service").read_text().splitlines()
    assert f'ExecStart="{PICTOD}" run' in unit
    assert any(line.startswith("ReadWritePaths=") and f'-"{home}/.local/share/pictod"' in line for line in unit)
    verify_unit(out / "pictod.service", tmp_path, broken=("WatchdogSec=60", "WatchdogSec=sixty"))


def test_a_path_no_unit_can_name_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = tmp_path / "config.toml"
    cfg.write_text('[log]\nfile = "/tmp/two\\nlines/p.log"\n')  # a newline would split the unit's line in two
    done = run("service", "install", "--render-only", tmp_path / "out", "--config", cfg, env=user_env(home),
               cwd=tmp_path)
    assert done.returncode == 78 and "control character" in done.stderr, done.stderr
    assert not (tmp_path / "out").exists()


def test_python_m_daemon_is_what_the_unit_runs_without_a_script(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert service.executable() == (str(PICTOD),)  # this venv has the script beside its python
    bare = tmp_path / "py env" / "bin" / "python3"
    bare.parent.mkdir(parents=True)
    bare.symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(bare))
    assert service.executable() == (str(bare), "-m", "daemon")
    target = service.Target(command=service.executable(), config=None, cfg=config.Config())
    unit = tmp_path / "pictod.service"
    unit.write_text(service.render_unit("pictod.service", target, web=False))
    assert f'ExecStart="{bare}" "-m" "daemon" run' in unit.read_text().splitlines()
    verify_unit(unit, tmp_path, broken=("Type=notify", "Type=notifyish"))


def test_no_user_manager_install_and_uninstall_say_so_and_write_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = user_env(home)
    for action in ("install", "uninstall"):
        done = run("service", action, env=env, cwd=tmp_path)
        assert done.returncode == 69, (action, done.stdout, done.stderr)
        assert "no systemd user manager answers here" in done.stderr and "--render-only DIR" in done.stderr
    assert not (home / ".config").exists() and not (home / ".local").exists()
    as_json = run("service", "install", "--json", env=env, cwd=tmp_path)
    assert as_json.returncode == 69 and "systemd user manager" in json.loads(as_json.stdout)["error"]


def test_status_says_installed_and_where_the_log_is(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = user_env(home)
    done = run("service", "status", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["manager"] == "systemd" and report["reachable"] is False and report["config"] is None
    daemon_unit = home / ".config" / "systemd" / "user" / "pictod.service"
    assert report["services"][0] == {"name": "daemon", "service": "pictod.service", "file": str(daemon_unit),
                                     "installed": False, "enabled": None, "running": None, "state": "unknown",
                                     "pid": None, "log": "journalctl --user -u pictod"}
    # Units put in place (as install does once a manager answers): installed, their state still unknown here.
    render_cli(tmp_path, env, None)
    daemon_unit.parent.mkdir(parents=True)
    shutil.copy(tmp_path / "rendered" / "pictod.service", daemon_unit)
    human = run("service", "status", env=env, cwd=tmp_path)
    assert human.returncode == 3
    assert "does not answer here" in human.stdout and f"file: {daemon_unit}" in human.stdout
    assert "daemon: ?, unknown" in human.stdout and "web: not installed" in human.stdout


def test_prereqs_print_the_one_command_and_stop_when_not_root() -> None:
    # A PATH with a shell, id and apt-get but none of the tools; run as nobody, so nothing can be installed (in a
    # folder of /tmp that nobody may enter: pytest's own are private to root).
    base = Path(tempfile.mkdtemp(prefix="pictod-prereqs-"))
    try:
        os.chmod(base, 0o755)
        bin_dir = base / "bin"
        bin_dir.mkdir()
        for tool in ("bash", "id", "apt-get"):
            found = shutil.which(tool)
            assert found is not None, tool
            (bin_dir / tool).symlink_to(found)
        shutil.copy(REPO / "tools" / "ci_prereqs.sh", base / "ci_prereqs.sh")
        argv = [str(bin_dir / "bash"), str(base / "ci_prereqs.sh")]
        if os.getuid() == 0:
            argv = [shutil.which("setpriv") or "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        done = subprocess.run(argv, env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(base)
    assert done.returncode == 1, done.stderr
    assert ("sudo apt-get install --no-install-recommends systemd libimage-exiftool-perl exiv2 chromium "
            "chromium-driver") in done.stderr
    # On this machine they are all there: the step is silent and lets make go on.
    ok = subprocess.run(["bash", str(REPO / "tools" / "ci_prereqs.sh")], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and ok.stdout == ok.stderr == "", ok.stderr
