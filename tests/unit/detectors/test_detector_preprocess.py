"""Letterbox geometry (Ultralytics rounding), box mapping round trips, and the tensor writer."""

from __future__ import annotations

import numpy as np
import pytest

from vtrack.detectors.preprocess import (
    PAD_VALUE,
    Letterboxer,
    boxes_to_frame,
    boxes_to_input,
    letterbox_geometry,
)


@pytest.mark.parametrize(
    ("frame_hw", "target_hw", "auto", "expected"),
    [
        # (new_h, new_w, top, left, input_h, input_w)
        ((720, 1280), (640, 640), False, (360, 640, 140, 0, 640, 640)),
        ((1080, 1920), (640, 640), False, (360, 640, 140, 0, 640, 640)),
        ((480, 640), (640, 640), False, (480, 640, 80, 0, 640, 640)),
        ((640, 480), (640, 640), False, (640, 480, 0, 80, 640, 640)),
        ((640, 640), (640, 640), False, (640, 640, 0, 0, 640, 640)),
        ((128, 256), (64, 64), False, (32, 64, 16, 0, 64, 64)),
        # odd padding: the extra pixel goes to the bottom (dh = 33 -> top 16, bottom 17)
        ((97, 200), (64, 64), False, (31, 64, 16, 0, 64, 64)),
        # upscaling of a small frame
        ((32, 16), (64, 64), False, (64, 32, 0, 16, 64, 64)),
        # non-square static input
        ((720, 1280), (384, 640), False, (360, 640, 12, 0, 384, 640)),
        # auto (dynamic models): pad to the next multiple of the stride only
        ((720, 1280), (640, 640), True, (360, 640, 12, 0, 384, 640)),
        ((480, 640), (640, 640), True, (480, 640, 0, 0, 480, 640)),
        ((500, 375), (640, 640), True, (640, 480, 0, 0, 640, 480)),
    ],
)
def test_letterbox_geometry(
    frame_hw: tuple[int, int], target_hw: tuple[int, int], auto: bool, expected: tuple[int, ...]
) -> None:
    g = letterbox_geometry(frame_hw, target_hw, stride=32, auto=auto)
    assert (g.new_h, g.new_w, g.top, g.left, g.input_h, g.input_w) == expected
    if auto:
        assert g.input_h % 32 == 0 and g.input_w % 32 == 0


@pytest.mark.parametrize(
    ("frame_hw", "target_hw", "auto"),
    [
        ((720, 1280), (640, 640), False),
        ((97, 200), (64, 64), False),
        ((1080, 1920), (640, 640), True),
        ((333, 517), (320, 320), False),
    ],
)
def test_box_round_trip(frame_hw: tuple[int, int], target_hw: tuple[int, int], auto: bool) -> None:
    g = letterbox_geometry(frame_hw, target_hw, auto=auto)
    rng = np.random.default_rng(0)
    h, w = frame_hw
    xy1 = rng.uniform(0, [w - 10, h - 10], size=(50, 2))
    xy2 = xy1 + rng.uniform(1, 10, size=(50, 2))
    boxes = np.hstack([xy1, xy2]).astype(np.float32)
    back = boxes_to_frame(boxes_to_input(boxes, g), g)
    np.testing.assert_allclose(back, boxes, atol=1e-3)


def test_boxes_to_frame_hand_computed_and_clipped() -> None:
    g = letterbox_geometry((128, 256), (64, 64))  # gain 0.25, 16 rows of padding on top
    boxes = np.array([[10, 20, 30, 40], [-5, 0, 70, 64]], dtype=np.float32)
    out = boxes_to_frame(boxes, g)
    np.testing.assert_allclose(out[0], [40, 16, 120, 96])
    np.testing.assert_allclose(out[1], [0, 0, 256, 128])  # clipped to the frame
    assert out.dtype == np.float32


def test_letterboxer_writes_rgb_scaled_with_grey_border() -> None:
    frame = np.zeros((32, 64, 3), dtype=np.uint8)
    frame[:] = (10, 20, 30)  # BGR
    lb = Letterboxer((64, 64))
    tensor, g = lb(frame)
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32
    assert (g.top, g.left, g.new_h, g.new_w) == (16, 0, 32, 64)
    np.testing.assert_allclose(tensor[0, :, :16], PAD_VALUE / 255, rtol=1e-6)
    np.testing.assert_allclose(tensor[0, :, 48:], PAD_VALUE / 255, rtol=1e-6)
    np.testing.assert_allclose(tensor[0, 0, 16:48], 30 / 255, rtol=1e-6)  # R
    np.testing.assert_allclose(tensor[0, 1, 16:48], 20 / 255, rtol=1e-6)
    np.testing.assert_allclose(tensor[0, 2, 16:48], 10 / 255, rtol=1e-6)  # B


def test_letterboxer_reuses_buffer_and_reallocates_on_new_size() -> None:
    lb = Letterboxer((64, 64))
    t1, _ = lb(np.zeros((32, 64, 3), np.uint8))
    t2, _ = lb(np.full((32, 64, 3), 255, np.uint8))
    assert t1 is t2
    np.testing.assert_allclose(t2[0, :, 16:48], 1.0)
    t3, g3 = lb(np.zeros((64, 32, 3), np.uint8))  # portrait: padding moves to the sides
    assert (g3.top, g3.left) == (0, 16)
    np.testing.assert_allclose(t3[0, :, :, :16], PAD_VALUE / 255, rtol=1e-6)
    np.testing.assert_allclose(t3[0, :, :, 16:48], 0.0)


def test_letterboxer_float16() -> None:
    tensor, _ = Letterboxer((64, 64), dtype=np.float16)(np.full((64, 64, 3), 255, np.uint8))
    assert tensor.dtype == np.float16
    np.testing.assert_allclose(tensor.astype(np.float32), 1.0, rtol=1e-3)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((32, 32), np.uint8),
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((32, 32, 3), np.float32),
        [1, 2],
    ],
    ids=["gray", "bgra", "float", "list"],
)
def test_letterboxer_rejects_non_bgr_uint8(image: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        Letterboxer((64, 64))(image)  # type: ignore[arg-type]
