"""sdnotify.py against real AF_UNIX datagram sockets (filesystem and abstract)."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from daemon.runtime.notify import Notifier


def receiver(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    return sock


def test_messages_arrive_in_order_on_a_path_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    sock = receiver(str(path))
    n = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000"})
    assert n.enabled and n.watchdog_interval == 2.0
    assert n.ready("watching 1 folder(s)")
    assert n.status("3 queued,\n 1 done")
    assert n.watchdog()
    assert n.stopping()
    got = [sock.recv(4096).decode() for _ in range(4)]
    assert got == ["READY=1\nSTATUS=watching 1 folder(s)", "STATUS=3 queued, 1 done", "WATCHDOG=1", "STOPPING=1"]
    n.close()
    sock.close()


def test_abstract_socket_name() -> None:
    name = f"pictod-test-{uuid.uuid4().hex}"
    sock = receiver("\0" + name)
    n = Notifier({"NOTIFY_SOCKET": "@" + name})
    assert n.ready()
    assert sock.recv(4096) == b"READY=1"
    n.close()
    sock.close()


def test_no_socket_is_a_no_op() -> None:
    n = Notifier({})
    assert not n.enabled
    assert n.watchdog_interval is None
    assert not n.ready() and not n.watchdog() and not n.stopping()


def test_watchdog_meant_for_another_pid_is_ignored(tmp_path: Path) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "s"), "WATCHDOG_USEC": "1000000",
                  "WATCHDOG_PID": str(os.getpid() + 1)})
    assert n.watchdog_interval is None


def test_a_vanished_manager_does_not_raise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")})
    assert not n.ready()
    assert not n.status("still fine")  # warned once, then quiet


def test_status_from_a_hostile_folder_name_stays_one_assignment(tmp_path: Path) -> None:
    # A watched folder's name reaches STATUS=; a newline would start a forged assignment, ESC a terminal sequence.
    path = tmp_path / "notify.sock"
    sock = receiver(str(path))
    n = Notifier({"NOTIFY_SOCKET": str(path)})
    assert n.ready("watching /photos/a\nREADY=0\x1b[2J")
    assert n.status("waiting for /photos/\x1b]0;x\x07b")
    ready, status = (sock.recv(4096).decode() for _ in range(2))
    assert ready.split("\n") == ["READY=1", "STATUS=watching /photos/a READY=0\\x1b[2J"]
    assert status == "STATUS=waiting for /photos/\\x1b]0;x\\x07b"
    n.close()
    sock.close()
