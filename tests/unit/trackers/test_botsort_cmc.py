"""BoT-SORT's camera-motion estimate: vtrack's cheaper default (about 320 px wide, 200 corners)."""

from __future__ import annotations

import numpy as np
import pytest
from trackers import CMCConfig

from vtrack.trackers import BoTSORT
from vtrack.trackers.sort_family import DEFAULT_CMC_MAX_CORNERS, DEFAULT_CMC_WIDTH, SharedCMC

_RNG = np.random.default_rng(11)
_BLOCKS = _RNG.integers(0, 256, size=(300, 560), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
_TEXTURE = np.ascontiguousarray(np.repeat(_BLOCKS[:, :, None], 3, 2))
"""A blocky random texture ``(1200, 2240, 3)`` ``uint8``."""


@pytest.mark.parametrize(("width", "expected_downscale"), [(1280, 4), (1920, 6), (640, 2), (200, 1)])
def test_downscale_follows_the_frame_width(width: int, expected_downscale: int) -> None:
    cmc = SharedCMC(CMCConfig(), analysis_width=320)
    h = width * 9 // 16
    cmc.estimate(np.ascontiguousarray(_TEXTURE[:h, :width]))
    assert cmc.downscale == expected_downscale


@pytest.mark.parametrize("dx", [0, 6, -12])
def test_cheap_estimate_is_in_full_size_pixels(dx: int) -> None:
    """A 1280x720 frame shifted by ``dx`` px: the translation comes back in full-size pixels."""
    cmc = SharedCMC(CMCConfig(sof_max_corners=DEFAULT_CMC_MAX_CORNERS, sof_min_distance=8),
                    analysis_width=DEFAULT_CMC_WIDTH)  # fmt: skip
    x0 = 400
    cmc.estimate(np.ascontiguousarray(_TEXTURE[100:820, x0 : x0 + 1280]))
    cmc.next_frame()
    m = cmc.estimate(np.ascontiguousarray(_TEXTURE[100:820, x0 - dx : x0 - dx + 1280]))
    assert m[0, 2] == pytest.approx(dx, abs=1.0) and abs(m[1, 2]) < 1.0


def test_botsort_uses_the_cheap_cmc_unless_told_otherwise() -> None:
    cheap = BoTSORT(fps=30.0, enable_cmc=True)
    assert cheap._cmc is not None and cheap._cmc.analysis_width == DEFAULT_CMC_WIDTH
    assert cheap._cmc.feature_params["maxCorners"] == DEFAULT_CMC_MAX_CORNERS
    lib = BoTSORT(fps=30.0, enable_cmc=True, cmc_downscale=2)  # the library's knob: a fixed downscale
    assert lib._cmc is not None and not lib._cmc.analysis_width and lib._cmc.downscale == 2
    assert lib._cmc.feature_params["maxCorners"] == DEFAULT_CMC_MAX_CORNERS
    full = BoTSORT(fps=30.0, enable_cmc=True, cmc_width=0, cmc_max_corners=0)
    assert full._cmc is not None and full._cmc.feature_params["maxCorners"] == 1000
