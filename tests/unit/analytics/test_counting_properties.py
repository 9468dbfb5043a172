"""Hypothesis properties of line and zone counting on random trajectories.

Lines: ``test_lines.py`` checks the properties against one vertical line; here the lines have random
positions and orientations. By default every settled crossing counts, so ``k`` settled alternating
crossings give exactly ``k`` events; with ``once_per_direction=True`` a track counts at most one
``in`` and one ``out`` per line, so they give ``min(k, 2)``. Zones: ``k`` settled transitions give
exactly ``k`` alternating enter/exit events.

*Jitter*, in the line properties, means this precisely: once the track has settled on a side (at
least ``min_frames`` consecutive observations there), it makes excursions to the other side, each a
run of 1 to ``min_frames - 1`` consecutive observations over there, each ended by an observation back
on the settled side or exactly on the line; frames in which the track is missing may fall anywhere
(they neither end nor extend a run). Observations are 2 to 60 px off the line, or on it.

Trajectories are anchor points (bottom centre of a 20x40 box); ``None`` is a frame in which the track
is not detected.
"""

from __future__ import annotations

from collections import Counter as Tally
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import numpy as np
import supervision as sv
from hypothesis import given, settings
from hypothesis import strategies as st

from vtrack.analytics import LineCounter, ZoneCounter
from vtrack.geometry import Line, Polygon
from vtrack.types import CrossingEvent, ZoneEvent

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
Point = tuple[float, float]
Track = list[Point | None]

coord = st.floats(min_value=0, max_value=400, allow_nan=False)
maybe_point = st.one_of(st.none(), st.tuples(coord, coord))


def dets(rows: list[tuple[int, Point, str]]) -> sv.Detections:
    if not rows:
        return sv.Detections(xyxy=np.empty((0, 4), np.float32), tracker_id=np.empty(0, np.int64))
    return sv.Detections(
        xyxy=np.array([[x - 10, y - 40, x + 10, y] for _, (x, y), _ in rows], dtype=np.float64),
        tracker_id=np.array([tid for tid, _, _ in rows], dtype=np.int64),
        data={"class_name": np.array([c for _, _, c in rows])},
    )


Frames = list[list[tuple[int, Point, str]]]


def frames_of(tracks: list[Track], classes: list[str] | None = None) -> Frames:
    """Track ``i`` gets tracker ID ``i + 1`` (with 3 or more tracks the last is unconfirmed, ``-1``)."""
    n = max(len(t) for t in tracks)
    out = []
    for f in range(n):
        rows = []
        for i, t in enumerate(tracks):
            if f < len(t) and t[f] is not None:
                tid = -1 if len(tracks) >= 3 and i == len(tracks) - 1 else i + 1
                rows.append((tid, t[f], classes[i] if classes else "car"))  # type: ignore[arg-type]
        out.append(rows)
    return out


def at(f: int) -> datetime:
    return T0 + timedelta(seconds=f / 10)


# ------------------------------------------------------------------------------------------ lines
@st.composite
def lines(draw: st.DrawFn) -> Line:
    """A line from a random A, in a random direction, 50 to 300 px long."""
    ax, ay = draw(coord), draw(coord)
    angle = draw(st.floats(min_value=0, max_value=2 * np.pi))
    length = draw(st.floats(min_value=50, max_value=300))
    return Line("l", ax, ay, ax + length * np.cos(angle), ay + length * np.sin(angle))


def beside(line: Line, t: float, offset: float) -> Point:
    """The point at fraction ``t`` along A→B, ``offset`` px along the normal (> 0: side +1)."""
    dx, dy = (line.bx - line.ax) / line.length, (line.by - line.ay) / line.length
    return (line.ax + t * (line.bx - line.ax) + offset * dy, line.ay + t * (line.by - line.ay) - offset * dx)


def missing(draw: st.DrawFn) -> list[None]:
    """Usually no missing frame, sometimes one, now and then a gap of up to 12 frames."""
    kind = draw(st.integers(min_value=0, max_value=9))
    return [] if kind < 7 else [None] if kind < 9 else [None] * draw(st.integers(min_value=2, max_value=12))


