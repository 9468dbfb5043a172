"""Counts per time bucket (15 min, hour, day) in an IANA time zone, read from a count store.

Times are stored in UTC; buckets are clock intervals in the chosen zone, so a day bucket across a
DST change spans 23 or 25 hours, and the repeated hour of an autumn change gives two hour buckets
(``02:00+02:00`` and ``02:00+01:00``). Buckets are keyed by their UTC start instant (aware
datetimes of one zone compare equal across a DST fold, which would merge the two repeated hours).

Hour and day buckets are summed from the maintained hourly aggregates when that is exact (zone
offsets in whole hours, range limits on UTC hours); otherwise, and for 15-minute buckets, the
events themselves are bucketed.
"""

from __future__ import annotations

import logging
from collections import Counter as _Tally
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vtrack.errors import ConfigError
from vtrack.exporters.store.base import CountFilter, CountStore, utc
from vtrack.types import Direction

log = logging.getLogger(__name__)

Bucket = Literal["15min", "hour", "day"]
BUCKETS: tuple[str, ...] = get_args(Bucket)
_HOUR_S = 3600
_QUARTER_MIN = 15


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Europe/Amsterdam``, ``UTC``).

    Raises:
        ConfigError: for an unknown zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(
            f"unknown time zone {name!r}: expected an IANA name such as Europe/Amsterdam"
        ) from e


def bucket_start(t: datetime, by: Bucket, tz: ZoneInfo) -> datetime:
    """Start of the ``by`` bucket holding ``t``, as an aware datetime in ``tz``.

    Args:
        t: a time (naive = UTC).
        by: ``15min``, ``hour`` or ``day`` (clock intervals in ``tz``).
        tz: the zone whose clock defines the buckets.
    """
    local = utc(t).astimezone(tz)
    if by == "15min":
        start = local.replace(minute=local.minute - local.minute % _QUARTER_MIN, second=0, microsecond=0)
    elif by == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif by == "day":
        # midnight of the local date; round-tripping through UTC moves a midnight that does not exist
        # (a DST change at 00:00) to the first instant of the day
        start = datetime.combine(local.date(), time(0), tzinfo=tz)
    else:
        raise ConfigError(f"--by {by!r}: expected one of {', '.join(BUCKETS)}")
    return start.astimezone(timezone.utc).astimezone(tz)


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """An ISO 8601 date or time; without an offset it is read in ``tz``.

    Raises:
        ConfigError: the text is not ISO 8601.
    """
    s = text.strip()
    try:
        if len(s) == 10:
            d = date.fromisoformat(s)
            t = datetime.combine(d, time(0))
        else:
            t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError as e:
        raise ConfigError(f"{text!r} is not an ISO 8601 date or time (e.g. 2026-05-01T08:00)") from e
    return t.replace(tzinfo=tz) if t.tzinfo is None else t


@dataclass(frozen=True, slots=True)
class CountRow:
    """Crossings in one bucket; ``bucket`` is the bucket's start, aware, in the query's zone."""

    bucket: datetime
    stream: str
    line: str
    class_name: str
    direction: Direction
    count: int


@dataclass(frozen=True, slots=True)
class CountsResult:
    """A query's rows, its zone and what it was computed from (``hourly`` or ``events``)."""

    rows: list[CountRow]
    tz: ZoneInfo
    by: Bucket
    computed_from: str

    def totals(self) -> dict[str, dict[str, dict[str, int]]]:
        """``{line: {class: {"in": n, "out": n}}}`` over all rows (and streams)."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for r in self.rows:
            out.setdefault(r.line, {}).setdefault(r.class_name, {"in": 0, "out": 0})[r.direction] += r.count
        return out


def _whole_hour_offset(t: datetime, tz: ZoneInfo) -> bool:
    off = t.astimezone(tz).utcoffset()
    return off is not None and off.total_seconds() % _HOUR_S == 0


def _on_utc_hour(t: datetime | None) -> bool:
    return t is None or utc(t) == utc(t).replace(minute=0, second=0, microsecond=0)


def default_zone(store: CountStore, flt: CountFilter) -> str:
    """The zone recorded by the matching runs when they agree on one, else ``UTC``."""
    zones = {r.timezone for r in store.runs(CountFilter(stream=flt.stream, run_id=flt.run_id))}
    return zones.pop() if len(zones) == 1 else "UTC"


def query_counts(
    store: CountStore, flt: CountFilter, by: Bucket = "hour", tz: ZoneInfo | None = None
) -> CountsResult:
    """Crossings per bucket × stream × line × class × direction (non-zero rows, sorted by time).

    Args:
        store: an open store.
        flt: which rows; ``since``/``until`` are ``[since, until)`` and filter event times.
        by: bucket size.
        tz: zone of the buckets; default: the zone recorded by the runs (else UTC).

    Raises:
        ConfigError: an unknown bucket size.
        StoreError: the store cannot be read.
    """
    if by not in BUCKETS:
        raise ConfigError(f"--by {by!r}: expected one of {', '.join(BUCKETS)}")
    zone_ = tz if tz is not None else zone(default_zone(store, flt))
    tally: _Tally[tuple[datetime, str, str, str, Direction]] = _Tally()
    source = "events"
    if by != "15min" and _on_utc_hour(flt.since) and _on_utc_hour(flt.until):
        hours = store.hourly(flt)
        end = timedelta(hours=1) - timedelta(microseconds=1)
        if all(_whole_hour_offset(h.hour, zone_) and _whole_hour_offset(h.hour + end, zone_) for h in hours):
            source = "hourly"
            for h in hours:
                key = (utc(bucket_start(h.hour, by, zone_)), h.stream, h.line, h.class_name, h.direction)
                tally[key] += h.count
    if source == "events":
        for e in store.events(flt):
            tally[(utc(bucket_start(e.time, by, zone_)), e.stream, e.line, e.class_name, e.direction)] += 1
    rows = [CountRow(b.astimezone(zone_), s, ln, c, d, n) for (b, s, ln, c, d), n in sorted(tally.items())]
    log.debug("counts: %d row(s) by %s in %s from %s", len(rows), by, zone_.key, source)
    return CountsResult(rows=rows, tz=zone_, by=by, computed_from=source)


def with_range(flt: CountFilter, since: datetime | None, until: datetime | None) -> CountFilter:
    """``flt`` with a time range."""
    return replace(flt, since=since, until=until)


def iter_csv_rows(result: CountsResult) -> Iterable[tuple[str, str, str, str, str, int]]:
    """``(bucket_start, stream, line, class, direction, count)``; ``bucket_start`` ISO 8601 with offset."""
    for r in result.rows:
        yield (r.bucket.isoformat(), r.stream, r.line, r.class_name, r.direction, r.count)
