"""`pictod scan` / `pictod run` on a terminal and in a pipe (the progress line), and `pictod failed` / `retry`
with and without a running daemon: real subprocesses on small real libraries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_library import pictod
from harness import Daemon, Layout, expect, query
from harness import write_config as daemon_config
from pictod_testdata import SKIMAGE


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Layout]:
    """A library where two photos failed (file_too_large under a 300 kB limit); the config, its folder, layout."""
    root = tmp_path_factory.mktemp("cli-retry")
    photos = root / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "hubble_deep_field.jpg"):  # 240 kB, 467 kB, 528 kB
        shutil.copy(SKIMAGE / name, photos / name)
    layout = daemon_config(root, folders=[photos], sections={"analysis": {"max_file_bytes": 300000}})
    config = layout.config
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failed"] == 2
    return config, photos, layout


def failed_json(config: Path) -> list[dict[str, object]]:
    done = pictod("failed", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert isinstance(rows, list)
    return rows


def test_failed_lists_reason_message_and_time(failing: tuple[Path, Path, Layout]) -> None:
    config, photos, _layout = failing
    rows = failed_json(config)
    assert [r["path"] for r in rows] == [str(photos / "coffee.png"), str(photos / "hubble_deep_field.jpg")]
    for row in rows:
        assert row["reason"] == "file_too_large" and "limit 300000" in str(row["error"])
        assert isinstance(row["size"], int) and isinstance(row["failed_at"], str) and row["retry"] is False
    human = pictod("failed", "--config", str(config))
    assert "coffee.png" in human.stdout and "file_too_large" in human.stdout and "pictod retry" in human.stdout


def test_retry_without_a_daemon_waits_for_the_next_scan_then_with_a_running_daemon(
        failing: tuple[Path, Path, Layout]) -> None:
    config, photos, layout = failing
    # The user raises the limit: unchanged files stay failed until retried.
    text = config.read_text().replace("max_file_bytes = 300000", "max_file_bytes = 10000000")
    config.write_text(text)
    again = json.loads(pictod("scan", "--config", str(config), "--json").stdout)
    assert again["failed"] == 0 and again["analysed"] == 0 and len(failed_json(config)) == 2

    assert pictod("retry", "--config", str(config)).returncode == 2  # neither PATH nor --all
    bogus = pictod("retry", str(photos / "chelsea.png"), "--config", str(config))
    assert bogus.returncode == 2 and "not a failed file" in bogus.stderr

    done = pictod("retry", str(photos / "coffee.png"), "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"marked": [str(photos / "coffee.png")], "unmatched": [], "daemon_pid": None}
    assert [r["retry"] for r in failed_json(config)] == [True, False]
    scanned = json.loads(pictod("scan", "--config", str(config), "--json").stdout)
    assert scanned["analysed"] == 1
    assert [r["path"] for r in failed_json(config)] == [str(photos / "hubble_deep_field.jpg")]

    daemon = Daemon(layout).start(wait_ready=True)
    try:
        mark = daemon.mark()
        done = pictod("retry", "--all", "--config", str(config))
        assert done.returncode == 0, done.stderr
        assert f"running daemon (pid {daemon.pid})" in done.stdout
        expect(lambda: daemon.events("retry_queued", after=mark, files=1), 30, 0.1, "retry_queued")
        expect(lambda: daemon.events("photo", after=mark, status="analysed"), 60, 0.1, "the retried photo")
        assert failed_json(config) == []
        rows = query(daemon.db, "SELECT status, retry FROM files ORDER BY path")
        assert rows == [("done", 0)] * 3
    finally:
        assert daemon.stop() == 0
        daemon.teardown()


def _on_a_terminal(args: list[str], *, timeout: float = 300) -> tuple[int, str, str]:
    """Run `pictod ARGS` with stderr on a pseudo-terminal (120 columns) and stdout in a pipe; (code, tty, out)."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "daemon.cli.main", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, cwd=Path(__file__).resolve().parents[1])
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read().decode() if proc.stdout else ""
    code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", "replace"), out


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """Four photos (one fails) and a config with the default log settings (readable lines on a terminal)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "astronaut.png"):
        shutil.copy(SKIMAGE / name, photos / name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    config = tmp_path / "config.toml"
    config.write_text(f'[library]\nfolders = ["{photos}"]\ndatabase = "{tmp_path / "lib.db"}"\n')
    return config


def test_scan_on_a_terminal_shows_a_progress_line_instead_of_per_photo_lines(fresh: Path) -> None:
    code, tty, out = _on_a_terminal(["scan", "--config", str(fresh)])
    assert code == 0, tty
    assert "scan finished" in out and "analysed 3" in out
    # tqdm's line: done/total known from the reconcile plan, rate, ETA, failed, people; redrawn with \r.
    assert "4/4" in tty and "photos/s" in tty and "failed 1, people" in tty and "\r" in tty
    assert "reconcile" in tty  # other log lines still print, above the bar
    assert "astronaut.png" not in tty and "broken.jpg" not in tty  # no per-photo lines


def test_scan_on_a_terminal_with_verbose_keeps_per_photo_lines(fresh: Path) -> None:
    code, tty, _out = _on_a_terminal(["scan", "--config", str(fresh), "--verbose"])
    assert code == 0, tty
    assert "astronaut.png" in tty and "broken.jpg" in tty and "photos/s" in tty


def test_scan_in_a_pipe_and_with_json_logs_one_json_line_per_photo_and_no_progress(fresh: Path) -> None:
    done = pictod("scan", "--config", str(fresh), "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    photos = [e for e in lines if e["event"] == "photo"]
    assert sorted(Path(e["path"]).name for e in photos) == ["astronaut.png", "broken.jpg", "chelsea.png",
                                                            "coffee.png"]
    assert "photos/s" not in done.stderr and "\r" not in done.stderr
    assert json.loads(done.stdout)["analysed"] == 3
    # --json on a terminal: still no progress line (stderr is the terminal, the JSON summary on stdout).
    (fresh.parent / "photos" / "more.png").write_bytes((SKIMAGE / "horse.png").read_bytes())
    code, tty, out = _on_a_terminal(["scan", "--config", str(fresh), "--json"])
    assert code == 0 and json.loads(out)["analysed"] == 1
    assert "photos/s" not in tty and "more.png" in tty
