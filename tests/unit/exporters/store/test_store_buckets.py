"""Bucketing in a time zone: 15 min, hour, day, across DST changes (pure logic)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vtrack.exporters.store.query import bucket_start, zone

UTC = timezone.utc
AMS = zone("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("utc_time", "by", "expected"),
    [
        ("2026-05-31T21:45:00", "hour", "2026-05-31T23:00:00+02:00"),
        ("2026-05-31T22:05:00", "hour", "2026-06-01T00:00:00+02:00"),
        ("2026-05-31T21:59:59", "day", "2026-05-31T00:00:00+02:00"),
        ("2026-05-31T22:00:00", "day", "2026-06-01T00:00:00+02:00"),
        ("2026-05-31T22:44:59", "15min", "2026-06-01T00:30:00+02:00"),
        # autumn: the 02:00 hour happens twice, as two buckets
        ("2026-10-25T00:30:00", "hour", "2026-10-25T02:00:00+02:00"),
        ("2026-10-25T01:30:00", "hour", "2026-10-25T02:00:00+01:00"),
        ("2026-10-25T01:20:00", "15min", "2026-10-25T02:15:00+01:00"),
        ("2026-10-25T22:59:00", "day", "2026-10-25T00:00:00+02:00"),
        # spring: 02:00 does not exist
        ("2026-03-29T01:00:00", "hour", "2026-03-29T03:00:00+02:00"),
        ("2026-03-29T00:59:59", "hour", "2026-03-29T01:00:00+01:00"),
        ("2026-03-29T21:59:00", "day", "2026-03-29T00:00:00+01:00"),
    ],
)
def test_bucket_start(utc_time: str, by: str, expected: str) -> None:
    t = datetime.fromisoformat(utc_time).replace(tzinfo=UTC)
    assert bucket_start(t, by, AMS).isoformat() == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)])
def test_a_local_day_has_23_24_or_25_hour_buckets(day: str, hours: int) -> None:
    start = datetime.fromisoformat(day).replace(tzinfo=AMS).astimezone(UTC)
    instants = [start + timedelta(minutes=5 * i) for i in range(12 * 26)]
    same_day = [t for t in instants if bucket_start(t, "day", AMS).date().isoformat() == day]
    assert len({bucket_start(t, "hour", AMS).astimezone(UTC) for t in same_day}) == hours
    assert len(same_day) == hours * 12


def test_midnight_that_does_not_exist_starts_the_day_at_its_first_instant() -> None:
    havana = zone("America/Havana")  # DST starts at 00:00 → 01:00
    t = datetime(2026, 3, 8, 12, tzinfo=havana)
    start = bucket_start(t, "day", havana)
    assert start.date().isoformat() == "2026-03-08"
    assert bucket_start(start, "day", havana) == start
