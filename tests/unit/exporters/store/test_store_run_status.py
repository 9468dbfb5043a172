"""A stored run's final status: finished, interrupted (Ctrl-C, SIGTERM, a stop) or failed; `counts --runs`."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from typer.testing import CliRunner

from vtrack.cli import app
from vtrack.exporters.store import CountFilter, RunInfo, StoreExporter, open_store
from vtrack.exporters.store.exporter import (
    RUN_FAILED,
    RUN_FINISHED,
    RUN_INTERRUPTED,
    closing_status,
)
from vtrack.types import CrossingEvent, Frame, FrameResult

T0 = datetime(2026, 5, 1, 6, 0, tzinfo=timezone.utc)
runner = CliRunner()


def _interrupted() -> str:
    return RUN_INTERRUPTED


@pytest.mark.parametrize(
    ("status", "error", "status_of", "expected"),
    [
        (None, None, None, RUN_FINISHED),
        (None, None, _interrupted, RUN_INTERRUPTED),
        (None, KeyboardInterrupt(), None, RUN_INTERRUPTED),
        (None, SystemExit(130), None, RUN_INTERRUPTED),
        (None, RuntimeError("decoder died"), None, RUN_FAILED),
        (None, RuntimeError("decoder died"), _interrupted, RUN_FAILED),  # an error outranks a stop
        (RUN_FINISHED, KeyboardInterrupt(), None, RUN_FINISHED),  # explicit wins
        (RUN_FAILED, None, _interrupted, RUN_FAILED),
    ],
)
def test_closing_status(
    status: str | None, error: BaseException | None, status_of: Callable[[], str] | None, expected: str
) -> None:
    assert closing_status(status, error, status_of) == expected


@pytest.mark.parametrize("bad", ["running", "done", ""])
def test_closing_status_refuses_unknown_or_running(bad: str) -> None:
    with pytest.raises(ValueError, match="finished, interrupted or failed"):
        closing_status(bad)


def frame_result(i: int, events: int) -> FrameResult:
    """Frame ``i`` (one per second of the run) with ``events`` crossings at its time."""
    when = T0 + timedelta(seconds=i)
    frame = Frame(image=np.zeros((8, 8, 3), dtype=np.uint8), index=i, pts=float(i))
    evs = [CrossingEvent(when, i, 100 * i + k, "bicycle", "gate", "in") for k in range(events)]
    return FrameResult(frame=frame, detections=sv.Detections.empty(), events=evs, time=when)


def exporter(url: str, **kw: object) -> StoreExporter:
    return StoreExporter(open_store(url), RunInfo("r1", "cam"), commit_interval_s=0, **kw)  # type: ignore[arg-type]


def stored(url: str) -> tuple[str, int]:
    with open_store(url) as s:  # type: ignore[attr-defined]
        (run,) = s.runs(CountFilter(run_id="r1"))
        hourly = sum(h.count for h in s.hourly(CountFilter(run_id="r1")))
    assert hourly == run.events
    return run.status, run.events


def test_closed_while_ctrl_c_propagates_is_interrupted_and_keeps_its_counts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    ex = exporter(url)
    with pytest.raises(KeyboardInterrupt):
        try:
            for i in range(3):
                ex.write(frame_result(i, 2))
            raise KeyboardInterrupt
        finally:
            ex.close()
    assert ex.status == RUN_INTERRUPTED
    assert stored(url) == (RUN_INTERRUPTED, 6)


def test_stopped_early_then_rerun_to_the_end_is_finished_not_doubled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    stopped = exporter(url, status_of=_interrupted)
    for i in range(2):
        stopped.write(frame_result(i, 1))
    stopped.close()
    assert stored(url) == (RUN_INTERRUPTED, 2)

    again = exporter(url, status_of=lambda: RUN_FINISHED)
    for i in range(5):
        again.write(frame_result(i, 1))
    again.close()
    assert stored(url) == (RUN_FINISHED, 5)


def test_closed_while_an_error_propagates_is_failed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    ex = exporter(url)
    with pytest.raises(RuntimeError):
        try:
            ex.write(frame_result(0, 1))
            raise RuntimeError("the decoder died")
        finally:
            ex.close()
    assert stored(url) == (RUN_FAILED, 1)


def test_explicit_close_status_and_a_handled_error_before_close(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    ex = exporter(url)
    ex.write(frame_result(0, 1))
    try:
        raise ValueError("handled")
    except ValueError:
        pass
    ex.close()  # no error propagates any more
    assert stored(url) == (RUN_FINISHED, 1)
    ex2 = exporter(url)
    ex2.close(RUN_INTERRUPTED)
    assert stored(url) == (RUN_INTERRUPTED, 0)  # an attempt with no frame still replaces the old one


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    for run_id, stream, status, n in (("b1", "clip", RUN_FINISHED, 3), ("b1", "other", RUN_INTERRUPTED, 1)):
        run = RunInfo(run_id, stream, source=f"/v/{stream}.mp4", start_time=T0)
        ex = StoreExporter(open_store(url), run, commit_interval_s=0)
        for i in range(n):
            ex.write(frame_result(i, 1))
        ex.close(status)
    return url


def test_counts_runs_lists_status_as_csv_and_json(db: str) -> None:
    r = runner.invoke(app, ["counts", "--store", db, "--runs", "--format", "csv"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [(x["run_id"], x["stream"], x["status"], x["events"]) for x in rows] == [
        ("b1", "clip", "finished", "3"),
        ("b1", "other", "interrupted", "1"),
    ]
    assert rows[0]["start_time"] == "2026-05-01T06:00:00+00:00"
    r = runner.invoke(app, ["counts", "--store", db, "--runs", "--stream", "other", "--format", "json"])
    assert r.exit_code == 0, r.output
    (run,) = json.loads(r.stdout)["runs"]
    assert run["status"] == "interrupted" and run["source"] == "/v/other.mp4"


def test_counts_runs_table_and_errors(db: str) -> None:
    r = runner.invoke(app, ["counts", "--store", db, "--runs"])
    assert r.exit_code == 0, r.output
    assert "interrupted" in r.stdout and "finished" in r.stdout
    r = runner.invoke(app, ["counts", "--store", db, "--runs", "--run-id", "nope"])
    assert r.exit_code == 0 and "no runs match" in r.stdout
    r = runner.invoke(app, ["counts", "--store", db, "--runs", "--line", "gate"])
    assert r.exit_code == 2
    assert "--runs lists runs" in r.output and "Traceback" not in r.output
