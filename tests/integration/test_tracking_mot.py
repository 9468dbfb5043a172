"""Sanity run of the trackers on MOT15 TUD-Campus public detections (``shared/mot/TUD-Campus``).

Not a benchmark: IoU-only trackers on DPM detections in a scene with heavy mutual occlusion swap and
fragment IDs. The bounds catch a tracker that is broken (no IDs, or a new ID every few frames), not
one that is a few points worse.

``det.txt`` rows are ``frame,id,x,y,w,h,score`` (1-based frames, top-left + size in pixels, ``id`` -1).
The scores are raw DPM scores (0.14–133 here, median 44), not probabilities. They are mapped to
``[0, 1]`` as ``min(score / 50, 1)``: about three quarters of the rows become high-score boxes (≥ 0.5)
and the rest feed ByteTrack's second, low-score association, so both stages run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from vtrack.trackers import TRACKERS, make_tracker

pytestmark = pytest.mark.assets

SEQ = "TUD-Campus"
FPS = 25.0  # seqinfo.ini frameRate
GT_IDENTITIES = 8
SCORE_FOR_FULL_CONFIDENCE = 50.0
# An ID per identity is perfect; the paper-style ByteTrack gives 11 here (fragments after occlusions).
# Fewer than 5 means people who walk through the whole clip were never confirmed; more than twice the
# identities means tracks break all the time.
MIN_IDS, MAX_IDS = 5, 2 * GT_IDENTITIES
# ByteTrack covers 72% of the 359 GT boxes with a confirmed track (IoU > 0.5); the detections alone
# reach 77%.
MIN_GT_COVERAGE = 0.6


def _boxes(rows: np.ndarray) -> np.ndarray:
    xyxy = rows[:, 2:6].astype(np.float64).copy()
    xyxy[:, 2:] += xyxy[:, :2]
    return xyxy


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def _load(shared: Path) -> tuple[np.ndarray, np.ndarray, int]:
    root = shared / "mot" / SEQ
    det = np.loadtxt(root / "det" / "det.txt", delimiter=",", ndmin=2)
    gt = np.loadtxt(root / "gt" / "gt.txt", delimiter=",", ndmin=2)
    assert det.shape[1] >= 7, f"expected frame,id,x,y,w,h,score,... rows, got {det.shape[1]} columns"
    assert len(np.unique(gt[:, 1])) == GT_IDENTITIES
    return det, gt, int(max(det[:, 0].max(), gt[:, 0].max()))


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_tracker_on_tud_campus_gives_a_sane_number_of_ids(shared: Path, name: str) -> None:
    det, gt, n_frames = _load(shared)
    tracker = make_tracker(name, fps=FPS)
    ids: set[int] = set()
    covered = 0
    for frame in range(1, n_frames + 1):
        rows = det[det[:, 0] == frame]
        d = sv.Detections(
            xyxy=_boxes(rows).astype(np.float32),
            confidence=np.minimum(rows[:, 6] / SCORE_FOR_FULL_CONFIDENCE, 1.0).astype(np.float32),
            class_id=np.zeros(len(rows), dtype=np.int64),
            data={"row": np.arange(len(rows))},
        )
        out = tracker.update(d)
        assert len(out) == len(rows)
        np.testing.assert_array_equal(out.data["row"], np.arange(len(rows)))
        tids = out.tracker_id
        assert tids is not None
        confirmed = tids[tids > 0]
        assert len(np.unique(confirmed)) == len(confirmed), f"frame {frame}: one ID on two boxes"
        ids.update(confirmed.tolist())

        g = gt[gt[:, 0] == frame]
        if len(g) and len(out):
            overlap = _iou(_boxes(g), out.xyxy.astype(np.float64))
            overlap[:, tids <= 0] = 0.0
            covered += int((overlap.max(axis=1) > 0.5).sum())

    coverage = covered / len(gt)
    assert MIN_IDS <= len(ids) <= MAX_IDS, f"{name}: {len(ids)} IDs for {GT_IDENTITIES} identities"
    if name == "bytetrack":
        assert coverage >= MIN_GT_COVERAGE, f"{name}: confirmed tracks cover {coverage:.0%} of GT boxes"
