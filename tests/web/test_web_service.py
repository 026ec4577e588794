"""The shipped service files of `pictod web`: the systemd user unit (rendered by tools/install_service.sh and
checked by `systemd-analyze verify`) and the launchd plist, both shipped disabled."""

from __future__ import annotations

import plistlib
from pathlib import Path

from harness import REPO, verify_unit
from harness import render_service_files as render


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
    report = verify_unit(out / "pictod-web.service", tmp_path, broken=("TimeoutStopSec=20", "TimeoutStopSec=twenty"))
    assert "twenty" in report  # the check bites: the broken line is reported


def test_rendered_web_plist_is_disabled(tmp_path: Path) -> None:
    out = render(tmp_path)
    plist = plistlib.loads((out / "org.pictod.web.plist").read_bytes())
    assert plist["Label"] == "org.pictod.web" and plist["Disabled"] is True
    assert plist["ProgramArguments"] == [f"{REPO}/.venv/bin/pictod", "web", "--config",
                                         f"{tmp_path}/home/cfg dir/config.toml", "--port", "8765"]
    assert plist["StandardOutPath"] == f"{tmp_path}/home/Library/Logs/pictod-web.log"
    daemon = plistlib.loads((out / "org.pictod.daemon.plist").read_bytes())
    assert daemon["ProgramArguments"][1] == "run" and "Disabled" not in daemon
