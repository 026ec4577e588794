"""The one place that builds onnxruntime InferenceSessions: sha256 check, thread counts, providers.

The model file is hashed, then onnxruntime loads it by its path, and the file must be the same one (device,
inode, size, mtime) before the hash and after the load, so the file that is checked is the file that runs.
Not built from the file's bytes: onnxruntime keeps the bytes a session was built from for as long as the
session lives (to rebuild it on a provider fallback), 47 MiB resident for the shipped models in every daemon
for nothing (measured: 3 sessions from bytes 152 MiB RSS, from paths 107 MiB).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import onnxruntime as ort
import structlog

from daemon.config import ModelsConfig
from daemon.errors import ModelError

log = structlog.get_logger()


def verify_file(path: Path, sha256: str) -> os.stat_result:
    """Check a model file's sha256 (read in chunks, not kept); ModelError naming the file if it is missing or
    changed. Returns the file's stat from before the hash (`build_session` checks it is still that file)."""
    try:
        with path.open("rb") as f:
            checked = os.fstat(f.fileno())
            actual = hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        raise ModelError(
            f"model file not found: {path} (restore it from git or rebuild it with `make models`)"
        ) from None
    except OSError as exc:
        raise ModelError(f"model file not readable: {path}: {exc.strerror}") from None
    if actual != sha256.lower():
        raise ModelError(
            f"model file changed: sha256 mismatch for {path} (expected {sha256.lower()}, got {actual}); "
            "restore the file or update sha256 in its descriptor if the change is intended"
        )
    return checked


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino, a.st_size, a.st_mtime_ns) == (b.st_dev, b.st_ino, b.st_size, b.st_mtime_ns)


def thread_counts(cfg: ModelsConfig, workers: int) -> tuple[int, int]:
    """(intra_op, inter_op) threads per session: intra 0 means the cores shared out between the workers."""
    intra = cfg.intra_op_threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    inter = max(1, cfg.inter_op_threads)
    return intra, inter


def select_providers(configured: tuple[str, ...]) -> list[str]:
    """The configured providers this onnxruntime build has, in order; warns about the others."""
    available = set(ort.get_available_providers())
    chosen = [p for p in configured if p in available]
    for provider in configured:
        if provider not in available:
            log.warning(
                "onnx_provider_unavailable",
                provider=provider,
                available=sorted(available),
                hint="install the matching onnxruntime package or remove it from models.providers",
            )
    if not chosen:
        log.warning("onnx_providers_fallback", configured=list(configured), using="CPUExecutionProvider")
        chosen = ["CPUExecutionProvider"]
    return chosen


def build_session(path: Path, sha256: str, cfg: ModelsConfig, *, workers: int = 1) -> ort.InferenceSession:
    """Verify `path` against `sha256` and build its InferenceSession with explicit threads and providers."""
    started = time.perf_counter()
    checked = verify_file(path, sha256)
    intra, inter = thread_counts(cfg, workers)
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra
    options.inter_op_num_threads = inter
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # 3 = errors only: onnxruntime otherwise prints graph warnings to stderr on every start.
    options.log_severity_level = 3
    # No CPU memory arena: the arena keeps every peak allocation of every session for good, so the daemon's RSS
    # only ever grew. Measured: `pictod scan` of 400 phone-sized photos (bench workload), 2 workers, alternating
    # runs: peak RSS 934-1015 MiB and still rising at the end with the arena, 687-765 MiB and falling back to
    # ~600 MiB without; wall time 29.1-29.2 s vs 29.1-29.3 s.
    options.enable_cpu_mem_arena = False
    # No busy-waiting between ops: the daemon shares the cores with decoding, hashing and the other workers'
    # sessions. Measured (bench/models.py, 2 cores, load ~4): YOLOv10n at 2 threads 69-77 ms with spinning,
    # 39-42 ms without; on an idle machine the cost of not spinning was ~2 ms (24 -> 27 ms).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    providers = select_providers(cfg.providers)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelError(f"model file cannot be loaded by onnxruntime: {path}: {exc}") from exc
    try:
        loaded = os.stat(path)
    except OSError:
        loaded = None
    if loaded is None or not _same_file(checked, loaded):
        raise ModelError(f"model file changed while it was loaded: {path} (replaced or rewritten after its sha256 "
                         "check); start again once it is no longer being written")
    log.info(
        "model_session_built",
        file=path.name,
        providers=session.get_providers(),
        intra_op_threads=intra,
        inter_op_threads=inter,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return session
