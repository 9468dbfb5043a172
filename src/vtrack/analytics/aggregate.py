"""Hourly aggregation of crossing events (pure logic)."""

from __future__ import annotations

from collections import Counter as _Tally
from datetime import datetime

from vtrack.types import CrossingEvent, Direction

CountKey = tuple[datetime, str, str, Direction]


def hour_start(t: datetime) -> datetime:
    """Start of the clock hour holding ``t``, in ``t``'s own time zone."""
    return t.replace(minute=0, second=0, microsecond=0)


class HourlyCounts:
    """Counts crossings per hour × line × class × direction.

    Memory is bounded by the number of distinct keys (hours × lines × classes × 2), not by events.
    """

    def __init__(self) -> None:
        self._tally: _Tally[CountKey] = _Tally()

    def add(self, event: CrossingEvent) -> None:
        """Count one event in its hour."""
        self._tally[(hour_start(event.time), event.line, event.class_name, event.direction)] += 1

    def rows(self) -> list[tuple[datetime, str, str, Direction, int]]:
        """All non-zero counts as ``(hour_start, line, class, direction, count)``, sorted."""
        return sorted((*k, n) for k, n in self._tally.items())

    def totals(self) -> dict[str, dict[str, dict[str, int]]]:
        """Totals as ``{line: {class: {"in": n, "out": n}}}``."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (_, line, cls, direction), n in self._tally.items():
            per = out.setdefault(line, {}).setdefault(cls, {"in": 0, "out": 0})
            per[direction] += n
        return out
