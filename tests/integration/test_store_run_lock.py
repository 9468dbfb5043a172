"""One writer per run id: the count store's run lock, on SQLite and a real PostgreSQL server.

In-process: a second claim is refused, a racing claim has one winner, a dead writer's run is shown
``stale`` and taken over, a writer whose run was taken over stops. With real ``vtrack run``
processes: a second run with the same ``--run-id`` is refused with one line (exit 2) while the first
runs, the first SIGKILLed is listed ``stale`` by ``vtrack counts --runs``, and the next run takes it
over and stores exactly one run's counts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from vtrack.exporters.store import CountFilter, RunInfo, RunLockedError, open_store
from vtrack.exporters.store.base import LEASE_S, CountStore
from vtrack.types import CrossingEvent

UTC = timezone.utc
RUN = RunInfo(run_id="r1", stream="cam", source="clip.mp4", start_time=datetime(2026, 5, 1, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'counts.db'}"
    return str(request.getfixturevalue("postgres_url"))


def _event(i: int) -> CrossingEvent:
    t = datetime(2026, 5, 1, 8, tzinfo=UTC) + timedelta(seconds=i)
    return CrossingEvent(time=t, frame=i, track_id=i, class_name="car", line="gate", direction="in")


def _set_writer(store: CountStore, owner: str, heartbeat: datetime) -> None:
    """Rewrite the run's writer as a killed process would have left it."""
    run_sql = store._run
    tx = store._tx
    to_db = store._to_db
    with tx():
        run_sql(
            "UPDATE vtrack_runs SET owner = ?, heartbeat_at = ? WHERE run_id = ? AND stream = ?",
            (owner, to_db(heartbeat), RUN.run_id, RUN.stream),
        )


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _status(store: CountStore) -> str:
    return store.runs(CountFilter(run_id=RUN.run_id))[0].status


def test_second_writer_is_refused_until_the_first_ends(store_url: str) -> None:
    a, b = open_store(store_url), open_store(store_url)
    try:
        assert a.claim_run(RUN) is None
        a.write_events(RUN, [_event(0)], replace=True)
        with pytest.raises(RunLockedError, match=r"being written by another process \(host .*, pid \d+"):
            b.claim_run(RUN)
        assert _status(b) == "running"
        a.write_events(RUN, [_event(1)])
        a.finish_run(RUN.run_id, RUN.stream)
        assert b.claim_run(RUN) is None  # released: the next writer may replace it
        b.write_events(RUN, [_event(2)], replace=True)
        assert [e.track_id for e in b.events(CountFilter(run_id="r1"))] == [2]
    finally:
        a.close()
        b.close()


def test_racing_claims_have_one_winner(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(6)]
    results: list[str] = []
    gate = threading.Barrier(len(stores))

    def claim(s: CountStore) -> None:
        gate.wait(timeout=30)
        try:
            s.claim_run(RUN)
            results.append("won")
        except RunLockedError:
            results.append("refused")

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for s in stores:
        s.close()
    assert sorted(results) == ["refused"] * 5 + ["won"]


@pytest.mark.parametrize(
    ("writer", "age_s"),
    [
        ("{host}:{dead}:0badc0de", 0.0),  # this host, its pid gone: stale at once
        ("elsewhere.example:4242:0badc0de", LEASE_S + 5),  # another host, silent over the lease
    ],
)
def test_a_dead_writers_run_is_stale_and_taken_over(
    store_url: str, caplog: pytest.LogCaptureFixture, writer: str, age_s: float
) -> None:
    a, b = open_store(store_url), open_store(store_url)
    try:
        a.claim_run(RUN)
        a.write_events(RUN, [_event(0), _event(1)], replace=True)
        owner = writer.format(host=socket.gethostname(), dead=_dead_pid())
        _set_writer(a, owner, datetime.now(UTC) - timedelta(seconds=age_s))
        assert _status(b) == "stale"
        taken = b.claim_run(RUN)
        assert taken is not None and taken.owner == owner
        assert "taking it over" in caplog.text
        b.write_events(RUN, [_event(5)], replace=True)
        b.finish_run(RUN.run_id, RUN.stream)
        assert _status(b) == "finished"
        assert [e.track_id for e in b.events(CountFilter(run_id="r1"))] == [5]
    finally:
        a.close()
        b.close()


