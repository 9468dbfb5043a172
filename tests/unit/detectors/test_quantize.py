"""The int8 export's pure parts: agreement of detections with fp32's, the held-out split."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

pytest.importorskip("openvino")
from vtrack.detectors.quantize import agreement, split_heldout


def _dets(*rows: tuple[float, float, float, float, int]) -> sv.Detections:
    if not rows:
        return sv.Detections.empty()
    arr = np.array(rows, dtype=np.float32)
    return sv.Detections(
        xyxy=arr[:, :4], confidence=np.full(len(rows), 0.9, np.float32), class_id=arr[:, 4].astype(int)
    )


A = (0, 0, 10, 10, 1)
A_SHIFTED = (1, 0, 11, 10, 1)  # IoU 0.82 with A
A_FAR = (6, 0, 16, 10, 1)  # IoU 0.25
A_OTHER_CLASS = (0, 0, 10, 10, 2)
B = (20, 20, 30, 30, 0)


@pytest.mark.parametrize(
    ("reference", "other", "recall", "precision"),
    [
        ([_dets(A, B)], [_dets(A, B)], 1.0, 1.0),
        ([_dets(A, B)], [_dets(A_SHIFTED, B)], 1.0, 1.0),
        ([_dets(A, B)], [_dets(A_FAR, B)], 0.5, 0.5),
        ([_dets(A, B)], [_dets(A_OTHER_CLASS, B)], 0.5, 0.5),  # matched by class only
        ([_dets(A, B)], [_dets(B)], 0.5, 1.0),  # one missed
        ([_dets(B)], [_dets(A, B)], 1.0, 0.5),  # one extra
        ([_dets(A)], [_dets(A, A_SHIFTED)], 1.0, 0.5),  # one-to-one: a duplicate is not a second match
        ([_dets(), _dets(A)], [_dets(), _dets(A)], 1.0, 1.0),  # empty frames count as agreeing
        ([_dets()], [_dets()], 1.0, 1.0),
    ],
)
def test_agreement_table(reference, other, recall: float, precision: float) -> None:
    a = agreement(reference, other)
    assert (a.recall, a.precision) == pytest.approx((recall, precision))
    assert a.score == min(recall, precision)
    assert a.frames == len(reference)


def test_agreement_needs_the_same_frames() -> None:
    with pytest.raises(ValueError, match="same frames"):
        agreement([_dets(A)], [])


@pytest.mark.parametrize(("n", "heldout", "want_heldout"), [(10, 3, 3), (10, 8, 5), (1, 5, 0), (160, 40, 40)])
def test_split_heldout_spreads_and_keeps_the_rest(n: int, heldout: int, want_heldout: int) -> None:
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(n)]
    held, calib = split_heldout(frames, heldout)
    assert len(held) == want_heldout and len(held) + len(calib) == n
    ids = sorted(int(f[0, 0, 0]) for f in held)
    assert not set(ids) & {int(f[0, 0, 0]) for f in calib}
    if want_heldout >= 2:
        assert ids[0] == 0 and ids[-1] == n - 1  # both ends: the split covers the whole source
