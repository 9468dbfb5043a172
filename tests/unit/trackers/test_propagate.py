"""``FlowPropagator``: boxes carried over frames by sparse optical flow, on synthetic moving textures."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from vtrack.trackers import ByteTrack
from vtrack.trackers.propagate import PROPAGATED_KEY, FlowPropagator

H, W = 360, 640


def scene(offsets: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    """A smooth grey background with one 80×80 random texture patch per offset (top-left)."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 90, np.uint8)
    img[:, :, 1] = np.linspace(60, 120, W, dtype=np.uint8)[None, :]
    for k, (x, y) in enumerate(offsets):
        patch = np.random.default_rng(100 + k).integers(0, 255, (80, 80, 1), dtype=np.uint8)
        patch = np.repeat(np.kron(patch, np.ones((4, 4, 1), np.uint8))[:80, :80], 3, axis=2)
        img[y : y + 80, x : x + 80] = patch
    del rng
    return img


def dets(boxes: list[list[float]], ids: list[int], conf: list[float] | None = None) -> sv.Detections:
    n = len(boxes)
    return sv.Detections(
        xyxy=np.asarray(boxes, np.float32).reshape(-1, 4),
        confidence=np.asarray(conf if conf is not None else [0.9] * n, np.float32),
        class_id=np.zeros(n, np.int64),
        tracker_id=np.asarray(ids, np.int64),
        data={"class_name": np.asarray(["bicycle"] * n)},
    )


@pytest.mark.parametrize(("dx", "dy"), [(12, 0), (-9, 4), (0, 0), (20, -6)])
@pytest.mark.parametrize("width", [320, 640])
def test_box_moves_with_its_texture(dx: int, dy: int, width: int) -> None:
    prop = FlowPropagator(width=width)
    prop.observe(scene([(200, 100), (450, 200)]), dets([[200, 100, 280, 180], [450, 200, 530, 280]], [1, 2]))
    out = prop.propagate(scene([(200 + dx, 100 + dy), (450, 200)]), 0.04)
    assert out.tracker_id is not None and out.tracker_id.tolist() == [1, 2]
    np.testing.assert_allclose(out.xyxy[0], [200 + dx, 100 + dy, 280 + dx, 180 + dy], atol=1.5)
    np.testing.assert_allclose(out.xyxy[1], [450, 200, 530, 280], atol=1.0)  # the still one stays
    assert out.data[PROPAGATED_KEY].tolist() == [True, True]
    assert out.data["class_name"].tolist() == ["bicycle", "bicycle"]


def test_chains_over_several_frames_and_follows_observe() -> None:
    prop = FlowPropagator()
    prop.observe(scene([(100, 100)]), dets([[100, 100, 180, 180]], [7]))
    for k in range(1, 5):
        img = scene([(100 + 8 * k, 100)])
        out = prop.propagate(img)
        prop.observe(img, out)  # the tracker returns the same rows
    np.testing.assert_allclose(out.xyxy[0], [132, 100, 212, 180], atol=2.0)


def test_nothing_before_the_first_frame_and_after_reset() -> None:
    prop = FlowPropagator()
    assert len(prop.propagate(scene([(100, 100)]))) == 0
    prop.observe(scene([(100, 100)]), dets([[100, 100, 180, 180]], [1]))
    prop.reset()
    out = prop.propagate(scene([(110, 100)]))
    assert len(out) == 0 and PROPAGATED_KEY in out.data


def test_which_rows_are_carried() -> None:
    boxes = [[100, 100, 180, 180], [300, 100, 380, 180], [450, 200, 530, 280]]
    img = scene([(100, 100), (300, 100), (450, 200)])
    prop = FlowPropagator(min_confidence=0.5)
    prop.observe(img, dets(boxes, [3, -1, -1], conf=[0.3, 0.6, 0.2]))
    assert prop.propagate(img).confidence.tolist() == pytest.approx([0.3, 0.6])  # type: ignore[union-attr]
    only_confirmed = FlowPropagator(min_confidence=None)
    only_confirmed.observe(img, dets(boxes, [3, -1, -1], conf=[0.3, 0.6, 0.2]))
    assert only_confirmed.propagate(img).tracker_id.tolist() == [3]  # type: ignore[union-attr]


def test_textureless_box_stays_put() -> None:
    flat = np.full((H, W, 3), 128, np.uint8)
    prop = FlowPropagator()
    prop.observe(flat, dets([[100, 100, 180, 180]], [1]))
    np.testing.assert_allclose(prop.propagate(flat).xyxy[0], [100, 100, 180, 180])


