"""The composition: counters and steps built the same way for run and serve."""

from __future__ import annotations

import pytest

from vtrack.analytics.lines import DEFAULT_MAX_TRACK_AGE_FRAMES
from vtrack.config import CountingConfig, StreamConfig, TrackerConfig
from vtrack.pipeline.compose import build_counters, build_step

COUNTING = CountingConfig.model_validate(
    {
        "lines": [{"name": "gate", "points": [0.5, 0.0, 0.5, 1.0]}],
        "zones": [{"name": "lot", "points": [[0, 0], [0.5, 0], [0.5, 0.5]]}],
        "min_frames": 3,
    }
)


def test_no_lines_and_no_zones_means_no_counters() -> None:
    assert build_counters(
        CountingConfig(), classes=None, width=640, height=480, native_fps=30, stride=1, lost_track_seconds=1
    ) is None


def test_lines_and_zones_are_resolved_to_the_frame_and_keep_their_rules() -> None:
    c = build_counters(
        COUNTING, classes=["person"], width=640, height=480, native_fps=30, stride=3, lost_track_seconds=20
    )
    assert c is not None and c.lines is not None and c.zones is not None
    (line,) = c.lines.lines
    assert (line.ax, line.ay, line.bx, line.by) == (320, 0, 320, 480)
    assert c.lines.min_frames == 3 and c.zones.min_frames == 3
    # state outlives the tracker's lost buffer: 2 × 20 s × 30 fps + one stride of source frames
    assert c.lines.max_track_age_frames == max(DEFAULT_MAX_TRACK_AGE_FRAMES, 1203)
    assert c.zones.max_track_age_frames == 20 * 30 + 3


@pytest.mark.parametrize(
    ("native", "fps", "stride"), [(30.0, 30.0, 1), (30.0, 10.0, 3), (25.0, 5.0, 5), (30, 7, 5)]
)
def test_a_live_cap_is_a_stride(native: float, fps: float, stride: int) -> None:
    """serve's ``max_fps`` and run's ``--stride`` give the counters the same source-frame stride."""
    step = build_step(
        TrackerConfig(lost_track_seconds=1.0), COUNTING, classes=None, width=640, height=480,
        native_fps=native, fps=fps,
    )
    assert step.counters is not None and step.counters.zones is not None
    assert step.counters.zones.max_track_age_frames == int(native) + stride


def test_a_stream_takes_the_run_counting_config_nested_or_flat() -> None:
    nested = StreamConfig.model_validate({"id": "a", "source": "x", "counting": COUNTING.model_dump()})
    flat = StreamConfig.model_validate({"id": "a", "source": "x", **COUNTING.model_dump()})
    assert nested.counting == flat.counting == COUNTING
    with pytest.raises(ValueError, match="either in the stream or under 'counting:'"):
        StreamConfig.model_validate({"id": "a", "source": "x", "lines": [], "counting": {}})
