"""The shipped service files of `pictod web`: the systemd user unit (rendered by tools/install_service.sh and
checked by `systemd-analyze verify`) and the launchd plist, both shipped disabled."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
from pathlib import Path

from harness import REPO


def render(tmp_path: Path) -> Path:
    out = tmp_path / "rendered"
    home = tmp_path / "home"
    (home / "cfg dir").mkdir(parents=True)
    config = home / "cfg dir" / "config.toml"
    config.write_text(f'[library]\nfolders = ["photos"]\ndatabase = "{tmp_path}/db dir/library.db"\n')
    env = {**os.environ, "HOME": str(home), "PICTOD_CONFIG": str(config)}
    done = subprocess.run(["bash", str(REPO / "tools" / "install_service.sh"), "--render-only", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def test_rendered_web_unit_verifies_and_is_not_enabled(tmp_path: Path) -> None:
    out = render(tmp_path)
    unit = (out / "pictod-web.service").read_text()
    lines = unit.splitlines()
    assert f'ExecStart="{REPO}/.venv/bin/pictod" web --config "{tmp_path}/home/cfg dir/config.toml" --port 8765' \
        in lines
    assert any(line.startswith("ReadWritePaths=") and "-%h/.cache/pictod" in line and f'-"{tmp_path}/db dir"' in line
               for line in lines)
    for line in ("Type=simple", "ProtectSystem=strict", "NoNewPrivileges=yes", "IPAddressDeny=any",
                 "IPAddressAllow=localhost", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                 "MemoryDenyWriteExecute=yes", "RestartPreventExitStatus=2 78"):
        assert line in lines, line
    # The daemon's unit keeps its no-network sandbox: the web app is a separate unit.
    assert "RestrictAddressFamilies=AF_UNIX" in (out / "pictod.service").read_text().splitlines()
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "tools/ci_prereqs.sh installs Debian's systemd package"
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path / "home")}
    for mode in (["--user"], []):
        result = subprocess.run([analyze, *mode, "verify", str(out / "pictod-web.service")], env=env,
                                capture_output=True, text=True, timeout=60)
        # verify exits 0 on "ignoring" warnings too, so any output is a failure here.
        assert result.returncode == 0 and result.stderr.strip() == "" and result.stdout.strip() == "", (
            mode, result.stdout, result.stderr)
    bad = out / "bad-web.service"
    bad.write_text(unit.replace("TimeoutStopSec=20", "TimeoutStopSec=twenty"))
    result = subprocess.run([analyze, "verify", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert "twenty" in result.stderr  # the check bites: the broken line is reported


def test_rendered_web_plist_is_disabled(tmp_path: Path) -> None:
    out = render(tmp_path)
    plist = plistlib.loads((out / "org.pictod.web.plist").read_bytes())
    assert plist["Label"] == "org.pictod.web" and plist["Disabled"] is True
    assert plist["ProgramArguments"] == [f"{REPO}/.venv/bin/pictod", "web", "--config",
                                         f"{tmp_path}/home/cfg dir/config.toml", "--port", "8765"]
    assert plist["StandardOutPath"] == f"{tmp_path}/home/Library/Logs/pictod-web.log"
    daemon = plistlib.loads((out / "org.pictod.daemon.plist").read_bytes())
    assert daemon["ProgramArguments"][1] == "run" and "Disabled" not in daemon
