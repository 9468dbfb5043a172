"""How many inference sessions and threads per session a detector opens on this machine."""

from __future__ import annotations

from vtrack.runtime import available_cores

DEFAULT_CPU_SESSIONS = 2
"""Sessions on CPU when not configured: two 1-thread sessions ran yolov8n at 640 faster than one
2-thread session on our 2-core machines (see docs/benchmarks.md)."""


def plan_inference(
    providers: list[str], sessions: int | None, threads: int | None, *, cores: int | None = None
) -> tuple[int, int | None]:
    """Choose ONNX Runtime sessions and intra-op threads per session.

    Args:
        providers: The execution providers to be used, best first.
        sessions: Configured sessions, or ``None`` for the default.
        threads: Configured intra-op threads per session, or ``None`` for the default.
        cores: CPU cores available (default: this process's CPU affinity).

    Returns:
        ``(sessions, threads)``: on a GPU provider one session and ``threads`` as given (``None`` =
        ONNX Runtime's choice); on CPU :data:`DEFAULT_CPU_SESSIONS` (at most one per core) and the
        cores shared among them.
    """
    if providers and providers[0] != "CPUExecutionProvider":
        return sessions or 1, threads
    if cores is None:
        cores = available_cores()
    n = sessions or max(1, min(DEFAULT_CPU_SESSIONS, cores))
    return n, threads or max(1, cores // n)