@st.composite
def settled_path(
    draw: st.DrawFn, line: Line, min_frames: int, sides: list[int], t_range: tuple[float, float] = (0.1, 0.9)
) -> tuple[Track, list[int]]:
    """A track that settles on ``sides[0]``, then ``sides[1]``, …, with jitter after every settled run.

    Each settled run has ``min_frames`` to ``min_frames + 3`` observations at a fraction ``t`` of A→B
    drawn from ``t_range`` (inside the segment by default). Returns the trajectory and the frame at
    which each change of settled side is confirmed: the ``min_frames``-th observation of the new run.
    """
    xs: Track = []
    confirms: list[int] = []

    def observe(side: int) -> None:
        xs.extend(missing(draw))
        t = draw(st.floats(min_value=t_range[0], max_value=t_range[1]))
        offset = 0.0 if side == 0 else side * draw(st.floats(min_value=2.0, max_value=60.0))
        xs.append(beside(line, t, offset))

    for i, side in enumerate(sides):
        for j in range(draw(st.integers(min_value=min_frames, max_value=min_frames + 3))):
            observe(side)
            if i > 0 and j == min_frames - 1:
                confirms.append(len(xs) - 1)
        for _ in range(draw(st.integers(min_value=0, max_value=4)) if min_frames > 1 else 0):
            for _ in range(draw(st.integers(min_value=1, max_value=min_frames - 1))):
                observe(-side)  # the excursion
            for _ in range(draw(st.integers(min_value=1, max_value=2))):
                observe(draw(st.sampled_from([side, 0])))  # back on the settled side, or on the line
        xs.extend(missing(draw))
    return xs, confirms


def direction(from_side: int) -> str:
    return "in" if from_side < 0 else "out"  # -1 → +1 is "in"


def feed(counter: LineCounter, tracks: list[Track]) -> list[CrossingEvent]:
    events: list[CrossingEvent] = []
    for f, rows in enumerate(frames_of(tracks)):
        events.extend(counter.update(dets(rows), f, at(f)))
    return events


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    line=lines(),
    min_frames=st.integers(min_value=1, max_value=5),
    start=st.sampled_from([-1, 1]),
)
def test_line_one_true_crossing_with_jitter_counts_exactly_once(
    data: st.DataObject, line: Line, min_frames: int, start: int
) -> None:
    """(a) Settled on one side, jitter, settled on the other side, jitter back: exactly one event, in
    the direction of the crossing, dated at the ``min_frames``-th observation on the new side."""
    xs, confirms = data.draw(settled_path(line, min_frames, [start, -start]))
    for once in (False, True):
        events = feed(LineCounter([line], min_frames=min_frames, once_per_direction=once), [xs])
        assert [(e.direction, e.frame, e.track_id) for e in events] == [(direction(start), confirms[0], 1)]


@st.composite
def jittering_tracks(draw: st.DrawFn) -> tuple[Line, int, list[tuple[int, bool, int]], list[Track]]:
    """1 to 4 tracks, each settling on its start side, then at most once on the far side (and maybe
    back), with jitter throughout; some pass beside the segment (``t`` from -0.5 to 1.5).

    ``meta`` holds, per track: its start side, whether it stays inside the segment, and its number of
    changes of settled side (0 to 2)."""
    line = draw(lines())
    min_frames = draw(st.integers(min_value=1, max_value=4))
    meta: list[tuple[int, bool, int]] = []
    tracks: list[Track] = []
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        start = draw(st.sampled_from([-1, 1]))
        inside = draw(st.booleans())
        sides = [start, -start, start][: draw(st.integers(min_value=1, max_value=3))]
        xs, _ = draw(settled_path(line, min_frames, sides, (0.1, 0.9) if inside else (-0.5, 1.5)))
        meta.append((start, inside, len(sides) - 1))
        tracks.append(xs)
    return line, min_frames, meta, tracks


@settings(max_examples=200, deadline=None)
@given(case=jittering_tracks())
def test_line_jitter_never_counts_twice_per_track_and_direction(
    case: tuple[Line, int, list[tuple[int, bool, int]], list[Track]],
) -> None:
    """(b) Jittering tracks that settle on the far side at most once count at most once per track and
    direction, away from the start side first; every settled crossing inside the segment counts."""
    line, min_frames, meta, tracks = case
    events = feed(LineCounter([line], min_frames=min_frames), tracks)
    assert all(n == 1 for n in Tally((e.track_id, e.direction) for e in events).values())
    assert all(e.track_id > 0 for e in events)  # with 3 or more tracks the last is unconfirmed
    for i, (start, inside, n_changes) in enumerate(meta):
        if len(tracks) >= 3 and i == len(tracks) - 1:
            continue
        got = [e.direction for e in events if e.track_id == i + 1]
        plan = [direction(start), direction(-start)]
        assert got in ([plan[0]], [plan[1]], plan, [])
        if inside:
            assert got == plan[: n_changes]


