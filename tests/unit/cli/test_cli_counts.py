"""`vtrack counts` on a SQLite store (in-process, typer's runner) and its one-line errors."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrack.cli import app
from vtrack.exporters.store import RunInfo, open_store
from vtrack.types import CrossingEvent

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    t0 = datetime(2026, 10, 24, 23, 50, tzinfo=timezone.utc)  # 01:50 local, just before the fall-back
    events = [
        CrossingEvent(t0 + timedelta(minutes=20 * i), i, i, "bicycle", "gate", "out" if i % 3 else "in")
        for i in range(9)
    ]
    with open_store(url) as s:  # type: ignore[attr-defined]
        s.write_events(RunInfo("r1", "cam", timezone="Europe/Amsterdam"), events, replace=True)
        s.write_events(RunInfo("r1", "other"), events[:2], replace=True)
    return url


def test_counts_csv_by_hour_in_the_runs_zone(db: str) -> None:
    r = runner.invoke(app, ["counts", "--store", db, "--stream", "cam", "--by", "hour", "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["bucket_start"], x["direction"], x["count"]) for x in rows][:4] == [
        ("2026-10-25T01:00:00+02:00", "in", "1"),
        ("2026-10-25T02:00:00+02:00", "in", "1"),
        ("2026-10-25T02:00:00+02:00", "out", "2"),
        ("2026-10-25T02:00:00+01:00", "in", "1"),
    ]
    assert sum(int(x["count"]) for x in rows) == 9


def test_counts_json_with_filters_and_range(db: str) -> None:
    r = runner.invoke(
        app,
        ["counts", "--store", db, "--class", "bicycle", "--line", "gate", "--by", "day", "--tz", "UTC",
         "--from", "2026-10-25T00:00", "--to", "2026-10-25T02:00", "--format", "json"],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["timezone"] == "UTC" and doc["by"] == "day"
    assert {(x["stream"], x["direction"]): x["count"] for x in doc["rows"]} == {
        ("cam", "in"): 2, ("cam", "out"): 4, ("other", "out"): 1,
    }


def test_counts_table(db: str) -> None:
    r = runner.invoke(app, ["counts", "--store", db, "--by", "15min"])
    assert r.exit_code == 0, r.output
    assert "crossings per 15min" in r.stdout


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--store", "mysql://x/y"], "expected sqlite"),
        (["--store", "postgresql://nobody@127.0.0.1:1/x"], "cannot connect"),
        (["--by", "week"], "--by"),
        (["--format", "xml"], "--format"),
        (["--tz", "Mars/Base"], "unknown time zone"),
        (["--from", "soon"], "ISO 8601"),
    ],
)
def test_counts_errors_are_one_line(db: str, args: list[str], msg: str) -> None:
    full = ["counts", "--store", db, *args] if args[0] != "--store" else ["counts", *args]
    r = runner.invoke(app, full)
    assert r.exit_code == 2
    assert msg in r.output
    assert "Traceback" not in r.output
