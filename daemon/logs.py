"""structlog set-up: JSON lines when not on a terminal (journald, launchd log file), readable lines on one.

Every module logs through `structlog.get_logger()` with snake_case event names and bound keys, never
f-strings, so `tail -f` of the log is a status page and `jq` can read it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_CONTROL = {c: f"\\x{c:02x}" for c in range(0x20)} | {0x7F: "\\x7f"}



def ms_since(start: float, digits: int | None = None) -> float:
    """Milliseconds since a `time.perf_counter()` reading: whole ones for log lines, or to `digits` decimals."""
    elapsed = (time.perf_counter() - start) * 1000.0
    return round(elapsed) if digits is None else round(elapsed, digits)

def escape(text: str) -> str:
    """Make a path safe for one log line: control characters (newlines too) and lone surrogates escaped."""
    text = text.translate(_CONTROL)
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _escape_paths(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        if isinstance(value, str) and key != "event":
            event[key] = escape(value)
        elif isinstance(value, Path):
            event[key] = escape(str(value))
    return event


class _NeverFails:
    """A log stream that drops a line rather than raise: a full disk or a closed pipe must not stop the daemon.

    Lines that could not be written are counted, and the count is reported on the next line that gets through.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.dropped = 0

    def write(self, text: str) -> int:
        try:
            if self.dropped and text.strip():
                dropped, self.dropped = self.dropped, 0
                self._stream.write(f'{{"event": "log_lines_dropped", "level": "error", "count": {dropped}}}\n')
            return self._stream.write(text)
        except (OSError, ValueError):  # ENOSPC, EIO, EPIPE; ValueError: the stream was closed
            self.dropped += 1
            return 0

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError):
            self.dropped += 1

    def isatty(self) -> bool:
        return self._stream.isatty()


def _dropping(events: frozenset[str]) -> Any:
    def drop(_logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("event") in events and method in ("debug", "info"):
            raise structlog.DropEvent
        return event
    return drop


def setup(*, level: str = "info", fmt: str = "auto", file: Path | None = None, stream: TextIO | Any = None,
          quiet_events: frozenset[str] = frozenset()) -> None:
    """Configure structlog once per process. `quiet_events`: event names whose debug/info lines are dropped
    (on a terminal with the progress line: the per-photo and periodic status lines it replaces)."""
    out: TextIO
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        out = os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="backslashreplace")
    else:
        out = stream if stream is not None else sys.stdout
    as_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    processors: list[Any] = [
        *([_dropping(quiet_events)] if quiet_events else []),
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=False),
        _escape_paths,
        structlog.processors.format_exc_info if as_json else structlog.dev.set_exc_info,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=_NeverFails(out)),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
