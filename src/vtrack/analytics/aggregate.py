"""Hourly aggregation of crossing events (pure logic)."""

from __future__ import annotations

import threading
from collections import Counter as _Tally
from datetime import date, datetime, timedelta, timezone

from vtrack.types import CrossingEvent, Direction

CountKey = tuple[datetime, str, str, Direction]


def hour_start(t: datetime) -> datetime:
    """Start of the clock hour holding ``t``, in ``t``'s own time zone."""
    return t.replace(minute=0, second=0, microsecond=0)


class UtcDays:
    """Tells when successive times pass a UTC midnight (a live stream's daily rotations).

    Attributes:
        day: the UTC day of the latest time given, ``None`` before the first.
    """

    def __init__(self) -> None:
        self.day: date | None = None

    def turned(self, t: datetime) -> bool:
        """Whether ``t`` (aware) falls on another UTC day than the previous call's (never on the first)."""
        day = t.astimezone(timezone.utc).date()
        turned = self.day is not None and day != self.day
        self.day = day
        return turned


class HourlyCounts:
    """Counts crossings per hour × line × class × direction.

    Hours are clock hours in each event's own time zone (``counts.csv`` of a run), or UTC hours with
    ``utc=True`` (a live service). Thread-safe: one thread adds while others read.

    Args:
        keep_hours: keep only the latest this many hours (older ones are dropped as newer ones
            arrive); ``None`` keeps every hour.
        utc: count in UTC hours.

    Memory is bounded by the number of distinct keys (hours × lines × classes × 2), not by events;
    with ``keep_hours`` by ``keep_hours`` hours of keys, whatever the uptime.
    """

    def __init__(self, keep_hours: int | None = None, *, utc: bool = False) -> None:
        if keep_hours is not None and keep_hours < 1:
            raise ValueError(f"keep_hours must be >= 1, got {keep_hours}")
        self.keep_hours = keep_hours
        self.utc = utc
        self._tally: _Tally[CountKey] = _Tally()
        self._latest: datetime | None = None
        self._lock = threading.Lock()

    def add(self, event: CrossingEvent) -> None:
        """Count one event in its hour."""
        t = event.time.astimezone(timezone.utc) if self.utc else event.time
        hour = hour_start(t)
        with self._lock:
            self._tally[(hour, event.line, event.class_name, event.direction)] += 1
            if self.keep_hours is not None and (self._latest is None or hour > self._latest):
                self._latest = hour
                horizon = hour - timedelta(hours=self.keep_hours - 1)
                for key in [k for k in self._tally if k[0] < horizon]:
                    del self._tally[key]

    def rows(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[datetime, str, str, Direction, int]]:
        """Non-zero counts as ``(hour_start, line, class, direction, count)``, sorted; only the hours
        overlapping ``[since, until)`` when given."""
        with self._lock:
            items = list(self._tally.items())
        return sorted(
            (*k, n)
            for k, n in items
            if (since is None or k[0] + timedelta(hours=1) > since) and (until is None or k[0] < until)
        )

    def totals(self) -> dict[str, dict[str, dict[str, int]]]:
        """Totals as ``{line: {class: {"in": n, "out": n}}}``."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        with self._lock:
            items = list(self._tally.items())
        for (_, line, cls, direction), n in items:
            per = out.setdefault(line, {}).setdefault(cls, {"in": 0, "out": 0})
            per[direction] += n
        return out

    def __len__(self) -> int:
        """Hours with counts."""
        with self._lock:
            return len({k[0] for k in self._tally})
