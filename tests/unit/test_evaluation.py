"""``vtrack.evaluation`` plumbing on tiny synthetic ground truth / tracks pairs (no assets).

The metrics come from ``trackers.eval``; these tests check what we feed it (MOT15 → MOT17 mapping,
ID handling, empty tracks, combined rows) and that bad input ends as an ``EvalError``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vtrack.cli import app
from vtrack.evaluation import (
    HEADLINE,
    EvalError,
    Evaluator,
    find_sequences,
    gt_layout,
    load_mot_rows,
    normalize_gt,
    public_detection_confidence,
    score_files,
    score_rows,
)

FRAMES = 20


def walkers(frames: int = FRAMES) -> np.ndarray:
    """Two people walking apart: MOT15 rows ``frame,id,x,y,w,h,1,-1,-1,-1``, shape ``(2 * frames, 10)``."""
    rows = []
    for f in range(1, frames + 1):
        rows.append([f, 1, 10 + 5 * f, 50, 40, 100, 1, -1, -1, -1])
        rows.append([f, 2, 400 - 5 * f, 60, 40, 100, 1, -1, -1, -1])
    return np.asarray(rows, dtype=np.float64)


def write(path: Path, rows: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(",".join(f"{v:g}" for v in r) + "\n" for r in rows))
    return path


def with_switch(rows: np.ndarray, at: int) -> np.ndarray:
    """Person 1 gets track ID 7 from frame ``at`` on: exactly one identity switch."""
    out = rows.copy()
    out[(out[:, 1] == 1) & (out[:, 0] >= at), 1] = 7
    return out


@pytest.mark.parametrize("columns", [10, 7, 6], ids=["mot15-10col", "mot15-7col", "6col"])
def test_perfect_tracks_score_100(columns: int) -> None:
    gt = walkers()[:, :columns].copy()
    if columns == 7:
        gt[:, 6] = -1  # dctracking's 7-column files carry -1 in the flag column
    score, _ = score_rows("s", gt, walkers()[:, :7])
    assert (score.HOTA, score.DetA, score.AssA, score.IDF1, score.MOTA) == (100.0,) * 5
    assert score.IDSW == 0


def test_one_id_switch_counts_one() -> None:
    gt = walkers()
    score, _ = score_rows("s", gt, with_switch(gt, at=11))
    assert score.IDSW == 1
    assert score.MOTA == pytest.approx(100 * (1 - 1 / len(gt)), abs=1e-3)
    assert score.IDF1 < 100.0
    assert score.AssA < 100.0
    assert score.DetA == 100.0


def test_mot15_gt_is_mapped_not_scored_empty() -> None:
    rows = walkers()
    assert gt_layout(rows) == "mot15"
    mapped, layout = normalize_gt(rows)
    assert layout == "mot15"
    assert mapped.shape == (len(rows), 9)
    np.testing.assert_array_equal(mapped[:, 6:], np.ones((len(rows), 3)))


def test_mot17_gt_passes_unchanged_and_ignored_rows_stay_ignored() -> None:
    rows = walkers()[:, :9].copy()
    rows[:, 7] = 1
    rows[:, 8] = 0.8
    rows[rows[:, 1] == 2, 6] = 0  # person 2 marked "ignore"
    mapped, layout = normalize_gt(rows)
    assert layout == "mot17"
    np.testing.assert_array_equal(mapped, rows)
    # Tracks only for person 1: nothing is missed, since person 2 is not scored.
    score, _ = score_rows("s", rows, walkers()[walkers()[:, 1] == 1])
    assert score.MOTA == 100.0


def test_mot15_flag_zero_stays_ignored() -> None:
    rows = walkers()
    rows[rows[:, 1] == 2, 6] = 0
    mapped, _ = normalize_gt(rows)
    assert set(mapped[mapped[:, 1] == 2, 6].tolist()) == {0.0}


def test_empty_tracks_score_zero_not_error(tmp_path: Path) -> None:
    gt = write(tmp_path / "seq" / "gt" / "gt.txt", walkers())
    (tmp_path / "tracks.txt").write_text("")
    report = score_files(gt, tmp_path / "tracks.txt")
    assert report.sequences[0].name == "seq"
    assert report.combined.MOTA == 0.0
    assert report.combined.details["CLR_FN"] == len(walkers())


def test_combined_sums_counts_over_sequences(tmp_path: Path) -> None:
    for name, at in (("a", 5), ("b", 15)):
        seq = tmp_path / "seqs" / name
        write(seq / "gt" / "gt.txt", walkers())
        write(seq / "det" / "det.txt", np.c_[walkers()[:, :6], np.full(len(walkers()), 0.9)])
        (seq / "seqinfo.ini").write_text(f"[Sequence]\nname={name}\nframeRate=10\nseqLength={FRAMES}\n")
        del at
    seqs = find_sequences([tmp_path / "seqs"])
    assert [s.name for s in seqs] == ["a", "b"]
    assert seqs[0].fps == 10.0 and seqs[0].length == FRAMES
    report = Evaluator(detections="public").evaluate(seqs, tracker="bytetrack")
    per = report.sequences
    assert report.combined.details["CLR_TP"] == sum(s.details["CLR_TP"] for s in per)
    assert report.combined.IDSW == sum(s.IDSW for s in per)
    assert report.combined.MOTA > 80.0  # clean detections: only the confirmation frames are missed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,1,10,10,5\n", "columns"),
        ("1,1,10,10,5,5\n1,1,10,10,5,5,1\n", "same number"),
        ("a,1,10,10,5,5\n", "comma-separated numbers"),
        ("0,1,10,10,5,5\n", "frame must be an integer >= 1"),
        ("1,1,10,10,0,5\n", "width and height"),
    ],
)
def test_malformed_files_raise_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "gt.txt"
    path.write_text(text)
    with pytest.raises(EvalError, match=message) as info:
        load_mot_rows(path, "ground truth")
    assert "\n" not in str(info.value)


def test_gt_without_scored_rows_is_an_error(tmp_path: Path) -> None:
    rows = walkers()
    rows[:, 6] = 0
    with pytest.raises(EvalError, match="no scored pedestrian row"):
        score_rows("s", rows, walkers())


def test_missing_sequence_and_non_sequence(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="not found"):
        find_sequences([tmp_path / "nope"])
    with pytest.raises(EvalError, match="neither a MOTChallenge sequence"):
        find_sequences([tmp_path])


def test_public_scores_in_unit_range_are_kept_raw_ones_scaled() -> None:
    kept, how = public_detection_confidence(np.array([0.2, 0.9]))
    np.testing.assert_allclose(kept, [0.2, 0.9], rtol=1e-6)
    assert "kept" in how
    raw = np.array([-3.0, 10.0, 40.0, 40.0, 200.0])
    conf, how = public_detection_confidence(raw)
    assert conf.min() == 0.0 and conf.max() == 1.0
    assert conf[2] == pytest.approx(0.75)  # the median positive score
    assert "divided by" in how


def _cell(table: str, row: str) -> list[str]:
    """The cells after the name of the table row named ``row``."""
    for line in table.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line) if c.strip()]
        if cells and cells[0] == row:
            return cells[1:]
    raise AssertionError(f"no row {row!r} in:\n{table}")


def test_cli_scores_a_tracks_file_table_matches_json(tmp_path: Path) -> None:
    gt = write(tmp_path / "seq" / "gt" / "gt.txt", walkers())
    tracks = write(tmp_path / "tracks.txt", with_switch(walkers(), at=11)[:, :7])
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(app, ["eval", "--tracks", str(tracks), "--gt", str(gt), "--json", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    seq = record["sequences"][0]
    assert seq["IDSW"] == 1
    cells = _cell(result.output, "seq")
    expected = [str(seq[k]) if k == "IDSW" else f"{seq[k]:.2f}" for k in HEADLINE]
    assert cells == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tracks", "t.txt"], "--tracks and --gt go together"),
        ([], "nothing to evaluate"),
        (["nope-seq"], "sequence folder not found"),
        (["--tracks", "missing.txt", "--gt", "missing-gt.txt"], "not found"),
    ],
)
def test_cli_bad_input_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
