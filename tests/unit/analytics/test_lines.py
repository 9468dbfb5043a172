"""LineCounter: scripted trajectories (table-driven) and hypothesis properties.

Geometry of the scripts: the line ``door`` runs from A=(100, 0) down to B=(100, 200). Walking from A
to B on screen, the left hand points to screen-right, so x > 100 is side +1 and moving left→right
(-1 → +1) is ``in``. Trajectories give the anchor (bottom centre) x per frame; ``None`` is a frame in
which the track is not detected.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from itertools import pairwise

import numpy as np
import pytest
import supervision as sv
from hypothesis import given, settings
from hypothesis import strategies as st

from vtrack.analytics import Counter, LineCounter
from vtrack.errors import ConfigError
from vtrack.geometry import Anchor, Line
from vtrack.types import CrossingEvent

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
DOOR = Line("door", 100, 0, 100, 200)
Y_IN = 100.0  # inside the segment's extent
Y_OUT = 300.0  # beyond B: crossings there pass the line's extension
HALF_W, H = 10.0, 40.0

Row = tuple[int, float, float, str]  # (tracker_id, anchor x, anchor y, class)


def dets(rows: list[Row]) -> sv.Detections:
    """Detections factory: boxes whose bottom centre is at (x, y)."""
    if not rows:
        return sv.Detections(
            xyxy=np.empty((0, 4), np.float32),
            tracker_id=np.empty(0, np.int64),
            data={"class_name": np.empty(0, dtype="<U8")},
        )
    xyxy = np.array([[x - HALF_W, y - H, x + HALF_W, y] for _, x, y, _ in rows], dtype=np.float32)
    return sv.Detections(
        xyxy=xyxy,
        confidence=np.full(len(rows), 0.9, np.float32),
        class_id=np.zeros(len(rows), np.int64),
        tracker_id=np.array([r[0] for r in rows], dtype=np.int64),
        data={"class_name": np.array([r[3] for r in rows])},
    )


def script(
    xs: Sequence[float | None], *, tid: int = 1, y: float = Y_IN, cls: str = "person"
) -> list[list[Row]]:
    """One track following ``xs`` (``None``: missing that frame)."""
    return [[] if x is None else [(tid, float(x), y, cls)] for x in xs]


def merge(*scripts: list[list[Row]]) -> list[list[Row]]:
    n = max(len(s) for s in scripts)
    return [[r for s in scripts if f < len(s) for r in s[f]] for f in range(n)]


def run(counter: LineCounter, frames: list[list[Row]], start: int = 0) -> list[CrossingEvent]:
    events = []
    for f, rows in enumerate(frames, start=start):
        events.extend(counter.update(dets(rows), f, T0 + timedelta(seconds=f / 10)))
    return events


def in_out(events: list[CrossingEvent]) -> tuple[int, int]:
    return sum(e.direction == "in" for e in events), sum(e.direction == "out" for e in events)


LEFT = [50, 60, 70, 80, 90]
RIGHT = [110, 120, 130, 140, 150]


# ---------------------------------------------------------------------------------------- table
BACK_AND_FORTH = LEFT + RIGHT + LEFT[::-1] + RIGHT  # in, out, in


@pytest.mark.parametrize(
    ("xs", "y", "expected", "expected_once"),
    [
        pytest.param(LEFT + RIGHT, Y_IN, (1, 0), (1, 0), id="crossing-in"),
        pytest.param(RIGHT[::-1] + LEFT[::-1], Y_IN, (0, 1), (0, 1), id="crossing-out"),
        pytest.param(
            [*LEFT, 99, 101, 99, 101, 100, 100, 101, 99, 100, 101, 99, 90, 80],
            Y_IN,
            (0, 0),
            (0, 0),
            id="jitter-on-line-never-counts",
        ),
        pytest.param([*LEFT, 110, 90, 80, 70], Y_IN, (0, 0), (0, 0), id="one-frame-excursion-no-count"),
        pytest.param([*LEFT, 110, 100, 120, 80], Y_IN, (0, 0), (0, 0), id="on-line-breaks-the-run"),
        pytest.param(
            [*LEFT, 110, 120, 90, 130, 140, 80, 130], Y_IN, (1, 0), (1, 0), id="crossing-then-jitter-back"
        ),
        pytest.param([*LEFT, *[None] * 20, 130, 140], Y_IN, (1, 0), (1, 0), id="lost-and-found-counts-once"),
        pytest.param(
            [*LEFT, None, 120, None, None, 130, None, 140],
            Y_IN,
            (1, 0),
            (1, 0),
            id="missing-frames-do-not-break-the-run",
        ),
        pytest.param(LEFT + RIGHT, Y_OUT, (0, 0), (0, 0), id="outside-segment-no-count"),
        pytest.param(LEFT + RIGHT, 200 + 3.0, (1, 0), (1, 0), id="just-past-B-within-margin"),
        pytest.param(LEFT + RIGHT, -20.0, (0, 0), (0, 0), id="before-A-no-count"),
        pytest.param(LEFT + RIGHT + LEFT[::-1], Y_IN, (1, 1), (1, 1), id="in-then-out"),
        pytest.param(BACK_AND_FORTH, Y_IN, (2, 1), (1, 1), id="in-out-in"),
        pytest.param((LEFT + RIGHT) * 4, Y_IN, (4, 3), (1, 1), id="seven-crossings"),
        pytest.param(
            [*LEFT, 110, 120, 90, 80, 110, 120, 90, 80], Y_IN, (2, 2), (1, 1), id="shortest-back-and-forth"
        ),
        pytest.param(
            [110, 90, 80, 70, 60], Y_IN, (0, 0), (0, 0), id="unsettled-first-side-is-not-a-crossing"
        ),
        pytest.param([90, 110, 120], Y_IN, (0, 0), (0, 0), id="first-side-needs-min-frames"),
        pytest.param([90, 80, 110, 120], Y_IN, (1, 0), (1, 0), id="shortest-crossing"),
    ],
)
@pytest.mark.parametrize("once", [False, True], ids=["every-crossing", "once-per-direction"])
def test_scripted_trajectories(
    xs: list[float | None], y: float, expected: tuple[int, int], expected_once: tuple[int, int], once: bool
) -> None:
    counter = LineCounter([DOOR], once_per_direction=once)
    events = run(counter, script(xs, y=y))
    want = expected_once if once else expected
    assert in_out(events) == want
    totals = counter.counts["door"].get("person", {"in": 0, "out": 0})
    assert (totals["in"], totals["out"]) == want


@pytest.mark.parametrize(
    ("once", "expected"),
    [(False, [(6, "in"), (11, "out"), (16, "in")]), (True, [(6, "in"), (11, "out")])],
)
def test_repeat_crossings_dated_at_each_confirmation(once: bool, expected: list[tuple[int, str]]) -> None:
    """Each crossing is confirmed at the second observation on its new side (frames 6, 11, 16)."""
    events = run(LineCounter([DOOR], once_per_direction=once), script(BACK_AND_FORTH))
    assert [(e.frame, e.direction) for e in events] == expected


def test_repeat_crossing_beyond_segment_moves_the_side_without_counting() -> None:
    """In inside the segment, out past B (no count), in again inside: two ``in`` events."""
    frames = script(LEFT + RIGHT) + script(RIGHT[::-1] + LEFT[::-1], y=Y_OUT) + script(RIGHT)
    events = run(LineCounter([DOOR]), frames)
    assert [e.direction for e in events] == ["in", "in"]


def test_path_crossing_segment_diagonally_counts_by_crossing_point() -> None:
    """Both observed points are beyond B's y, but the path between them passes inside the segment."""
    counter = LineCounter([DOOR])
    frames = [
        [(1, 60.0, 150.0, "person")],
        [(1, 70.0, 160.0, "person")],
        [(1, 130.0, 260.0, "person")],
        [(1, 140.0, 270.0, "person")],
    ]
    assert in_out(run(counter, frames)) == (0, 0)  # crosses x=100 at y≈210: past B + margin
    counter = LineCounter([DOOR])
    frames = [
        [(1, 60.0, 150.0, "person")],
        [(1, 70.0, 160.0, "person")],
        [(1, 130.0, 220.0, "person")],
        [(1, 140.0, 230.0, "person")],
    ]
    assert in_out(run(counter, frames)) == (1, 0)  # crosses at y≈180: inside


