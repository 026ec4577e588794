"""daemon/runtime/memory.py: the arena limit and malloc_trim have their real effect on glibc; the trim cadence."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from daemon.runtime import memory

glibc_only = pytest.mark.skipif(memory._MALLOPT is None or memory._MALLOC_TRIM is None,
                                reason="glibc malloc only (macOS, musl: the functions are no-ops)")


def _run(code: str, env_extra: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra or {})
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            env=env, timeout=120, check=True, cwd=Path(__file__).resolve().parents[1])
    return result.stdout.strip()


# Counts the arenas malloc_info reports after 8 threads have each allocated (and still hold) a block.
_ARENAS = """
import ctypes, re, sys, tempfile, threading
from daemon.runtime import memory
if {limit}:
    assert memory.limit_arenas(2)
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fclose.argtypes = [ctypes.c_void_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
ready = threading.Barrier(9)
done = threading.Event()
def work():
    libc.malloc(1000)
    ready.wait()
    done.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
ready.wait()
with tempfile.NamedTemporaryFile() as out:
    fh = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, fh)
    libc.fclose(fh)
    print(len(re.findall(r'<heap nr=', open(out.name).read())))
done.set()
for t in threads:
    t.join()
"""


@glibc_only
def test_limit_arenas_caps_the_arenas_threads_get() -> None:
    limited = int(_run(_ARENAS.format(limit=True)))
    unlimited = int(_run(_ARENAS.format(limit=False)))
    assert limited <= 2
    assert unlimited > 2  # the control: without the limit each new thread gets an arena of its own


@glibc_only
def test_limit_arenas_leaves_an_explicit_environment_setting_alone() -> None:
    out = _run("from daemon.runtime import memory; print(memory.limit_arenas(2))", {"MALLOC_ARENA_MAX": "4"})
    assert out == "False"


@glibc_only
def test_trim_returns_free_heap_in_the_middle_of_an_arena() -> None:
    # 200 MiB in 64 KiB blocks (below the mmap threshold, so inside the heap), touched, then all freed but the
    # last one, which pins the top of the heap: free() alone cannot shrink it, malloc_trim(0) can.
    out = _run("""
        import ctypes
        from daemon.runtime import memory
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        def rss():
            for line in open("/proc/self/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
        blocks = []
        for _ in range(3200):
            p = libc.malloc(65536)
            ctypes.memset(p, 1, 65536)
            blocks.append(p)
        for p in blocks[:-1]:
            libc.free(p)
        before = rss()
        trimmed = memory.trim()
        print(before, rss(), trimmed)
    """)
    before, after, trimmed = out.split()
    assert trimmed == "True"
    assert int(before) - int(after) >= 150, out


def test_heap_trimmer_trims_at_most_once_per_interval() -> None:
    now = [100.0]
    calls: list[float] = []
    trimmer = memory.HeapTrimmer(10.0, clock=lambda: now[0], trim_fn=lambda: calls.append(now[0]) or True)
    assert not trimmer.due()
    assert not trimmer.maybe_trim()
    now[0] = 109.9
    assert not trimmer.maybe_trim()
    now[0] = 110.0
    assert trimmer.due()
    assert trimmer.maybe_trim()
    assert not trimmer.maybe_trim()  # the interval restarts at the trim
    now[0] = 112.0
    assert trimmer.trim_now()  # idle or a giant photo: at once
    now[0] = 121.0
    assert not trimmer.maybe_trim()  # 9 s after trim_now
    now[0] = 122.0
    assert trimmer.maybe_trim()
    assert calls == [110.0, 112.0, 122.0]
    assert trimmer.trims == 3


def test_trim_is_harmless_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_MALLOC_TRIM", None)
    monkeypatch.setattr(memory, "_MALLOPT", None)
    assert memory.trim() is False
    assert memory.limit_arenas() is False


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_module_finds_both_glibc_functions() -> None:
    # A typo in either name would make every function here a silent no-op (and the tests above skip).
    assert memory._MALLOC_TRIM is not None and memory._MALLOPT is not None
