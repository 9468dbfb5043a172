"""Crop quality: cut by the frame, size, sharpness."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from subclass_media import stripes

from vtrack.subclasses.quality import crop_quality, is_cut, sharpness, size_scores


@pytest.mark.parametrize(
    ("box", "cut"),
    [
        ((10, 10, 50, 90), False),
        ((0, 10, 50, 90), True),
        ((10, 1, 50, 90), True),
        ((10, 10, 99, 90), True),
        ((10, 10, 50, 100), True),
    ],
)
def test_is_cut(box: tuple[float, ...], cut: bool) -> None:
    assert bool(is_cut(np.array([box], float), 100, 100)[0]) is cut


def test_size_scores() -> None:
    s = size_scores(np.array([[0, 0, 10, 100], [0, 0, 40, 80], [0, 0, 100, 320]], float))
    assert s[0] == 0.0  # 10 px wide: too small
    assert 0 < s[1] < 1 and s[2] == 1.0


def test_sharpness_prefers_sharp_crops() -> None:
    sharp = stripes(0)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 4)
    assert sharpness(sharp) > 5 * sharpness(blurred)
    assert sharpness(np.zeros((1, 5, 3), np.uint8)) == 0.0


def test_crop_quality_orders_crops() -> None:
    sharp = stripes(0, 200, 100)
    box = np.array([10, 10, 110, 210], float)
    good = crop_quality(sharp, box, 0.9, 640, 480)
    assert 0 < good <= 1
    assert crop_quality(cv2.GaussianBlur(sharp, (0, 0), 4), box, 0.9, 640, 480) < good
    assert crop_quality(sharp, box, 0.3, 640, 480) < good
    assert crop_quality(sharp, np.array([0, 10, 100, 210], float), 0.9, 640, 480) == 0.0