@pytest.mark.parametrize("min_frames", [1, 2, 3, 5])
def test_event_frame_is_confirmation_frame(min_frames: int) -> None:
    counter = LineCounter([DOOR], min_frames=min_frames)
    xs = [80.0] * min_frames + [120.0] * min_frames
    events = run(counter, script(xs), start=1000)
    assert len(events) == 1
    ev = events[0]
    confirm = 1000 + 2 * min_frames - 1
    assert (ev.frame, ev.time, ev.track_id, ev.line, ev.class_name, ev.direction) == (
        confirm,
        T0 + timedelta(seconds=confirm / 10),
        1,
        "door",
        "person",
        "in",
    )


def test_unconfirmed_rows_never_count() -> None:
    counter = LineCounter([DOOR])
    assert run(counter, script(LEFT + RIGHT, tid=-1)) == []
    assert counter.active_tracks == 0


def test_track_confirmed_after_crossing_does_not_count() -> None:
    frames = script(LEFT, tid=-1) + script(RIGHT, tid=7)
    assert run(LineCounter([DOOR]), frames) == []


def test_detections_without_tracker_id_count_nothing() -> None:
    d = dets([(1, 50.0, Y_IN, "person")])
    d.tracker_id = None
    assert LineCounter([DOOR]).update(d, 0, T0) == []


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        (None, {"person": {"in": 1, "out": 0}, "bicycle": {"in": 1, "out": 0}}),
        ({"bicycle"}, {"bicycle": {"in": 1, "out": 0}}),
        ({"car"}, {}),
    ],
)
def test_class_filter(classes: set[str] | None, expected: dict) -> None:
    counter = LineCounter([DOOR], classes=classes)
    events = run(
        counter, merge(script(LEFT + RIGHT, tid=1, cls="person"), script(LEFT + RIGHT, tid=2, cls="bicycle"))
    )
    assert counter.counts == {"door": expected}
    assert {e.class_name for e in events} == set(expected)


