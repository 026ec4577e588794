"""Helpers for the daemon tests: polling `expect`, a config writer, a daemon subprocess with its JSON log."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def expect(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


async def aexpect(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
                  what: str = "") -> Any:
    """`expect` for coroutines: yields to the loop between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(interval)


def write_config(tmp: Path, folders: list[Path], *, db: Path | None = None, settle: float = 0.3,
                 workers: int = 2, queue_size: int = 1000, recluster_every: int = 2,
                 shutdown_timeout: float = 30.0, status_interval: float = 1.0, extra: str = "") -> Path:
    """A config.toml in `tmp` watching `folders`, with the repo's models and a JSON log file."""
    db = db or tmp / "data" / "library.db"
    folder_list = ", ".join(json.dumps(str(f)) for f in folders)
    text = f"""
[library]
folders = [{folder_list}]
database = {json.dumps(str(db))}

[models]
objects = {json.dumps(str(REPO / "models" / "yolov10n.toml"))}
faces = {json.dumps(str(REPO / "models" / "yunet.toml"))}
embeddings = {json.dumps(str(REPO / "models" / "sface.toml"))}

[clustering]
recluster_every = {recluster_every}

[daemon]
workers = {workers}
queue_size = {queue_size}
settle_seconds = {settle}
shutdown_timeout = {shutdown_timeout}
status_interval = {status_interval}

[log]
level = "debug"
format = "json"
file = {json.dumps(str(tmp / "pictod.log"))}
{extra}
"""
    path = tmp / "config.toml"
    path.write_text(text)
    return path


class Daemon:
    """`pictod run` as a real subprocess, with helpers to read its JSON log and its database."""

    def __init__(self, config: Path, *, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log_path = config.parent / "pictod.log"
        self.db = config.parent / "data" / "library.db"
        self.env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self, *, wait_ready: bool = True, timeout: float = 120.0) -> Daemon:
        """Start the daemon; by default wait for its daemon_ready line."""
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # Files, not pipes: a pipe nobody reads fills up and blocks the daemon on its next write.
        self.out_path = self.config.parent / "daemon.out"
        with open(self.out_path, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "daemon.cli", "run", "--config", str(self.config)],
                cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )
        if wait_ready:
            expect(lambda: self.events("daemon_ready") or self.proc.poll() is not None, timeout, 0.1,
                   "daemon_ready")
            assert self.proc.poll() is None, self.failure()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def output(self) -> str:
        """What the daemon printed on stdout and stderr (all runs)."""
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def failure(self) -> str:
        """Exit code and output of an exited daemon, for assertion messages."""
        assert self.proc is not None
        self.proc.wait(timeout=10)
        return f"exit {self.proc.returncode}\noutput: {self.output()[-3000:]}"

    def lines(self, *, since_start: bool = True) -> list[dict[str, Any]]:
        """Every JSON log line this daemon wrote (from its start)."""
        if not self.log_path.exists():
            return []
        with open(self.log_path, "rb") as f:
            if since_start:
                f.seek(self._log_offset)
            raw = f.read()
        out = []
        for line in raw.decode("utf-8", "replace").splitlines():
            if line.startswith("{") and line.endswith("}"):
                out.append(json.loads(line))
        return out

    def events(self, name: str, *, after: int = 0, **match: Any) -> list[dict[str, Any]]:
        """Log lines (from line index `after`, see `mark`) with event == name and the given key/values."""
        return [e for e in self.lines()[after:] if e.get("event") == name
                and all(e.get(k) == v for k, v in match.items())]

    def mark(self) -> int:
        """The number of log lines so far, to look only at what comes after."""
        return len(self.lines())

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send a signal."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        """Wait for exit; the return code."""
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def teardown(self) -> None:
        """Kill a daemon still running at the end of a test, printing its thread stacks first (SIGUSR1)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(1.0)
            self.kill()
            print("daemon still running at teardown; its stacks:\n" + self.output()[-20000:])


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """A read-only query on the library (its own connection; the daemon may be writing)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def make_variants(sources: list[Path], out: Path, count: int, *, seed: int = 0, long_side: int = 320,
                  prefix: str = "v") -> list[Path]:
    """`count` distinct small JPEGs derived from real photos (random crop, flip, scale, quality), in `out`."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    images = [cv2.imread(str(s), cv2.IMREAD_COLOR) for s in sources]
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        img = images[i % len(images)]
        h, w = img.shape[:2]
        fh, fw = rng.uniform(0.7, 1.0, 2)
        ch, cw = int(h * fh), int(w * fw)
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = img[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        scale = long_side / max(crop.shape[:2])
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
        quality = int(rng.integers(70, 96))
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(crop), [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        path = out / f"{prefix}{i:04d}.jpg"
        path.write_bytes(buf.tobytes())
        paths.append(path)
    return paths


def sockets_of(pid: int) -> dict[str, int]:
    """Count the sockets a process holds by family, from /proc: {'unix': n, 'other': n}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    unix = set()
    with open(f"/proc/{pid}/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 7:
                unix.add(int(parts[6]))
    return {"unix": len(inodes & unix), "other": len(inodes - unix)}
