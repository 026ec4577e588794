"""The hardening harness: the real `pictod` daemon as a subprocess on real folders, and read-only probes of it.

- `write_config` writes a config.toml in a test's tmp folder (JSON logs to a file, settle time short).
- `Daemon` starts `python -m daemon.cli run|scan` with stdout/stderr in files, kills or stops it, reads its
  JSON log lines, samples its memory and lists its sockets from /proc.
- `expect(condition, timeout)` polls until a condition holds and fails with the last value seen.
- `LibraryDB` inspects the SQLite library without writing to it: integrity, orphans, duplicates, statuses.

Kept apart from conftest.py so test modules can import it by a unique name (tests/ is not a package and
several folders have a conftest.py). Usable by hand too: `sys.path.insert(0, "tests/hardening")`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import make_hostile_files as hostile  # noqa: E402

# The test-data paths (tests/pictod_testdata.py); tests/ is on pytest's pythonpath, added here for use by hand.
sys.path.insert(0, str(REPO / "tests"))
from pictod_testdata import (  # noqa: E402
    DLIB_FACES,
    FACE_RECOGNITION,
    HEIF_IMAGES,
    JOHNS,
    LABELME,
    PILLOW_IMAGES,
    SKIMAGE,
)

RSS_LIMIT = int(1.5 * 1024**3)
# Log events the tests key on (daemon/watch.py, daemon/service.py).
READY_EVENT = "daemon_ready"
PHOTO_EVENT = "photo"  # one line per photo: status analysed | linked | failed, path, reason
T = TypeVar("T")


# --- polling -----------------------------------------------------------------------------------------------


class ExpectTimeout(AssertionError):
    """A condition did not hold in time."""


def expect(condition: Callable[[], T], timeout: float, *, interval: float = 0.25, what: str = "condition",
           alive: Daemon | None = None) -> T:
    """Poll `condition` until it returns something truthy; fail with the last value after `timeout` seconds.

    With `alive`, fail at once (with the daemon's stderr) if that daemon exits while we wait.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = condition()
        except sqlite3.OperationalError as exc:  # the DB not created yet, or busy: keep polling
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if alive is not None and alive.returncode() is not None:
            raise AssertionError(f"daemon exited (rc={alive.returncode()}) while waiting for {what}; "
                                 f"last={last!r}\n{alive.tail()}")
        if time.monotonic() > deadline:
            detail = alive.tail() if alive is not None else ""
            raise ExpectTimeout(f"timed out after {timeout:.0f}s waiting for {what}; last={last!r}\n{detail}")
        time.sleep(interval)


# --- config ------------------------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A Python value as TOML (strings via JSON escaping, which TOML basic strings accept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


@dataclass
class Layout:
    """Where one test's library lives."""

    base: Path
    config: Path
    folders: list[Path]
    database: Path
    log: Path

    @property
    def root(self) -> Path:
        """The first watched folder."""
        return self.folders[0]


def write_config(base: Path, *, folders: list[Path] | None = None, database: Path | None = None,
                 sections: dict[str, dict[str, Any]] | None = None, create_folders: bool = True) -> Layout:
    """Write base/config.toml for a test library; `sections` overrides or adds keys per table."""
    base.mkdir(parents=True, exist_ok=True)
    folders = folders if folders is not None else [base / "photos"]
    if create_folders:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
    database = database if database is not None else base / "state" / "library.db"
    log = base / "logs" / "pictod.log"
    models = REPO / "models"
    tables: dict[str, dict[str, Any]] = {
        "library": {"folders": [str(f) for f in folders], "database": str(database)},
        "models": {
            "objects": str(models / "yolov10n.toml"),
            "faces": str(models / "yunet.toml"),
            "embeddings": str(models / "sface.toml"),
        },
        # Short settle and status times: tests wait on the DB, not on the clock.
        "daemon": {"settle_seconds": 0.3, "workers": 2, "status_interval": 1.0, "shutdown_timeout": 20.0},
        "log": {"level": "info", "format": "json", "file": str(log)},
    }
    for name, values in (sections or {}).items():
        tables.setdefault(name, {}).update(values)
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items() if v is not None) + "\n"
        for name, values in tables.items()
    )
    config = base / "config.toml"
    config.write_text(text, encoding="utf-8")
    return Layout(base=base, config=config, folders=list(folders), database=database, log=log)


# --- the daemon as a subprocess ----------------------------------------------------------------------------


