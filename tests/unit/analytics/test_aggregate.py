"""HourlyCounts: crossings per hour × line × class × direction, bounded when asked, UTC when asked."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vtrack.analytics.aggregate import HourlyCounts
from vtrack.types import CrossingEvent, Direction

T0 = datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)


def ev(t: datetime, cls: str = "car", direction: Direction = "in") -> CrossingEvent:
    return CrossingEvent(t, 0, 1, cls, "gate", direction)


def test_counts_per_hour_line_class_direction_and_windows() -> None:
    t = HourlyCounts()
    t.add(ev(T0))
    t.add(ev(T0 + timedelta(minutes=30)))
    t.add(ev(T0 + timedelta(hours=1), "bicycle", "out"))
    assert t.rows() == [
        (datetime(2026, 3, 1, 10, tzinfo=timezone.utc), "gate", "car", "in", 2),
        (datetime(2026, 3, 1, 11, tzinfo=timezone.utc), "gate", "bicycle", "out", 1),
    ]
    assert [r[2] for r in t.rows(since=T0 + timedelta(hours=1))] == ["bicycle"]
    assert [r[2] for r in t.rows(until=T0 + timedelta(minutes=40))] == ["car"]
    assert t.totals() == {"gate": {"car": {"in": 2, "out": 0}, "bicycle": {"in": 0, "out": 1}}}


def test_bounded_whatever_the_uptime() -> None:
    t = HourlyCounts(keep_hours=48)
    for h in range(24 * 30):  # a month of crossings, one per hour
        t.add(ev(T0 + timedelta(hours=h)))
    assert len(t) == 48
    assert t.rows()[0][0] == (T0 + timedelta(hours=24 * 30 - 48)).replace(minute=0)


@pytest.mark.parametrize(("utc", "hour"), [(True, 10), (False, 11)])
def test_hours_in_utc_or_in_the_events_zone(utc: bool, hour: int) -> None:
    t = HourlyCounts(utc=utc)
    t.add(ev(datetime(2026, 3, 1, 11, 5, tzinfo=timezone(timedelta(hours=1)))))
    assert t.rows()[0][0].hour == hour


def test_keep_hours_must_be_positive() -> None:
    with pytest.raises(ValueError, match="keep_hours"):
        HourlyCounts(keep_hours=0)


def test_utc_days_turn_at_utc_midnight_only() -> None:
    from vtrack.analytics.aggregate import UtcDays

    days = UtcDays()
    ams = timezone(timedelta(hours=2))
    times = [
        datetime(2026, 3, 1, 23, 59, tzinfo=timezone.utc),
        datetime(2026, 3, 2, 1, 30, tzinfo=ams),  # 23:30 UTC the day before: not yet
        datetime(2026, 3, 2, 0, 0, 1, tzinfo=timezone.utc),
        datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc),
    ]
    assert [days.turned(t) for t in times] == [False, False, True, False]
    assert days.day is not None and days.day.isoformat() == "2026-03-02"
