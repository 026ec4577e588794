"""What only the hardening suite needs, beside the one daemon harness (tests/harness.py): the hostile-file
generator (tools/make_hostile_files.py), waiting until a set of paths is settled in the DB, how a path is
spelled in the DB and in a log line, the memory ceiling of the bursts, and tmpfs mounts for the disk-fault
tests.

Kept apart from conftest.py so test modules can import it by a unique name (tests/ is not a package and
several folders have a conftest.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import REPO, Daemon, LibraryDB, expect

sys.path.insert(0, str(REPO / "tools"))

import make_hostile_files as hostile

RSS_LIMIT = int(1.5 * 1024**3)


def wait_settled(db: LibraryDB, paths: list[Any], timeout: float, *, daemon: Daemon | None = None,
                 what: str | None = None) -> dict[str, tuple[str, str | None, int | None]]:
    """Wait until every path has a file row that is done or failed; returns all file rows."""
    keys = [path_key(p) for p in paths]

    def check() -> dict[str, tuple[str, str | None, int | None]] | str:
        files = db.files()
        missing = [k for k in keys if k not in files or files[k][0] not in ("done", "failed")]
        return files if not missing else f"{len(missing)}/{len(keys)} not settled, e.g. {missing[:3]!r}"

    def done() -> Any:
        value = check()
        return value if isinstance(value, dict) else False

    try:
        return expect(done, timeout, what=what or f"{len(keys)} files done or failed", alive=daemon)
    except AssertionError as exc:
        raise AssertionError(f"{check()!s}\n{exc}") from None


def path_key(path: Path | bytes | str) -> str:
    """How a path is spelled in the DB: the str of the absolute path (non-UTF-8 bytes as surrogate escapes)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return os.fsdecode(os.path.abspath(raw))


def log_key(path: Path | bytes | str) -> str:
    """How a path appears in a JSON log line: path_key with control characters and bad bytes escaped."""
    from daemon.logs import escape

    return escape(path_key(path))


def mount_tmpfs(target: Path, size: str) -> bool:
    """Mount a size-limited tmpfs at target (root only); False if this machine does not allow it."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(target)],
                          capture_output=True, check=False)
    return done.returncode == 0


def remount(target: Path, options: str) -> None:
    """Remount a tmpfs with new options (ro, rw, size=...)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(target)], check=True, capture_output=True)


def umount(target: Path) -> None:
    """Unmount (lazily, so a leftover open file cannot leave the mount behind)."""
    subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


__all__ = ["RSS_LIMIT", "hostile", "log_key", "mount_tmpfs", "path_key", "remount", "umount", "wait_settled"]
