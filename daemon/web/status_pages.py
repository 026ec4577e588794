"""The status page: the figures of `pictod status` (the same read: `reads.status_counts`, refreshed from /api/status
while a daemon runs), with the watched folders that are missing and since when, the missing photos, and the
failed files with their reasons, in words. Signing in is `security.py`'s (the guard, before any page)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from daemon.library import reads, upkeep
from daemon.runtime.lock import daemon_pid
from daemon.store import Store
from daemon.web.pages import Pages

FAILED_SHOWN = 500

REASONS = {  # the reason codes the daemon records, for a person
    "empty": "the file is empty",
    "truncated": "the file ends early (cut off while copying?)",
    "corrupt": "the image data is damaged",
    "not_an_image": "not an image",
    "unsupported_format": "an image format pictod does not read",
    "too_many_pixels": "more pixels than analysis.max_pixels allows",
    "file_too_large": "larger than analysis.max_file_bytes allows",
    "unreadable": "the file could not be read (permissions?)",
    "internal_error": "pictod failed on it (see the daemon's log)",
}


class StatusPages(Pages):
    """/status and /api/status."""

    def status(self, request: Request) -> Response:
        """The figures of `pictod status`, refreshed while a daemon runs; failed files with reasons."""
        def build() -> Response:
            store = self._store()
            figures = self._figures(store)
            failed = reads.failed_files(store, limit=FAILED_SHOWN)
            return self._page(request, "status.html", lambda: {"status": figures, "failed": failed},
                              title="Status", figures=figures, failed=failed, failed_total=figures["files_failed"],
                              reasons=REASONS, database=str(self.s.cfg.database_path),
                              keep_missing_days=self.s.cfg.library.keep_missing_days)
        return self._guarded(request, build)

    def _figures(self, store: Store) -> dict[str, Any]:
        pid = daemon_pid(self.s.cfg)
        return {"daemon_running": pid is not None, "daemon_pid": pid, **reads.status_counts(store).__dict__}

    def retry(self, request: Request) -> Response:
        """Analyse every failed file again (`pictod retry --all`)."""
        def act(_form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            done = upkeep.retry(self._store(), None)
            if daemon_pid(self.s.cfg) is not None:
                how = "the running daemon queues them"
            else:
                how = "no daemon runs: the next scan or daemon start analyses them again"
            return f"{len(done.marked)} file(s) marked for retry; {how}", {"marked": done.marked}
        return self._change(request, act, "/status")

    def write_sidecars(self, request: Request) -> Response:
        """Write every photo's sidecar now (`pictod metadata write --all`)."""
        def act(_form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            stats = upkeep.write_sidecars(self._store(), self.s.cfg.metadata, None)
            return (f"sidecars: {stats.written} written, {stats.unchanged} unchanged, {stats.removed} removed, "
                    f"{stats.skipped} skipped ({stats.photos} photos)"), upkeep.sidecar_report(stats)
        return self._change(request, act, "/status")

    def api_status(self, request: Request) -> Response:
        """The status figures as JSON (the status page refreshes itself from here)."""
        return self._guarded(request, lambda: JSONResponse(self._figures(self._store())))
