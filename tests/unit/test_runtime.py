"""Process-wide allocator tuning: when it applies, and that it really stops per-frame page faults."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vtrack import runtime

# Decode a 1080p H.264 file to BGR frames as VideoFileSource does; print the median minor page faults
# per frame (the source's own buffers, not the decoder's start-up).
_FAULTS = textwrap.dedent(
    """
    import resource, sys
    from vtrack.runtime import tune_malloc
    applied = tune_malloc() if sys.argv[1] == "tune" else False
    from vtrack.stream.video import VideoFileSource
    faults, held = [], None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for frame in VideoFileSource(sys.argv[2]):
        held = frame  # the consumer holds the previous frame, as the pipeline does
        now = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        faults.append(now - before)
        before = now
    print(applied, sorted(faults[5:])[len(faults[5:]) // 2])
    """
)


def _write_1080p(path: Path, frames: int = 25) -> None:
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        base = rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
        for i in range(frames):
            img = np.roll(base, 8 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def _median_faults(mode: str, video: Path) -> tuple[str, int]:
    import os

    proc = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode, str(video)],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")},
    )
    applied, faults = proc.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc tuning is Linux-only")
def test_tuning_stops_page_faults_on_every_frame_buffer(tmp_path: Path) -> None:
    video = tmp_path / "1080p.mp4"
    _write_1080p(video)
    applied, tuned = _median_faults("tune", video)
    if applied != "True":
        pytest.skip("not glibc: mallopt unavailable")
    _, plain = _median_faults("plain", video)
    pages = 1080 * 1920 * 3 // 4096  # one BGR frame: 1,518 pages
    assert plain > pages // 2, (plain, tuned)  # fresh mmapped buffers for every frame
    assert tuned < pages // 10, (plain, tuned)  # the same heap pages are reused


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"VTRACK_MALLOC_TUNE": "0"}, False),
        ({"MALLOC_MMAP_THRESHOLD_": "65536"}, False),
        ({"MALLOC_TRIM_THRESHOLD_": "65536"}, False),
    ],
    ids=["opt-out", "user-mmap-setting", "user-trim-setting"],
)
def test_tuning_leaves_the_allocator_alone_when_told(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: bool
) -> None:
    monkeypatch.setattr(runtime, "_applied", None)
    assert runtime.tune_malloc(environ=environ) is expected
    assert runtime.tune_malloc(environ={}) is expected  # decided once per process


def test_cli_entry_point_tunes_before_running(monkeypatch: pytest.MonkeyPatch) -> None:
    import vtrack.cli as cli

    calls: list[bool] = []
    monkeypatch.setattr(cli, "tune_malloc", lambda: calls.append(True) or True)
    monkeypatch.setattr(sys, "argv", ["vtrack", "--version"])
    with pytest.raises(SystemExit):
        cli.main()
    assert calls == [True]


def test_heap_usage_follows_live_allocations() -> None:
    """``heap_usage`` counts what ``malloc`` handed out: it rises with a held buffer and falls back."""
    import numpy as np

    first = runtime.heap_usage()
    if first is None:
        pytest.skip("glibc mallinfo2 is not available here")
    held = np.ones(40_000_000 // 8)  # 40 MB through malloc (mmapped: above the default threshold)
    during = runtime.heap_usage()
    assert during is not None and during[0] >= first[0] + 39_000_000
    del held
    after = runtime.heap_usage()
    assert after is not None and after[0] <= during[0] - 39_000_000
