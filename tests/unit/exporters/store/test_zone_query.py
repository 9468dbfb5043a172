"""``query_zone_counts`` on synthetic zone events and hourly rows (SQLite; both backends in
tests/integration/test_zone_counts_store.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from vtrack.analytics.zones import ZoneHourRow
from vtrack.exporters.store import CountFilter, RunInfo, open_store, zone
from vtrack.exporters.store.query import query_zone_counts
from vtrack.types import ZoneEvent

T = datetime(2026, 10, 24, 22, 0, tzinfo=timezone.utc)  # midnight in Amsterdam, the day of the fall-back


def _ev(minutes: float, track: int, kind: str, dwell: float | None = None) -> ZoneEvent:
    t = T + timedelta(minutes=minutes)
    return ZoneEvent(t, int(minutes * 60), track, "car", "lot", kind, dwell)  # type: ignore[arg-type]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'z.db'}"


def test_events_of_one_instant_count_together_and_the_day_has_25_hours(url: str) -> None:
    events = [
        _ev(10, 1, "enter"),
        _ev(20, 1, "exit", 600.0), _ev(20, 2, "enter"),  # a swap in one frame: never 2 inside
        _ev(24 * 60 + 30, 2, "exit", 87000.0),  # 23:30+01:00: still the 25th (a 25-hour day)
        _ev(25 * 60 + 10, 3, "enter"), _ev(25 * 60 + 30, 3, "exit", 1200.0),  # 00:10, 00:30 on the 26th
    ]
    run = RunInfo("r1", "cam", timezone="Europe/Amsterdam")
    with open_store(url) as s:  # type: ignore[attr-defined]
        s.write_events(run, [], replace=True, zone_events=events)
        res = query_zone_counts(s, CountFilter(), "day", use_hourly=False)
    assert res.tz.key == "Europe/Amsterdam"
    got = [(r.bucket.isoformat(), r.entries, r.exits, r.max_occupancy, r.mean_dwell_seconds)
           for r in res.rows]
    assert got == [
        ("2026-10-25T00:00:00+02:00", 2, 2, 1, (600.0 + 87000.0) / 2),
        ("2026-10-26T00:00:00+01:00", 1, 1, 1, 1200.0),
    ]


def test_hourly_rows_of_two_runs_merge_max_of_maxima_and_dwell_weighted_by_exits(url: str) -> None:
    def hour(h: int, exits: int, max_occ: int, dwell: float | None) -> ZoneHourRow:
        return ZoneHourRow(T + timedelta(hours=h), "lot", "car", exits, exits, max_occ, 0.5, dwell)

    with open_store(url) as s:  # type: ignore[attr-defined]
        a = [hour(0, 1, 3, 10.0), hour(1, 0, 1, None)]
        s.write_events(RunInfo("a", "cam"), [], replace=True, zone_hours=a)
        s.write_events(RunInfo("b", "cam"), [], replace=True, zone_hours=[hour(1, 3, 2, 30.0)])
        res = query_zone_counts(s, CountFilter(stream="cam", zone="lot"), "day", zone("Europe/Amsterdam"))
    assert res.computed_from == "hourly"
    [row] = res.rows
    assert (row.entries, row.exits, row.max_occupancy) == (4, 4, 3)
    assert row.mean_dwell_seconds == pytest.approx((10.0 + 3 * 30.0) / 4)
    assert row.mean_occupancy is None  # hourly means are not combined into a day


@pytest.mark.parametrize(
    ("by", "tz", "want"),
    [
        ("hour", "UTC", [0.5, (0.25 + 0.75) / 2]),  # hour 1 ran twice (a restart): mean of the means
        ("hour", "Europe/Amsterdam", [0.5, 0.5]),  # whole-hour offset: the same UTC hours
        ("day", "UTC", [None]),
    ],
)
def test_mean_occupancy_is_given_for_hour_buckets(
    url: str, by: str, tz: str, want: list[float | None]
) -> None:
    def hour(h: int, mean: float) -> ZoneHourRow:
        return ZoneHourRow(T + timedelta(hours=h), "lot", "car", 1, 1, 2, mean, 5.0)

    with open_store(url) as s:  # type: ignore[attr-defined]
        s.write_events(RunInfo("a", "cam"), [], replace=True, zone_hours=[hour(0, 0.5), hour(1, 0.25)])
        s.write_events(RunInfo("b", "cam"), [], replace=True, zone_hours=[hour(1, 0.75)])
        res = query_zone_counts(s, CountFilter(stream="cam"), by, zone(tz))  # type: ignore[arg-type]
    assert res.computed_from == "hourly"
    got = [r.mean_occupancy for r in res.rows]
    assert got == [pytest.approx(w) if w is not None else None for w in want]
