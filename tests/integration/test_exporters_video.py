"""Re-encode the first 60 frames of a real clip with drawn (fake) tracks and check the MP4 with PyAV."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import av
import numpy as np
import pytest
import supervision as sv

from vtrack.analytics.aggregate import HourlyCounts
from vtrack.exporters import (
    AnnotatedVideoExporter,
    EventsJsonlExporter,
    FrameAnnotator,
    MotTracksExporter,
    track_color,
)
from vtrack.geometry import Line
from vtrack.types import CrossingEvent, Frame, FrameResult

pytestmark = pytest.mark.assets

CLIP = "media/video/bicycle_tracking_sample.mp4"
N_FRAMES = 60
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)


def fake_detections(i: int) -> sv.Detections:
    """Two tracks moving right and one unconfirmed box, in 1280x720 pixels."""
    xyxy = np.array(
        [[100 + 8 * i, 300, 220 + 8 * i, 500], [900 - 5 * i, 200, 980 - 5 * i, 330], [600, 50, 660, 120]],
        dtype=np.float32,
    )
    return sv.Detections(
        xyxy=xyxy,
        confidence=np.array([0.9, 0.8, 0.4], dtype=np.float32),
        class_id=np.array([1, 1, 0]),
        tracker_id=np.array([1, 2, -1]),
        data={"class_name": np.array(["bicycle", "bicycle", "person"])},
    )


def test_reencode_with_annotations(shared, tmp_path):
    src = shared / CLIP
    line = Line("road", 640, 100, 640, 700)
    counts = HourlyCounts()
    out = tmp_path / "annotated.mp4"
    with av.open(str(src)) as c:
        stream = c.streams.video[0]
        rate = stream.average_rate
        width, height = stream.codec_context.width, stream.codec_context.height
        exporter = AnnotatedVideoExporter(out, FrameAnnotator([line]), counts.totals, rate, width, height)
        events_out = EventsJsonlExporter(tmp_path / "events.jsonl")
        mot_out = MotTracksExporter(tmp_path / "tracks.txt")
        try:
            for i, vf in enumerate(c.decode(video=0)):
                if i == N_FRAMES:
                    break
                frame = Frame(vf.to_ndarray(format="bgr24"), i, float(vf.time or 0.0))
                events = []
                if i == 30:  # pretend the counter confirmed a crossing here
                    events.append(CrossingEvent(T0 + timedelta(seconds=1), i, 1, "bicycle", "road", "in"))
                for e in events:
                    counts.add(e)
                result = FrameResult(frame, fake_detections(i), events, T0 + timedelta(seconds=frame.pts))
                for ex in (exporter, events_out, mot_out):
                    ex.write(result)
        finally:
            for ex in (exporter, events_out, mot_out):
                ex.close()

    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        assert s.codec_context.pix_fmt == "yuv420p"
        assert (s.codec_context.width, s.codec_context.height) == (width, height)
        assert s.average_rate == rate
        assert s.frames == N_FRAMES
        decoded = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(decoded) == N_FRAMES
    # the left edge of track 1's box in the last frame carries its colour (lossy: loose tolerance)
    x = 100 + 8 * (N_FRAMES - 1)
    edge = decoded[-1][350:450, x].astype(int).mean(axis=0)
    assert np.abs(edge - np.array(track_color(1))).max() < 40, edge
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 1
    assert len((tmp_path / "tracks.txt").read_text().splitlines()) == 2 * N_FRAMES
