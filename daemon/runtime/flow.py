"""Generic flow control for the daemon's event loop, knowing nothing of photos: a bounded FIFO that coalesces
repeated items for one key (`CoalescingQueue`), per-path ordering of handlers (`PathOrder`), a budget bounding
the pixels in flight (`PixelBudget`), and blocking calls awaited on an executor (`InPool`). The domain supplies
the keys: `daemon/runtime/service.py` queues `PhotoEvent`s by `PhotoEvent.queue_key`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class InPool:
    """Blocking calls run on one executor and awaited from the event loop: `await io(fn, *args)`."""

    def __init__(self, pool: Executor) -> None:
        self.pool = pool

    async def __call__(self, fn: Callable[..., R], *args: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)


class CoalescingQueue(Generic[T]):
    """A bounded FIFO keyed by `key(item)`: an item whose key is queued replaces it in place as
    `merge(old, new)`; a None key is never merged (it keeps its own place).

    `put_nowait` (the watcher's) refuses when full and the caller schedules a rescan; `put` (the
    reconciler's) waits for room, so reconciliation itself never drops anything.
    """

    def __init__(self, maxsize: int, *, key: Callable[[T], str | None],
                 merge: Callable[[T, T], T] = lambda _old, new: new) -> None:
        self.maxsize = maxsize
        self._key_of = key
        self._merge_items = merge
        self._items: OrderedDict[str, T] = OrderedDict()
        self._seq = 0
        self._nonempty = asyncio.Event()
        self._room = asyncio.Event()
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def qsize(self) -> int:
        """Items waiting."""
        return len(self._items)

    @property
    def unfinished(self) -> int:
        """Items queued or being handled."""
        return self._unfinished

    def _add(self, key: str | None, item: T) -> None:
        if key is not None and key in self._items:
            self._items[key] = self._merge_items(self._items[key], item)  # position kept
            return
        if key is None:
            self._seq += 1
            key = f"\0{self._seq}"
        self._items[key] = item
        self._unfinished += 1
        self._idle.clear()
        self._nonempty.set()

    def put_nowait(self, item: T) -> bool:
        """Queue or coalesce; False (nothing queued) when full."""
        key = self._key_of(item)
        if len(self._items) >= self.maxsize and (key is None or key not in self._items):
            return False
        self._add(key, item)
        return True

    async def put(self, item: T) -> None:
        """Queue or coalesce, waiting for room."""
        while not self.put_nowait(item):
            self._room.clear()
            await self._room.wait()

    async def get(self) -> T:
        """The oldest item."""
        while not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()
        _key, item = self._items.popitem(last=False)
        self._room.set()
        return item

    def task_done(self) -> None:
        """One item from `get` has been handled."""
        self._unfinished = max(0, self._unfinished - 1)
        if self._unfinished == 0:
            self._idle.set()

    async def join(self) -> None:
        """Wait until every queued item has been handled."""
        await self._idle.wait()


Claim = list[tuple[str, "asyncio.Future[None]"]]


class PathOrder:
    """Per-path ordering of handlers: a claim waits for earlier claims on the same path, on a folder holding
    it, or (for a folder) on anything below it. Claims are taken in queue order, without awaiting."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}

    def claim(self, paths: Sequence[str]) -> tuple[list[asyncio.Future[None]], Claim]:
        """Register the paths; return (futures to wait for, own claims to release)."""
        loop = asyncio.get_running_loop()
        waits = [fut for held, fut in self._tails.items() if any(_related(held, p) for p in paths)]
        own: Claim = []
        for p in paths:
            fut = loop.create_future()
            self._tails[p] = fut
            own.append((p, fut))
        return waits, own

    def release(self, own: Claim) -> None:
        """Let the next handler of these paths go."""
        for p, fut in own:
            if not fut.done():
                fut.set_result(None)
            if self._tails.get(p) is fut:
                del self._tails[p]

    def busy(self) -> int:
        """Paths being handled or waited for."""
        return len(self._tails)


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


class PixelBudget:
    """Bounds the pixels being decoded and analysed at once, so N workers on N huge (but legal) photos do not
    need N times the memory: photos of ordinary size run side by side, a giant one waits its turn alone.
    Served in arrival order (tickets), so a stream of small photos cannot starve a big one."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.used = 0
        self._cond = asyncio.Condition()
        self._next = 0  # next ticket to hand out
        self._serving = 0  # ticket whose turn it is
        self._abandoned: set[int] = set()  # tickets cancelled while waiting

    def _my_turn(self, ticket: int, weight: int) -> bool:
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        return self._serving == ticket and self.used + weight <= self.capacity

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        """Reserve `pixels` (capped at the capacity) for the duration of the block."""
        weight = min(max(0, pixels), self.capacity)
        async with self._cond:
            ticket = self._next
            self._next += 1
            try:
                await self._cond.wait_for(lambda: self._my_turn(ticket, weight))
            except BaseException:
                self._abandoned.add(ticket)
                self._cond.notify_all()
                raise
            self._serving += 1
            self.used += weight
            self._cond.notify_all()  # the next in line may fit beside this one
        try:
            yield
        finally:
            async with self._cond:
                self.used -= weight
                self._cond.notify_all()
