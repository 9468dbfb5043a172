"""``vtrack.evaluation_counts`` and ``vtrack eval-counts`` on scripted trajectories (no model, no assets)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from vtrack.cli import app
from vtrack.evaluation import EvalError
from vtrack.evaluation_counts import (
    CountEvent,
    load_events,
    score_counts,
    sweep,
    truth_from_gt,
    weighted_rmse,
)
from vtrack.geometry import Line

LINE = Line("mid", 100, 0, 100, 100)  # vertical, top to bottom: left-to-right movement is "in"
FRAMES = 20


def person(pid: int, xs: list[float], first: int = 1, flag: int = 1) -> list[list[float]]:
    """MOT15 rows of one 20×40 box whose bottom-centre x follows ``xs`` from frame ``first``."""
    return [[first + k, pid, x - 10, 40, 20, 40, flag, -1, -1, -1] for k, x in enumerate(xs)]


def rows(*people: list[list[float]]) -> np.ndarray:
    return np.asarray([r for p in people for r in p], dtype=np.float64)


@pytest.mark.parametrize(
    ("gt", "min_frames", "expected"),
    [
        (rows(person(1, [60, 70, 80, 90, 110, 120, 130])), 2, [(5, "in")]),
        (rows(person(1, [140, 130, 120, 110, 90, 80])), 2, [(5, "out")]),
        # on the right for one frame only: its first side is never settled, so no crossing
        (rows(person(1, [110, 90, 80, 70, 60])), 2, []),
        (rows(person(1, [110, 90, 80, 70, 60])), 1, [(1, "out")]),
        # jitter over the line for one frame counts nothing
        (rows(person(1, [80, 90, 105, 95, 90, 85])), 2, []),
        # rows flagged 0 (ignored) are no observation
        (rows(person(1, [60, 70, 80, 90, 110, 120, 130], flag=0)), 2, []),
        # two people, one each way, and one that never reaches the line
        (
            rows(person(1, [60, 80, 120, 130]), person(2, [150, 140, 90, 80], first=5), person(3, [10, 20])),
            2,
            [(3, "in"), (7, "out")],
        ),
    ],
    ids=["in", "out", "one-frame-side", "one-frame-side-min1", "jitter", "flag0", "two-ways"],
)
def test_truth_from_gt_uses_the_counter_rule(
    gt: np.ndarray, min_frames: int, expected: list[tuple[int, str]]
) -> None:
    events = truth_from_gt(gt, [LINE], class_name="person", min_frames=min_frames)
    assert [(e.frame, e.direction) for e in events] == expected
    assert all(e.line == "mid" and e.class_name == "person" for e in events)


@pytest.mark.parametrize(
    ("truth", "pred", "expected"),
    [
        ([], [], 0.0),
        ([1, 0, 0, 0], [1, 0, 0, 0], 0.0),
        # one crossing predicted one segment late: cumulative diff -1 in segment 1 only, w1 = 1/10
        ([1, 0, 0, 0], [0, 1, 0, 0], math.sqrt(1 / 10)),
        # a missed crossing in the first segment costs in every later cumulative segment: sqrt(1)
        ([1, 0, 0, 0], [0, 0, 0, 0], 1.0),
        # a spurious one in the last segment only costs w4 = 4/10
        ([0, 0, 0, 0], [0, 0, 0, 1], math.sqrt(4 / 10)),
    ],
)
def test_weighted_rmse_aicity(truth: list[int], pred: list[int], expected: float) -> None:
    assert weighted_rmse(truth, pred) == pytest.approx(expected)


def ev(frame: int, direction: str = "in", cls: str = "bicycle", line: str = "gate") -> CountEvent:
    return CountEvent(frame, line, cls, direction)  # type: ignore[arg-type]


def test_score_counts_rows_errors_and_expected_keys() -> None:
    truth = [ev(5), ev(15), ev(25), ev(35)]
    pred = [ev(6), ev(16), ev(36, "out")]
    rows_ = score_counts(truth, pred, length=40, segments=4, expected=[("gate", "bicycle"), ("gate", "car")])
    by = {(r.class_name, r.direction): r for r in rows_}
    assert set(by) == {("bicycle", "in"), ("bicycle", "out"), ("car", "in"), ("car", "out")}
    r = by[("bicycle", "in")]
    assert (r.truth, r.predicted, r.abs_error, r.rel_error) == (4, 2, -2, -0.5)
    assert r.segments_truth == (1, 1, 1, 1) and r.segments_predicted == (1, 1, 0, 0)
    # cumulative diffs 0, 0, -1, -2 weighted 3/10 and 4/10
    assert r.wrmse == pytest.approx(math.sqrt(0.3 * 1 + 0.4 * 4))
    assert r.nwrmse == pytest.approx(r.wrmse / 4)
    out = by[("bicycle", "out")]
    assert (out.truth, out.predicted, out.rel_error) == (0, 1, None)
    assert out.nwrmse == pytest.approx(math.sqrt(0.4))  # normalised by 1 when the truth is 0
    assert by[("car", "in")].effectiveness == 1.0


def test_score_counts_events_past_the_length_fall_in_the_last_segment() -> None:
    (row,) = score_counts([ev(3)], [ev(99)], length=10, segments=2)
    assert row.segments_truth == (1, 0) and row.segments_predicted == (0, 1)


def test_sweep_without_truth_compares_with_the_first_stride() -> None:
    runs = {1: [ev(1), ev(2)], 2: [ev(1)], 3: [ev(1), ev(2), ev(3, "out")]}
    done: list[int] = []
    reports, label = sweep([1, 2, 3], lambda s: (runs[s], {"detector_fps": 30 / s}), truth=None,
                           length=10, segments=1, on_done=done.append)  # fmt: skip
    assert done == [1, 2, 3] and "stride 1" in label
    assert [r.total_abs_error for r in reports] == [0, 1, 1]
    assert reports[0].effectiveness == 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json\n", "line 1 is not JSON"),
        ('{"frame": 1, "line": "a", "class": "b"}\n', "needs frame"),
        ('{"frame": 1, "line": "a", "class": "b", "direction": "up"}\n', "direction must be"),
        ("[1, 2]\n", "expected a JSON object"),
    ],
)
def test_load_events_bad_input(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "events.jsonl"
    p.write_text(text)
    with pytest.raises(EvalError, match=message):
        load_events(p)


def test_load_events_reads_vtrack_events(tmp_path: Path) -> None:
    p = tmp_path / "events.jsonl"
    p.write_text(
        '{"time": "2026-01-01T00:00:00+00:00", "frame": 7, "track_id": 3, "class": "bicycle", '
        '"line": "gate", "direction": "out"}\n\n# a comment\n'
    )
    assert load_events(p) == [CountEvent(7, "gate", "bicycle", "out")]
    with pytest.raises(EvalError, match="not found"):
        load_events(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------------------- CLI
def sequence(tmp_path: Path) -> Path:
    """A MOT sequence of 20 blank 200×100 frames: person 1 walks in (crosses at frame index 4)."""
    seq = tmp_path / "seq"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    for f in range(1, FRAMES + 1):
        cv2.imwrite(str(seq / "img1" / f"{f:06d}.jpg"), np.zeros((100, 200, 3), np.uint8))
    gt = rows(person(1, [60 + 10 * k for k in range(10)]))
    (seq / "gt" / "gt.txt").write_text("".join(",".join(f"{v:g}" for v in r) + "\n" for r in gt))
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=seq\nimDir=img1\nframeRate=10\nseqLength={FRAMES}\n")
    return seq


def write_events(path: Path, events: list[tuple[int, str]]) -> Path:
    path.write_text("".join(
        json.dumps({"frame": f, "track_id": 1, "class": "person", "line": "mid", "direction": d}) + "\n"
        for f, d in events
    ))  # fmt: skip
    return path


def test_cli_scores_an_events_file_against_gt(tmp_path: Path) -> None:
    seq = sequence(tmp_path)
    events = write_events(tmp_path / "events.jsonl", [(5, "in"), (12, "out")])
    out = tmp_path / "counts.json"
    args = ["eval-counts", str(seq), "--events", str(events), "--line", "mid=100,0,100,100",
            "--classes", "person", "--segments", "2", "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    rows_ = {r["direction"]: r for r in record["reports"][0]["rows"]}
    assert (rows_["in"]["truth"], rows_["in"]["predicted"], rows_["in"]["rel_error"]) == (1, 1, 0.0)
    assert (rows_["out"]["truth"], rows_["out"]["predicted"], rows_["out"]["abs_error"]) == (0, 1, 1)
    assert rows_["out"]["segments_predicted"] == [0, 1]
    assert "mid" in result.output and "person" in result.output

    csv_out = CliRunner().invoke(app, [*args[:-2], "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    lines = csv_out.output.strip().splitlines()
    assert lines[0].startswith("stride,line,class,direction,truth,predicted")
    assert ",mid,person,out,0,1,1," in lines[2]


def test_cli_truth_from_an_events_file(tmp_path: Path) -> None:
    truth = write_events(tmp_path / "truth.jsonl", [(5, "in"), (6, "in")])
    pred = write_events(tmp_path / "pred.jsonl", [(5, "in")])
    result = CliRunner().invoke(
        app, ["eval-counts", "--events", str(pred), "--truth", str(truth), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)["reports"][0]["rows"]
    assert (row["truth"], row["predicted"], row["rel_error"]) == (2, 1, -0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strides", "1,x"], "expected comma-separated integers"),
        (["--strides", "0"], "every stride must be >= 1"),
        (["--format", "xml"], "--format 'xml'"),
        (["--events", "e.jsonl"], "needs a truth"),
        (["--events", "e.jsonl", "--truth", "t.jsonl", "--gt", "g.txt"], "either as --gt or as --truth"),
        (["--line", "a=1,2,3,4"], "nothing to score"),
        ([], "no counting line"),
        (["--events", "missing.jsonl", "--truth", "missing.jsonl"], "not found"),
    ],
)
def test_cli_bad_input_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "e.jsonl").write_text("")
    result = CliRunner().invoke(app, ["eval-counts", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
