"""Factories for exporter tests: synthetic frames, hand-built detections and crossing events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import supervision as sv

from vtrack.types import CrossingEvent, Frame, FrameResult

T0 = datetime(2024, 5, 1, 12, 58, 0, tzinfo=timezone(timedelta(hours=2)))
BG = 40  # grey level of synthetic frames


def make_detections(
    boxes: Sequence[Sequence[float]],
    ids: Sequence[int] | None = None,
    *,
    classes: Sequence[str] | None = None,
    conf: Sequence[float] | None = None,
    masks: np.ndarray | None = None,
) -> sv.Detections:
    """Detections with ``xyxy`` ``(N, 4)`` float32, ``tracker_id`` ``(N,)`` int, ``class_name`` data."""
    n = len(boxes)
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    return sv.Detections(
        xyxy=xyxy,
        confidence=np.asarray(conf if conf is not None else [0.9] * n, dtype=np.float32),
        class_id=np.zeros(n, dtype=int),
        tracker_id=None if ids is None else np.asarray(ids, dtype=int),
        mask=masks,
        data={"class_name": np.asarray(classes if classes is not None else ["car"] * n)},
    )


def make_result(
    det: sv.Detections | None = None,
    *,
    index: int = 0,
    width: int = 320,
    height: int = 240,
    events: list[CrossingEvent] | None = None,
    image: np.ndarray | None = None,
) -> FrameResult:
    """A result on a flat grey ``(height, width, 3)`` uint8 frame."""
    img = image if image is not None else np.full((height, width, 3), BG, dtype=np.uint8)
    return FrameResult(
        frame=Frame(img, index, index / 30.0),
        detections=det if det is not None else sv.Detections.empty(),
        events=events or [],
        time=T0 + timedelta(seconds=index / 30.0),
    )


def make_event(
    minutes: float = 0.0, *, line: str = "gate", cls: str = "car", direction: str = "in", track: int = 1
) -> CrossingEvent:
    return CrossingEvent(
        time=T0 + timedelta(minutes=minutes),
        frame=int(minutes * 60 * 30),
        track_id=track,
        class_name=cls,
        line=line,
        direction=direction,  # type: ignore[arg-type]
    )


@pytest.fixture
def detections() -> Callable[..., sv.Detections]:
    return make_detections


@pytest.fixture
def result() -> Callable[..., FrameResult]:
    return make_result


@pytest.fixture
def event() -> Callable[..., CrossingEvent]:
    return make_event
