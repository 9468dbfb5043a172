"""Events JSONL, hourly counts CSV, MOT tracks and the summary JSON."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from vtrack.analytics.aggregate import HourlyCounts
from vtrack.exporters import (
    CountsCsvExporter,
    EventsJsonlExporter,
    Exporter,
    ExportError,
    MotTracksExporter,
    write_summary,
)


@pytest.mark.parametrize(
    "factory",
    [EventsJsonlExporter, CountsCsvExporter, MotTracksExporter],
    ids=["jsonl", "csv", "mot"],
)
def test_exporters_follow_the_protocol_and_close_twice(tmp_path, factory, result):
    ex = factory(tmp_path / "deep" / "er" / "out")
    assert isinstance(ex, Exporter)
    ex.write(result())
    ex.close()
    ex.close()
    assert (tmp_path / "deep" / "er" / "out").exists()
    with pytest.raises(ExportError, match="closed"):
        ex.write(result())


# -- events JSONL ----------------------------------------------------------------------------


def test_jsonl_one_parsable_line_per_event(tmp_path, result, event):
    path = tmp_path / "events.jsonl"
    ex = EventsJsonlExporter(path)
    evs = [event(0.5, track=1), event(1.0, track=2, direction="out"), event(61, cls="bus", line="exit")]
    ex.write(result(events=evs[:2], index=10))
    ex.write(result(index=11))
    ex.write(result(events=evs[2:], index=12))
    ex.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(s) for s in lines] == [e.to_json() for e in evs]
    assert ex.events_written == 3


def test_jsonl_flushed_before_close(tmp_path, result, event):
    path = tmp_path / "events.jsonl"
    ex = EventsJsonlExporter(path, flush_interval_s=0)
    ex.write(result(events=[event()]))
    part = path.with_name("events.jsonl.part")
    assert len(part.read_text().splitlines()) == 1  # on disk already (kept by a crash)...
    assert not path.exists()  # ...but under its final name only once complete
    ex.close()
    assert len(path.read_text().splitlines()) == 1 and not part.exists()


def test_jsonl_flushed_by_a_later_frame_without_events(tmp_path, result, event, monkeypatch):
    import vtrack.exporters.files as files

    now = [100.0]
    monkeypatch.setattr(files.time, "monotonic", lambda: now[0])
    path = tmp_path / "events.jsonl"
    ex = EventsJsonlExporter(path, flush_interval_s=1.0)
    ex.write(result(events=[event()]))  # buffered
    now[0] += 1.5
    ex.write(result())  # no events, but the interval has passed
    assert len(path.with_name("events.jsonl.part").read_text().splitlines()) == 1
    ex.close()


# -- counts CSV ------------------------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_rows_match_hourly_counts(tmp_path, result, event):
    evs = [
        event(0, direction="in"),
        event(1, direction="in"),
        event(1.5, direction="out", cls="bus"),
        event(3, direction="in"),  # 12:58 + 3 min → next hour
        event(3, direction="out", line="exit"),
    ]
    path = tmp_path / "counts.csv"
    ex = CountsCsvExporter(path, checkpoint_interval_s=None)
    ex.write(result(events=evs[:3]))
    ex.write(result(events=evs[3:]))
    ex.close()
    reference = HourlyCounts()
    for e in evs:
        reference.add(e)
    rows = _read_csv(path)
    assert list(rows[0]) == ["hour_start", "line", "class", "direction", "count"]
    assert [(r["hour_start"], r["line"], r["class"], r["direction"], int(r["count"])) for r in rows] == [
        (h.isoformat(), line, cls, d, n) for h, line, cls, d, n in reference.rows()
    ]
    assert rows[0]["hour_start"] == "2024-05-01T12:00:00+02:00"
    assert {r["hour_start"] for r in rows} == {"2024-05-01T12:00:00+02:00", "2024-05-01T13:00:00+02:00"}
    assert datetime.fromisoformat(rows[0]["hour_start"]).utcoffset() is not None


def test_csv_shared_counts_not_fed_twice(tmp_path, result, event):
    shared = HourlyCounts()
    shared.add(event())
    ex = CountsCsvExporter(tmp_path / "c.csv", counts=shared, feed=False)
    ex.write(result(events=[event()]))
    ex.close()
    assert [int(r["count"]) for r in _read_csv(tmp_path / "c.csv")] == [1]


def test_csv_checkpoint_written_atomically_before_close(tmp_path, result, event):
    path = tmp_path / "counts.csv"
    ex = CountsCsvExporter(path, checkpoint_interval_s=0)
    ex.write(result(events=[event()]))
    assert [r["count"] for r in _read_csv(path)] == ["1"]
    ex.write(result(events=[event()]))
    assert [r["count"] for r in _read_csv(path)] == ["2"]
    ex.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counts.csv"]  # no temporary files left


def test_csv_without_events_has_the_header(tmp_path):
    path = tmp_path / "counts.csv"
    CountsCsvExporter(path).close()
    assert path.read_text() == "hour_start,line,class,direction,count\n"


# -- MOT tracks ------------------------------------------------------------------------------


def test_mot_lines_format_and_frame_numbering(tmp_path, detections, result):
    path = tmp_path / "tracks.txt"
    ex = MotTracksExporter(path)
    det = detections(
        [[10, 20, 50.5, 80.25], [0, 0, 5, 5], [100.123, 200.456, 150.789, 260.001]],
        [3, -1, 12],
        conf=[0.91234, 0.3, 0.5],
    )
    ex.write(result(det, index=0))
    ex.write(result(index=1))  # nothing tracked
    ex.write(result(detections([[1, 2, 3, 4]], [3]), index=4))
    ex.close()
    assert path.read_text().splitlines() == [
        "1,3,10.00,20.00,40.50,60.25,0.9123,-1,-1,-1",
        "1,12,100.12,200.46,50.67,59.55,0.5000,-1,-1,-1",
        "5,3,1.00,2.00,2.00,2.00,0.9000,-1,-1,-1",
    ]
    assert ex.rows_written == 3


def test_mot_skips_untracked_and_defaults_confidence(detections, result):
    assert MotTracksExporter.format_rows(result(detections([[1, 2, 3, 4]], None))) == []
    det = detections([[1, 2, 3, 4]], [7])
    det.confidence = None
    assert MotTracksExporter.format_rows(result(det, index=9)) == [
        "10,7,1.00,2.00,2.00,2.00,1.0000,-1,-1,-1\n"
    ]


# -- summary ---------------------------------------------------------------------------------


def test_summary_written_atomically_with_plain_json(tmp_path):
    path = tmp_path / "run" / "summary.json"
    path.parent.mkdir()
    path.write_text("old")
    summary = {
        "started": datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        "frames": np.int64(300),
        "fps": np.float32(29.5),
        "video": tmp_path / "out.mp4",
        "boxes": np.array([1, 2]),
        "counts": {"gate": {"car": {"in": 2, "out": 1}}},
    }
    assert write_summary(path, summary) == path
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["started"] == "2024-05-01T12:00:00+00:00"
    assert data["frames"] == 300 and data["fps"] == 29.5 and data["boxes"] == [1, 2]
    assert data["video"] == str(tmp_path / "out.mp4")
    assert data["counts"] == {"gate": {"car": {"in": 2, "out": 1}}}
    assert sorted(p.name for p in path.parent.iterdir()) == ["summary.json"]


def test_summary_unserialisable_raises_and_keeps_old_file(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"ok": true}')
    with pytest.raises(ExportError, match="not JSON serialisable"):
        write_summary(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": True}