def child_env(base: Path) -> dict[str, str]:
    """The daemon's environment: XDG dirs inside the test folder so nothing leaks into the real home."""
    env = dict(os.environ)
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "PICTOD_CONFIG"):
        env.pop(key, None)
    env.update({
        "XDG_DATA_HOME": str(base / "xdg" / "data"),
        "XDG_STATE_HOME": str(base / "xdg" / "state"),
        "XDG_CONFIG_HOME": str(base / "xdg" / "config"),
        "XDG_RUNTIME_DIR": str(base / "xdg" / "runtime"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    })
    return env


@dataclass
class Daemon:
    """One `pictod` subprocess with its output in files."""

    layout: Layout
    command: str = "run"
    args: tuple[str, ...] = ()
    user: tuple[int, int] | None = None  # run as (uid, gid) with setpriv
    umask: int = 0o022
    proc: subprocess.Popen[bytes] | None = None
    stdout_path: Path = field(init=False)
    stderr_path: Path = field(init=False)
    starts: int = 0
    log_offset: int = 0  # where the log file ended when the current process started
    _rss: RssSampler | None = None

    def __post_init__(self) -> None:
        self.stdout_path = self.layout.base / "daemon.stdout"
        self.stderr_path = self.layout.base / "daemon.stderr"

    def argv(self) -> list[str]:
        """The command line started."""
        argv = [sys.executable, "-m", "daemon.cli", self.command, "--config", str(self.layout.config), *self.args]
        if self.user is not None:
            uid, gid = self.user
            argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]
        return argv

    def start(self) -> Daemon:
        """Start the process (appending to the output files across restarts)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.log_offset = self.layout.log.stat().st_size if self.layout.log.exists() else 0
        with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
            marker = f"--- start {self.starts} ---\n".encode()
            out.write(marker)
            err.write(marker)
            out.flush()
            err.flush()
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=self.layout.base, env=child_env(self.layout.base), umask=self.umask)
        self._rss = RssSampler(self.proc.pid)
        self._rss.start()
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.proc is not None
        return self.proc.pid

    def returncode(self) -> int | None:
        """Exit code, or None while running."""
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait(timeout=30)
        self._stop_sampler()
        return rc

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code (SIGKILL after the timeout, then fails)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self._stop_sampler()
            raise AssertionError(f"daemon did not exit within {timeout}s of SIGTERM\n{self.tail()}") from None
        self._stop_sampler()
        return rc

    def stop_clean(self, timeout: float = 40.0) -> None:
        """SIGTERM; the process must exit 0 with no traceback (e.g. a crashed background task) on stderr."""
        rc = self.stop(timeout)
        assert rc == 0, f"exit {rc} after SIGTERM\n{self.tail()}"
        lines = self.stderr_lines()
        for marker in ("Traceback", "Task exception was never retrieved", "Exception in thread"):
            at = next((i for i, line in enumerate(lines) if marker in line), None)
            assert at is None, f"{marker!r} on stderr:\n" + "\n".join(line[:300] for line in lines[at:at + 30])

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; returns the exit code."""
        assert self.proc is not None
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.command} still running after {timeout}s\n{self.tail()}") from None
        self._stop_sampler()
        return rc

    def _stop_sampler(self) -> None:
        if self._rss is not None:
            self._rss.stop()

    @property
    def peak_rss(self) -> int:
        """Highest resident set size seen (bytes), the process and its children."""
        return self._rss.peak if self._rss is not None else 0

    def stderr(self) -> str:
        """Everything written on stderr so far."""
        return self.stderr_path.read_bytes().decode("utf-8", "backslashreplace") if self.stderr_path.exists() else ""

    def stderr_lines(self) -> list[str]:
        """The non-empty stderr lines of the current (or last) process."""
        text = self.stderr()
        marker = f"--- start {self.starts} ---\n"
        text = text.rsplit(marker, 1)[-1]
        return [line for line in text.splitlines() if line.strip()]

    def stdout(self) -> str:
        """Everything written on stdout so far."""
        return self.stdout_path.read_bytes().decode("utf-8", "backslashreplace") if self.stdout_path.exists() else ""

    def log_text(self) -> str:
        """The raw log file."""
        path = self.layout.log
        return path.read_bytes().decode("utf-8", "backslashreplace") if path.exists() else ""

    def log_records(self, *, current: bool = False) -> list[dict[str, Any]]:
        """The JSON log lines (only the current process's with `current`); a line that is not JSON fails."""
        records = []
        text = self.log_text()
        if current:
            text = self.layout.log.read_bytes()[self.log_offset:].decode("utf-8", "backslashreplace") \
                if self.layout.log.exists() else ""
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise AssertionError(f"log line {n} is not one JSON object: {line[:300]!r}") from None
        return records

    def events(self, name: str, *, current: bool = False) -> list[dict[str, Any]]:
        """Log records whose event is `name` (of the current process only with `current`)."""
        return [r for r in self.log_records(current=current) if r.get("event") == name]

    def ready(self) -> bool:
        """The current process watches every configured folder (its `watching` log lines)."""
        return bool(self.events(READY_EVENT, current=True))

    def wait_ready(self, timeout: float = 60.0) -> Daemon:
        """Wait until the daemon watches its folders."""
        expect(self.ready, timeout, what="the daemon to watch its folders", alive=self)
        return self

    def photo_lines(self, *, current: bool = False) -> list[dict[str, Any]]:
        """The one-line-per-photo log records."""
        return self.events(PHOTO_EVENT, current=current)

    def tail(self, lines: int = 25) -> str:
        """The last lines of stderr and log, for failure messages."""
        err = "\n".join(line[:400] for line in self.stderr().splitlines()[-lines:])
        log = "\n".join(line[:400] for line in self.log_text().splitlines()[-lines:])
        return f"--- stderr tail ---\n{err}\n--- log tail ---\n{log}"

    def sockets(self) -> dict[str, list[int]]:
        """Socket inodes the process holds, by family as /proc sees them ('inet' means a network socket)."""
        return process_sockets(self.pid)