@st.composite
def settled_crossings(draw: st.DrawFn) -> tuple[Line, int, int, int, Track, list[int]]:
    """``k`` alternating crossings of a random line inside its segment, jitter after each."""
    line = draw(lines())
    min_frames = draw(st.integers(min_value=1, max_value=4))
    k = draw(st.integers(min_value=0, max_value=6))
    start = draw(st.sampled_from([-1, 1]))
    xs, confirms = draw(settled_path(line, min_frames, [start * (-1) ** i for i in range(k + 1)]))
    return line, min_frames, k, start, xs, confirms


@settings(max_examples=200, deadline=None)
@given(case=settled_crossings())
def test_line_k_settled_crossings_count_exactly_k(case: tuple[Line, int, int, int, Track, list[int]]) -> None:
    """(c) ``k`` settled alternating crossings: exactly ``k`` events, alternating, one per confirmation."""
    line, min_frames, k, start, xs, confirms = case
    counter = LineCounter([line], min_frames=min_frames)
    events = feed(counter, [xs])
    assert [(e.direction, e.frame) for e in events] == [
        (direction(start * (-1) ** i), confirms[i]) for i in range(k)
    ]
    per = counter.counts["l"].get("car", {"in": 0, "out": 0})
    assert per[direction(start)] == (k + 1) // 2 and per[direction(-start)] == k // 2


@settings(max_examples=200, deadline=None)
@given(case=settled_crossings())
def test_line_once_per_direction_k_settled_crossings_count_min_k_2(
    case: tuple[Line, int, int, int, Track, list[int]],
) -> None:
    """(d) With ``once_per_direction``, ``k`` settled alternating crossings count the first two."""
    line, min_frames, k, start, xs, confirms = case
    events = feed(LineCounter([line], min_frames=min_frames, once_per_direction=True), [xs])
    assert [(e.direction, e.frame) for e in events] == [
        (direction(start * (-1) ** i), confirms[i]) for i in range(min(k, 2))
    ]


@settings(max_examples=150, deadline=None)
@given(
    line=lines(),
    tracks=st.lists(st.lists(maybe_point, min_size=1, max_size=40), min_size=1, max_size=4),
    min_frames=st.integers(min_value=1, max_value=4),
)
def test_line_once_per_direction_random_trajectories_count_at_most_once(
    line: Line, tracks: list[Track], min_frames: int
) -> None:
    """(d) With ``once_per_direction``, fully random trajectories (points anywhere, missing frames)
    count at most once per track and direction. By default the same trajectories may count more
    often, but one track's events are at least ``min_frames`` frames apart."""
    events = feed(LineCounter([line], min_frames=min_frames, once_per_direction=True), tracks)
    assert all(n == 1 for n in Tally((e.track_id, e.direction) for e in events).values())
    assert all(e.track_id > 0 for e in events)  # unconfirmed rows never count
    every = feed(LineCounter([line], min_frames=min_frames), tracks)
    for tid in {e.track_id for e in every}:
        frames = [e.frame for e in every if e.track_id == tid]
        assert all(b - a >= min_frames for a, b in pairwise(frames))


# ------------------------------------------------------------------------------------------ zones
polygons = st.lists(st.tuples(coord, coord), min_size=3, max_size=6).map(lambda p: Polygon("z", tuple(p)))
SQUARE = Polygon("sq", ((100, 100), (300, 100), (300, 300), (100, 300)))


def check_zone_invariants(counter: ZoneCounter, frames: Frames) -> list[ZoneEvent]:
    """Feed ``frames``, checking after every frame: per (track, zone) events alternate from ``enter``,
    occupancy is never negative and equals entries - exits of present tracks per zone × class, and
    every dwell is the time since that track's entry."""
    present: dict[tuple[int, str], ZoneEvent] = {}  # (track, zone) → its enter event
    all_events: list[ZoneEvent] = []
    idle = len(frames) + counter.max_track_age_frames + 1  # enough empty frames to expire everyone
    for f, rows in enumerate([*frames, *[[]] * idle]):
        for e in counter.update(dets(rows), f, at(f)):
            key = (e.track_id, e.zone)
            assert e.track_id > 0
            assert e.frame <= f
            if e.kind == "enter":
                assert key not in present, "two enters without an exit"
                assert e.dwell_seconds is None
                present[key] = e
            else:
                entered = present.pop(key)  # KeyError: an exit without an enter
                assert e.class_name == entered.class_name
                assert e.dwell_seconds is not None
                assert e.dwell_seconds == (e.time - entered.time).total_seconds() >= 0
            all_events.append(e)
        occupancy = counter.occupancy
        expected = Tally((z, ev.class_name) for (_, z), ev in present.items())
        assert all(n >= 0 for per in occupancy.values() for n in per.values())
        assert {(z, c): n for z, per in occupancy.items() for c, n in per.items() if n} == dict(expected)
        totals = counter.totals
        for (z, c), n in expected.items():
            assert totals[z][c]["entries"] - totals[z][c]["exits"] == n
    assert not present and counter.active_tracks == 0  # every track left or expired in the end
    return all_events


