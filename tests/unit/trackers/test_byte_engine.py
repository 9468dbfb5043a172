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
        trk = ByteTrack(fps=FPS, fuse_score=fuse, gate_sigmas=0.0, **PAPER_THRESHOLDS)  # plain IoU only
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


# ---------------------------------------------------------------------------------------- time
def test_timestamps_one_frame_apart_equal_no_timestamps() -> None:
    """``timestamp`` at exactly ``1 / fps`` steps gives the tracks of calls without timestamps."""
    frames = scene(3)
    a, b = ByteTrack(fps=FPS), ByteTrack(fps=FPS)
    for k, det in enumerate(frames):
        ra, rb = a.update(det), b.update(det, timestamp=100.0 + k / FPS)
        assert ra.tracker_id is not None and rb.tracker_id is not None
        assert ra.tracker_id.tolist() == rb.tracker_id.tolist()


def test_prediction_spans_the_real_gap() -> None:
    """A track at 5 px per frame, then a gap of 4 frames (frames dropped): predicted 4 steps ahead."""
    eng = PaperByteTrackEngine(activate_first_frame=True, fps=FPS)
    box = [0.0, 0.0, 40.0, 80.0]
    for f in range(10):
        eng.update(frame([shifted(box, 5.0 * f)], [0.9]), timestamp=f / FPS)
    gap = 13  # next frame at index 13: 4 frames after frame 9
    out = eng.update(frame([shifted(box, 5.0 * gap)], [0.9]), timestamp=gap / FPS)
    assert out.tracker_id is not None and int(out.tracker_id[0]) == 0
    np.testing.assert_allclose(eng.tracks[0].box, shifted(box, 5.0 * gap), atol=1.5)
    assert eng.clock == pytest.approx(gap)


def test_lost_buffer_counts_time_not_calls() -> None:
    """1 s of buffer at 10 fps: a track missing for 1.5 s of timestamps is dropped after one call."""
    eng = PaperByteTrackEngine(activate_first_frame=True, fps=10.0, max_time_lost=10)
    eng.update(frame([[0.0, 0.0, 40.0, 80.0]], [0.9]), timestamp=0.0)
    eng.update(frame([], []), timestamp=0.1)
    assert len(eng.tracks) == 1
    eng.update(frame([], []), timestamp=1.6)
    assert eng.tracks == []


@pytest.mark.parametrize("backwards", [None, -5.0])
def test_missing_or_backward_timestamps_count_one_frame(backwards: float | None) -> None:
    eng = PaperByteTrackEngine(fps=FPS)
    eng.update(frame([[0.0, 0.0, 40.0, 80.0]], [0.9]), timestamp=10.0)
    eng.update(frame([[0.0, 0.0, 40.0, 80.0]], [0.9]), timestamp=backwards)
    assert eng.clock == 1.0


@pytest.mark.parametrize(("gate", "same_id"), [(0.0, False), (2.0, True)])
def test_buffered_gate_keeps_a_fast_object_at_a_low_rate(gate: float, same_id: bool) -> None:
    """A 40 px wide object at 25 px per frame seen every 3rd frame (75 px jumps: no IoU at all)."""
    trk = ByteTrack(fps=10.0, gate_sigmas=gate)
    trk.update(frame([], []), timestamp=-0.1)  # not the stream's first frame (confirmed at once)
    ids = set()
    for f in range(8):
        x = 75.0 * f
        out = trk.update(frame([[x, 100.0, x + 40.0, 180.0]], [0.9]), timestamp=f / 10.0)
        ids |= {int(i) for i in out.tracker_id if i > 0}  # type: ignore[union-attr]
    assert (len(ids) == 1) is same_id


def test_buffered_gate_leaves_lost_tracks_out() -> None:
    """A track lost for a while is not pulled onto a box far away by its grown uncertainty."""
    trk = ByteTrack(fps=FPS, gate_sigmas=2.0)
    box = [100.0, 100.0, 140.0, 180.0]
    for _ in range(5):
        first = trk.update(frame([box], [0.9]))
    for _ in range(10):
        trk.update(frame([], []))
    far = trk.update(frame([shifted(box, 70.0)], [0.9]))
    assert far.tracker_id is not None and first.tracker_id is not None
    assert int(far.tracker_id[0]) != int(first.tracker_id[0])
    gated = ByteTrack(fps=FPS, gate_sigmas=2.0, gate_lost=True)
    for _ in range(5):
        first = gated.update(frame([box], [0.9]))
    for _ in range(10):
        gated.update(frame([], []))
    gated.update(frame([shifted(box, 70.0)], [0.9]))
    again = gated.update(frame([shifted(box, 70.0)], [0.9]))
    assert int(again.tracker_id[0]) == int(first.tracker_id[0])  # type: ignore[index]