class RssSampler:
    """A thread sampling VmRSS of a process tree from /proc every 100 ms; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> None:
        """Begin sampling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling (after one last sample)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for pid in process_tree(self.pid):
                total += max(status_kib(pid, "VmRSS"), 0) * 1024
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)


def status_kib(pid: int, key: str) -> int:
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM), -1 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return -1
    return -1


def process_tree(pid: int) -> list[int]:
    """The pid and all its descendants (via /proc/<pid>/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{p}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
    return out


def _proc_net_inodes(pid: int, table: str) -> set[int]:
    # Column of the inode in the data rows (headers do not line up with them in tcp/udp tables):
    # tcp/udp/raw: sl local rem st tx:rx tr:when retrnsmt uid timeout INODE; unix: ... St INODE path;
    # netlink: sk Eth Pid Groups Rmem Wmem Dump Locks Drops INODE.
    column = {"unix": 6}.get(table, 9)
    inodes: set[int] = set()
    with contextlib.suppress(OSError), open(f"/proc/{pid}/net/{table}") as f:
        f.readline()
        for line in f:
            with contextlib.suppress(ValueError, IndexError):
                inodes.add(int(line.split()[column]))
    return inodes


def process_sockets(pid: int) -> dict[str, list[int]]:
    """The process tree's socket fds classified: 'inet' (tcp/udp/raw v4/v6), 'unix', 'netlink', 'other'."""
    result: dict[str, list[int]] = {"inet": [], "unix": [], "netlink": [], "other": []}
    for p in process_tree(pid):
        held: set[int] = set()
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{p}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{p}/fd/{fd}")
                    if target.startswith("socket:["):
                        held.add(int(target[8:-1]))
        if not held:
            continue
        inet: set[int] = set()
        for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite", "udplite6"):
            inet |= _proc_net_inodes(p, table)
        unix = _proc_net_inodes(p, "unix")
        netlink = _proc_net_inodes(p, "netlink")
        for inode in sorted(held):
            kind = "inet" if inode in inet else "unix" if inode in unix else "netlink" if inode in netlink else "other"
            result[kind].append(inode)
    return result


# --- the library database, read-only -----------------------------------------------------------------------