def test_class_of_a_track_is_its_majority_class() -> None:
    classes = ["bicycle"] * 6 + ["person"] * 4  # detector flickers near the line
    frames = [[(1, float(x), Y_IN, c)] for x, c in zip(LEFT + RIGHT, classes, strict=True)]
    events = run(LineCounter([DOOR]), frames)
    assert [e.class_name for e in events] == ["bicycle"]


def test_class_tie_goes_to_most_recent() -> None:
    xs = [50, 60, 70, 80, 110, 120]  # confirmed at the 6th observation
    classes = ["person", "bicycle"] * 3
    frames = [[(1, float(x), Y_IN, c)] for x, c in zip(xs, classes, strict=True)]
    events = run(LineCounter([DOOR]), frames)
    assert [e.class_name for e in events] == ["bicycle"]  # 3 v 3 at confirmation; bicycle seen last


def test_two_lines_counted_independently() -> None:
    other = Line("gate", 0, 150, 300, 150)  # A→B left→right: left hand points up, so y < 150 is +1
    counter = LineCounter([DOOR, other], anchor=Anchor.BOTTOM_CENTER)
    frames = [[(1, 50.0 + 10 * f, 100.0 + 10 * f, "person")] for f in range(12)]
    events = run(counter, frames)
    assert sorted((e.line, e.direction) for e in events) == [("door", "in"), ("gate", "out")]
    assert counter.counts == {
        "door": {"person": {"in": 1, "out": 0}},
        "gate": {"person": {"in": 0, "out": 1}},
    }


