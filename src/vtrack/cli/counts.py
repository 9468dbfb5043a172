"""``vtrack counts``: crossings (or, with ``--zone``/``--zones``, zone figures) per 15 min, hour or day
from a count store, as a table, CSV or JSON; with ``--runs``, the store's runs and their status.

Errors (bad URL, unreachable database, unknown zone, bad time) end as one line on stderr with exit
code 2.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Annotated, Literal, TypeVar

import typer
from rich.table import Table

from vtrack.cli.common import fail
from vtrack.cli.output import out
from vtrack.errors import ConfigError, VtrackError
from vtrack.exporters.store.base import CountFilter, RunRecord, open_store
from vtrack.exporters.store.query import (
    BUCKETS,
    Bucket,
    CountsResult,
    ZoneCountsResult,
    iter_csv_rows,
    iter_zone_csv_rows,
    parse_time,
    query_counts,
    query_zone_counts,
    zone,
)

CSV_HEADER = ("bucket_start", "stream", "line", "class", "direction", "count")
ZONE_CSV_HEADER = (
    "bucket_start", "stream", "zone", "class", "entries", "exits", "max_occupancy", "mean_occupancy",
    "mean_dwell_seconds"
)
RUNS_HEADER = (
    "run_id", "stream", "status", "events", "start_time", "start_time_source", "timezone", "source"
)
Format = Literal["table", "csv", "json"]
FORMATS: tuple[str, ...] = ("table", "csv", "json")
R = TypeVar("R", CountsResult, ZoneCountsResult)


def _csv_text(header: Iterable[object], rows: Iterable[Iterable[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def render_csv(result: CountsResult) -> str:
    """CSV text: a header and one row per bucket × stream × line × class × direction."""
    return _csv_text(CSV_HEADER, iter_csv_rows(result))


def render_json(result: CountsResult) -> str:
    """JSON text: ``{"timezone", "by", "rows": [{bucket_start, stream, line, class, direction, count}]}``."""
    rows = [dict(zip(CSV_HEADER, r, strict=True)) for r in iter_csv_rows(result)]
    return json.dumps({"timezone": result.tz.key, "by": result.by, "rows": rows}, indent=2) + "\n"


def render_zone_csv(result: ZoneCountsResult) -> str:
    """CSV text: a header and one row per bucket × stream × zone × class (a mean empty when unknown)."""
    return _csv_text(ZONE_CSV_HEADER, iter_zone_csv_rows(result))


def render_zone_json(result: ZoneCountsResult) -> str:
    """JSON text: ``{"timezone", "by", "rows": [{bucket_start, stream, zone, class, entries, exits,
    max_occupancy, mean_occupancy, mean_dwell_seconds}]}`` (``null`` when unknown: dwell without
    exits, mean occupancy outside hour buckets)."""
    rows = [
        {"bucket_start": r.bucket.isoformat(), "stream": r.stream, "zone": r.zone, "class": r.class_name,
         "entries": r.entries, "exits": r.exits, "max_occupancy": r.max_occupancy,
         "mean_occupancy": r.mean_occupancy, "mean_dwell_seconds": r.mean_dwell_seconds}
        for r in result.rows
    ]
    return json.dumps({"timezone": result.tz.key, "by": result.by, "rows": rows}, indent=2) + "\n"


def render_zone_table(result: ZoneCountsResult) -> Table:
    """A rich table of zone figures per bucket × stream × zone × class."""
    title = f"zone figures per {result.by} ({result.tz.key})"
    cols = ("start", "stream", "zone", "class", "entries", "exits", "max occ.", "mean occ.", "mean dwell s")
    table = Table(*cols, title=title)
    for row in iter_zone_csv_rows(result):
        table.add_row(*(str(v) for v in row))
    return table


def run_rows(runs: list[RunRecord]) -> list[tuple[str, str, str, int, str, str, str, str]]:
    """One row per run in :data:`RUNS_HEADER` order (start time ISO 8601 UTC, empty when unknown)."""
    return [
        (r.run_id, r.stream, r.status, r.events, r.start_time.isoformat() if r.start_time else "",
         r.start_time_source, r.timezone, r.source)
        for r in runs
    ]


def render_runs(runs: list[RunRecord], fmt: str) -> str | Table:
    """The runs as CSV text, JSON text (``{"runs": [...]}``) or a rich table.

    ``status``: ``running`` (being written), ``stale`` (left running by a process that is gone: killed;
    the next run with its id takes it over), ``finished``, ``interrupted`` (stopped early by
    Ctrl-C/SIGTERM; its counts so far are kept) or ``failed``.
    """
    rows = run_rows(runs)
    if fmt == "csv":
        return _csv_text(RUNS_HEADER, rows)
    if fmt == "json":
        return json.dumps({"runs": [dict(zip(RUNS_HEADER, r, strict=True)) for r in rows]}, indent=2) + "\n"
    table = Table("run id", "stream", "status", "events", "start time", "time zone", title="runs")
    for r in rows:
        table.add_row(r[0], r[1], r[2], str(r[3]), r[4], r[6])
    return table


def render_table(result: CountsResult) -> Table:
    """A rich table with in/out side by side per bucket × stream × line × class."""
    title = f"crossings per {result.by} ({result.tz.key})"
    table = Table("start", "stream", "line", "class", "in", "out", title=title)
    merged: dict[tuple[str, str, str, str], dict[str, int]] = {}
    for r in result.rows:
        merged.setdefault((r.bucket.isoformat(), r.stream, r.line, r.class_name), {"in": 0, "out": 0})[
            r.direction
        ] += r.count
    for (start, stream, line, cls), c in merged.items():
        table.add_row(start, stream, line, cls, str(c["in"]), str(c["out"]))
    return table


def counts_command(
    store: Annotated[
        str, typer.Option("--store", help="Count store URL: sqlite:///path.db or postgresql://user@host/db.")
    ],
    stream: Annotated[
        str | None, typer.Option(help="Only this stream (a file's name without extension).")
    ] = None,
    line: Annotated[str | None, typer.Option(help="Only this counting line.")] = None,
    zone_name: Annotated[
        str | None, typer.Option("--zone", help="Zone figures of this zone instead of line crossings.")
    ] = None,
    all_zones: Annotated[
        bool, typer.Option("--zones", help="Zone figures of every zone instead of line crossings.")
    ] = False,
    class_name: Annotated[str | None, typer.Option("--class", help="Only this class, e.g. bicycle.")] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Only this run.")] = None,
    since: Annotated[
        str | None, typer.Option("--from", help="Start (inclusive), ISO 8601; no offset = in --tz.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="End (exclusive), ISO 8601; no offset = in --tz.")
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Bucket: 15min, hour or day (clock in --tz).")] = "hour",
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="IANA zone of the buckets (default: the runs' recorded zone, else UTC)."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    list_runs: Annotated[
        bool,
        typer.Option(
            "--runs",
            help="List the runs (run id, stream, status: running/stale/finished/interrupted/failed, events) "
            "instead of counts; filters: --stream, --run-id.",
        ),
    ] = False,
) -> None:
    """Crossings per 15 min, hour or day from a count store, in a time zone (DST-aware).

    With --zone Z or --zones: entries, exits, max and mean occupancy and mean dwell per zone instead
    (over several hours: the max of the hourly maxima, the mean dwell weighted by exits; mean occupancy
    for hour buckets only). With --runs: the
    store's runs and their status.
    """
    zones = zone_name is not None or all_zones
    zone_result: ZoneCountsResult | None = None
    try:
        if list_runs:
            others = zones or any(v is not None for v in (line, class_name, since, until, tz))
            _print_runs(store, stream, run_id, fmt, others)
            return
        if zones and line is not None:
            raise ConfigError("--line cannot be combined with --zone/--zones: query lines or zones")
        if zone_name is not None and all_zones:
            raise ConfigError("--zone and --zones are exclusive: one zone or every zone")
        if by not in BUCKETS:
            raise ConfigError(f"--by {by!r}: expected one of {', '.join(BUCKETS)}")
        if fmt not in FORMATS:
            raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
        bucket: Bucket = by  # type: ignore[assignment]
        flt = CountFilter(stream=stream, line=line, class_name=class_name, run_id=run_id, zone=zone_name)
        st = open_store(store)
        try:
            zone_ = zone(tz) if tz is not None else None
            if since is not None or until is not None:
                from vtrack.exporters.store.query import default_zone

                parse_zone = zone_ if zone_ is not None else zone(default_zone(st, flt))
                flt = CountFilter(
                    stream=stream, line=line, class_name=class_name, run_id=run_id, zone=zone_name,
                    since=parse_time(since, parse_zone) if since is not None else None,
                    until=parse_time(until, parse_zone) if until is not None else None,
                )
            if zones:
                zone_result = query_zone_counts(st, flt, bucket, zone_)
            else:
                result = query_counts(st, flt, bucket, zone_)
        finally:
            st.close()
    except VtrackError as e:
        fail(e)
    if zone_result is not None:
        _show(fmt, zone_result, render_zone_csv, render_zone_json, render_zone_table, "no zone figures match")
    else:
        _show(fmt, result, render_csv, render_json, render_table, "no crossings match")


def _print_runs(store: str, stream: str | None, run_id: str | None, fmt: str, other_filters: bool) -> None:
    if other_filters:
        raise ConfigError("--runs lists runs: it takes only --stream, --run-id and --format")
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    st = open_store(store)
    try:
        runs = st.runs(CountFilter(stream=stream, run_id=run_id))
    finally:
        st.close()
    shown = render_runs(runs, fmt)
    if isinstance(shown, str):
        typer.echo(shown, nl=False)
    elif runs:
        out.print(shown)
    else:
        out.print("no runs match", highlight=False)


def _show(
    fmt: str,
    result: R,
    as_csv: Callable[[R], str],
    as_json: Callable[[R], str],
    as_table: Callable[[R], Table],
    empty: str,
) -> None:
    """Print crossings or zone figures in ``fmt``: CSV or JSON on stdout as is, else a table (or
    ``empty`` when there are no rows)."""
    if fmt == "csv":
        typer.echo(as_csv(result), nl=False)
    elif fmt == "json":
        typer.echo(as_json(result), nl=False)
    elif result.rows:
        out.print(as_table(result))
    else:
        out.print(empty, highlight=False)
