"""The count store's contract, table-driven against SQLite and a real PostgreSQL server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from vtrack.exporters.store import (
    CountFilter,
    RunInfo,
    StoreError,
    StoreExporter,
    open_store,
    query_counts,
    zone,
)
from vtrack.exporters.store.migrations import LATEST_VERSION
from vtrack.types import CrossingEvent, Direction

UTC = timezone.utc
AMS = zone("Europe/Amsterdam")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'counts.db'}"
    return str(request.getfixturevalue("postgres_url"))


def ev(t: datetime, track: int = 1, direction: Direction = "out", line: str = "gate", cls: str = "bicycle"):
    return CrossingEvent(time=t, frame=track, track_id=track, class_name=cls, line=line, direction=direction)


def every(start: datetime, end: datetime, step: timedelta) -> list[CrossingEvent]:
    out, t, i = [], start, 0
    while t < end:
        out.append(ev(t, track=i, direction="in" if i % 2 else "out"))
        t += step
        i += 1
    return out


def test_migrations_apply_once_and_reopen_is_idempotent(store_url: str) -> None:
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        assert s.schema_version == LATEST_VERSION
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        assert s.schema_version == LATEST_VERSION
        assert s._rows("SELECT COUNT(*) FROM vtrack_schema")[0][0] == LATEST_VERSION


def test_processes_opening_a_fresh_store_at_once_all_migrate_it(store_url: str) -> None:
    # `vtrack run` and `vtrack counts` opening one new database together: every opener takes the
    # migration lock before creating the schema table (PostgreSQL's CREATE TABLE IF NOT EXISTS races)
    from concurrent.futures import ThreadPoolExecutor

    def opened(_: int) -> int:
        with open_store(store_url) as s:  # type: ignore[attr-defined]
            return int(s.schema_version)

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(opened, range(8)))
    assert versions == [LATEST_VERSION] * 8
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        assert s._rows("SELECT COUNT(*) FROM vtrack_schema")[0][0] == LATEST_VERSION


def test_sqlite_connections_switching_a_fresh_file_to_wal_together_all_open(tmp_path: Path) -> None:
    # SQLite answers "database is locked" at once (no busy wait) to the second of two connections
    # switching a new file to WAL together: 11 of 150 rounds of 8 failed before the retry
    from concurrent.futures import ThreadPoolExecutor

    def opened(url: str) -> str:
        with open_store(url) as s:  # type: ignore[attr-defined]
            return str(s._rows("PRAGMA journal_mode")[0][0])

    for k in range(40):
        url = f"sqlite:///{tmp_path / f'fresh{k}.db'}"
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(opened, [url] * 8)) == ["wal"] * 8


def test_newer_schema_is_refused_with_one_line(store_url: str) -> None:
    s = open_store(store_url)
    with s._tx():  # type: ignore[attr-defined]
        s._run(  # type: ignore[attr-defined]
            "INSERT INTO vtrack_schema (version, description, applied_at) VALUES (?, ?, ?)",
            (LATEST_VERSION + 1, "future", s._to_db(datetime.now(UTC))),  # type: ignore[attr-defined]
        )
    s.close()
    with pytest.raises(StoreError, match="newer than this vtrack") as ei:
        open_store(store_url)
    assert "\n" not in str(ei.value)


def test_events_round_trip_in_utc_and_hourly_aggregates_match(store_url: str) -> None:
    t0 = datetime(2026, 5, 1, 8, 59, 55, 123456, tzinfo=zone("Europe/Amsterdam"))
    events = [ev(t0 + timedelta(seconds=3 * i), track=i) for i in range(10)]
    run = RunInfo("r1", "cam", source="cam.mp4", start_time=t0, timezone="Europe/Amsterdam")
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        s.write_events(run, events[:4], replace=True)
        s.write_events(run, events[4:])
        got = s.events(CountFilter(stream="cam"))
        assert [e.time for e in got] == [e.time.astimezone(UTC) for e in events]
        assert all(e.time.tzinfo is not None and e.time.utcoffset() == timedelta(0) for e in got)
        hourly = {h.hour: h.count for h in s.hourly(CountFilter(stream="cam"))}
        assert hourly == {datetime(2026, 5, 1, 6, tzinfo=UTC): 2, datetime(2026, 5, 1, 7, tzinfo=UTC): 8}
        (rec,) = s.runs(CountFilter(run_id="r1"))
        assert (rec.status, rec.events, rec.timezone) == ("running", 10, "Europe/Amsterdam")
        assert rec.start_time == t0


def test_same_run_id_replaces_never_doubles_and_keeps_other_runs(store_url: str) -> None:
    t0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        other = RunInfo("r0", "cam")
        s.write_events(other, [ev(t0, 99)], replace=True)
        run = RunInfo("r1", "cam")
        s.write_events(run, [ev(t0 + timedelta(minutes=i), i) for i in range(6)], replace=True)
        s.write_events(run, [ev(t0 + timedelta(minutes=i), i) for i in range(3)], replace=True)
        assert len(s.events(CountFilter(run_id="r1"))) == 3
        assert sum(h.count for h in s.hourly(CountFilter(run_id="r1"))) == 3
        assert len(s.events(CountFilter(run_id="r0"))) == 1
        assert query_counts(s, CountFilter(stream="cam"), "day").totals() == {
            "gate": {"bicycle": {"in": 0, "out": 4}}
        }


def test_failed_replace_rolls_back_the_delete(store_url: str) -> None:
    t0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
    run = RunInfo("r1", "cam")
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        s.write_events(run, [ev(t0, 1), ev(t0, 2)], replace=True)
        bad = CrossingEvent(t0, 3, 3, "bicycle", "gate", "sideways")  # type: ignore[arg-type]
        with pytest.raises(StoreError) as ei:
            s.write_events(run, [ev(t0, 3), bad], replace=True)
        assert "\n" not in str(ei.value)
        assert len(s.events(CountFilter(run_id="r1"))) == 2
        assert sum(h.count for h in s.hourly(CountFilter(run_id="r1"))) == 2


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        ("2026-03-29", 23),  # spring forward: 02:00 → 03:00
        ("2026-10-25", 25),  # fall back: 03:00 → 02:00, the 02:00 hour twice
        ("2026-05-01", 24),
    ],
)
def test_day_and_hour_buckets_across_dst(store_url: str, day: str, hours: int) -> None:
    start = datetime.fromisoformat(day).replace(tzinfo=AMS).astimezone(UTC)
    end = (datetime.fromisoformat(day) + timedelta(days=1)).replace(tzinfo=AMS).astimezone(UTC)
    events = every(start - timedelta(hours=2), end + timedelta(hours=2), timedelta(minutes=10))
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        s.write_events(RunInfo("r1", "cam", timezone="Europe/Amsterdam"), events, replace=True)
        flt = CountFilter(stream="cam", since=start, until=end)
        by_day = query_counts(s, flt, "day", AMS)
        assert by_day.computed_from == "hourly"
        assert [r.bucket.isoformat()[:10] for r in by_day.rows] == [day, day]
        assert sum(r.count for r in by_day.rows) == hours * 6
        by_hour = query_counts(s, flt, "hour", AMS)
        starts = sorted({r.bucket.astimezone(UTC) for r in by_hour.rows})
        assert len(starts) == hours
        assert all(sum(r.count for r in by_hour.rows if r.bucket.astimezone(UTC) == b) == 6 for b in starts)
        labels = [b.astimezone(AMS).isoformat() for b in starts]
        if hours == 25:
            assert f"{day}T02:00:00+02:00" in labels and f"{day}T02:00:00+01:00" in labels
        if hours == 23:
            assert not any("T02:" in x for x in labels)
        # the aggregate path and the event path agree
        by_quarter = query_counts(s, flt, "15min", AMS)
        assert by_quarter.computed_from == "events"
        assert by_quarter.totals() == by_day.totals() == by_hour.totals()


def test_recording_started_2340_spills_into_next_hour_and_day(store_url: str) -> None:
    start = datetime(2026, 5, 31, 23, 40, tzinfo=AMS)  # file start time; events at start + pts
    events = [ev(start + timedelta(seconds=pts), i) for i, pts in enumerate([300, 900, 1500, 2100, 5000])]
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        run = RunInfo("r1", "cam", start_time=start, timezone="Europe/Amsterdam")
        s.write_events(run, events, replace=True)
        hours = query_counts(s, CountFilter(stream="cam"), "hour")  # zone from the run
        assert hours.tz.key == "Europe/Amsterdam"
        assert [(r.bucket.isoformat(), r.count) for r in hours.rows] == [
            ("2026-05-31T23:00:00+02:00", 2),
            ("2026-06-01T00:00:00+02:00", 2),
            ("2026-06-01T01:00:00+02:00", 1),
        ]
        days = query_counts(s, CountFilter(stream="cam"), "day")
        assert [(r.bucket.isoformat(), r.count) for r in days.rows] == [
            ("2026-05-31T00:00:00+02:00", 2),
            ("2026-06-01T00:00:00+02:00", 3),
        ]
        utc_days = query_counts(s, CountFilter(stream="cam"), "day", zone("UTC"))
        assert [r.count for r in utc_days.rows] == [5]  # 21:45Z .. 23:03Z, all on May 31 UTC


def test_half_hour_zone_falls_back_to_events(store_url: str) -> None:
    t0 = datetime(2026, 5, 1, 0, 0, tzinfo=UTC)
    events = every(t0, t0 + timedelta(hours=3), timedelta(minutes=10))
    with open_store(store_url) as s:  # type: ignore[attr-defined]
        s.write_events(RunInfo("r1", "cam"), events, replace=True)
        res = query_counts(s, CountFilter(), "hour", zone("Asia/Kolkata"))
        assert res.computed_from == "events"
        assert [r.bucket.isoformat()[11:] for r in res.rows][:2] == ["05:00:00+05:30", "05:00:00+05:30"]
        assert sum(r.count for r in res.rows) == 18


def test_exporter_commits_on_timer_and_at_close(store_url: str) -> None:
    from vtrack.types import FrameResult

    clock = [0.0]
    run = RunInfo("r1", "cam")
    exp = StoreExporter(open_store(store_url), run, clock=lambda: clock[0])
    t0 = datetime(2026, 5, 1, 12, tzinfo=UTC)

    def frame(i: int, n: int) -> FrameResult:
        return FrameResult(frame=None, detections=None, events=[ev(t0, i * 10 + k) for k in range(n)])  # type: ignore[arg-type]

    reader = open_store(store_url)
    exp.write(frame(0, 1))  # first frame: replaces and commits at once
    assert len(reader.events(CountFilter())) == 1
    clock[0] = 0.5
    exp.write(frame(1, 2))
    assert len(reader.events(CountFilter())) == 1 and exp.pending == 2
    clock[0] = 1.0
    exp.write(frame(2, 0))
    assert len(reader.events(CountFilter())) == 3 and exp.pending == 0
    exp.write(frame(3, 4))
    exp.close()
    assert len(reader.events(CountFilter())) == 7
    assert reader.runs(CountFilter())[0].status == "finished"
    assert exp.commits == 3
    reader.close()


def test_unreachable_postgres_is_one_line_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreError, match="cannot connect") as ei:
        open_store(f"postgresql://u:secret@127.0.0.1:{port}/db")
    assert "\n" not in str(ei.value)
    assert "secret" not in str(ei.value)
