"""Tracker + line counter end to end on scripted scenes, two streams interleaved in one process.

No assets needed: detections are synthesised (noisy boxes, missed frames) so the expected counts are
known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import supervision as sv

from vtrack.analytics import LineCounter
from vtrack.geometry import Line
from vtrack.trackers import DEFAULT_TRACKER, TRACKERS, make_tracker
from vtrack.types import CrossingEvent

FPS = 15.0
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
LINE = Line("door", 320, 40, 320, 440)  # vertical, drawn top→bottom: left→right is "in"
CLASSES = {0: "person", 1: "bicycle"}


@dataclass(frozen=True)
class Walker:
    """An object walking horizontally at constant speed from ``x0`` (box centre), ``start``-th frame on."""

    start: int
    x0: float
    y: float
    vx: float
    cls: int
    frames: int = 60
    missed: tuple[int, ...] = ()  # frames (relative) without a detection

    def box(self, f: int) -> list[float] | None:
        k = f - self.start
        if k < 0 or k >= self.frames or k in self.missed:
            return None
        x = self.x0 + self.vx * k
        w, h = (30.0, 80.0) if self.cls == 0 else (60.0, 50.0)
        return [x - w / 2, self.y - h, x + w / 2, self.y]


def scene(walkers: list[Walker], n_frames: int, seed: int) -> list[sv.Detections]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(n_frames):
        rows = [(w.box(f), w.cls) for w in walkers]
        rows = [(b, c) for b, c in rows if b is not None]
        rng.shuffle(rows)  # type: ignore[arg-type]
        xyxy = np.array([b for b, _ in rows], dtype=np.float32).reshape(-1, 4)
        xyxy += rng.normal(0.0, 1.0, xyxy.shape).astype(np.float32)
        cls = np.array([c for _, c in rows], dtype=np.int64)
        out.append(
            sv.Detections(
                xyxy=xyxy,
                confidence=rng.uniform(0.7, 0.95, len(rows)).astype(np.float32),
                class_id=cls,
                data={"class_name": np.array([CLASSES[c] for c in cls.tolist()], dtype="<U8")},
            )
        )
    return out


STREAM_A = [  # three people walking in, one of them missed by the detector for 6 frames at the line
    Walker(0, 150, 200, 8.0, 0),
    Walker(5, 150, 300, 7.0, 0, missed=tuple(range(20, 26))),
    Walker(10, 100, 420, 9.0, 0),
]
STREAM_B = [  # two people walking out, a bicycle riding in
    Walker(0, 500, 150, -8.0, 0),
    Walker(8, 520, 320, -9.0, 0),
    Walker(3, 100, 250, 12.0, 1, frames=40),
]


def run_solo(
    walkers: list[Walker], seed: int, n: int = 90, tracker_name: str = DEFAULT_TRACKER
) -> list[CrossingEvent]:
    tracker, counter = make_tracker(tracker_name, fps=FPS), LineCounter([LINE])
    events = []
    for f, d in enumerate(scene(walkers, n, seed)):
        events += counter.update(tracker.update(d), f, T0 + timedelta(seconds=f / FPS))
    return events


def summary(events: list[CrossingEvent]) -> list[tuple[str, str]]:
    return sorted((e.class_name, e.direction) for e in events)


@pytest.mark.parametrize(
    ("walkers", "seed", "expected"),
    [
        (STREAM_A, 1, [("person", "in")] * 3),
        (STREAM_B, 2, [("bicycle", "in"), ("person", "out"), ("person", "out")]),
    ],
)
def test_scripted_scene_counts(walkers: list[Walker], seed: int, expected: list[tuple[str, str]]) -> None:
    events = run_solo(walkers, seed)
    assert summary(events) == expected
    assert len({e.track_id for e in events}) == len(expected)


@pytest.mark.parametrize("tracker_name", sorted(TRACKERS))
def test_two_streams_interleaved_do_not_interfere(tracker_name: str) -> None:
    n = 90
    scenes = {"a": scene(STREAM_A, n, 1), "b": scene(STREAM_B, n, 2)}
    trackers = {k: make_tracker(tracker_name, fps=FPS) for k in scenes}
    counters = {k: LineCounter([LINE]) for k in scenes}
    events: dict[str, list[CrossingEvent]] = {k: [] for k in scenes}
    for f in range(n):
        for k in ("b", "a") if f % 2 else ("a", "b"):
            t = T0 + timedelta(seconds=f / FPS)
            events[k] += counters[k].update(trackers[k].update(scenes[k][f]), f, t)

    assert events["a"] == run_solo(STREAM_A, 1, n, tracker_name)
    assert events["b"] == run_solo(STREAM_B, 2, n, tracker_name)
    # Each stream numbers its own tracks from 1.
    for k in scenes:
        assert min(e.track_id for e in events[k]) == 1
    assert counters["a"].counts == {"door": {"person": {"in": 3, "out": 0}}}
    assert counters["b"].counts == {"door": {"person": {"in": 0, "out": 2}, "bicycle": {"in": 1, "out": 0}}}