def test_counts_is_a_copy_and_lists_every_line() -> None:
    counter = LineCounter([DOOR, Line("gate", 0, 150, 300, 150)])
    assert counter.counts == {"door": {}, "gate": {}}
    run(counter, script(LEFT + RIGHT))
    counter.counts["door"]["person"]["in"] = 99
    assert counter.counts["door"]["person"]["in"] == 1


@pytest.mark.parametrize(
    "line",
    [DOOR, Line("gate", 0, 150, 300, 150), Line("diag", 10, 20, 400, 310), Line("up", 50, 400, 50, 10)],
)
def test_vectorised_sides_match_line_side(line: Line) -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 500, (2000, 2))
    # Points near the line, where the half-pixel threshold decides.
    t = rng.uniform(0, 1, 500)[:, None]
    normal = np.array([line.by - line.ay, line.ax - line.bx]) / line.length
    near = np.array([line.ax, line.ay]) + t * np.array([line.bx - line.ax, line.by - line.ay])
    near = near + rng.uniform(-1, 1, (500, 1)) * normal
    pts = np.vstack([pts, near])
    counter = LineCounter([line])
    np.testing.assert_array_equal(counter._sides(pts)[:, 0], line.side(pts))


def test_implements_counter_protocol() -> None:
    assert isinstance(LineCounter([DOOR]), Counter)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_frames": 0}, "min_frames"),
        ({"max_track_age_frames": 0}, "max_track_age_frames"),
        ({"segment_margin": -1.0}, "segment_margin"),
    ],
)
def test_rejects_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LineCounter([DOOR], **kwargs)


def test_rejects_duplicate_line_names() -> None:
    with pytest.raises(ConfigError, match="unique"):
        LineCounter([DOOR, DOOR])


# --------------------------------------------------------------------------------------- expiry
def test_state_expires_with_the_track() -> None:
    counter = LineCounter([DOOR], max_track_age_frames=10)
    run(counter, script(LEFT))
    assert counter.active_tracks == 1
    run(counter, [[]] * 10, start=len(LEFT))
    assert counter.active_tracks == 1  # last seen frame 4, now frame 14: exactly 10 frames unseen
    counter.update(dets([]), 15, T0)
    assert counter.active_tracks == 0


