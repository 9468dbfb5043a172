"""A real GStreamer RTSP server, killed and restarted three times under a counting pipeline.

Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins (listed in
.ci/system-packages.txt); the server runs under /usr/bin/python3 as a subprocess.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import av
import numpy as np
import pytest
from live_servers import SYSTEM_PYTHON, free_port, gst_rtsp_available

from vtrack.analytics.composite import CounterSet
from vtrack.analytics.lines import LineCounter
from vtrack.detectors.onnx_yolo import YoloOnnxDetector
from vtrack.geometry import Line
from vtrack.pipeline.step import FrameStep
from vtrack.stream.live import LiveSource, StreamState
from vtrack.trackers import make_tracker

SERVER = Path(__file__).with_name("rtsp_server.py")
CLIP = "media/video/degirum_traffic_motorway_overpass.mp4"  # 960x540 H.264, 29.97 fps, 11 s
PASSWORD = "hunter2-rtsp"
OUTAGES = 3
RUN_SECONDS = 5.0  # pipeline time between outages
SLOW = 2  # the clip is served 2x slower than recorded: at ~2 processed FPS, cars move ~7 frames a step
FIRST_COUNT_TIMEOUT = 20.0  # the first crossings on LINE_Y come at ~1.5 s and ~2.8 s of the clip
LINE_Y = 200  # cars drive down the frame; most cross y=200 while large enough to be detected
STALL_TIMEOUT = 2.0
BACKOFF_INITIAL, BACKOFF_MAX = 0.5, 2.0
# a recovery is one capped backoff + one RTSP open (SDP, probing) + one detection step; the open and the
# detection step take seconds on a loaded 2-core machine (measured worst here: 8.2 s), hence the slack
RECOVERY_LIMIT = BACKOFF_MAX * 1.2 + STALL_TIMEOUT + 8
PROCESS_FPS = 4.0  # about what yolov8n manages here on 2 shared cores
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _assets_required() -> bool:
    return os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no")


def loop_clip(src: Path, dst: Path, times: int, slow: int = 1) -> Path:
    """Remux ``src`` ``times`` times end to end into ``dst``, ``slow`` times slower (no re-encoding:
    timestamps shifted and scaled, so the server sends the same frames ``slow`` times further apart)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        out_stream.time_base = in_stream.time_base
        offset = 0
        for _ in range(times):
            inp.seek(0)
            end = offset
            for packet in inp.demux(in_stream):
                if packet.dts is None or packet.pts is None:
                    continue
                packet.pts = packet.pts * slow + offset
                packet.dts = packet.dts * slow + offset
                packet.duration = (packet.duration or 0) * slow
                end = max(end, packet.pts + packet.duration)
                packet.stream = out_stream
                out.mux(packet)
            offset = end
    return dst


