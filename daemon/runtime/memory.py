"""Keeping the daemon's heap from growing: glibc malloc arenas and handing freed memory back to the OS.

What was measured (a 2,000-photo `pictod scan` of the bench workload, 2 workers, in-process sampling of
VmRSS and glibc's mallinfo2/malloc_info every 0.5 s):

- glibc gives each busy thread its own arena (up to 8 per core): the daemon had 8 arenas with pages in them
  (event loop, I/O pool, analysis pool, recluster thread), holding 430-460 MiB of heap of which 250-380 MiB
  was free: decoded photos, model tensors (onnxruntime's own arena is off) and file bytes are freed into
  whichever arena the thread had, and the holes are too scattered for the top of a heap to be trimmed. The
  plateau crept up as arenas grew (415 -> 436 -> 460 MiB) and more of the free pages became resident.
- Limiting malloc to 2 arenas (600-photo scan): heap 515 -> 337-343 MiB, plateau ~650 -> ~500-530 MiB, same
  CPU time (81.4 vs 81.8 s). malloc_trim(0) gives the free pages in the middle of every arena back
  (MADV_DONTNEED), but every page is faulted in again when reused: after every photo it cost 7x the page
  faults and +25% CPU; every 5 s it cost ~+6% CPU; so it is rate-limited (TRIM_INTERVAL_SECONDS) and done
  once more when the daemon goes idle, where it costs nothing and matters most for a background service.
- Add/delete cycles of a running daemon (100 photos x 6-12 cycles, bench workload, RSS and mallinfo2 read when
  idle after each prune): glibc's in-use heap grew 3-4 KiB a photo and levelled off; the busy RSS wanders by
  +-30 MiB with the free heap (190-320 MiB of a 270-420 MiB heap) that the trims have not reached yet. A fixed
  mmap threshold (GLIBC_TUNABLES=glibc.malloc.mmap_threshold) keeps the photo-sized buffers out of the heap:
  at 4 MiB the heap stayed at 105 MiB, busy median 290 MiB and flat (vs 358-400), but every buffer is faulted in
  afresh (15x the page faults) and analysis cost +3 to +15% CPU (3 alternating pairs of 40 photos, median
  +12%); at 16 MiB +1-2% CPU and no gain. Not applied: a user may set it in the environment (the unit's
  MALLOC_ARENA_MAX sits beside it) to trade that CPU for ~100 MiB.

Only glibc has these knobs; elsewhere (macOS, musl) every function here is a no-op that returns False.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import cast

# mallopt(3) parameter numbers (glibc malloc.h).
M_ARENA_MAX = -8

# Arenas for the daemon: 2 (one for the event loop/main thread, one shared by the pools). Contention is not a
# concern here: the hot code (decoding, inference) allocates a few large blocks per photo, not many small ones.
ARENA_MAX = 2

# While busy, freed heap is handed back at most this often (see the module docstring for the cost).
TRIM_INTERVAL_SECONDS = 10.0


def _libc_function(name: str) -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None)
        return cast("Callable[..., int]", getattr(libc, name))
    except (OSError, AttributeError):
        return None  # not glibc (macOS, musl)


_MALLOPT = _libc_function("mallopt")
_MALLOC_TRIM = _libc_function("malloc_trim")


def limit_arenas(count: int = ARENA_MAX) -> bool:
    """Cap glibc's malloc arenas at `count` for threads that have not allocated yet; True if applied.

    An explicit MALLOC_ARENA_MAX in the environment (the systemd unit sets it, so it applies from the first
    allocation) wins: the user may have chosen another value on purpose.
    """
    if _MALLOPT is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(_MALLOPT(M_ARENA_MAX, max(1, count)))


def trim() -> bool:
    """malloc_trim(0): hand every arena's free pages back to the OS; True if memory was released."""
    if _MALLOC_TRIM is None:
        return False
    return bool(_MALLOC_TRIM(0))


class HeapTrimmer:
    """Calls trim() at most once per `interval` seconds (`due`/`maybe_trim`), or at once (`trim_now`)."""

    def __init__(self, interval: float = TRIM_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic,
                 trim_fn: Callable[[], bool] = trim) -> None:
        self.interval = interval
        self._clock = clock
        self._trim = trim_fn
        self._lock = threading.Lock()
        self._last = clock()
        self.trims = 0

    def due(self) -> bool:
        """True when the last trim is at least `interval` seconds old."""
        return self._clock() - self._last >= self.interval

    def maybe_trim(self) -> bool:
        """Trim if due (thread-safe: two callers at once trim once); True if a trim ran."""
        with self._lock:
            if not self.due():
                return False
            return self._run()

    def trim_now(self) -> bool:
        """Trim now whatever the interval (the daemon went idle, a giant photo was freed); True if it ran."""
        with self._lock:
            return self._run()

    def _run(self) -> bool:
        self._last = self._clock()
        self.trims += 1
        self._trim()
        return True