def test_a_writer_taken_over_stops(store_url: str) -> None:
    a, b = open_store(store_url), open_store(store_url)
    try:
        a.claim_run(RUN)
        a.write_events(RUN, [_event(0)], replace=True)
        _set_writer(a, a.owner, datetime.now(UTC) - timedelta(seconds=LEASE_S + 1))  # a hung
        b.claim_run(RUN)
        with pytest.raises(RunLockedError, match="was taken over"):
            a.write_events(RUN, [_event(1)])
        a.finish_run(RUN.run_id, RUN.stream, "failed")  # leaves the new writer's run alone
        assert _status(b) == "running"
        assert [e.track_id for e in b.events(CountFilter(run_id="r1"))] == [0]
    finally:
        a.close()
        b.close()


# ---------------------------------------------------------------------------------------- real CLI
STREAM = "bicycle_tracking_sample"


def _vtrack(*args: str) -> list[str]:
    return [sys.executable, "-m", "vtrack.cli", *args]


def _run_args(shared: Path, url: str, out: Path, *extra: str) -> list[str]:
    return _vtrack(
        "run", str(shared / "media/video/bicycle_tracking_sample.mp4"), "--model",
        str(shared / "models/yolov8n.onnx"), "--classes", "bicycle", "--line", "gate=400,250,400,650",
        "--no-video", "--quiet", "--stride", "3", "--store", url, "--run-id", "r1", "--out", str(out),
        *extra,
    )


def _runs(url: str) -> list[str]:
    r = subprocess.run(
        _vtrack("counts", "--store", url, "--runs", "--format", "csv"), capture_output=True, text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()[1:]


@pytest.mark.assets
@pytest.mark.slow
def test_concurrent_vtrack_runs_with_one_run_id(shared: Path, store_url: str, tmp_path: Path) -> None:
    # The first run must outlast the second one's start-up (a few seconds): the slowest backend, every frame.
    slow = ("--stride", "1", "--backend", "onnxruntime", "--precision", "fp32")
    first = subprocess.Popen(
        _run_args(shared, store_url, tmp_path / "a", *slow), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 300
        while not [ln for ln in _runs(store_url) if ln.startswith("r1,") and ",running," in ln]:
            assert first.poll() is None, "the first run ended before it was seen running"
            assert time.monotonic() < deadline, "the first run never registered"
            time.sleep(0.3)
        second = subprocess.run(
            _run_args(shared, store_url, tmp_path / "b"), capture_output=True, text=True, timeout=300
        )
        assert first.poll() is None, "the first run ended before the second was refused"
        assert second.returncode == 2, second.stderr
        err = second.stderr.strip()
        assert len(err.splitlines()) == 1 and "being written by another process" in err, err
        assert "Traceback" not in second.stderr
        assert not (tmp_path / "b" / "tracks.txt").exists()  # refused before any output was opened
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.wait(timeout=60)
    assert [ln.split(",")[2] for ln in _runs(store_url) if ln.startswith("r1,")] == ["stale"]

    third = subprocess.run(
        _run_args(shared, store_url, tmp_path / "c"), capture_output=True, text=True, timeout=600
    )
    assert third.returncode == 0, third.stderr
    assert [ln.split(",")[2] for ln in _runs(store_url) if ln.startswith("r1,")] == ["finished"]
    store = open_store(store_url)
    try:
        stored = Counter((e.line, e.class_name, e.direction) for e in store.events(CountFilter(run_id="r1")))
    finally:
        store.close()
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    expected = Counter(
        {(ln, c, d): n for ln, per in summary["lines"].items() for c, v in per.items() for d, n in v.items()}
    )
    expected = +expected  # without the zeros
    assert stored == expected  # one run's counts, not two