def test_a_fast_object_keeps_its_id_when_carried_between_detections() -> None:
    """Detections every 6th frame, 30 px/frame: the carried boxes keep one confirmed track."""
    trk = ByteTrack(fps=30)
    prop = FlowPropagator()
    ids: set[int] = set()
    for f in range(30):
        x = 20 + 15 * f
        img = scene([(x, 140)])
        if f % 6 == 0:
            d = dets([[x, 140, x + 80, 220]], [-1])
        else:
            d = prop.propagate(img, f / 30)
        out = trk.update(d, img, timestamp=f / 30)
        prop.observe(img, out)
        ids |= {int(i) for i in out.tracker_id if i > 0}  # type: ignore[union-attr]
    assert len(ids) == 1


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="width"):
        FlowPropagator(width=8)


@pytest.mark.parametrize("stride", [1, 3, 6])
def test_frame_step_counts_a_fast_crossing_with_carried_boxes(stride: int) -> None:
    """``FrameStep`` with a ``FlowPropagator``: one crossing at 15 px/frame whatever the stride.."""
    from datetime import datetime, timezone

    from vtrack.analytics.composite import CounterSet
    from vtrack.analytics.lines import LineCounter
    from vtrack.geometry import Line
    from vtrack.pipeline.step import FrameStep, Propagator
    from vtrack.types import Frame

    propagator: Propagator = FlowPropagator()  # the step's protocol
    step = FrameStep(
        ByteTrack(fps=30),
        CounterSet(LineCounter([Line("gate", 320, 0, 320, H)]), None),
        propagator=propagator,
    )
    step(Frame(scene([]), 0, 0.0), dets([], []), time=datetime.now(timezone.utc))  # empty first frame
    events = []
    for f in range(1, 31):
        x = 100 + 15 * f
        frame = Frame(scene([(x, 140)]), f, f / 30)
        when = datetime.now(timezone.utc)
        if f % stride == 1 % stride:
            result = step(frame, dets([[x, 140, x + 80, 220]], [-1]), time=when)
        else:
            result = step.carry(frame, time=when)
        events += result.events
    assert [(e.line, e.direction) for e in events] == [("gate", "in")]  # left to right of a downward line


@pytest.mark.parametrize(("occlusion", "behind_dx"), [(True, 0.0), (False, 10.0)])
def test_a_box_behind_an_occluder_does_not_follow_it(occlusion: bool, behind_dx: float) -> None:
    """Box 1 stands still; box 2, in front (its bottom edge lower), covers most of it and moves right.
    With ``occlusion`` box 1's points inside box 2 are left out, so it stays; without, it is dragged."""
    behind, front = [200, 100, 280, 180], [230, 110, 310, 190]
    prop = FlowPropagator(occlusion=occlusion)
    # the scene draws later patches on top: the occluder's texture covers the box behind
    prop.observe(scene([(200, 100), (230, 110)]), dets([behind, front], [1, 2]))
    out = prop.propagate(scene([(200, 100), (240, 110)]))
    np.testing.assert_allclose(out.xyxy[1], [240, 110, 320, 190], atol=1.5)  # the occluder moves
    np.testing.assert_allclose(out.xyxy[0], np.add(behind, [behind_dx, 0, behind_dx, 0]), atol=1.5)


def test_a_hidden_box_follows_its_own_velocity() -> None:
    """Every point of box 1 inside the occluder: it keeps moving at its own pace (4 px per frame)."""
    prop = FlowPropagator()
    for k in range(3):  # box 1 alone, moving 4 px per frame: its velocity is learned
        prop.observe(scene([(100 + 4 * k, 100)]), dets([[100 + 4 * k, 100, 180 + 4 * k, 180]], [1]))
    hidden = [112, 100, 192, 180]  # still 4 px per frame, now behind box 2 (the scene draws it on top)
    prop.observe(scene([(112, 100), (100, 95)]), dets([hidden, [100, 95, 200, 200]], [1, 2]))
    out = prop.propagate(scene([(116, 100), (110, 95)]))
    np.testing.assert_allclose(out.xyxy[0], [116, 100, 196, 180], atol=1.0)


def test_a_box_that_leaves_the_picture_is_not_carried() -> None:
    """Its centre moved past the left edge: left out, so it cannot wait there for a newcomer."""
    prop = FlowPropagator(mode="velocity")  # 70 px per frame to the left: the next centre is at x = -20
    img = scene([])
    prop.observe(img, dets([[80, 100, 160, 180], [300, 100, 380, 180]], [1, 2]))
    prop.observe(img, dets([[10, 100, 90, 180], [300, 100, 380, 180]], [1, 2]))
    out = prop.propagate(img)
    assert out.tracker_id is not None and out.tracker_id.tolist() == [2]
    assert out.data[PROPAGATED_KEY].tolist() == [True]
