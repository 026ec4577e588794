"""Minimal sd_notify(3): READY/STATUS/WATCHDOG/STOPPING datagrams to $NOTIFY_SOCKET; a no-op elsewhere.

Written here rather than depending on python-systemd (a C extension with libsystemd headers) because the
protocol is one AF_UNIX datagram per message. An abstract socket name starts with '@' in the environment.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

from daemon.logs import escape

log = structlog.get_logger()


def _one_line(text: str) -> str:
    """A STATUS= value: whitespace runs collapsed to one space, other control characters escaped (a newline
    would start a new assignment in the datagram, and `systemctl status` prints the value to a terminal)."""
    return escape(" ".join(text.split()))


class Notifier:
    """Sends sd_notify messages to the service manager; every method is a no-op without $NOTIFY_SOCKET."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._address: str | None = None
        self._sock: socket.socket | None = None
        self._failed = False
        raw = env.get("NOTIFY_SOCKET", "")
        if raw.startswith("@"):
            self._address = "\0" + raw[1:]
        elif raw.startswith("/"):
            self._address = raw
        self._watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        # WATCHDOG_PID names the process the watchdog is meant for; a child that inherited it must not ping.
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self._watchdog_s = int(usec) / 1_000_000

    @property
    def enabled(self) -> bool:
        """True when a service manager listens."""
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None when no watchdog is set."""
        return None if self._watchdog_s is None else self._watchdog_s / 2

    def notify(self, *lines: str) -> bool:
        """Send one datagram made of `lines` (KEY=value); True if it was sent."""
        if self._address is None or self._failed:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # Never block the event loop on a manager that is slow to read: drop the message instead.
            self._sock.sendto("\n".join(lines).encode("utf-8", "backslashreplace"), socket.MSG_DONTWAIT,
                              self._address)
        except BlockingIOError:
            log.debug("sd_notify_dropped", message=lines[0])
            return False
        except OSError as exc:
            # The manager went away or the socket is not ours to write: warn once, keep running.
            self._failed = True
            log.warning("sd_notify_failed", socket=self._address.replace("\0", "@"), error=str(exc))
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """READY=1 (and a STATUS= line): the daemon is watching."""
        return self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> bool:
        """STATUS=<one line> shown by `systemctl status`."""
        return self.notify("STATUS=" + _one_line(text))

    def watchdog(self) -> bool:
        """WATCHDOG=1: the event loop is alive."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """STOPPING=1: shutdown has begun."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the datagram socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
