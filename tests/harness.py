"""The one daemon harness for the e2e tests, the hardening tests and the benchmarks: the real `pictod` as a
subprocess on real folders, and read-only probes of what it did.

- `write_config` writes a library's config.toml (test defaults: short settle and status times, JSON logs to
  a file; or the repo's own config.toml as the benchmarks use) and returns its `Layout`.
- `Daemon` starts `python -m daemon.cli.main run|scan` with stdout/stderr in files, stops or kills it, reads its
  JSON log lines, samples its memory (`RssSampler`) and lists its sockets from /proc.
- `expect(condition, timeout)` polls until a condition holds (`aexpect` inside a coroutine).
- `LibraryDB` (and `query`) inspects the SQLite library without writing to it.
- `make_variants` derives distinct small JPEGs from real test photos.
- `render_service_files` renders the shipped service files (tools/install_service.sh); `verify_unit` checks a
  systemd unit with the real `systemd-analyze verify` (tests/test_service.py, tests/web/test_web_service.py).

tests/ is on pytest's pythonpath; bench/ puts it on sys.path. Usable by hand: `sys.path.insert(0, "tests")`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
READY_EVENT = "daemon_ready"  # daemon/runtime/service.py, once every folder is watched
PHOTO_EVENT = "photo"  # daemon/runtime/intake.py: one line per photo, status analysed | linked | failed
T = TypeVar("T")


# --- polling -----------------------------------------------------------------------------------------------


class ExpectTimeout(AssertionError):
    """A condition did not hold in time."""


def expect(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.1, what: str = "condition", *,
           alive: Daemon | None = None) -> T:
    """Poll `condition` until it returns something truthy; fail with the last value after `timeout` seconds.

    With `alive`, fail at once (with the daemon's output) if that daemon exits while we wait.
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


async def aexpect(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
                  what: str = "condition") -> Any:
    """`expect` for coroutines: yields to the loop between polls (30 s by default: a watch event on a loaded
    machine can be seconds late; a condition that holds returns at once)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ExpectTimeout(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


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

def repo_defaults() -> dict[str, dict[str, Any]]:
    """The repo's config.toml with model paths made absolute (what `make run` runs)."""
    data = tomllib.loads((REPO / "config.toml").read_text())
    models = data.setdefault("models", {})
    for role in ("objects", "faces", "embeddings"):
        if role in models:
            models[role] = str((REPO / models[role]).resolve())
    return data


def testing_defaults(log: Path) -> dict[str, dict[str, Any]]:
    """The tests' settings: the repo's models, short settle and status times (tests wait on the DB, not on
    the clock), JSON logs to `log`."""
    models = REPO / "models"
    return {
        "models": {
            "objects": str(models / "yolov10n.toml"),
            "faces": str(models / "yunet.toml"),
            "embeddings": str(models / "sface.toml"),
        },
        "daemon": {"settle_seconds": 0.3, "workers": 2, "status_interval": 1.0, "shutdown_timeout": 20.0},
        "log": {"level": "info", "format": "json", "file": str(log)},
    }


def write_config(base: Path, *, folders: list[Path] | None = None, database: Path | None = None,
                 sections: dict[str, dict[str, Any]] | None = None, create_folders: bool = True,
                 config: Path | None = None, defaults: str = "test") -> Layout:
    """Write a library's config (base/config.toml unless `config`); `sections` overrides or adds keys per table,
    a value None drops the key. `defaults`: "test" (`testing_defaults`) or "repo" (`repo_defaults`, logs as JSON
    on stdout)."""
    base.mkdir(parents=True, exist_ok=True)
    folders = folders if folders is not None else [base / "photos"]
    if create_folders:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
    database = database if database is not None else base / "state" / "library.db"
    log = base / "logs" / "pictod.log"
    if defaults == "repo":
        tables = repo_defaults()
        tables.setdefault("log", {}).update({"format": "json", "level": "info", "file": None})
    else:
        tables = testing_defaults(log)
    tables.setdefault("library", {}).update({"folders": [str(f) for f in folders], "database": str(database)})
    for name, values in (sections or {}).items():
        tables.setdefault(name, {}).update(values)
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in values.items() if v is not None) + "\n"
        for name, values in tables.items()
    )
    config = config if config is not None else base / "config.toml"
    config.write_text(text, encoding="utf-8")
    return Layout(base=base, config=config, folders=list(folders), database=database, log=log)


