"""Fixtures of the hardening suite: a library layout in tmp_path and real daemon subprocesses, always reaped."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Daemon, Layout, LibraryDB, write_config


@pytest.fixture
def make_layout(tmp_path: Path) -> Callable[..., Layout]:
    """Factory: write a config for a library under tmp_path (keyword arguments go to write_config)."""
    counter = iter(range(1000))

    def factory(name: str | None = None, **kwargs: Any) -> Layout:
        base = tmp_path / (name or f"lib{next(counter)}")
        return write_config(base, **kwargs)

    return factory


@pytest.fixture
def layout(make_layout: Callable[..., Layout]) -> Layout:
    """One library: tmp/lib/photos watched, DB in tmp/lib/state, JSON log in tmp/lib/logs."""
    return make_layout("lib")


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    """Factory of Daemon objects; every process still running at teardown is killed (by its own pid)."""
    started: list[Daemon] = []

    def factory(layout: Layout, command: str = "run", *args: str, user: tuple[int, int] | None = None,
                start: bool = True, umask: int = 0o022) -> Daemon:
        d = Daemon(layout, command=command, args=tuple(args), user=user, umask=umask)
        started.append(d)
        return d.start() if start else d

    yield factory
    for d in started:
        if d.alive():
            d.kill()


@pytest.fixture
def db(layout: Layout) -> LibraryDB:
    """The read-only probe of the default library's DB."""
    return LibraryDB(layout.database)