class RtspServer:
    """``rtsp_server.py`` as a subprocess on a fixed loopback port; start/kill at will."""

    def __init__(self, clip: Path, port: int) -> None:
        self.clip, self.port = clip, port
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        cmd = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port), "--file", str(self.clip)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until READY (or the process dies)
        assert line.startswith("READY"), f"RTSP server did not start: {line!r}"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def rtsp_server(shared: Path, tmp_path: Path) -> Iterator[RtspServer]:
    if not gst_rtsp_available():
        msg = "GStreamer RTSP server not importable by /usr/bin/python3 (see .ci/system-packages.txt)"
        if _assets_required():
            pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
        pytest.skip(msg)
    clip = loop_clip(shared / CLIP, tmp_path / "looped.mp4", times=2, slow=SLOW)
    server = RtspServer(clip, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


class CountingConsumer:
    """Detect → track → count on the newest frame each time; tracker and counter never reset."""

    def __init__(self, source: LiveSource, model: Path) -> None:
        self.source = source
        self.detector = YoloOnnxDetector(model)
        self.counter = LineCounter([Line("mid", 0, LINE_Y, 960, LINE_Y)])
        self.frame_step = FrameStep(make_tracker(fps=PROCESS_FPS), CounterSet(self.counter, None))
        self.processed = 0
        self.ids_seen: set[int] = set()

    def step(self, timeout: float = 0.2) -> list[int]:
        """Process one frame if one comes; returns the confirmed track IDs in it."""
        frame = self.source.read(timeout=timeout)
        if frame is None:
            return []
        result = self.frame_step(frame, self.detector(frame.image), time=T0 + timedelta(seconds=frame.pts))
        tracked = result.detections
        self.processed += 1
        if tracked.tracker_id is None:
            return []
        ids = [int(t) for t in np.asarray(tracked.tracker_id).tolist() if t >= 0]
        self.ids_seen.update(ids)
        return ids

    def total(self) -> int:
        return sum(
            n for per_cls in self.counter.counts.values() for d in per_cls.values() for n in d.values()
        )

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        """Every (line, class, direction) count so far."""
        return {
            (line, cls, d): n
            for line, per_cls in self.counter.counts.items()
            for cls, per_dir in per_cls.items()
            for d, n in per_dir.items()
        }

    def run_for(self, seconds: float) -> list[int]:
        ids: list[int] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ids += self.step()
        return ids

    def run_until(self, cond: object, timeout: float) -> float:
        """Keep processing until ``cond()``; returns the seconds it took (fails after ``timeout``)."""
        t0 = time.monotonic()
        while not cond():  # type: ignore[operator]
            assert time.monotonic() - t0 < timeout, f"timed out; state={self.source.state.value}"
            self.step(timeout=0.05)
        return time.monotonic() - t0


def test_rtsp_server_killed_three_times_counts_survive(rtsp_server: RtspServer, shared: Path) -> None:
    url = f"rtsp://viewer:{PASSWORD}@127.0.0.1:{rtsp_server.port}/cam"
    source = LiveSource(
        url,
        name="rtsp",
        stall_timeout=STALL_TIMEOUT,
        backoff_initial=BACKOFF_INITIAL,
        backoff_max=BACKOFF_MAX,
    )
    consumer = CountingConsumer(source, shared / "models/yolov8n.onnx")
    recoveries: list[float] = []
    with source:
        consumer.run_until(lambda: source.state is StreamState.RUNNING, timeout=15)
        consumer.run_until(lambda: consumer.total() > 0, timeout=FIRST_COUNT_TIMEOUT)
        consumer.run_for(1.0)
        assert consumer.processed > 5
        totals = [consumer.total()]
        assert totals[0] > 0, f"no crossing before the first outage in {consumer.processed} frames"
        for _ in range(OUTAGES):
            before_counts, before_ids = consumer.snapshot(), set(consumer.ids_seen)
            before_total = consumer.total()
            before_reconnects, before_frames = source.reconnects, source.frames_read
            max_before = max(before_ids, default=0)
            rtsp_server.kill()
            consumer.run_until(lambda: source.state is not StreamState.RUNNING, timeout=STALL_TIMEOUT + 5)
            time.sleep(1.0)  # the camera stays down a while
            rtsp_server.start()
            t_up = time.monotonic()
            consumer.run_until(
                lambda: source.state is StreamState.RUNNING and source.frames_read > before_frames,  # noqa: B023
                timeout=RECOVERY_LIMIT + 1,
            )
            recoveries.append(time.monotonic() - t_up)
            assert source.reconnects > before_reconnects
            new_ids = consumer.run_for(RUN_SECONDS)
            after = consumer.snapshot()  # nothing counted before the outage is lost
            assert all(after.get(k, 0) >= n for k, n in before_counts.items()), (before_counts, after)
            assert consumer.total() >= before_total
            totals.append(consumer.total())
            assert before_ids <= consumer.ids_seen
            fresh = set(new_ids) - before_ids
            assert all(i > max_before for i in fresh), (sorted(fresh), max_before)
        assert source.state is StreamState.RUNNING
    assert source.state is StreamState.STOPPED
    assert len(consumer.ids_seen) > 0, f"no track made in {consumer.processed} frames"
    assert totals == sorted(totals) and totals[0] > 0, totals
    assert max(recoveries) < RECOVERY_LIMIT, recoveries
    assert PASSWORD not in source.safe_url and PASSWORD not in (source.last_error or "")
    print(
        f"recoveries {[round(r, 2) for r in recoveries]} s, reconnects {source.reconnects}, "
        f"processed {consumer.processed}, dropped {source.frames_dropped}, crossings by outage {totals}"
    )
