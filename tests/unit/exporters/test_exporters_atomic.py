"""Output files under a full disk and their modes: nothing is left cut under its final name, and
every file gets 0666 less the umask (the CSVs and the summary were 0600)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vtrack.exporters import CountsCsvExporter, EventsJsonlExporter, MotTracksExporter, write_summary
from vtrack.exporters.files import ZoneEventsJsonlExporter, ZonesCsvExporter

UMASK = 0o022


@pytest.fixture
def umask() -> object:
    old = os.umask(UMASK)
    try:
        yield UMASK
    finally:
        os.umask(old)


def test_every_output_gets_the_same_mode(tmp_path: Path, result, event, umask: int) -> None:  # type: ignore[no-untyped-def]
    exporters = [
        EventsJsonlExporter(tmp_path / "events.jsonl"),
        CountsCsvExporter(tmp_path / "counts.csv"),
        MotTracksExporter(tmp_path / "tracks.txt"),
        ZoneEventsJsonlExporter(tmp_path / "zone_events.jsonl"),
        ZonesCsvExporter(tmp_path / "zones.csv"),
    ]
    for ex in exporters:
        ex.write(result(events=[event()]))
        ex.close()
    write_summary(tmp_path / "summary.json", {"frames": 1})
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(modes, 0o666 & ~umask), modes
    assert len(modes) == 6  # no temporary file left


def test_an_earlier_runs_file_is_removed_when_a_new_one_opens(tmp_path: Path, result) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "tracks.txt"
    old.write_text("1,1,0,0,1,1,1,-1,-1,-1\n")
    ex = MotTracksExporter(old)
    assert not old.exists()  # never an earlier run's tracks beside this run's other files
    ex.write(result())
    ex.close()
    assert old.exists() and old.read_text() == ""


_FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from datetime import datetime, timezone
    import numpy as np, supervision as sv
    from vtrack.errors import ExportError
    from vtrack.exporters import MotTracksExporter
    from vtrack.types import Frame, FrameResult

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    det = sv.Detections(xyxy=np.tile(np.float32([[1, 2, 30, 40]]), (50, 1)), tracker_id=np.arange(50),
                        confidence=np.full(50, 0.5, np.float32), class_id=np.zeros(50, int))
    img = np.zeros((8, 8, 3), np.uint8)
    ex = MotTracksExporter(sys.argv[1], flush_interval_s=0)
    try:
        for i in range(1000):
            ex.write(FrameResult(frame=Frame(image=img, index=i, pts=i / 25), detections=det, events=[],
                                 time=datetime.now(timezone.utc)))
    except ExportError as e:
        print(e)
        try:
            ex.close()
        except ExportError as e2:
            print(e2)
        sys.exit(3)
    """
)


def test_a_full_disk_leaves_no_file_cut_under_its_final_name(tmp_path: Path) -> None:
    final = tmp_path / "tracks.txt"
    r = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(final)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert r.returncode == 3, r.stderr
    first = r.stdout.splitlines()[0]
    assert first == f"cannot write MOT tracks file {final}: File too large", r.stdout
    assert "Traceback" not in r.stderr
    assert not final.exists()
    part = tmp_path / "tracks.txt.part"
    assert part.exists() and part.stat().st_size <= 20_000