class LibraryDB:
    """Read-only probes of the pictod SQLite library (schema: daemon/store)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection that never writes (query_only; WAL recovery may still run on open)."""
        if not self.path.exists():
            raise sqlite3.OperationalError(f"no database yet at {self.path}")
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        # Plain first (what a restart does, WAL recovery included); on a read-only filesystem a WAL database
        # can only be read as immutable (no -shm can be created).
        uri = self.path.resolve().as_uri()
        last: sqlite3.Error | None = None
        for target, is_uri in ((str(self.path), False), (f"{uri}?mode=ro", True), (f"{uri}?immutable=1", True)):
            try:
                conn = sqlite3.connect(target, timeout=10, uri=is_uri)
                conn.execute("PRAGMA query_only = 1")
                conn.execute("PRAGMA busy_timeout = 10000")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError as exc:
                last = exc
        assert last is not None
        raise last

    def exists(self) -> bool:
        """The DB file is there."""
        return self.path.exists()

    def tables(self) -> set[str]:
        """Table names."""
        with self.connect() as c:
            return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> list[str]:
        """Column names of a table."""
        with self.connect() as c:
            return [r[1] for r in c.execute(f"PRAGMA table_info({table})")]

    def integrity(self) -> str:
        """PRAGMA integrity_check joined ('ok' when sound)."""
        with self.connect() as c:
            return "; ".join(r[0] for r in c.execute("PRAGMA integrity_check"))

    def foreign_key_violations(self) -> list[tuple[Any, ...]]:
        """PRAGMA foreign_key_check rows (orphans by the schema's own declared keys)."""
        with self.connect() as c:
            return list(c.execute("PRAGMA foreign_key_check"))

    def scalar(self, sql: str, *params: Any) -> Any:
        """One value."""
        with self.connect() as c:
            row = c.execute(sql, params).fetchone()
            return None if row is None else row[0]

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """All rows."""
        with self.connect() as c:
            return list(c.execute(sql, params))

    # Schema-specific probes: see daemon/store for the tables; kept in one place to adapt.

    def files(self) -> dict[str, tuple[str, str | None, int | None]]:
        """path -> (status, reason, photo_id) for every file row."""
        return {_text_path(r[0]): (r[1], r[2], r[3]) for r in self.rows(FILES_SQL)}

    def status_counts(self) -> dict[str, int]:
        """File rows per status."""
        return dict(self.rows("SELECT status, count(*) FROM files GROUP BY status"))

    def settled(self) -> int:
        """Files done or failed."""
        counts = self.status_counts()
        return counts.get("done", 0) + counts.get("failed", 0)

    def photo_count(self) -> int:
        """Photo rows."""
        return int(self.scalar("SELECT count(*) FROM photos"))

    def photo_hashes(self) -> set[str]:
        """Content hashes of analysed photos."""
        return {r[0] for r in self.rows(f"SELECT {PHOTO_HASH} FROM photos")}

    def problems(self) -> list[str]:
        """Everything wrong with the DB's consistency (empty when sound): integrity, orphans, duplicates."""
        out: list[str] = []
        integrity = self.integrity()
        if integrity != "ok":
            out.append(f"integrity_check: {integrity}")
        fk = self.foreign_key_violations()
        if fk:
            out.append(f"foreign_key_check: {fk[:10]}")
        checks = dict(CONSISTENCY_SQL)
        if "people" in self.tables():
            checks.update(PEOPLE_SQL)
        for label, sql in checks.items():
            bad = self.rows(sql)
            if bad:
                out.append(f"{label}: {bad[:10]}")
        return out


# The store's schema (daemon/store/migrations.py): files(path BLOB of os.fsencode, status, reason, photo_id),
# photos(id, content_hash UNIQUE), objects/faces(photo_id -> photos ON DELETE CASCADE), people(face_count).
FILES_SQL = "SELECT path, status, reason, photo_id FROM files"
PHOTO_HASH = "content_hash"
CONSISTENCY_SQL: dict[str, str] = {
    "duplicate file paths": "SELECT path, count(*) FROM files GROUP BY path HAVING count(*) > 1",
    "duplicate photo hashes": f"SELECT {PHOTO_HASH}, count(*) FROM photos GROUP BY {PHOTO_HASH} HAVING count(*) > 1",
    "orphan faces": "SELECT id, photo_id FROM faces WHERE photo_id NOT IN (SELECT id FROM photos)",
    "orphan objects": "SELECT id, photo_id FROM objects WHERE photo_id NOT IN (SELECT id FROM photos)",
    "files pointing at missing photos": (
        "SELECT path, photo_id FROM files WHERE photo_id IS NOT NULL AND photo_id NOT IN (SELECT id FROM photos)"),
    "done files without a photo": "SELECT path FROM files WHERE status = 'done' AND photo_id IS NULL",
    "photos without any file": "SELECT id FROM photos WHERE id NOT IN (SELECT photo_id FROM files "
                               "WHERE photo_id IS NOT NULL)",
    "faces stored twice": "SELECT photo_id, x1, y1, count(*) FROM faces GROUP BY photo_id, x1, y1, x2, y2 "
                          "HAVING count(*) > 1",
    "objects stored twice": "SELECT photo_id, label, x1, count(*) FROM objects "
                            "GROUP BY photo_id, label, x1, y1, x2, y2 HAVING count(*) > 1",
}
# Checked only when the tables exist (the people part of the schema).
PEOPLE_SQL: dict[str, str] = {
    "faces of missing people": "SELECT id, person_id FROM faces WHERE person_id IS NOT NULL "
                               "AND person_id NOT IN (SELECT id FROM people)",
    "people face_count wrong": "SELECT p.id, p.face_count, (SELECT count(*) FROM faces f WHERE f.person_id = p.id) "
                               "AS n FROM people p WHERE p.face_count != n",
}


def _text_path(value: bytes | str) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


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


__all__ = [
    "DLIB_FACES",
    "FACE_RECOGNITION",
    "HEIF_IMAGES",
    "JOHNS",
    "LABELME",
    "PHOTO_EVENT",
    "PILLOW_IMAGES",
    "READY_EVENT",
    "REPO",
    "RSS_LIMIT",
    "SKIMAGE",
    "Daemon",
    "ExpectTimeout",
    "Layout",
    "LibraryDB",
    "RssSampler",
    "expect",
    "hostile", "log_key",
    "mount_tmpfs",
    "path_key",
    "process_sockets",
    "remount",
    "status_kib",
    "umount",
    "wait_settled",
    "write_config",
]