@pytest.mark.slow
def test_state_bounded_over_100k_frames_of_short_tracks() -> None:
    """A day-long stream in miniature: 100k frames, a new short-lived track every 2 frames."""
    max_age = 30
    counter = LineCounter([DOOR, Line("gate", 0, 150, 300, 150)], max_track_age_frames=max_age)
    path = [80.0, 90.0, 110.0, 120.0]  # each track crosses the door once
    peak = 0
    n_events = 0
    for f in range(100_000):
        rows = [
            (tid, path[f - 2 * tid], Y_IN, "person")
            for tid in range(max(0, f // 2 - 2), f // 2 + 1)
            if 0 <= f - 2 * tid < len(path)
        ]
        n_events += len(counter.update(dets(rows), f, T0))
        peak = max(peak, counter.active_tracks)
    assert n_events == 50_000 - 1  # the track born at frame 99 998 has not finished crossing
    assert peak <= max_age // 2 + 3
    assert counter.counts["door"]["person"]["in"] == n_events


# ------------------------------------------------------------------------------------ properties
side_x = st.floats(min_value=60, max_value=140, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    tracks=st.lists(st.lists(st.one_of(st.none(), side_x), min_size=1, max_size=60), min_size=1, max_size=4),
    ys=st.lists(st.sampled_from([Y_IN, 195.0, 205.0, Y_OUT]), min_size=4, max_size=4),
    min_frames=st.integers(min_value=1, max_value=4),
)
def test_property_random_trajectories(
    tracks: list[list[float | None]], ys: list[float], min_frames: int
) -> None:
    """Random trajectories (any x on either side of the door, missing frames), both modes at once.

    * Every crossing: one track's events on one line are at least ``min_frames`` frames apart (each
      needs a fresh run on its new side), and alternate in direction when every crossing point is
      inside the segment (``y = Y_IN``).
    * Once per direction: at most one count per track, line and direction, and the events are
      exactly the first ``in`` and the first ``out`` of the every-crossing events.
    """
    lines = [DOOR, Line("gate", 0, 150, 300, 150)]
    frames = merge(*(script(xs, tid=i + 1, y=ys[i]) for i, xs in enumerate(tracks)))
    every = run(LineCounter(lines, min_frames=min_frames), frames)
    once = run(LineCounter(lines, min_frames=min_frames, once_per_direction=True), frames)
    assert all(e.track_id in range(1, len(tracks) + 1) for e in every)

    per_track: dict[tuple[int, str], list[CrossingEvent]] = {}
    for e in every:
        per_track.setdefault((e.track_id, e.line), []).append(e)
    for (tid, _), evs in per_track.items():
        assert all(b.frame - a.frame >= min_frames for a, b in pairwise(evs))
        if ys[tid - 1] == Y_IN:
            assert all(a.direction != b.direction for a, b in pairwise(evs))

    tally = Tally((e.track_id, e.line, e.direction) for e in once)
    assert all(n == 1 for n in tally.values())
    seen: set[tuple[int, str, str]] = set()
    firsts = []
    for e in every:
        key = (e.track_id, e.line, e.direction)
        if key not in seen:
            seen.add(key)
            firsts.append(e)
    assert once == firsts


@st.composite
def alternating(draw: st.DrawFn) -> tuple[int, int, int, list[float | None]]:
    """A trajectory with ``k`` alternating crossings, every settled run ≥ ``min_frames`` observations.

    Missing frames (``None``) are sprinkled in; they neither break nor extend a run.
    """
    min_frames = draw(st.integers(min_value=1, max_value=4))
    k = draw(st.integers(min_value=0, max_value=7))
    start = draw(st.sampled_from([-1, 1]))
    xs: list[float | None] = []
    side = start
    for _ in range(k + 1):
        n = draw(st.integers(min_value=min_frames, max_value=min_frames + 3))
        for _ in range(n):
            lo, hi = (60.0, 99.0) if side < 0 else (101.0, 140.0)
            xs.append(draw(st.floats(min_value=lo, max_value=hi)))
            if draw(st.integers(min_value=0, max_value=4)) == 0:
                xs.append(None)
        side = -side
    return min_frames, k, start, xs


@settings(max_examples=300, deadline=None)
@given(case=alternating(), once=st.booleans())
def test_property_k_alternating_crossings(case: tuple[int, int, int, list[float | None]], once: bool) -> None:
    """``k`` settled alternating crossings count exactly ``k``, alternating from the start side; with
    ``once_per_direction`` only the first two (one per direction) count: ``min(k, 2)``.

    Crossing 1 goes away from the start side, crossing 2 back, crossing 3 repeats crossing 1's
    direction, and so on. From side -1 the first is ``in``.
    """
    min_frames, k, start, xs = case
    counter = LineCounter([DOOR], min_frames=min_frames, once_per_direction=once)
    events = run(counter, script(xs))
    first = "in" if start < 0 else "out"
    second = "out" if first == "in" else "in"
    expected = [first, second][: min(k, 2)] if once else [[first, second][i % 2] for i in range(k)]
    assert [e.direction for e in events] == expected
    totals = counter.counts["door"].get("person", {"in": 0, "out": 0})
    assert (totals[first], totals[second]) == (expected.count(first), expected.count(second))


# ---------------------------------------------------------------------------------------- track origin
def _with_origin(d: sv.Detections, origin_x: float | None, y: float = Y_IN) -> sv.Detections:
    """``d`` with ``data[ORIGIN_KEY]``: every row's track started at anchor ``(origin_x, y)``."""
    from vtrack.trackers.base import ORIGIN_KEY

    box = [np.nan] * 4 if origin_x is None else [origin_x - HALF_W, y - H, origin_x + HALF_W, y]
    d.data[ORIGIN_KEY] = np.array([box] * len(d), dtype=np.float32).reshape(-1, 4)
    return d


@pytest.mark.parametrize(
    ("origin_x", "origin_y", "xs", "expected"),
    [
        (140.0, Y_IN, [90, 70, 50], (0, 1)),  # started right, first confirmed left: one "out"
        (60.0, Y_IN, [110, 130, 150], (1, 0)),  # started left, confirmed right: one "in"
        (None, Y_IN, [90, 70, 50], (0, 0)),  # origin unknown: the far side is the first settled side
        (100.0, Y_IN, [90, 70, 50], (0, 0)),  # origin on the line: no side
        (140.0, Y_OUT, [90, 70, 50], (0, 0)),  # the path passes the line's extension, beyond B
        (140.0, Y_IN, [90], (0, 0)),  # one observation on the new side is not min_frames
        (60.0, Y_IN, [70, 80, 90], (0, 0)),  # confirmed on the side it started on: nothing crossed
        (140.0, Y_IN, [120, 90, 70, 50], (0, 1)),  # confirmed before the line: counted once, as ever
    ],
)
def test_a_track_confirmed_after_crossing_counts_from_its_origin(
    origin_x: float | None, origin_y: float, xs: list[float], expected: tuple[int, int]
) -> None:
    counter = LineCounter([DOOR])
    events = []
    for f, rows in enumerate(script(xs, y=origin_y)):
        d = _with_origin(dets(rows), origin_x, origin_y)
        events.extend(counter.update(d, f, T0))
    assert in_out(events) == expected


def test_the_origin_is_read_only_when_a_track_is_first_seen() -> None:
    """A known track's later rows may carry an origin; it never resets the settled side."""
    counter = LineCounter([DOOR])
    events = []
    for f, rows in enumerate(script([140, 130, 90, 70, 110, 120])):
        events.extend(counter.update(_with_origin(dets(rows), 150.0 if f == 0 else 60.0), f, T0))
    assert [e.direction for e in events] == ["out", "in"]


# ---------------------------------------------------------------------------------------- class vote
@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["car", "car", "truck"], "car"),  # detector classes: the most frequent
        (["car", "truck"], "truck"),  # a tie: the most recent
        (["person:unknown"] * 5 + ["person:cyclist"], "person:cyclist"),  # a decided label wins
        (["person:cyclist"] * 5 + ["person:pedestrian"], "person:pedestrian"),  # the stage's latest decision
        (["person:cyclist", "person:unknown"], "person:cyclist"),  # undecided later: the decision stays
        (["person:unknown"] * 3, "person:unknown"),  # nothing decided
    ],
)
def test_vote_class(rows: list[str], expected: str) -> None:
    from vtrack.analytics.lines import vote_class

    tally: dict[str, int] = {}
    last: dict[str, int] = {}
    for f, c in enumerate(rows):
        tally[c] = tally.get(c, 0) + 1
        last[c] = f
    assert vote_class(tally, last) == expected


def test_a_sub_label_decided_just_before_the_crossing_counts_under_that_label() -> None:
    """Labelled ``unknown`` for 6 frames, ``cyclist`` from the frame before it crosses: a cyclist."""
    counter = LineCounter([DOOR])
    xs = [50, 60, 70, 80, 90, 95, 110, 120]
    labels = ["person:unknown"] * 6 + ["person:cyclist"] * 2
    events = []
    for f, (x, label) in enumerate(zip(xs, labels, strict=True)):
        events += counter.update(dets([(1, float(x), Y_IN, label)]), f, T0)
    assert [(e.class_name, e.direction) for e in events] == [("person:cyclist", "in")]
