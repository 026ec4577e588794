"""The live progress line of `pictod scan` and `pictod run` on a terminal (tqdm): done / total, photos/s, ETA,
failed, people; log lines print above it (`LogStream`).

Only used on a terminal: under a service manager, in a pipe and with `--json` nothing here runs and the logs
stay JSON lines, one per photo. The service feeds it (`Service._progress_loop`); the CLI decides whether to.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from tqdm import tqdm

REFRESH_SECONDS = 0.5


class ProgressLine:
    """One tqdm bar on `stream`; `update` sets the counts (thread-safe through tqdm's own lock)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._bar: tqdm[None] | None = None
        self._lock = threading.Lock()
        self._state: tuple[int | None, int, int, bool] | None = None

    def update(self, *, done: int, total: int | None, failed: int, people: int, idle: bool = False) -> None:
        """Show `done` of `total` photos (total None: still counting), failed and people."""
        with self._lock:
            if self._bar is None:
                self._bar = tqdm(total=total, file=self.stream, unit=" photos", unit_scale=False,
                                 dynamic_ncols=True, smoothing=0.1, mininterval=REFRESH_SECONDS, leave=True,
                                 bar_format="{desc}{n_fmt}/{total_fmt} |{bar}| {percentage:3.0f}% "
                                 "[{elapsed}<{remaining}, {rate_noinv_fmt}]{postfix}")
            bar = self._bar
            state = (total, failed, people, idle)
            changed = state != self._state
            self._state = state
            if total is not None and bar.total != total:
                bar.total = total
            bar.set_description_str("idle " if idle else "", refresh=False)
            bar.set_postfix_str(f"failed {failed}, people {people}", refresh=False)
            if done > bar.n:
                bar.update(done - bar.n)  # tqdm measures the rate and the ETA from these steps
            elif changed or time.monotonic() - bar.last_print_t >= 1.0:
                bar.refresh()  # new counts, or the elapsed time ticking

    def close(self) -> None:
        """Leave the last state on screen, on its own line."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def log_stream(self) -> LogStream:
        """A stream for the log lines: each whole line is printed above the bar."""
        return LogStream(self.stream)


class LogStream:
    """Writes whole lines with the bar cleared and redrawn around them (tqdm.external_write_mode); a line is
    buffered until its newline, since `print` writes the text and the newline separately."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._buffer = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text
            if "\n" not in self._buffer:
                return len(text)
            lines, _, self._buffer = self._buffer.rpartition("\n")
            with tqdm.external_write_mode(file=self._stream):
                self._stream.write(lines + "\n")
                self._stream.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()
