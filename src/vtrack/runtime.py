"""Process-wide tuning applied once by the command-line entry points (never on import).

glibc's ``malloc`` serves each decoded frame's large buffers (a 1080p BGR frame is 6.2 MB) with a
fresh ``mmap`` and gives them back with ``munmap``, so every frame pays ~1,500 page faults. Fixing the
mmap threshold at 32 MiB keeps those buffers on the heap and reuses the same pages. Measured on the
2-core dev box, per 1080p frame of ``bicycle_tracking_sample_1080p.mp4`` (thread CPU time, 100 frames):
YUV→BGR conversion 4.9 → 1.7 ms, the same as ``MALLOC_MMAP_THRESHOLD_=33554432
MALLOC_TRIM_THRESHOLD_=134217728`` in the environment (docs/benchmarks.md).

The cost is memory: up to ``trim_threshold`` bytes of freed heap may stay mapped instead of going
back to the system; docs/benchmarks.md has the soak figures with it on.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import os
import sys
from typing import Final

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD: Final = -1
"""``mallopt`` parameter numbers from glibc's ``malloc.h``."""
M_MMAP_THRESHOLD: Final = -3
DEFAULT_MMAP_THRESHOLD: Final = 32 * 1024 * 1024
"""Allocations below this come from the heap (glibc's own upper limit for the dynamic threshold)."""
DEFAULT_TRIM_THRESHOLD: Final = 128 * 1024 * 1024
"""Free heap kept before it is returned to the system."""
OPT_OUT_ENV: Final = "VTRACK_MALLOC_TUNE"
"""Set to ``0`` to leave the allocator alone."""
_USER_ENV: Final = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_applied: bool | None = None


@functools.cache
def available_cores() -> int:
    """CPU cores this process may run on (its affinity on Linux, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (only glibc has ``gnu_get_libc_version``), else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - musl's mallopt/mallinfo do nothing useful
    except (OSError, AttributeError):
        return None
    return libc


def tune_malloc(
    *,
    mmap_threshold: int = DEFAULT_MMAP_THRESHOLD,
    trim_threshold: int = DEFAULT_TRIM_THRESHOLD,
    environ: dict[str, str] | None = None,
) -> bool:
    """Fix glibc's mmap and trim thresholds for this process (idempotent).

    Nothing is changed when ``$VTRACK_MALLOC_TUNE`` is ``0``, when the user set glibc's own
    ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` (theirs win), or off glibc.

    Args:
        mmap_threshold: Bytes; allocations at least this large are mmapped.
        trim_threshold: Bytes of free heap kept before trimming.
        environ: Environment to read (default ``os.environ``).

    Returns:
        Whether the thresholds are set by this call or an earlier one.
    """
    global _applied
    if _applied is not None:
        return _applied
    env = os.environ if environ is None else environ
    if env.get(OPT_OUT_ENV, "1").strip() == "0":
        _applied = False
        log.debug("malloc tuning off ($%s=0)", OPT_OUT_ENV)
        return False
    if any(name in env for name in _USER_ENV):
        _applied = False
        log.debug("malloc tuning left to the environment's MALLOC_* settings")
        return False
    libc = _glibc()
    if libc is None:
        _applied = False
        log.debug("not glibc: malloc tuning skipped")
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(
        mallopt(M_TRIM_THRESHOLD, int(trim_threshold))
    )
    _applied = ok
    log.debug("malloc thresholds: mmap %d, trim %d bytes (%s)", mmap_threshold, trim_threshold, ok)
    return ok


class _MallInfo2(ctypes.Structure):
    # ctypes layout of glibc's struct mallinfo2 (all size_t)
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap_usage() -> tuple[int, int] | None:
    """Bytes of the C heap in use and free-but-kept, from glibc's ``mallinfo2`` (glibc ≥ 2.33).

    Tells a leak from a heap that keeps freed memory: RSS growing while the in-use figure stays flat
    is the allocator holding freed pages (fragmentation, the trim threshold), not lost objects.
    Python's own small-object arenas and anything mmapped outside ``malloc`` are not included.

    Returns:
        ``(in_use, free)``: bytes handed out by ``malloc`` (heap chunks of every arena plus mmapped
        chunks) and free bytes the heap keeps; ``None`` where ``mallinfo2`` is missing.
    """
    libc = _glibc()
    if libc is None:
        return None
    try:
        fn = libc.mallinfo2
    except AttributeError:  # glibc older than 2.33
        return None
    fn.restype = _MallInfo2
    fn.argtypes = []
    info = fn()
    return int(info.uordblks + info.hblkhd), int(info.fordblks)
