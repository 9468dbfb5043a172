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
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from itertools import groupby
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from vtrack.analytics.aggregate import hour_start
from vtrack.errors import ConfigError
from vtrack.exporters.store.base import CountFilter, CountStore, StoredZoneEvent, utc
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


# -- zones -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZoneCountRow:
    """Zone figures in one bucket; ``bucket`` is the bucket's start, aware, in the query's zone.

    Attributes:
        entries: entries dated in the bucket.
        exits: exits dated in the bucket.
        max_occupancy: most tracks of the class present at once in the bucket; over several hours
            (and runs) the max of the hourly maxima.
        mean_occupancy: time-weighted mean of the tracks present, stored per UTC hour: given for hour
            buckets that are whole UTC hours (the stored hour's mean, also when the range starts
            inside it; where a stream ran several times in one hour, the mean of those runs' means),
            ``None`` for other buckets (hourly means cannot be combined exactly without each hour's
            observed time).
        mean_dwell_seconds: mean dwell of the bucket's exits (over several hours, the hourly means
            weighted by their exits); ``None`` without exits.
    """

    bucket: datetime
    stream: str
    zone: str
    class_name: str
    entries: int
    exits: int
    max_occupancy: int
    mean_dwell_seconds: float | None
    mean_occupancy: float | None = None


@dataclass(frozen=True, slots=True)
class ZoneCountsResult:
    """A zone query's rows, its zone and what it was computed from (``hourly`` or ``events``)."""

    rows: list[ZoneCountRow]
    tz: ZoneInfo
    by: Bucket
    computed_from: str


@dataclass(slots=True)
class _ZoneAcc:
    entries: int = 0
    exits: int = 0
    max_occupancy: int = 0
    dwell_sum: float = 0.0
    dwell_n: int = 0
    occupancy_means: list[float] = field(default_factory=list)

    def dwell(self, mean: float | None, n: int) -> None:
        if mean is not None and n > 0:
            self.dwell_sum += mean * n
            self.dwell_n += n


_ZoneKey = tuple[datetime, str, str, str]


def _zone_tally_from_events(
    store: CountStore, flt: CountFilter, by: Bucket, tz: ZoneInfo
) -> dict[_ZoneKey, _ZoneAcc]:
    """Replay entries and exits per run × stream × zone × class from the run's start (events before
    ``since`` set the occupancy carried into the range); events of one instant count together."""
    tally: dict[_ZoneKey, _ZoneAcc] = {}
    since = utc(flt.since) if flt.since is not None else None
    per_run: dict[tuple[str, str, str, str], list[StoredZoneEvent]] = {}
    for e in store.zone_events(replace(flt, since=None)):
        per_run.setdefault((e.run_id, e.stream, e.zone, e.class_name), []).append(e)
    for (_, stream, zone_name, cls), evs in per_run.items():
        occupancy = 0
        for t, group in groupby(evs, key=lambda x: x.time):
            same = list(group)
            before = occupancy
            for x in same:
                occupancy = occupancy + 1 if x.kind == "enter" else max(occupancy - 1, 0)
            if since is not None and t < since:
                continue
            acc = tally.setdefault((utc(bucket_start(t, by, tz)), stream, zone_name, cls), _ZoneAcc())
            acc.max_occupancy = max(acc.max_occupancy, before, occupancy)
            for x in same:
                if x.kind == "enter":
                    acc.entries += 1
                else:
                    acc.exits += 1
                    acc.dwell(x.dwell_seconds, 1)
    return tally


def query_zone_counts(
    store: CountStore,
    flt: CountFilter,
    by: Bucket = "hour",
    tz: ZoneInfo | None = None,
    *,
    use_hourly: bool = True,
) -> ZoneCountsResult:
    """Zone entries, exits, max occupancy and mean dwell per bucket × stream × zone × class.

    Hour and day buckets are read from the maintained hourly zone rows when exact (as
    :func:`query_counts`); otherwise the entries and exits are replayed. From events, a bucket
    without any entry or exit is left out (even with objects present), and the occupancy is the
    running balance of entries and exits.

    Args:
        store: an open store.
        flt: which rows (``flt.zone``, not ``flt.line``); ``since``/``until`` are ``[since, until)``.
        by: bucket size.
        tz: zone of the buckets; default: the zone recorded by the runs (else UTC).
        use_hourly: ``False`` always replays the events.

    Raises:
        ConfigError: an unknown bucket size.
        StoreError: the store cannot be read.
    """
    if by not in BUCKETS:
        raise ConfigError(f"--by {by!r}: expected one of {', '.join(BUCKETS)}")
    zone_ = tz if tz is not None else zone(default_zone(store, flt))
    tally: dict[_ZoneKey, _ZoneAcc] = {}
    source = "events"
    if use_hourly and by != "15min" and _on_utc_hour(flt.since) and _on_utc_hour(flt.until):
        hours = store.zone_hourly(flt)
        end = timedelta(hours=1) - timedelta(microseconds=1)
        if all(_whole_hour_offset(h.hour, zone_) and _whole_hour_offset(h.hour + end, zone_) for h in hours):
            source = "hourly"
            for h in hours:
                key = (utc(bucket_start(h.hour, by, zone_)), h.stream, h.zone, h.class_name)
                acc = tally.setdefault(key, _ZoneAcc())
                acc.entries += h.entries
                acc.exits += h.exits
                acc.max_occupancy = max(acc.max_occupancy, h.max_occupancy)
                acc.dwell(h.mean_dwell_seconds, h.exits)
    if source == "events":
        tally = _zone_tally_from_events(store, flt, by, zone_)
    if by == "hour" and tally:  # the stored hourly means, for buckets that are whole UTC hours
        if source == "hourly":  # already read, over the same whole hours
            hourly_rows = hours
        else:
            whole = replace(flt, since=None if flt.since is None else hour_start(utc(flt.since)))
            hourly_rows = store.zone_hourly(whole)
        for h in hourly_rows:
            acc_ = tally.get((utc(h.hour), h.stream, h.zone, h.class_name))
            if acc_ is not None:
                acc_.occupancy_means.append(h.mean_occupancy)
    rows = [
        ZoneCountRow(b.astimezone(zone_), s, z, c, a.entries, a.exits, a.max_occupancy,
                     a.dwell_sum / a.dwell_n if a.dwell_n else None,
                     sum(a.occupancy_means) / len(a.occupancy_means) if a.occupancy_means else None)
        for (b, s, z, c), a in sorted(tally.items())
    ]
    log.debug("zone counts: %d row(s) by %s in %s from %s", len(rows), by, zone_.key, source)
    return ZoneCountsResult(rows=rows, tz=zone_, by=by, computed_from=source)


def iter_zone_csv_rows(
    result: ZoneCountsResult,
) -> Iterable[tuple[str, str, str, str, int, int, int, str, str]]:
    """``(bucket_start, stream, zone, class, entries, exits, max_occupancy, mean_occupancy,
    mean_dwell_seconds)``; both means rounded to 3 decimals, empty when unknown (see
    :class:`ZoneCountRow`)."""
    for r in result.rows:
        dwell = "" if r.mean_dwell_seconds is None else f"{r.mean_dwell_seconds:.3f}"
        occ = "" if r.mean_occupancy is None else f"{r.mean_occupancy:.3f}"
        yield (r.bucket.isoformat(), r.stream, r.zone, r.class_name, r.entries, r.exits, r.max_occupancy,
               occ, dwell)