def test_velocity_from_the_first_two_boxes() -> None:
    eng = PaperByteTrackEngine(fps=FPS, init_velocity=True, unconfirmed_match_thresh=0.95)
    eng.update(frame([[0.0, 0.0, 40.0, 80.0]], [0.9]), timestamp=0.0)
    eng.update(frame([[30.0, 0.0, 70.0, 80.0]], [0.9]), timestamp=2 / FPS)  # 2 frames later: 15 px/frame
    assert eng.tracks[0].kf.mean[4] == pytest.approx(15.0)


def test_gate_sigmas_is_validated() -> None:
    from vtrack.errors import ConfigError

    with pytest.raises(ConfigError, match="gate_sigmas"):
        ByteTrack(fps=FPS, gate_sigmas=-1.0)


@pytest.mark.parametrize(("carried_confirms", "confirmed"), [(True, True), (False, False)])
def test_carried_boxes_confirm_only_when_allowed(carried_confirms: bool, confirmed: bool) -> None:
    """A new track's second box carried by a propagator (``data["propagated"]``) confirms it or not."""
    trk = ByteTrack(fps=FPS, carried_confirms=carried_confirms)
    trk.update(frame([], []))
    trk.update(frame([[0.0, 0.0, 40.0, 80.0]], [0.9]))
    carried = frame([[2.0, 0.0, 42.0, 80.0]], [0.9])
    carried.data["propagated"] = np.array([True])
    out = trk.update(carried)
    assert (int(out.tracker_id[0]) > 0) is confirmed  # type: ignore[index]
    assert trk.live_track_count == 1  # kept alive either way
    again = trk.update(frame([[4.0, 0.0, 44.0, 80.0]], [0.9]))  # a real detection confirms it
    assert int(again.tracker_id[0]) > 0  # type: ignore[index]


def test_a_track_confirmed_late_reports_the_box_it_started_from() -> None:
    """``data[ORIGIN_KEY]``: the first (unconfirmed) box of a track confirmed at its second match."""
    from vtrack.trackers.base import ORIGIN_KEY

    trk = ByteTrack(fps=FPS)
    first = trk.update(frame([[0.0, 0.0, 40.0, 80.0]], [0.9]))  # frame 1: confirmed at once, no origin
    assert int(first.tracker_id[0]) > 0  # type: ignore[index]
    assert np.isnan(first.data[ORIGIN_KEY]).all()
    trk.update(frame([[0.0, 0.0, 40.0, 80.0], [200.0, 0.0, 240.0, 80.0]], [0.9, 0.9]))  # a new box
    out = trk.update(frame([[210.0, 0.0, 250.0, 80.0], [0.0, 0.0, 40.0, 80.0]], [0.9, 0.9]))  # permuted
    assert [int(t) > 0 for t in out.tracker_id] == [True, True]  # type: ignore[union-attr]
    np.testing.assert_array_equal(out.data[ORIGIN_KEY][0], [200.0, 0.0, 240.0, 80.0])
    assert np.isnan(out.data[ORIGIN_KEY][1]).all()  # the frame-1 track
    assert out.data[ORIGIN_KEY].dtype == np.float32 and out.data[ORIGIN_KEY].shape == (2, 4)


def test_origin_rows_of_unconfirmed_and_untracked_boxes_are_nan() -> None:
    from vtrack.trackers.base import ORIGIN_KEY

    trk = ByteTrack(fps=FPS)
    trk.update(frame([], []))
    out = trk.update(frame([[0.0, 0.0, 40.0, 80.0], [100.0, 0.0, 140.0, 80.0]], [0.9, 0.05]))
    assert out.tracker_id.tolist() == [-1, -1]  # type: ignore[union-attr]
    assert np.isnan(out.data[ORIGIN_KEY]).all()


def _strided_scene(
    trk: ByteTrack, first: list[float], step: float, before: sv.Detections, image: np.ndarray | None = None
) -> sv.Detections:
    """The detector runs on frames 0, 3 and 6 (timestamps at 30 fps); frames between are carried.

    Frame 0 gives ``before``; an object first detected at frame 3 (``first``) moves ``step`` px per
    frame along x; the carried frames move its box as a propagator would. Returns frame 6's output.
    """

    def carried(boxes: list[list[float]]) -> sv.Detections:
        d = frame(boxes, [0.9] * len(boxes))
        d.data["propagated"] = np.ones(len(boxes), dtype=bool)
        return d

    trk.update(before, image, timestamp=0.0)
    trk.update(carried([]), image, timestamp=1 / FPS)
    trk.update(carried([]), image, timestamp=2 / FPS)
    trk.update(frame([first], [0.9]), image, timestamp=3 / FPS)
    for k in (4, 5):
        trk.update(carried([shifted(first, step * (k - 3))]), image, timestamp=k / FPS)
    return trk.update(frame([shifted(first, step * 3)], [0.9]), image, timestamp=6 / FPS)