@settings(max_examples=150, deadline=None)
@given(
    zones=st.lists(polygons, min_size=1, max_size=3),
    tracks=st.lists(st.lists(maybe_point, min_size=1, max_size=40), min_size=1, max_size=4),
    classes=st.lists(st.sampled_from(["car", "person"]), min_size=4, max_size=4),
    min_frames=st.integers(min_value=1, max_value=4),
    max_age=st.integers(min_value=1, max_value=8),
)
def test_zone_random_trajectories_alternate_and_balance(
    zones: list[Polygon], tracks: list[Track], classes: list[str], min_frames: int, max_age: int
) -> None:
    zones = [Polygon(f"z{i}", z.points) for i, z in enumerate(zones)]
    counter = ZoneCounter(zones, min_frames=min_frames, max_track_age_frames=max_age)
    check_zone_invariants(counter, frames_of(tracks, classes))


@st.composite
def edge_jitter(draw: st.DrawFn) -> tuple[int, bool, Track]:
    """A track settled on one side of the square's left edge, then jittering across it in runs
    shorter than ``min_frames`` (missing frames sprinkled in)."""
    min_frames = draw(st.integers(min_value=2, max_value=5))
    settled_inside = draw(st.booleans())
    y = draw(st.floats(min_value=110, max_value=290))
    inside_x = st.floats(min_value=100.5, max_value=104)
    outside_x = st.floats(min_value=96, max_value=99.5)
    xs: Track = [(draw(inside_x if settled_inside else outside_x), y) for _ in range(min_frames)]
    inside = not settled_inside
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        for _ in range(draw(st.integers(min_value=1, max_value=min_frames - 1))):
            xs.append((draw(inside_x if inside else outside_x), y))
            if draw(st.integers(min_value=0, max_value=3)) == 0:
                xs.append(None)
        inside = not inside
    return min_frames, settled_inside, xs


@settings(max_examples=150, deadline=None)
@given(case=edge_jitter())
def test_zone_jitter_across_the_edge_makes_no_events(case: tuple[int, bool, Track]) -> None:
    min_frames, settled_inside, xs = case
    counter = ZoneCounter([SQUARE], min_frames=min_frames, max_track_age_frames=10_000)
    events: list[ZoneEvent] = []
    for f, rows in enumerate(frames_of([xs])):
        events.extend(counter.update(dets(rows), f, at(f)))
    assert [(e.kind, e.frame) for e in events] == ([("enter", min_frames - 1)] if settled_inside else [])
    assert counter.occupancy["sq"].get("car", 0) == int(settled_inside)


@st.composite
def settled_visits(draw: st.DrawFn) -> tuple[int, int, bool, Track]:
    """``k`` transitions in/out of the square, every run ≥ ``min_frames`` observations."""
    min_frames = draw(st.integers(min_value=1, max_value=4))
    k = draw(st.integers(min_value=0, max_value=7))
    inside = draw(st.booleans())
    start_inside = inside
    inner = st.tuples(st.floats(min_value=110, max_value=290), st.floats(min_value=110, max_value=290))
    outer = st.tuples(st.floats(min_value=0, max_value=90), st.floats(min_value=0, max_value=400))
    xs: Track = []
    for _ in range(k + 1):
        for _ in range(draw(st.integers(min_value=min_frames, max_value=min_frames + 3))):
            xs.append(draw(inner if inside else outer))
            if draw(st.integers(min_value=0, max_value=4)) == 0:
                xs.append(None)
        inside = not inside
    return min_frames, k, start_inside, xs


@settings(max_examples=150, deadline=None)
@given(case=settled_visits())
def test_zone_k_settled_transitions_give_k_alternating_events(case: tuple[int, int, bool, Track]) -> None:
    min_frames, k, start_inside, xs = case
    counter = ZoneCounter([SQUARE], min_frames=min_frames, max_track_age_frames=10_000)
    events: list[ZoneEvent] = []
    for f, rows in enumerate(frames_of([xs])):
        events.extend(counter.update(dets(rows), f, at(f)))
    # A track first seen inside enters; every later settled transition is one event.
    expected = k + 1 if start_inside else k
    assert [e.kind for e in events] == ["enter", "exit"] * (expected // 2) + ["enter"] * (expected % 2)
    totals = counter.totals["sq"].get("car", {"entries": 0, "exits": 0})
    assert (totals["entries"], totals["exits"]) == ((expected + 1) // 2, expected // 2)
