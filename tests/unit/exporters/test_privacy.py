"""``blur_regions``: the chosen classes are pixelated (boxes, or mask pixels only), nothing else moves."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import supervision as sv
from supervision.detection.compact_mask import CompactMask

from vtrack.exporters.privacy import blur_regions

log = logging.getLogger(__name__)


def make_detections(
    boxes: list[tuple[int, int, int, int]], *, classes: list[str], masks: object = None
) -> sv.Detections:
    """Rows with ``xyxy`` ``(N, 4)`` float32, ``class_id`` ``(N,)``, ``data["class_name"]`` ``(N,)``."""
    n = len(boxes)
    return sv.Detections(
        xyxy=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        confidence=np.full(n, 0.9, dtype=np.float32),
        class_id=np.zeros(n, dtype=int),
        mask=masks,  # type: ignore[arg-type]
        data={"class_name": np.asarray(classes)},
    )


H, W = 240, 320
PERSON = (40, 30, 120, 200)  # x1, y1, x2, y2
CAR = (180, 100, 300, 180)
STRONG_CHANGE = 40.0
"""Mean absolute change (grey levels) inside a blurred box of uniform noise (std ~74)."""
DETAIL_LEFT = 0.25
"""Share of the neighbour-to-neighbour differences (the detail) that may survive inside a blurred box."""


def noise(seed: int = 0, h: int = H, w: int = W) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def detail(img: np.ndarray) -> float:
    return float(np.abs(np.diff(img.astype(np.int16), axis=1)).mean())


def box(img: np.ndarray, b: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = b
    return img[y1:y2, x1:x2]


def outside(img: np.ndarray, *boxes: tuple[int, int, int, int]) -> np.ndarray:
    keep = np.ones(img.shape[:2], dtype=bool)
    for x1, y1, x2, y2 in boxes:
        keep[y1:y2, x1:x2] = False
    return img[keep]


@pytest.mark.parametrize(
    ("classes", "blurred", "kept"),
    [
        ({"person"}, [PERSON], [CAR]),
        ({"car"}, [CAR], [PERSON]),
        ({"person", "car"}, [PERSON, CAR], []),
        (set(), [], [PERSON, CAR]),
    ],
)
def test_boxes_of_the_chosen_classes_lose_their_detail_and_nothing_else_changes(
    classes: set[str], blurred: list, kept: list
) -> None:
    img = noise()
    det = make_detections([PERSON, CAR], classes=["person", "car"])
    out = blur_regions(img, det, classes)
    assert out is not img and out.shape == img.shape and out.dtype == np.uint8
    for b in blurred:
        change = np.abs(box(out, b).astype(np.int16) - box(img, b)).mean()
        assert change > STRONG_CHANGE
        assert detail(box(out, b)) < DETAIL_LEFT * detail(box(img, b))
    for b in kept:
        assert np.array_equal(box(out, b), box(img, b))
    assert np.array_equal(outside(out, *blurred), outside(img, *blurred))


def test_in_place_and_boxes_outside_the_frame_are_clipped() -> None:
    img = noise(1)
    det = make_detections([(-50, -20, 60, 80), (300, 200, 400, 300)], classes=["person", "person"])
    out = blur_regions(img, det, {"person"}, copy=False)
    assert out is img
    ref = noise(1)
    assert not np.array_equal(img[0:80, 0:60], ref[0:80, 0:60])
    assert not np.array_equal(img[200:240, 300:320], ref[200:240, 300:320])
    assert np.array_equal(img[100:200, 100:280], ref[100:200, 100:280])


def test_a_small_far_object_is_still_unreadable() -> None:
    img = noise(2)
    small = (100, 100, 112, 130)  # 12 x 30 px
    out = blur_regions(img, make_detections([small], classes=["person"]), {"person"})
    assert detail(box(out, small)) < DETAIL_LEFT * detail(box(img, small))


def in_box(b: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = b
    keep = np.zeros((H, W), dtype=bool)
    keep[y1:y2, x1:x2] = True
    return keep


def ellipse_mask(b: tuple[int, int, int, int]) -> np.ndarray:
    x1, y1, x2, y2 = b
    yy, xx = np.mgrid[0:H, 0:W]
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2 - 5, (y2 - y1) / 2 - 5
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


@pytest.mark.parametrize("compact", [False, True])
def test_mask_mode_changes_only_mask_pixels(compact: bool) -> None:
    img = noise(3)
    m = ellipse_mask(PERSON)
    masks = np.stack([m, np.zeros_like(m)])
    xyxy = np.asarray([PERSON, CAR], dtype=np.float32)
    mask_arg = CompactMask.from_dense(masks, xyxy, image_shape=(H, W)) if compact else masks
    det = make_detections([PERSON, CAR], classes=["person", "person"], masks=mask_arg)
    out = blur_regions(img, det, {"person"}, mask_margin_px=0)
    changed = np.any(out != img, axis=2)
    # the first row: only its mask's pixels move, and strongly
    assert not changed[~m & ~in_box(CAR)].any()
    inside = np.abs(out[m].astype(np.int16) - img[m]).mean()
    assert inside > STRONG_CHANGE
    # the second row has an empty mask: its whole box is blurred (fail safe)
    assert changed[CAR[1] : CAR[3], CAR[0] : CAR[2]].mean() > 0.9


def test_mask_margin_grows_the_mask_but_stays_in_the_box() -> None:
    img = noise(4)
    m = ellipse_mask(PERSON)
    det = make_detections([PERSON], classes=["person"], masks=m[None])
    out = blur_regions(img, det, {"person"})  # default margin
    changed = np.any(out != img, axis=2)
    assert changed.sum() > np.count_nonzero(m & changed)  # some pixels just outside the mask
    assert not changed[~in_box(PERSON)].any()  # none outside the box


def test_rows_without_class_names_are_an_error_not_a_silent_leak() -> None:
    det = sv.Detections(xyxy=np.asarray([PERSON], dtype=np.float32), class_id=np.zeros(1, dtype=int))
    with pytest.raises(ValueError, match="class_name"):
        blur_regions(noise(), det, {"person"})


def test_frame_step_blurs_in_place_and_hands_on_only_tracked_classes() -> None:
    """A run's privacy: the step pixelates the blurred class in the frame, then tracks only the rest."""
    from datetime import datetime, timezone

    from vtrack.pipeline.step import FrameStep
    from vtrack.trackers import make_tracker
    from vtrack.types import Frame

    step = FrameStep(
        make_tracker("bytetrack", fps=30), classes=["bicycle"], blur=["person"], blur_in_place=True
    )
    img = noise(5)
    ref = img.copy()
    det = make_detections([PERSON, CAR], classes=["person", "bicycle"])
    result = step(Frame(img, 0, 0.0), det, time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert result.detections.data["class_name"].tolist() == ["bicycle"]
    assert result.blur is None  # already applied
    assert not np.array_equal(box(img, PERSON), box(ref, PERSON))  # blurred in place
    assert np.array_equal(box(img, CAR), box(ref, CAR))


def test_frame_step_keeps_the_rows_to_blur_for_a_live_view() -> None:
    """``vtrack serve``: the frame stays as captured; the rows go on for the view's copy."""
    from datetime import datetime, timezone

    from vtrack.pipeline.step import FrameStep
    from vtrack.trackers import make_tracker
    from vtrack.types import Frame

    step = FrameStep(make_tracker("bytetrack", fps=30), classes=["bicycle"], blur=["person"])
    img = noise(5)
    ref = img.copy()
    det = make_detections([PERSON, CAR], classes=["person", "bicycle"])
    result = step(Frame(img, 0, 0.0), det, time=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert np.array_equal(img, ref)
    assert result.blur is not None and result.blur.data["class_name"].tolist() == ["person", "bicycle"]
    view = blur_regions(img, result.blur, {"person"}, copy=True)
    assert not np.array_equal(box(view, PERSON), box(ref, PERSON))


def test_cost_per_720p_frame_is_small() -> None:
    """Logged, and loosely bounded: the machine is shared, timings are noisy."""
    img = noise(6, 720, 1280)
    boxes = [(100 + 115 * i, 200, 220 + 115 * i, 500) for i in range(10)]
    det = make_detections(boxes, classes=["person"] * 10)
    masks = np.zeros((10, 720, 1280), dtype=bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, y1 + 10 : y2 - 10, x1 + 10 : x2 - 10] = True
    det_m = make_detections(boxes, classes=["person"] * 10, masks=masks)
    for name, d in (("boxes", det), ("masks", det_m)):
        n = 50
        t0 = time.perf_counter()
        for _ in range(n):
            blur_regions(img, d, {"person"}, copy=False)
        ms = (time.perf_counter() - t0) / n * 1000
        log.warning("blur_regions, 1280x720, 10 boxes of 120x300, %s: %.2f ms/frame", name, ms)
        assert ms < 50
