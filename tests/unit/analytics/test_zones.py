"""ZoneCounter and ZoneHourly: scripted trajectories (table-driven).

Geometry: the zone ``box`` is the square x, y in (100, 200); ``right`` overlaps its right half,
x in (150, 250). Trajectories give the anchor (bottom centre) x per frame at y = 150; ``None`` is a
frame in which the track is not detected. Frames are 0.1 s apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import supervision as sv

from vtrack.analytics import Counter, CounterSet, LineCounter, ZoneCounter, ZoneHourly
from vtrack.errors import ConfigError
from vtrack.geometry import Line, Polygon
from vtrack.types import ZoneEvent, ZoneEventKind

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
BOX = Polygon("box", ((100, 100), (200, 100), (200, 200), (100, 200)))
RIGHT = Polygon("right", ((150, 100), (250, 100), (250, 200), (150, 200)))
Y = 150.0
OUT_L = [40, 50, 60, 70, 80]
IN = [120, 130, 140, 130, 120]
OUT_R = [260, 270, 280]

Row = tuple[int, float, str]  # (tracker_id, anchor x, class)


def dets(rows: list[Row], y: float = Y) -> sv.Detections:
    if not rows:
        return sv.Detections(xyxy=np.empty((0, 4), np.float32), tracker_id=np.empty(0, np.int64))
    return sv.Detections(
        xyxy=np.array([[x - 10, y - 40, x + 10, y] for _, x, _ in rows], dtype=np.float32),
        class_id=np.zeros(len(rows), np.int64),
        tracker_id=np.array([r[0] for r in rows], dtype=np.int64),
        data={"class_name": np.array([r[2] for r in rows])},
    )


def script(xs: list[float | None], *, tid: int = 1, cls: str = "car") -> list[list[Row]]:
    return [[] if x is None else [(tid, float(x), cls)] for x in xs]


def merge(*scripts: list[list[Row]]) -> list[list[Row]]:
    n = max(len(s) for s in scripts)
    return [[r for s in scripts if f < len(s) for r in s[f]] for f in range(n)]


def run(counter: ZoneCounter, frames: list[list[Row]], start: int = 0) -> list[ZoneEvent]:
    events = []
    for f, rows in enumerate(frames, start=start):
        events.extend(counter.update(dets(rows), f, T0 + timedelta(seconds=f / 10)))
    return events


def kinds(events: list[ZoneEvent]) -> list[tuple[str, str, int]]:
    return [(e.zone, e.kind, e.frame) for e in events]


@pytest.mark.parametrize(
    ("xs", "expected", "occupancy"),
    [
        pytest.param(OUT_L + IN, [("box", "enter", 6)], 1, id="enter-confirmed-at-2nd-frame-inside"),
        pytest.param(OUT_L + IN + OUT_L, [("box", "enter", 6), ("box", "exit", 11)], 0, id="enter-exit"),
        pytest.param(IN, [("box", "enter", 1)], 1, id="first-seen-inside-enters"),
        pytest.param([*OUT_L, 120, *OUT_L], [], 0, id="one-frame-inside-no-enter"),
        pytest.param(
            [*OUT_L, 99, 101, 99, 101, 99, 101, 99, 80], [], 0, id="jitter-at-edge-never-counts"
        ),
        pytest.param(
            [*IN, 99, 101, 99, 101, 99, 101, 120], [("box", "enter", 1)], 1, id="jitter-inside-edge-stays"
        ),
        pytest.param(
            [*OUT_L, 120, None, None, 130, None, 140], [("box", "enter", 8)], 1, id="missing-frames-keep-run"
        ),
        pytest.param(
            [*OUT_L, *IN, *[None] * 50, *IN],
            [("box", "enter", 6)],
            1,
            id="lost-and-found-within-age-no-exit",
        ),
        pytest.param(
            OUT_L + IN + OUT_R, [("box", "enter", 6), ("box", "exit", 11)], 0, id="pass-through"
        ),
    ],
)
def test_scripted_zone_trajectories(
    xs: list[float | None], expected: list[tuple[str, str, int]], occupancy: int
) -> None:
    counter = ZoneCounter([BOX])
    events = run(counter, script(xs))
    assert kinds(events) == expected
    assert counter.occupancy["box"].get("car", 0) == occupancy
    totals = counter.totals["box"].get("car", {"entries": 0, "exits": 0, "max_occupancy": 0})
    n_enter = sum(k == "enter" for _, k, _ in expected)
    assert (totals["entries"], totals["exits"]) == (n_enter, len(expected) - n_enter)


@pytest.mark.parametrize("min_frames", [1, 2, 4])
def test_dwell_is_enter_to_exit_time(min_frames: int) -> None:
    counter = ZoneCounter([BOX], min_frames=min_frames)
    xs = [50.0] * 3 + [150.0] * 20 + [50.0] * 5
    events = run(counter, script(xs))
    enter, leave = events
    assert (enter.kind, leave.kind) == ("enter", "exit")
    assert enter.frame == 3 + min_frames - 1 and leave.frame == 23 + min_frames - 1
    assert enter.dwell_seconds is None
    assert leave.dwell_seconds == pytest.approx(2.0)
    assert leave.time - enter.time == timedelta(seconds=2.0)
    assert leave.to_json() == {
        "time": leave.time.isoformat(), "frame": leave.frame, "track_id": 1, "class": "car",
        "zone": "box", "kind": "exit", "dwell_seconds": 2.0,
    }


def test_track_lost_inside_exits_on_expiry_dated_when_last_seen() -> None:
    counter = ZoneCounter([BOX], max_track_age_frames=10)
    events = run(counter, script([50, 60, 150, 150, 150, 150]))  # enters at frame 3, last seen 5
    assert kinds(events) == [("box", "enter", 3)]
    assert run(counter, [[]] * 10, start=6) == []  # frame 15: exactly 10 frames unseen, kept
    assert counter.active_tracks == 1 and counter.occupancy["box"]["car"] == 1
    (leave,) = counter.update(dets([]), 16, T0 + timedelta(seconds=1.6))
    assert (leave.kind, leave.frame, leave.time) == ("exit", 5, T0 + timedelta(seconds=0.5))
    assert leave.dwell_seconds == pytest.approx(0.2)
    assert counter.active_tracks == 0 and counter.occupancy["box"]["car"] == 0


def test_state_of_tracks_outside_expires_silently() -> None:
    counter = ZoneCounter([BOX], max_track_age_frames=5)
    run(counter, script(OUT_L))
    assert counter.active_tracks == 1
    assert run(counter, [[]] * 6, start=5) == []
    assert counter.active_tracks == 0


@pytest.mark.parametrize(
    ("classes", "expected"),
    [
        (None, {"car": 1, "person": 1}),
        ({"car"}, {"car": 1}),
        ({"bus"}, {}),
    ],
)
def test_class_filter(classes: set[str] | None, expected: dict[str, int]) -> None:
    counter = ZoneCounter([BOX], classes=classes)
    events = run(counter, merge(script(OUT_L + IN + OUT_L, tid=1), script(OUT_L + IN, tid=2, cls="person")))
    assert {c: v["entries"] for c, v in counter.totals["box"].items()} == expected
    assert {e.class_name for e in events} == set(expected)
    assert counter.occupancy["box"].get("car", 0) == 0
    assert counter.occupancy["box"].get("person", 0) == expected.get("person", 0)


def test_two_overlapping_zones_counted_independently() -> None:
    counter = ZoneCounter([BOX, RIGHT])
    xs = [50, 60, 120, 130, 170, 180, 220, 230, 270, 280]
    events = run(counter, script(xs))
    assert kinds(events) == [
        ("box", "enter", 3), ("right", "enter", 5), ("box", "exit", 7), ("right", "exit", 9)
    ]
    assert counter.totals == {
        "box": {"car": {"entries": 1, "exits": 1, "max_occupancy": 1}},
        "right": {"car": {"entries": 1, "exits": 1, "max_occupancy": 1}},
    }


def test_occupancy_and_max_with_several_tracks() -> None:
    counter = ZoneCounter([BOX])
    frames = merge(
        script([*OUT_L, *IN, *IN], tid=1),
        script([50, 60, *IN, *OUT_L], tid=2),
        script([*IN, *OUT_L, *OUT_L], tid=3),
    )
    run(counter, frames)
    assert counter.occupancy == {"box": {"car": 1}}
    assert counter.totals["box"]["car"] == {"entries": 3, "exits": 2, "max_occupancy": 2}


def test_unconfirmed_rows_and_missing_tracker_ids_are_ignored() -> None:
    counter = ZoneCounter([BOX])
    assert run(counter, script(OUT_L + IN, tid=-1)) == []
    d = dets([(1, 150.0, "car")])
    d.tracker_id = None
    assert counter.update(d, 100, T0) == []
    assert counter.active_tracks == 0


def test_class_is_fixed_at_entry_so_occupancy_balances() -> None:
    counter = ZoneCounter([BOX])
    classes = ["car"] * 6 + ["truck"] * 12
    frames = [[(1, float(x), c)] for x, c in zip([50, 60, *[150] * 12, 50, 50, 50, 50], classes, strict=True)]
    events = run(counter, frames)
    assert [(e.kind, e.class_name) for e in events] == [("enter", "car"), ("exit", "car")]
    assert counter.occupancy == {"box": {"car": 0}}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"min_frames": 0}, "min_frames"), ({"max_track_age_frames": 0}, "max_track_age_frames")],
)
def test_rejects_bad_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ZoneCounter([BOX], **kwargs)


def test_rejects_duplicate_zone_names() -> None:
    with pytest.raises(ConfigError, match="unique"):
        ZoneCounter([BOX, BOX])


# ------------------------------------------------------------------------------- ZoneHourly
def ev(minute: float, kind: ZoneEventKind, dwell: float | None = None) -> ZoneEvent:
    return ZoneEvent(T0 + timedelta(minutes=minute), 0, 1, "car", "box", kind, dwell)


def test_hourly_entries_exits_dwell() -> None:
    agg = ZoneHourly()
    for e in [ev(1, "enter"), ev(2, "enter"), ev(10, "exit", dwell=540), ev(70, "exit", dwell=4080)]:
        agg.add(e)
    rows = {(r.hour_start.hour, r.zone, r.class_name): r for r in agg.rows()}
    first, second = rows[(8, "box", "car")], rows[(9, "box", "car")]
    assert (first.entries, first.exits, first.mean_dwell_seconds) == (2, 1, 540)
    assert (second.entries, second.exits, second.mean_dwell_seconds) == (0, 1, 4080)


def test_hourly_occupancy_is_time_weighted_and_split_at_the_hour() -> None:
    agg = ZoneHourly()
    # 08:00 → 08:30 one car, 08:30 → 09:30 three cars, 09:30 → 10:00 none; last frame at 10:00.
    agg.observe(T0, {"box": {"car": 1}})
    agg.observe(T0 + timedelta(minutes=30), {"box": {"car": 3}})
    agg.observe(T0 + timedelta(minutes=90), {"box": {"car": 0}})
    agg.observe(T0 + timedelta(minutes=120), {"box": {}})
    rows = {r.hour_start.hour: r for r in agg.rows()}
    assert rows[8].mean_occupancy == pytest.approx(2.0)  # 0.5 * 1 + 0.5 * 3
    assert rows[8].max_occupancy == 3
    assert rows[9].mean_occupancy == pytest.approx(1.5)
    assert rows[9].max_occupancy == 3  # held from 08:30 into hour 9
    assert rows[9].mean_dwell_seconds is None
    assert 10 not in rows


def test_single_frame_counts() -> None:
    agg = ZoneHourly()
    agg.observe(T0, {"box": {"car": 2}})
    (row,) = agg.rows()
    assert (row.max_occupancy, row.mean_occupancy) == (2, 2.0)


# ------------------------------------------------------------------------------- CounterSet
def test_counter_set_passes_lines_and_zones_through() -> None:
    door = Line("door", 110, 0, 110, 300)
    cs = CounterSet(LineCounter([door]), ZoneCounter([BOX]))
    assert isinstance(cs, Counter)
    crossings = []
    zone_events = []
    for f, rows in enumerate(script(OUT_L + IN)):
        crossings.extend(cs.update(dets(rows), f, T0 + timedelta(seconds=f / 10)))
        zone_events.extend(cs.last_zone_events)
    assert [(e.line, e.direction) for e in crossings] == [("door", "in")]
    assert [e.kind for e in zone_events] == ["enter"]
    assert cs.counts == {"door": {"car": {"in": 1, "out": 0}}}
    assert cs.occupancy == {"box": {"car": 1}}
    assert cs.zone_totals == {"box": {"car": {"entries": 1, "exits": 0, "max_occupancy": 1}}}
    assert cs.zone_hourly is not None
    (row,) = cs.zone_hourly.rows()
    assert (row.entries, row.max_occupancy) == (1, 1)


def test_counter_set_without_zones() -> None:
    cs = CounterSet(LineCounter([Line("door", 110, 0, 110, 300)]), None)
    cs.update(dets([(1, 50.0, "car")]), 0, T0)
    assert cs.occupancy == {} and cs.zone_totals == {} and cs.zone_hourly is None