def test_a_track_born_after_skipped_frames_reports_its_origin_moved_back() -> None:
    """``lead_origins``: two frames skipped before the first box (less one) at its first speed."""
    from vtrack.trackers.base import ORIGIN_KEY

    box = [300.0, 0.0, 340.0, 80.0]
    out = _strided_scene(ByteTrack(fps=FPS), box, -10.0, frame([], []))
    assert int(out.tracker_id[0]) > 0  # type: ignore[index]
    np.testing.assert_allclose(out.data[ORIGIN_KEY][0], shifted(box, 20.0))
    plain = _strided_scene(ByteTrack(fps=FPS, lead_origins=False), box, -10.0, frame([], []))
    np.testing.assert_allclose(plain.data[ORIGIN_KEY][0], box)
    # moved back out of the frame (centre x 340 in a 330 px wide image): the first box stays
    narrow = _strided_scene(ByteTrack(fps=FPS), box, -10.0, frame([], []), np.zeros((100, 330, 3), np.uint8))
    np.testing.assert_allclose(narrow.data[ORIGIN_KEY][0], box)


def test_no_lead_when_the_detector_saw_every_frame_or_without_timestamps() -> None:
    from vtrack.trackers.base import ORIGIN_KEY

    box = [300.0, 0.0, 340.0, 80.0]
    trk = ByteTrack(fps=FPS)
    trk.update(frame([], []), timestamp=0.0)
    trk.update(frame([box], [0.9]), timestamp=1 / FPS)
    out = trk.update(frame([shifted(box, -30.0)], [0.9]), timestamp=2 / FPS)
    np.testing.assert_allclose(out.data[ORIGIN_KEY][0], box)
    untimed = ByteTrack(fps=FPS)
    untimed.update(frame([], []))
    untimed.update(frame([box], [0.9]))
    out = untimed.update(frame([shifted(box, -30.0)], [0.9]))
    np.testing.assert_allclose(out.data[ORIGIN_KEY][0], box)


@pytest.mark.parametrize(
    ("left_over", "origin_dx"),
    [
        (30.0, 30.0),  # a low-score box where the first motion says the object was: it is the origin
        (200.0, 20.0),  # a box elsewhere: the lead (two frames back) instead
    ],
)
def test_a_left_over_box_where_the_track_came_from_is_its_origin(left_over: float, origin_dx: float) -> None:
    """``recall_origins``: the low-score box of frame 0 (no track took it) three frames back."""
    from vtrack.trackers.base import ORIGIN_KEY

    box = [300.0, 0.0, 340.0, 80.0]
    before = frame([shifted(box, left_over)], [0.3])
    out = _strided_scene(ByteTrack(fps=FPS), box, -10.0, before)
    np.testing.assert_allclose(out.data[ORIGIN_KEY][0], shifted(box, origin_dx))


def _carried(boxes: list[list[float]], ids: list[int]) -> sv.Detections:
    d = frame(boxes, [0.9] * len(boxes))
    d.tracker_id = np.asarray(ids, dtype=np.int64)
    d.data["propagated"] = np.ones(len(boxes), dtype=bool)
    return d


def test_a_carried_box_goes_back_to_the_track_it_was_carried_from() -> None:
    """Two confirmed tracks; on a carried frame their boxes come swapped in position order and
    overlapping the other's prediction: each still updates its own track."""
    trk = ByteTrack(fps=FPS)
    a, b = [0.0, 0.0, 40.0, 80.0], [30.0, 0.0, 70.0, 80.0]
    for k in range(3):
        out = trk.update(frame([a, b], [0.9, 0.9]), timestamp=k / FPS)
    ida, idb = (int(i) for i in out.tracker_id)  # type: ignore[union-attr]
    # the carried rows say a moved onto b's place and b onto a's: IoU would swap nothing back
    swapped = trk.update(_carried([shifted(a, 28.0), shifted(b, -28.0)], [ida, idb]), timestamp=3 / FPS)
    assert swapped.tracker_id.tolist() == [ida, idb]  # type: ignore[union-attr]


