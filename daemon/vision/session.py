"""The one place that builds onnxruntime InferenceSessions: sha256 check, thread counts, providers.

The model file is read once; its bytes are hashed and the very same bytes are handed to onnxruntime, so the
file that is checked is the file that runs (no window for it to change in between).
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


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def read_verified(path: Path, sha256: str) -> bytes:
    """Read a model file and check its sha256; ModelError naming the file if it is missing or changed."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(
            f"model file not found: {path} (restore it from git or rebuild it with `make models`)"
        ) from None
    except OSError as exc:
        raise ModelError(f"model file not readable: {path}: {exc.strerror}") from None
    actual = sha256_bytes(data)
    if actual != sha256.lower():
        raise ModelError(
            f"model file changed: sha256 mismatch for {path} (expected {sha256.lower()}, got {actual}); "
            "restore the file or update sha256 in its descriptor if the change is intended"
        )
    return data


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
    data = read_verified(path, sha256)
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
        session = ort.InferenceSession(data, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ModelError(f"model file cannot be loaded by onnxruntime: {path}: {exc}") from exc
    log.info(
        "model_session_built",
        file=path.name,
        providers=session.get_providers(),
        intra_op_threads=intra,
        inter_op_threads=inter,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return session
