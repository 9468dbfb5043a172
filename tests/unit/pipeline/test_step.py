"""FrameStep: the one place a frame is gated, tracked and counted, and what its FrameResult carries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import supervision as sv

from vtrack.analytics.composite import CounterSet
from vtrack.analytics.lines import LineCounter
from vtrack.analytics.zones import ZoneCounter
from vtrack.geometry import Line, Polygon
from vtrack.pipeline.step import FrameStep, keep_classes
from vtrack.trackers.base import GivenIds
from vtrack.types import Frame

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
IMAGE = np.zeros((200, 300, 3), np.uint8)


def rows(xs: list[float], classes: list[str], ids: list[int] | None = None) -> sv.Detections:
    """One 20×20 box per x (centre), at y 90..110; ``data["class_name"]`` from ``classes``."""
    return sv.Detections(
        xyxy=np.array([[x - 10, 90, x + 10, 110] for x in xs], np.float32).reshape(-1, 4),
        confidence=np.full(len(xs), 0.9, np.float32),
        class_id=np.zeros(len(xs), int),
        tracker_id=None if ids is None else np.array(ids),
        data={"class_name": np.array(classes)},
    )


@pytest.mark.parametrize(
    ("classes", "given", "kept"),
    [
        (None, ["car", "person"], ["car", "person"]),
        (["person"], ["car", "person"], ["person"]),
        (["bus"], ["car", "person"], []),
        (["person"], [], []),
    ],
)
def test_keep_classes(classes: list[str] | None, given: list[str], kept: list[str]) -> None:
    det = rows([50.0 + 40 * i for i in range(len(given))], given)
    assert keep_classes(det, classes).data.get("class_name", np.array([])).tolist() == kept


def test_result_carries_crossings_zone_events_and_occupancy() -> None:
    """A track walking right over a line and into a zone: every figure arrives in the FrameResult."""
    counters = CounterSet(
        LineCounter([Line("mid", 150, 0, 150, 200)], min_frames=2),
        ZoneCounter([Polygon("east", ((200, 0), (300, 0), (300, 200), (200, 200)))], min_frames=2),
    )
    step = FrameStep(GivenIds(), counters, classes=["person"])
    results = []
    for i, x in enumerate(range(100, 280, 20)):
        det = rows([float(x), 20.0], ["person", "car"], ids=[7, 8])
        results.append(step(Frame(IMAGE, i, i / 10), det, time=T0 + timedelta(seconds=i / 10)))
    assert all(r.detections.data["class_name"].tolist() == ["person"] for r in results)  # the car is gated
    crossings = [(r.frame.index, e.direction) for r in results for e in r.events]
    assert len(crossings) == 1
    entries = [(r.frame.index, e.kind) for r in results for e in r.zone_events]
    assert [k for _, k in entries] == ["enter"]
    assert results[-1].occupancy == {"east": {"person": 1}}
    assert results[0].occupancy == {"east": {}}
    assert step.times.track > 0 and step.times.count > 0


def test_without_counters_the_result_has_no_zone_figures() -> None:
    step = FrameStep(GivenIds())
    r = step(Frame(IMAGE, 3, 0.1), rows([50.0], ["car"], ids=[1]), time=T0)
    assert r.events == [] and r.zone_events == [] and r.occupancy is None and r.blur is None
    assert r.detected and r.time == T0


def test_index_defaults_to_the_frame_index_and_can_be_given() -> None:
    """Live streams count source frames since they started, not the source's own index."""
    seen: list[int] = []

    class Spy(CounterSet):
        def update(self, detections, frame_index, time):  # type: ignore[no-untyped-def]
            seen.append(frame_index)
            return []

    step = FrameStep(GivenIds(), Spy(None, None))
    step(Frame(IMAGE, 5, 0.2), rows([], []), time=T0)
    step(Frame(IMAGE, 0, 0.0), rows([], []), time=T0, index=42)
    assert seen == [5, 42]