def test_a_carried_box_of_an_unconfirmed_track_never_goes_to_a_lost_track() -> None:
    trk = ByteTrack(fps=FPS)
    old = [100.0, 0.0, 140.0, 80.0]
    for k in range(3):
        out = trk.update(frame([old], [0.9]), timestamp=k / FPS)
    old_id = int(out.tracker_id[0])  # type: ignore[index]
    trk.update(frame([], []), timestamp=3 / FPS)  # the old track is lost here
    trk.update(frame([shifted(old, 300.0)], [0.9]), timestamp=4 / FPS)  # a newcomer far away
    # its carried box lands where the lost track waits: it stays unconfirmed, not the old ID
    out = trk.update(_carried([shifted(old, 2.0)], [-1]), timestamp=5 / FPS)
    assert out.tracker_id.tolist() == [-1]  # type: ignore[union-attr]
    assert old_id > 0


@pytest.mark.parametrize(("drop_exited", "kept"), [(True, False), (False, True)])
def test_a_lost_track_whose_prediction_left_the_frame_is_removed(drop_exited: bool, kept: bool) -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    trk = ByteTrack(fps=FPS, drop_exited=drop_exited)
    for k in range(4):  # moving left 10 px per frame, last seen with its centre at x = 0..10
        trk.update(frame([[-10.0 * k + 20, 0.0, -10.0 * k + 40, 80.0]], [0.9]), image, timestamp=k / FPS)
    for k in range(4, 7):
        trk.update(frame([], []), image, timestamp=k / FPS)
    assert (trk.live_track_count == 1) is kept


@pytest.mark.parametrize(
    ("step", "confirm_exits", "confirmed"),
    [
        (-30.0, True, True),  # gone (centre at -10) before the detector's next look at frame 6
        (-30.0, False, False),
        (-10.0, True, False),  # still in the picture at frame 6: waits for its second detection
        (30.0, True, False),  # moving into the picture
    ],
)
def test_a_new_track_carried_out_of_the_frame_is_confirmed_as_it_leaves(
    step: float, confirm_exits: bool, confirmed: bool
) -> None:
    """``confirm_exits``: the detector looks at frames 0 and 3 (and would at 6); an object first
    detected at frame 3 with its centre at x = 80 of a 200 px wide frame (or 20, moving right) is
    carried on frames 4 and 5 at ``step`` px a frame."""
    from vtrack.trackers.base import ORIGIN_KEY

    image = np.zeros((100, 200, 3), np.uint8)
    trk = ByteTrack(fps=FPS, confirm_exits=confirm_exits)
    trk.update(frame([[150.0, 0.0, 190.0, 80.0]], [0.9]), image, timestamp=0.0)  # another class's row
    box = [60.0, 0.0, 100.0, 80.0] if step < 0 else [0.0, 0.0, 40.0, 80.0]
    for k in (1, 2):
        trk.update(_carried([], []), image, timestamp=k / FPS)
    first = frame([box], [0.9])
    first.class_id = np.array([1])
    out = trk.update(first, image, timestamp=3 / FPS)
    for k in (1, 2):
        carried = _carried([shifted(box, step * k)], [int(out.tracker_id[0])])  # type: ignore[index]
        carried.class_id = np.array([1])
        out = trk.update(carried, image, timestamp=(3 + k) / FPS)
        assert (int(out.tracker_id[0]) > 0) is confirmed  # type: ignore[index]  # from the first carried frame
    if confirmed:  # its origin moved back over the frames skipped before it, less one (3 - 1)
        np.testing.assert_allclose(out.data[ORIGIN_KEY][0], shifted(box, -2 * step))


@pytest.mark.parametrize(("drop_exited", "takes_it"), [(True, False), (False, True)])
def test_a_track_predicted_out_of_the_frame_gets_no_newcomer(drop_exited: bool, takes_it: bool) -> None:
    """A track leaving at the left edge 40 px a frame, detected every third frame: predicted with its
    centre at x = -10, it has left; a newcomer at the edge is not its box, however wide the buffer."""
    image = np.zeros((100, 400, 3), np.uint8)
    trk = ByteTrack(fps=FPS, drop_exited=drop_exited)
    for k, x in enumerate([90.0, 50.0, 10.0]):
        out = trk.update(frame([[x, 0.0, x + 40.0, 80.0]], [0.9]), image, timestamp=3 * k / FPS)
    old = int(out.tracker_id[0])  # type: ignore[index]
    newcomer = trk.update(frame([[20.0, 0.0, 60.0, 80.0]], [0.9]), image, timestamp=9 / FPS)
    assert (int(newcomer.tracker_id[0]) == old) is takes_it  # type: ignore[index]
