"""`pictod scan` / `pictod run` on a terminal and in a pipe (the progress line), and `pictod failed` / `retry`
with and without a running daemon: real subprocesses on small real libraries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_library import pictod
from daemon_helpers import Daemon, expect, query
from daemon_helpers import write_config as daemon_config
from pictod_testdata import SKIMAGE


@pytest.fixture(scope="module")
def failing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A library where two photos failed (file_too_large under a 300 kB limit); the config and its folder."""
    root = tmp_path_factory.mktemp("cli-retry")
    photos = root / "photos"
    photos.mkdir()
    for name in ("chelsea.png", "coffee.png", "hubble_deep_field.jpg"):  # 240 kB, 467 kB, 528 kB
        shutil.copy(SKIMAGE / name, photos / name)
    config = daemon_config(root, [photos], extra="[analysis]\nmax_file_bytes = 300000\n")
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["failed"] == 2
    return config, photos


def failed_json(config: Path) -> list[dict[str, object]]:
    done = pictod("failed", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert isinstance(rows, list)
    return rows


def test_failed_lists_reason_message_and_time(failing: tuple[Path, Path]) -> None:
    config, photos = failing
    rows = failed_json(config)
    assert [r["path"] for r in rows] == [str(photos / "coffee.png"), str(photos / "hubble_deep_field.jpg")]
    for row in rows:
        assert row["reason"] == "file_too_large" and "limit 300000" in str(row["error"])
        assert isinstance(row["size"], int) and isinstance(row["failed_at"], str) and row["retry"] is False
    human = pictod("failed", "--config", str(config))
    assert "coffee.png" in human.stdout and "file_too_large" in human.stdout and "pictod retry" in human.stdout


def test_retry_without_a_daemon_waits_for_the_next_scan_then_with_a_running_daemon(
        failing: tuple[Path, Path]) -> None:
    config, photos = failing
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

    daemon = Daemon(config).start()
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
