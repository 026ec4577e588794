"""The daemon pieces that need no models: the single-daemon lock (lock.py), the coalescing queue, per-path
ordering and the pixel budget (flow.py); and the service files: the rendered systemd unit (systemd-analyze
verify), the launchd plist, and the analysis chain under the kernel's MemoryDenyWriteExecute (prctl
PR_SET_MDWE) that the unit turns on."""

from __future__ import annotations

import asyncio
import os
import plistlib
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from harness import REPO, verify_unit
from harness import render_service_files as render
from pictod_testdata import SKIMAGE

from daemon.config import Config, LibraryConfig
from daemon.errors import AlreadyRunningError
from daemon.runtime.flow import CoalescingQueue, PathOrder, PixelBudget
from daemon.runtime.lock import DaemonLock, daemon_pid, lock_path
from daemon.runtime.watch import PhotoEvent

HOLD_LOCK = """
import sys
from pathlib import Path
from daemon.runtime.lock import DaemonLock
lock = DaemonLock(Path(sys.argv[1]))
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def test_one_daemon_per_database(tmp_path: Path) -> None:
    db = tmp_path / "lib" / "library.db"
    cfg = Config(library=LibraryConfig(database=db))
    assert daemon_pid(cfg) is None
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db)], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        assert stat.S_IMODE(lock_path(db).stat().st_mode) == 0o600
        assert daemon_pid(cfg) == holder.pid
        with pytest.raises(AlreadyRunningError, match=rf"another pictod daemon \(pid {holder.pid}\) owns {db}"):
            DaemonLock(db).acquire()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
    # The kernel dropped the lock with the process: no stale-pid guessing.
    assert daemon_pid(cfg) is None
    lock = DaemonLock(db)
    lock.acquire()
    assert daemon_pid(cfg) == os.getpid()  # flock is per open file: our own probe sees our lock
    lock.release()


def ev(kind: str, name: str, dest: str | None = None, **kw: bool) -> PhotoEvent:
    return PhotoEvent(kind, Path("/r") / name, Path("/r") / dest if dest else None, **kw)  # type: ignore[arg-type]


def test_queue_coalesces_and_overflows() -> None:
    async def main() -> None:
        q: CoalescingQueue[PhotoEvent] = CoalescingQueue(3, key=PhotoEvent.queue_key, merge=PhotoEvent.coalesce)
        assert q.put_nowait(ev("upsert", "a.jpg"))
        assert q.put_nowait(ev("upsert", "a.jpg", closed=True))  # merged in place
        assert q.put_nowait(ev("upsert", "b.jpg"))
        assert q.put_nowait(ev("delete", "b.jpg"))  # delete after upsert wins
        assert q.put_nowait(ev("move", "c.jpg", "d.jpg"))
        assert q.qsize() == 3
        assert not q.put_nowait(ev("upsert", "e.jpg"))  # full: refused, the caller schedules a rescan
        assert q.put_nowait(ev("upsert", "a.jpg"))  # a queued path still coalesces when full
        got = [await q.get() for _ in range(3)]
        assert [(e.kind, e.path.name, e.closed) for e in got] == [
            ("upsert", "a.jpg", True), ("delete", "b.jpg", False), ("move", "c.jpg", False)]
        for _ in got:
            q.task_done()
        await asyncio.wait_for(q.join(), 1)

    asyncio.run(main())


def test_queue_put_waits_for_room() -> None:
    async def main() -> None:
        q: CoalescingQueue[PhotoEvent] = CoalescingQueue(1, key=PhotoEvent.queue_key)
        await q.put(ev("upsert", "a.jpg"))
        waiter = asyncio.create_task(q.put(ev("upsert", "b.jpg")))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        assert (await q.get()).path.name == "a.jpg"
        await asyncio.wait_for(waiter, 1)
        assert (await q.get()).path.name == "b.jpg"

    asyncio.run(main())


def test_path_order_serialises_related_paths() -> None:
    async def main() -> None:
        order = PathOrder()
        log: list[str] = []

        async def handle(event: PhotoEvent, name: str, hold: float) -> None:
            waits, own = order.claim(event.paths())
            try:
                await asyncio.gather(*waits)
                log.append(f"start {name}")
                await asyncio.sleep(hold)
                log.append(f"end {name}")
            finally:
                order.release(own)

        # Claimed in this order: a file, a move of it, its folder's delete, and an unrelated file.
        tasks = [
            asyncio.create_task(handle(ev("upsert", "d/x.jpg"), "upsert", 0.1)),
            asyncio.create_task(handle(ev("move", "d/x.jpg", "d/y.jpg"), "move", 0.05)),
            asyncio.create_task(handle(ev("delete", "d", is_dir=True), "rmdir", 0.0)),
            asyncio.create_task(handle(ev("upsert", "other.jpg"), "other", 0.0)),
        ]
        await asyncio.gather(*tasks)
        assert log.index("end upsert") < log.index("start move")
        assert log.index("end move") < log.index("start rmdir")
        assert log.index("start other") < log.index("end upsert")  # unrelated paths do not wait
        assert order.busy() == 0

    asyncio.run(main())


def test_rendered_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    out = render(tmp_path)
    unit = (out / "pictod.service").read_text()
    assert f'ExecStart="{REPO}/.venv/bin/pictod" run --config "{tmp_path}/home/cfg dir/config.toml"' in unit
    assert f'-"{tmp_path}/db dir"' in unit and f'-"{tmp_path}/logs"' in unit
    for line in ("Type=notify", "WatchdogSec=60", "Restart=on-failure", "RestrictAddressFamilies=AF_UNIX",
                 "ProtectSystem=strict", "NoNewPrivileges=yes", "MemoryDenyWriteExecute=yes"):
        assert line in unit.splitlines()
    report = verify_unit(out / "pictod.service", tmp_path, broken=("WatchdogSec=60", "WatchdogSec=sixty"))
    assert "WatchdogSec" in report or "sec value" in report  # the check bites: a broken line is reported


def test_rendered_launchd_plist(tmp_path: Path) -> None:
    out = render(tmp_path)
    plist = plistlib.loads((out / "org.pictod.daemon.plist").read_bytes())
    assert plist["Label"] == "org.pictod.daemon"
    assert plist["ProgramArguments"] == [f"{REPO}/.venv/bin/pictod", "run", "--config",
                                         f"{tmp_path}/home/cfg dir/config.toml"]
    assert plist["RunAtLoad"] is True and plist["KeepAlive"] is True
    assert plist["StandardOutPath"] == plist["StandardErrorPath"] == f"{tmp_path}/home/Library/Logs/pictod.log"


MDWE_CHAIN = """
import ctypes, mmap, sys
import cv2
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN (Linux 6.3+)
    print("unsupported"); sys.exit(0)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    print("not enforced"); sys.exit(0)
