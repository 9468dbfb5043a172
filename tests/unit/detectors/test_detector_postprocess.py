"""Output decoding, NMS and masks, on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest

from vtrack.detectors.postprocess import (
    Candidates,
    batched_nms,
    decode_end2end,
    decode_raw,
    masks_in_frame,
    nms_cv2,
    nms_numpy,
)
from vtrack.detectors.preprocess import letterbox_geometry


def _raw(cols: list[tuple[float, float, float, float, list[float]]], nc: int = 3) -> np.ndarray:
    out = np.zeros((4 + nc, len(cols) + 2), dtype=np.float32)  # two empty anchors
    for a, (cx, cy, w, h, scores) in enumerate(cols):
        out[:4, a] = (cx, cy, w, h)
        out[4:, a] = scores
    return out


def test_decode_raw_best_class_conf_and_xyxy() -> None:
    out = _raw(
        [(10, 10, 4, 6, [0.1, 0.8, 0.3]), (20, 20, 2, 2, [0.25, 0.0, 0.0]), (30, 30, 2, 2, [0, 0, 0.26])]
    )
    c = decode_raw(out, num_classes=3, conf=0.25)
    assert len(c) == 2  # 0.25 is not strictly above 0.25
    np.testing.assert_allclose(c.boxes[0], [8, 7, 12, 13])
    assert c.class_ids.tolist() == [1, 2]
    np.testing.assert_allclose(c.scores, [0.8, 0.26], rtol=1e-6)
    assert c.coeffs is None


@pytest.mark.parametrize(
    ("classes", "expected"),
    [(None, [1, 0]), ([0], [0]), ([1], [1]), ([2], []), ([0, 1, 2], [1, 0])],
)
def test_decode_raw_class_filter_applies_to_best_class(
    classes: list[int] | None, expected: list[int]
) -> None:
    # anchor 0: best class 1 (0.9), also class 2 at 0.5; anchor 1: class 0
    out = _raw([(10, 10, 4, 4, [0.0, 0.9, 0.5]), (40, 40, 4, 4, [0.6, 0.0, 0.0])])
    sel = None if classes is None else np.asarray(classes)
    c = decode_raw(out, num_classes=3, conf=0.25, classes=sel)
    assert c.class_ids.tolist() == expected


def test_decode_raw_with_mask_coefficients_and_cap() -> None:
    nc, nm = 2, 4
    out = np.zeros((4 + nc + nm, 5), dtype=np.float32)
    out[:4] = 10
    out[4] = [0.3, 0.9, 0.5, 0.7, 0.1]
    out[4 + nc :] = np.arange(nm * 5, dtype=np.float32).reshape(nm, 5)
    c = decode_raw(out, num_classes=nc, num_masks=nm, conf=0.25, max_candidates=2)
    np.testing.assert_allclose(c.scores, [0.9, 0.7])
    assert c.coeffs is not None and c.coeffs.shape == (2, nm)
    np.testing.assert_allclose(c.coeffs[0], out[4 + nc :, 1])


def test_decode_end2end() -> None:
    out = np.zeros((6, 6 + 2), dtype=np.float32)
    out[0] = [1, 2, 3, 4, 0.9, 2, 7, 8]
    out[1] = [5, 6, 7, 8, 0.5, 0, 1, 1]
    out[2] = [5, 6, 7, 8, 0.2, 1, 1, 1]
    c = decode_end2end(out, num_masks=2, conf=0.25)
    assert c.class_ids.tolist() == [2, 0]
    np.testing.assert_allclose(c.boxes[0], [1, 2, 3, 4])
    assert c.coeffs is not None
    np.testing.assert_allclose(c.coeffs[0], [7, 8])
    assert decode_end2end(out, num_masks=2, classes=np.array([0])).class_ids.tolist() == [0]
    assert len(decode_end2end(out, num_masks=2, max_det=1)) == 1


BOX = [0.0, 0.0, 10.0, 10.0]


@pytest.mark.parametrize(
    ("second", "second_class", "iou", "kept"),
    [
        ([1.0, 0.0, 11.0, 10.0], 0, 0.7, 1),  # IoU 9/11 = 0.82 > 0.7: suppressed
        ([1.0, 0.0, 11.0, 10.0], 1, 0.7, 2),  # other class: kept
        ([1.0, 0.0, 11.0, 10.0], 0, 0.85, 2),  # IoU below a higher threshold: kept
        ([5.0, 0.0, 15.0, 10.0], 0, 0.7, 2),  # IoU 1/3
        ([20.0, 20.0, 30.0, 30.0], 0, 0.7, 2),  # disjoint
    ],
)
def test_batched_nms_table(second: list[float], second_class: int, iou: float, kept: int) -> None:
    c = Candidates(
        np.array([BOX, second], np.float32),
        np.array([0.9, 0.8], np.float32),
        np.array([0, second_class], np.int64),
    )
    out = batched_nms(c, iou, max_det=300)
    assert len(out) == kept
    assert out.scores[0] == pytest.approx(0.9)


def test_batched_nms_agnostic_and_max_det() -> None:
    c = Candidates(
        np.array([BOX, [1, 0, 11, 10], [50, 50, 60, 60]], np.float32),
        np.array([0.9, 0.8, 0.7], np.float32),
        np.array([0, 1, 2], np.int64),
    )
    assert len(batched_nms(c, 0.7, 300)) == 3
    assert len(batched_nms(c, 0.7, 300, agnostic=True)) == 2
    assert batched_nms(c, 0.7, 1).scores.tolist() == pytest.approx([0.9])


def test_nms_cv2_matches_numpy_reference() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 200))
        xy = rng.uniform(0, 300, (n, 2))
        boxes = np.hstack([xy, xy + rng.uniform(5, 80, (n, 2))]).astype(np.float32)
        scores = rng.uniform(0.3, 1.0, n).astype(np.float32)
        cls = rng.integers(0, 4, n)
        offset = boxes + (cls * 10_000.0)[:, None].astype(np.float32)
        ref = nms_numpy(offset, scores, 0.5)
        got = nms_cv2(boxes, scores, cls, 0.5)
        assert sorted(got.tolist()) == sorted(ref.tolist())
        assert np.all(np.diff(scores[got]) <= 0)  # best first


def _protos() -> np.ndarray:
    p = np.zeros((4, 16, 16), np.float32)
    p[0, :, :8] = 10.0  # left half of the 64x64 input
    p[0, :, 8:] = -10.0
    p[1] = 10.0  # everywhere
    return p


def test_masks_in_frame_cropped_to_box_identity_geometry() -> None:
    g = letterbox_geometry((64, 64), (64, 64))
    boxes = np.array([[10, 10, 50, 40], [0, 0, 64, 64], [20.5, 5.2, 30.1, 9.9]], np.float32)
    coeffs = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, -1, 0, 0]], np.float32)
    m = masks_in_frame(_protos(), coeffs, boxes, g)
    assert m.shape == (3, 64, 64) and m.dtype == bool
    expected0 = np.zeros((64, 64), bool)
    expected0[10:40, 10:50] = True
    np.testing.assert_array_equal(m[0], expected0)
    expected1 = np.zeros((64, 64), bool)
    expected1[:, :32] = True  # left half of the input
    np.testing.assert_array_equal(m[1], expected1)
    assert not m[2].any()


def test_masks_in_frame_follow_the_letterbox() -> None:
    # frame 128x256 -> input 64x64 at gain 0.25, 16 rows of padding; input x < 32 is frame x < 128
    g = letterbox_geometry((128, 256), (64, 64))
    boxes = np.array([[0, 0, 256, 128], [100, 20, 200, 60]], np.float32)
    m = masks_in_frame(_protos(), np.array([[1, 0, 0, 0], [1, 0, 0, 0]], np.float32), boxes, g)
    assert m.shape == (2, 128, 256)
    expected = np.zeros((128, 256), bool)
    expected[:, :128] = True
    np.testing.assert_array_equal(m[0], expected)
    expected[:] = False
    expected[20:60, 100:128] = True
    np.testing.assert_array_equal(m[1], expected)


def test_masks_in_frame_empty() -> None:
    g = letterbox_geometry((30, 40), (64, 64))
    m = masks_in_frame(_protos(), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32), g)
    assert m.shape == (0, 30, 40)