# --- the daemon as a subprocess ----------------------------------------------------------------------------


def render_service_files(tmp_path: Path) -> Path:
    """tools/install_service.sh --render-only into tmp_path/rendered, for a config at tmp_path/home/cfg dir/config.toml
    whose database is under tmp_path/db dir and log under tmp_path/logs (paths with spaces)."""
    out = tmp_path / "rendered"
    home = tmp_path / "home"
    config = home / "cfg dir" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[library]\nfolders = ["photos"]\ndatabase = "{tmp_path}/db dir/library.db"\n'
                      f'[log]\nfile = "{tmp_path}/logs/p.log"\n')
    env = {**os.environ, "HOME": str(home), "PICTOD_CONFIG": str(config)}
    done = subprocess.run(["bash", str(REPO / "tools" / "install_service.sh"), "--render-only", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def verify_unit(unit: Path, tmp_path: Path, *, broken: tuple[str, str]) -> str:
    """`systemd-analyze verify`, for the user's and the system's manager, has nothing to say about `unit`; then a
    copy with one line broken (`broken` = (text, replacement)) is verified and what it reported is returned, for
    the caller to show the check bites. Fails, never skips, without systemd-analyze (tools/ci_prereqs.sh)."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze missing: tools/ci_prereqs.sh installs Debian's systemd package"
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path / "home")}
    for mode in (["--user"], []):
        result = subprocess.run([analyze, *mode, "verify", str(unit)], env=env, capture_output=True, text=True,
                                timeout=60)
        # verify exits 0 on "ignoring" warnings too, so any output is a failure here.
        assert result.returncode == 0 and result.stderr.strip() == "" and result.stdout.strip() == "", (
            mode, result.stdout, result.stderr)
    text = unit.read_text()
    assert broken[0] in text, f"{broken[0]!r} not in {unit.name}: the broken copy would not be broken"
    bad = unit.with_name(f"bad-{unit.name}")
    bad.write_text(text.replace(*broken))
    result = subprocess.run([analyze, "verify", str(bad)], env=env, capture_output=True, text=True, timeout=60)
    return result.stderr


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
    """One `pictod` subprocess with its output in files (appended across restarts)."""

    layout: Layout
    command: str = "run"
    args: tuple[str, ...] = ()
    user: tuple[int, int] | None = None  # run as (uid, gid) with setpriv
    umask: int = 0o022
    env: dict[str, str] = field(default_factory=dict)  # on top of child_env (e.g. NOTIFY_SOCKET)
    proc: subprocess.Popen[bytes] | None = None
    stdout_path: Path = field(init=False)
    stderr_path: Path = field(init=False)
    starts: int = 0
    log_offset: int = 0  # where the log file ended when the current process started
    _rss: RssSampler | None = None

    def __post_init__(self) -> None:
        self.stdout_path = self.layout.base / "daemon.stdout"
        self.stderr_path = self.layout.base / "daemon.stderr"

    @property
    def db(self) -> Path:
        """The library database."""
        return self.layout.database

    def argv(self) -> list[str]:
        """The command line started."""
        argv = [sys.executable, "-m", "daemon.cli.main", self.command, "--config", str(self.layout.config), *self.args]
        if self.user is not None:
            uid, gid = self.user
            argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--", *argv]
        return argv

    def start(self, *, wait_ready: bool = False, timeout: float = 120.0) -> Daemon:
        """Start the process; with `wait_ready`, wait until it watches its folders."""
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
                                         cwd=self.layout.base, env={**child_env(self.layout.base), **self.env},
                                         umask=self.umask)
        self._rss = RssSampler(self.proc.pid)
        self._rss.start()
        if wait_ready:
            self.wait_ready(timeout)
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

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send a signal."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> int:
        """SIGKILL and reap; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait(timeout=30)
        self._stop_sampler()
        return rc

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait for the exit; returns the exit code (SIGKILL after the timeout, then fails)."""
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

    def teardown(self) -> None:
        """Kill a daemon still running at the end of a test, printing its thread stacks first (SIGUSR1)."""
        if self.alive():
            self.signal(signal.SIGUSR1)
            time.sleep(1.0)
            self.kill()
            print("daemon still running at teardown; its stacks:\n" + self.stderr()[-20000:])

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

    def log_records(self, *, current: bool = True) -> list[dict[str, Any]]:
        """The JSON log lines (of the current process unless `current=False`); a line that is not JSON fails."""
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

    def mark(self) -> int:
        """The number of log records of the current process so far, to look only at what comes after."""
        return len(self.log_records())

    def events(self, name: str, *, current: bool = True, after: int = 0, **match: Any) -> list[dict[str, Any]]:
        """Log records whose event is `name` and whose keys have the `match` values (of the current process
        unless `current=False`; from record index `after`, see `mark`)."""
        return [r for r in self.log_records(current=current)[after:] if r.get("event") == name
                and all(r.get(k) == v for k, v in match.items())]

    def ready(self) -> bool:
        """The current process watches every configured folder."""
        return bool(self.events(READY_EVENT))

    def wait_ready(self, timeout: float = 120.0) -> Daemon:
        """Wait until the daemon watches its folders (its models loaded and its folders walked: on a loaded
        machine that can take far longer than alone)."""
        expect(self.ready, timeout, what="the daemon to watch its folders", alive=self)
        return self

    def photo_lines(self, *, current: bool = True) -> list[dict[str, Any]]:
        """The one-line-per-photo log records."""
        return self.events(PHOTO_EVENT, current=current)

    def tail(self, lines: int = 25) -> str:
        """The exit code (if any) and the last lines of stderr and log, for failure messages."""
        err = "\n".join(line[:400] for line in self.stderr().splitlines()[-lines:])
        log = "\n".join(line[:400] for line in self.log_text().splitlines()[-lines:])
        return f"--- exit code {self.returncode()} ---\n--- stderr tail ---\n{err}\n--- log tail ---\n{log}"

    def sockets(self) -> dict[str, list[int]]:
        """Socket inodes the process holds, by family as /proc sees them ('inet' means a network socket)."""
        return process_sockets(self.pid)


class RssSampler(threading.Thread):
    """Samples the resident set of a process tree (and the main process's VmHWM and CPU time) from /proc
    every `interval` seconds until it exits or `stop()` is called."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(name=f"rss-{pid}", daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB of the tree)
        self.peak = 0  # bytes, the highest tree sample
        self.hwm_mib = 0.0  # the main process's own high-water mark (catches peaks between samples)
        self.cpu_s = 0.0  # user + system CPU seconds of the main process at the last sample
        self._halt = threading.Event()
        self._t0 = time.monotonic()

    def run(self) -> None:
        while not self._halt.is_set():
            if status_kib(self.pid, "VmRSS") < 0:
                return
            total = sum(max(status_kib(p, "VmRSS"), 0) for p in process_tree(self.pid)) * 1024
            self.peak = max(self.peak, total)
            self.samples.append((time.monotonic() - self._t0, total / 1024**2))
            self.hwm_mib = max(self.hwm_mib, status_kib(self.pid, "VmHWM") / 1024)
            with contextlib.suppress(OSError, IndexError, ValueError):
                # /proc/<pid>/stat fields 14 and 15 (after the parenthesised name): utime, stime in ticks.
                fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            self._halt.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling."""
        self._halt.set()
        if self.is_alive():
            self.join(timeout=5)


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

    def _present(self) -> str:
        # Schema v7 (issue 22): a photo whose files are gone is kept as missing; the probes count the others.
        return " WHERE missing_since IS NULL" if "missing_since" in self.columns("photos") else ""

    def photo_count(self) -> int:
        """Photo rows (not missing)."""
        return int(self.scalar(f"SELECT count(*) FROM photos{self._present()}"))

    def photo_hashes(self) -> set[str]:
        """Content hashes of analysed photos (not missing)."""
        return {r[0] for r in self.rows(f"SELECT {PHOTO_HASH} FROM photos{self._present()}")}

    def face_count(self) -> int:
        """Faces on photos that are not missing."""
        return int(self.scalar(f"SELECT count(*) FROM faces WHERE photo_id IN (SELECT id FROM photos"
                               f"{self._present()})"))

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
        if "missing_since" in self.columns("photos"):  # schema v7: a photo with no file is missing, kept
            checks["photos without any file"] = checks["photos without any file"].replace(
                "WHERE id NOT IN", "WHERE missing_since IS NULL AND id NOT IN", 1)
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


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of one read-only query on the library (`LibraryDB.rows`)."""
    return LibraryDB(db).rows(sql, *args)


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