except OSError:
    pass
from daemon import config
from daemon.analysis.vision import load_models
cfg = config.load(sys.argv[1], check_folders=False)
models = load_models(cfg.models, workers=1)
img = cv2.cvtColor(cv2.imread(sys.argv[2]), cv2.COLOR_BGR2RGB)
objects = models.objects.detect([img], conf=0.5, iou=0.5)[0]
faces = models.faces.detect([img])[0]
emb = models.embeddings.embed(img, faces)
print("ok", len(objects), len(faces), emb.shape[1])
"""


def test_analysis_chain_runs_under_mdwe() -> None:
    """The unit sets MemoryDenyWriteExecute=yes: onnxruntime, OpenCV and numpy must not need W+X memory."""
    argv = [sys.executable, "-c", MDWE_CHAIN, str(REPO / "config.toml"), str(SKIMAGE / "astronaut.png")]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    if last in ("unsupported", "not enforced"):
        pytest.skip(f"kernel MDWE {last}")
    assert last.startswith("ok ") and int(last.split()[2]) >= 1, result.stdout


def test_pixel_budget_runs_small_side_by_side_and_giants_alone() -> None:
    async def main() -> None:
        budget = PixelBudget(100)
        running: list[str] = []
        peak: list[int] = []

        async def job(name: str, pixels: int, hold: float) -> None:
            async with budget.hold(pixels):
                running.append(name)
                peak.append(budget.used)
                await asyncio.sleep(hold)
                running.remove(name)

        # Two small ones fit together; the giant waits for both, and a small one after it waits its turn.
        tasks = [asyncio.create_task(job("s1", 30, 0.05)), asyncio.create_task(job("s2", 30, 0.05))]
        await asyncio.sleep(0.01)
        assert sorted(running) == ["s1", "s2"]
        giant = asyncio.create_task(job("giant", 500, 0.05))  # capped at the capacity
        late = asyncio.create_task(job("late", 10, 0.0))
        await asyncio.sleep(0.01)
        assert "giant" not in running and "late" not in running  # first come, first served
        await asyncio.gather(*tasks, giant, late)
        assert max(peak) <= 100 and budget.used == 0
        # A waiter cancelled in line does not block the ones behind it.
        async with budget.hold(100):
            stuck = asyncio.create_task(job("stuck", 50, 0))
            behind = asyncio.create_task(job("behind", 50, 0))
            await asyncio.sleep(0.01)
            stuck.cancel()
        await asyncio.wait_for(behind, 1)

    asyncio.run(main())
