"""The single writer: one thread, one connection, a queue of tasks, each run in BEGIN IMMEDIATE.

A caller on any thread submits a callable taking the connection and blocks until it committed; the result or
the exception is handed back to that caller (datasette's write thread). Writes never interleave, so a task
sees a consistent database and all of one photo's rows commit together.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import structlog

from daemon.errors import StoreError
from daemon.store import db

T = TypeVar("T")
log = structlog.get_logger()

_STOP = object()


class Writer:
    """Owns the write connection and the thread that uses it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.Queue[Any] = queue.Queue()
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="pictod-store-writer", daemon=True)
        self._closed = False
        self._thread.start()
        self._ready.result()  # re-raises a StoreError from opening the connection

    def submit(self, task: Callable[[sqlite3.Connection], T]) -> T:
        """Run `task(conn)` in one IMMEDIATE transaction on the writer thread; return its result."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a write task cannot submit another write task (it would wait for itself)")
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        future: Future[T] = Future()
        self._queue.put((task, future))
        return future.result()

    def close(self) -> None:
        """Finish queued tasks, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        try:
            conn = db.connect(self.path)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                task, future = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = task(conn)
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    future.set_exception(_translate(self.path, exc))
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            conn.close()


def _translate(path: Path, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return StoreError(f"database is not writable: {path} (check its permissions and free space)")
    if "locked" in text or "busy" in text:
        return StoreError(f"database is locked by another process: {path} ({text})")
    if "disk is full" in text or "full" in text:
        return StoreError(f"disk full while writing {path}: {db.space_hint(path)}")
    error = StoreError(f"database write failed on {path}: {text}")
    error.__cause__ = exc
    return error
