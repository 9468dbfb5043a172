"""The paper's ByteTrack steps (``PaperByteTrackEngine``), one scripted scene per step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import supervision as sv
from hypothesis import given, settings
from hypothesis import strategies as st

from vtrack.trackers import ByteTrack, LibraryTracker
from vtrack.trackers.byte_engine import PaperByteTrackEngine, assign, iou_matrix

FPS = 30.0
LIBRARY_SWITCHES: dict[str, Any] = {
    "kalman": "xyxy", "fuse_score": False, "second_match_thresh": 0.8, "second_stage_lost": True,
    "separate_unconfirmed": False, "assignment": "threshold", "remove_duplicates": False,
}  # fmt: skip


PAPER_THRESHOLDS: dict[str, Any] = {
    "high_conf_threshold": 0.5, "track_activation_threshold": 0.6, "min_iou": 0.2,
}  # fmt: skip
"""The paper's MOT17 thresholds (the engine's own defaults)."""


def frame(boxes: list[list[float]], conf: list[float]) -> sv.Detections:
    return sv.Detections(
        xyxy=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.asarray(conf, dtype=np.float32),
        class_id=np.zeros(len(conf), dtype=np.int64),
    )


def shifted(box: list[float], dx: float) -> list[float]:
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


def scene(seed: int, frames: int = 60, n: int = 12) -> list[sv.Detections]:
    """Objects at constant speed with 1 px noise, scores 0.15-1.0, 10% missed per frame."""
    rng = np.random.default_rng(seed)
    wh = rng.uniform([20, 40], [60, 120], size=(n, 2))
    start = rng.uniform([0, 0], [600, 400], size=(n, 2))
    vel = rng.uniform(-4, 4, size=(n, 2))
    conf = rng.uniform(0.15, 1.0, size=n)
    out = []
    for f in range(frames):
        xy = start + vel * f
        boxes = np.concatenate([xy, xy + wh], axis=1) + rng.normal(0, 1.0, size=(n, 4))
        keep = rng.random(n) > 0.1
        out.append(frame(boxes[keep].tolist(), conf[keep].tolist()))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_library_switch_reproduces_the_library(seed: int) -> None:
    """With each step switched to the library's way the engine gives the library's tracks, row for row.

    This is what makes the per-step measurements in docs/tracking.md mean something.
    """
    lib = ByteTrack(fps=FPS, engine="library", **PAPER_THRESHOLDS)
    mine = LibraryTracker(lambda: PaperByteTrackEngine(**LIBRARY_SWITCHES), min_confidence=0.1)
    pairs: set[tuple[int, int]] = set()
    for d in scene(seed):
        a, b = lib.update(d).tracker_id, mine.update(d).tracker_id
        assert a is not None and b is not None
        np.testing.assert_array_equal(a == -1, b == -1)
        pairs |= set(zip(a.tolist(), b.tolist(), strict=True))
    # The same tracks on the same rows; only the numbering order within a frame may differ.
    assert len({x for x, _ in pairs}) == len({y for _, y in pairs}) == len(pairs)


def test_paper_engine_keeps_ids_on_a_noisy_scene() -> None:
    trk = ByteTrack(fps=FPS)
    per_obj: dict[int, set[int]] = {}
    rng = np.random.default_rng(3)
    base = [[50.0 + 120 * k, 100.0, 90.0 + 120 * k, 200.0] for k in range(4)]
    for f in range(40):
        boxes = [shifted(b, 3.0 * f + rng.normal(0, 1)) for b in base]
        out = trk.update(frame(boxes, [0.9, 0.8, 0.35, 0.7]))
        for k, tid in enumerate(out.tracker_id.tolist()):  # type: ignore[union-attr]
            if tid > 0:
                per_obj.setdefault(k, set()).add(tid)
    assert all(len(v) == 1 for v in per_obj.values()) and len(per_obj) == 3  # the 0.35 box never starts one


@pytest.mark.parametrize(
    ("engine", "continues"),
    [("paper", False), ("library", True)],
)
def test_low_score_box_needs_iou_half(engine: Any, continues: bool) -> None:
    """Second association: a low-score box continues a tracked track only above IoU 0.5 (paper)."""
    trk = ByteTrack(fps=FPS, engine=engine)
    box = [100.0, 100.0, 200.0, 200.0]
    for _ in range(3):
        first = trk.update(frame([box], [0.9]))
    tid = int(first.tracker_id[0])  # type: ignore[index]
    moved = shifted(box, 40.0)  # IoU with the predicted box about 0.43
    assert 0.3 < iou_matrix(np.array([box]), np.array([moved]))[0, 0] < 0.5
    out = trk.update(frame([moved], [0.3]))
    assert (int(out.tracker_id[0]) == tid) is continues  # type: ignore[index]


@pytest.mark.parametrize(
    ("engine", "revived"),
    [("paper", False), ("library", True)],
)
def test_lost_track_is_not_revived_by_a_low_score_box(engine: Any, revived: bool) -> None:
    """Second association: only tracks tracked on the previous frame, not lost ones (paper)."""
    trk = ByteTrack(fps=FPS, engine=engine)
    box = [100.0, 100.0, 200.0, 200.0]
    for _ in range(3):
        first = trk.update(frame([box], [0.9]))
    tid = int(first.tracker_id[0])  # type: ignore[index]
    trk.update(frame([], []))  # missed: the track is lost
    out = trk.update(frame([box], [0.3]))
    assert (int(out.tracker_id[0]) == tid) is revived  # type: ignore[index]
    again = trk.update(frame([box], [0.9]))  # a high-score box revives it in both
    assert int(again.tracker_id[0]) == tid  # type: ignore[index]


def test_score_fusion_in_the_first_association() -> None:
    """High boxes match on IoU x score > 0.2: IoU 0.29 at score 0.55 (0.16) does not continue a track."""
    box = [100.0, 100.0, 200.0, 200.0]
    moved = [155.0, 100.0, 255.0, 200.0]  # IoU 0.29 with box
    results = {}
    for fuse in (True, False):
        trk = ByteTrack(fps=FPS, fuse_score=fuse, **PAPER_THRESHOLDS)
        for _ in range(3):
            first = trk.update(frame([box], [0.9]))
        out = trk.update(frame([moved], [0.55]))
        results[fuse] = int(out.tracker_id[0]) == int(first.tracker_id[0])  # type: ignore[index]
    assert results == {True: False, False: True}


def test_lost_tracks_are_dropped_after_the_buffer_and_state_stays_bounded() -> None:
    trk = ByteTrack(fps=10.0, lost_track_seconds=0.5)  # 5 frames
    for f in range(200):
        boxes = [[10.0 * (f % 50), 10.0, 10.0 * (f % 50) + 30, 60.0]] if f % 50 < 40 else []
        trk.update(frame(boxes, [0.9] * len(boxes)))
        assert trk.state_size["tracks"] <= 2
    trk.update(frame([], []))
    for _ in range(6):
        trk.update(frame([], []))
    assert trk.state_size["tracks"] == 0


def test_xyah_kalman_follows_constant_velocity() -> None:
    eng = PaperByteTrackEngine(activate_first_frame=True)
    for f in range(20):
        out = eng.update(frame([shifted([0.0, 0.0, 40.0, 80.0], 5.0 * f)], [0.9]))
        assert out.tracker_id is not None and int(out.tracker_id[0]) == 0
    pred = eng.tracks[0].kf
    pred.predict()
    np.testing.assert_allclose(pred.box(), shifted([0.0, 0.0, 40.0, 80.0], 5.0 * 20), atol=1.0)


def test_assign_with_limit_leaves_a_weak_pair_out() -> None:
    """lapjv's cost limit (paper) versus assignment-then-threshold (library)."""
    cost = np.array([[0.1, 0.9], [0.9, 10.0]])
    # Limit: 0->0 (0.1) and the others left free (0.8) beat the crossing (1.8).
    assert assign(cost, 0.8, "limit") == ([(0, 0)], [1], [1])
    # Threshold: the full optimum is the crossing (1.8 < 10.1), both above the limit: nothing matches.
    assert assign(cost, 0.8, "threshold") == ([], [0, 1], [0, 1])
    cost2 = np.array([[0.5]])
    assert assign(cost2, 0.4, "limit") == ([], [0], [0])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 100), st.floats(1, 100)),
        min_size=0, max_size=6,
    ),
    st.lists(
        st.tuples(st.floats(0, 500), st.floats(0, 500), st.floats(1, 100), st.floats(1, 100)),
        min_size=0, max_size=6,
    ),
)  # fmt: skip
def test_iou_matrix_properties(a: list[tuple[float, ...]], b: list[tuple[float, ...]]) -> None:
    xa = np.array([[x, y, x + w, y + h] for x, y, w, h in a]).reshape(-1, 4)
    xb = np.array([[x, y, x + w, y + h] for x, y, w, h in b]).reshape(-1, 4)
    m = iou_matrix(xa, xb)
    assert m.shape == (len(a), len(b))
    assert ((m >= 0) & (m <= 1 + 1e-9)).all()
    np.testing.assert_allclose(m, iou_matrix(xb, xa).T)
    if len(a):
        np.testing.assert_allclose(np.diag(iou_matrix(xa, xa)), 1.0)
