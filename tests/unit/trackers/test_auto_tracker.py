"""``tracker: auto``: camera-motion estimate, the choice, row alignment and IDs during the switch."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from trackers import CMC

from vtrack.errors import ConfigError
from vtrack.job import tracker_summary
from vtrack.trackers import AutoTracker, BoTSORT, ByteTrack, Tracker, make_tracker
from vtrack.trackers.auto import (
    DEFAULT_DECISION_FRAMES,
    DEFAULT_EARLY_DECISION_FRAMES,
    CameraMotionEstimator,
)

FPS = 30.0
W, H = 320, 240
_RNG = np.random.default_rng(7)
_TEXTURE = np.repeat(
    (_RNG.integers(0, 256, size=(H // 4 + 40, W // 4 + 60), dtype=np.uint8)).repeat(4, 0).repeat(4, 1)[
        :, :, None
    ],
    3,
    axis=2,
)
"""A blocky random texture ``(H + 160, W + 240, 3)`` ``uint8``: plenty of corners to follow."""


def scene(i: int, shift: tuple[float, float]) -> np.ndarray:
    """Frame ``i`` of the textured scene, the camera moving by ``shift`` px (dx, dy) per frame.

    Returns:
        BGR ``(H, W, 3)`` ``uint8``.
    """
    x0, y0 = 100 + round(shift[0] * i), 60 + round(shift[1] * i)
    return np.ascontiguousarray(_TEXTURE[y0 : y0 + H, x0 : x0 + W])


def people(i: int, n: int = 3) -> sv.Detections:
    """``n`` people walking right 2 px per frame, two classes alternating."""
    xyxy = np.array([[20 + 90 * k + 2 * i, 50, 60 + 90 * k + 2 * i, 150] for k in range(n)], dtype=np.float32)
    return sv.Detections(
        xyxy=xyxy, confidence=np.full(n, 0.9, np.float32), class_id=np.arange(n, dtype=np.int64) % 2
    )


@pytest.mark.parametrize(
    ("shift", "expected"),
    [
        ((0.0, 0.0), "bytetrack"),  # fixed camera
        ((3.0, 0.0), "botsort"),  # panning right
        ((0.0, -2.0), "botsort"),  # tilting
        ((2.0, 2.0), "botsort"),
    ],
)
def test_picks_tracker_from_camera_motion(shift: tuple[float, float], expected: str) -> None:
    trk = AutoTracker(fps=FPS)
    for i in range(DEFAULT_DECISION_FRAMES + 1):
        trk.update(people(i), scene(i, shift))
    assert trk.decision is not None and trk.decision.used == expected
    assert isinstance(trk.active, BoTSORT if expected == "botsort" else ByteTrack)
    motion = trk.decision.camera_motion_px_per_frame
    assert motion is not None
    assert motion == pytest.approx(float(np.hypot(*shift)), abs=0.3)
    assert tracker_summary("auto", trk) == {
        "requested": "auto", "used": expected, "camera_motion_px_per_frame": motion,
    }


@pytest.mark.parametrize(
    ("shift", "early", "decided_at"),
    [
        # Clear motion (or none): decided early, on the frame that brings the 3rd estimate.
        ((0.0, 0.0), DEFAULT_EARLY_DECISION_FRAMES, DEFAULT_EARLY_DECISION_FRAMES),
        ((3.0, 0.0), DEFAULT_EARLY_DECISION_FRAMES, DEFAULT_EARLY_DECISION_FRAMES),
        # Early decisions off: the full window.
        ((0.0, 0.0), 0, DEFAULT_DECISION_FRAMES),
        ((3.0, 0.0), 0, DEFAULT_DECISION_FRAMES),
    ],
)
def test_rows_aligned_and_ids_start_after_decision(
    shift: tuple[float, float], early: int, decided_at: int
) -> None:
    trk = make_tracker("auto", fps=FPS, early_decision_frames=early)
    assert isinstance(trk, Tracker)
    seen: list[tuple[int, ...]] = []
    for i in range(DEFAULT_DECISION_FRAMES + 10):
        d = people(i)
        out = trk.update(d, scene(i, shift))
        assert len(out) == len(d)
        np.testing.assert_array_equal(out.xyxy, d.xyxy)
        np.testing.assert_array_equal(out.class_id, d.class_id)
        assert out.tracker_id is not None and out.tracker_id.dtype == np.int64
        if i < decided_at:  # deciding: nothing confirmed yet
            assert (out.tracker_id == -1).all()
        else:  # the winner has tracked from frame 0: every person has an ID on the decision frame
            assert (out.tracker_id > 0).all()
            seen.append(tuple(int(x) for x in out.tracker_id))
    assert len(set(seen)) == 1  # the same three IDs throughout: no fragmentation at the switch
    ids = seen[0]
    assert len(set(ids)) == 3
    trk.reset()
    later = trk.update(people(0), scene(0, shift))
    later = trk.update(people(1), scene(1, shift))
    assert later.tracker_id is not None and int(later.tracker_id.min()) > max(ids)


def test_short_clip_gets_ids() -> None:
    """A clip shorter than the decision window (the 8-frame street clip) still gets IDs."""
    trk = AutoTracker(fps=3.0)
    got: list[int] = []
    for i in range(DEFAULT_DECISION_FRAMES):  # 8 frames = 7 estimates: the full window never fills
        out = trk.update(people(i), scene(i, (0.0, 0.0)))
        got.append(int(np.count_nonzero(np.asarray(out.tracker_id) > 0)))
    assert trk.decision is not None and trk.decision.used == "bytetrack"
    assert trk.decision.frames == DEFAULT_EARLY_DECISION_FRAMES and "early" in trk.decision.reason
    assert got[:DEFAULT_EARLY_DECISION_FRAMES] == [0] * DEFAULT_EARLY_DECISION_FRAMES
    rest = DEFAULT_DECISION_FRAMES - DEFAULT_EARLY_DECISION_FRAMES
    assert got[DEFAULT_EARLY_DECISION_FRAMES:] == [3] * rest


def _shifts(per_frame_dx: list[float]) -> list[np.ndarray]:
    """Frames of the textured scene moved by the given horizontal steps (px) between frames."""
    x = np.concatenate([[0.0], np.cumsum(per_frame_dx)])
    return [np.ascontiguousarray(_TEXTURE[60 : 60 + H, 60 + round(v) : 60 + round(v) + W]) for v in x]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        # Two still pairs then driving (the dusk dashcam's start): no early "fixed" verdict.
        ([0, 0, 4, 4, 4, 4, 4, 4], "botsort"),
        # Still and moving pairs alternating: no early verdict; the median (0.5 px > 0.32 px) decides.
        ([0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0], "botsort"),
    ],
)
def test_mixed_evidence_waits_for_the_full_window(steps: list[float], expected: str) -> None:
    trk = AutoTracker(fps=FPS)
    for i, f in enumerate(_shifts(steps)):
        trk.update(people(i), f)
        if i < DEFAULT_DECISION_FRAMES:
            assert trk.decision is None, f"decided early at frame {i}: {trk.decision}"
    assert trk.decision is not None and trk.decision.used == expected
    assert trk.decision.frames == DEFAULT_DECISION_FRAMES


@pytest.mark.parametrize(
    ("frames", "expected_reason"),
    [
        ([None], "no frames"),
        ([np.zeros((H, W, 3), np.uint8)] * (3 * DEFAULT_DECISION_FRAMES + 1), "no trackable texture"),
    ],
)
def test_falls_back_to_bytetrack(frames: list[np.ndarray | None], expected_reason: str) -> None:
    trk = AutoTracker(fps=FPS)
    for i, f in enumerate(frames):
        trk.update(people(i), f)
    assert trk.decision is not None and trk.decision.used == "bytetrack"
    assert expected_reason in trk.decision.reason and trk.decision.camera_motion_px_per_frame is None


def test_two_streams_never_share_ids() -> None:
    a, b = AutoTracker(fps=FPS), AutoTracker(fps=FPS)
    ids_a: set[int] = set()
    ids_b: set[int] = set()
    for i in range(DEFAULT_DECISION_FRAMES + 5):
        ra = a.update(people(i), scene(i, (3.0, 0.0)))
        rb = b.update(people(i, 2), scene(i, (0.0, 0.0)))
        ids_a |= {int(x) for x in ra.tracker_id if x > 0}  # type: ignore[union-attr]
        ids_b |= {int(x) for x in rb.tracker_id if x > 0}  # type: ignore[union-attr]
    assert a.decision and a.decision.used == "botsort" and b.decision and b.decision.used == "bytetrack"
    assert ids_a == {1, 2, 3} and ids_b == {1, 2}  # per-instance counters, unaffected by each other


def test_botsort_cmc_estimated_once_per_frame_for_all_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    orig = CMC.estimate

    def counting(self: CMC, frame: np.ndarray, dets: np.ndarray | None = None) -> np.ndarray:
        calls.append(1)
        return orig(self, frame, dets)

    monkeypatch.setattr(CMC, "estimate", counting)
    trk = BoTSORT(fps=FPS, enable_cmc=True)
    frames = 6
    for i in range(frames):
        trk.update(people(i, 4), scene(i, (3.0, 0.0)))  # two classes -> two library engines
    assert trk.state_size["engines"] == 2
    assert len(calls) == frames


def test_camera_motion_estimator_scales_to_full_size() -> None:
    big = np.ascontiguousarray(np.repeat(np.repeat(_TEXTURE, 2, 0), 2, 1))  # (2H+320, 2W+480, 3)
    est = CameraMotionEstimator(analysis_width=320)
    assert est.update(big[:480, :640]) is None  # first frame: nothing to compare
    motion = est.update(big[:480, 8:648])  # 8 px right at full size
    assert motion == pytest.approx(8.0, abs=0.6)


def test_bad_parameters_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        make_tracker("auto", fps=FPS, decision_frames=0)
    with pytest.raises(ConfigError):
        make_tracker("auto", fps=FPS, early_decision_frames=-1)
