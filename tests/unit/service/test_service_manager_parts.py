"""Pure parts of the stream manager: bounded hourly counts and password scrubbing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from vtrack.service.manager import HourlyTally, safe_source, scrub

T0 = datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)


def test_hourly_tally_counts_per_hour_line_class_direction() -> None:
    t = HourlyTally()
    t.add(T0, "gate", "car", "in")
    t.add(T0 + timedelta(minutes=30), "gate", "car", "in")
    t.add(T0 + timedelta(hours=1), "gate", "bicycle", "out")
    assert t.rows() == [
        (datetime(2026, 3, 1, 10, tzinfo=timezone.utc), "gate", "car", "in", 2),
        (datetime(2026, 3, 1, 11, tzinfo=timezone.utc), "gate", "bicycle", "out", 1),
    ]
    assert [r[2] for r in t.rows(since=T0 + timedelta(hours=1))] == ["bicycle"]
    assert [r[2] for r in t.rows(until=T0 + timedelta(minutes=40))] == ["car"]


def test_hourly_tally_is_bounded_whatever_the_uptime() -> None:
    t = HourlyTally(keep_hours=48)
    for h in range(24 * 30):  # a month of crossings, one per hour
        t.add(T0 + timedelta(hours=h), "gate", "car", "in")
    assert len(t) == 48
    assert t.rows()[0][0] == (T0 + timedelta(hours=24 * 30 - 48)).replace(minute=0)


def test_hourly_tally_converts_zones_to_utc_hours() -> None:
    t = HourlyTally()
    local = datetime(2026, 3, 1, 11, 5, tzinfo=timezone(timedelta(hours=1)))
    t.add(local, "gate", "car", "in")
    assert t.rows()[0][0] == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def test_scrub_hides_url_passwords_in_any_text() -> None:
    text = "cannot open rtsp://admin:p%40ss@10.0.0.5:554/s1: Connection refused; http://u:x@h/y"
    out = scrub(text)
    assert "p%40ss" not in out and ":x@" not in out
    assert "rtsp://admin:***@10.0.0.5:554/s1" in out
    assert scrub("/dev/video0") == "/dev/video0"
    assert "hunter22" not in safe_source("rtsp://admin:hunter22@cam/x")
