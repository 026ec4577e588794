"""Logging: JSON lines, escaped paths, and a log that cannot be written never stops the caller."""

from __future__ import annotations

import io
import json
from pathlib import Path

import structlog

from daemon import logs


class FullDisk(io.StringIO):
    """A stream whose writes fail like a full disk until `space` is set."""

    space = False

    def write(self, text: str) -> int:
        if not self.space:
            raise OSError(28, "No space left on device")
        return super().write(text)


def test_json_lines_escape_control_characters_in_paths() -> None:
    out = io.StringIO()
    logs.setup(fmt="json", stream=out)
    structlog.get_logger().info("photo", path="/p/evil\nname\x1b[31m.jpg", faces=1)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["path"] == "/p/evil\\x0aname\\x1b[31m.jpg"


def test_undecodable_file_names_are_logged_not_raised() -> None:
    out = io.StringIO()
    logs.setup(fmt="json", stream=out)
    structlog.get_logger().info("photo", path=Path("/p/caf\udce9.jpg"))
    assert "caf\\udce9" in json.loads(out.getvalue())["path"]


def test_a_full_disk_drops_lines_and_says_so_later() -> None:
    # Regression (hardening suite): workers died on an ENOSPC raised by a log write.
    out = FullDisk()
    logs.setup(fmt="json", stream=out)
    log = structlog.get_logger()
    log.info("photo", path="/a.jpg")
    log.info("photo", path="/b.jpg")
    out.space = True
    log.info("photo", path="/c.jpg")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0] == {"event": "log_lines_dropped", "level": "error", "count": 2}
    assert events[1]["path"] == "/c.jpg"
