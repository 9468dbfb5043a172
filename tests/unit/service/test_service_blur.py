"""The live view (MJPEG, snapshot) pixelates a stream's privacy classes before drawing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import supervision as sv

from vtrack.config import StreamConfig
from vtrack.errors import VtrackError
from vtrack.exporters.annotate import FrameAnnotator
from vtrack.metrics import Metrics
from vtrack.service.manager import StreamWorker
from vtrack.types import Frame, FrameResult


class StubDetector:
    class_names = {0: "person", 1: "bicycle"}  # noqa: RUF012

    def class_ids_for_names(self, names: list[str]) -> list[int]:
        ids = {v: k for k, v in self.class_names.items()}
        unknown = [n for n in names if n not in ids]
        if unknown:
            raise VtrackError(f"unknown class name(s) {unknown}")
        return [ids[n] for n in names]


def _view(blur: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    person = sv.Detections(
        xyxy=np.array([[20, 20, 100, 110]], np.float32), confidence=np.array([0.9], np.float32),
        class_id=np.array([0]), data={"class_name": np.array(["person"])},
    )
    cfg = StreamConfig(id="s1", source="clip.mp4", classes=["bicycle"], privacy={"blur": blur})
    worker = StreamWorker(cfg, StubDetector(), Metrics(), source_factory=lambda _c: None)  # type: ignore[arg-type]
    # the person is not a tracked class: the view shows no box for it, but blurs it
    # (the frame step hands the rows to blur on in ``result.blur`` when the stream blurs something)
    result = FrameResult(
        frame=Frame(image.copy(), 0, 0.0), detections=sv.Detections.empty(), events=[],
        blur=person if blur else None,
    )
    worker.view.publish(FrameAnnotator([]), result, None)
    jpeg, _ = worker.latest_jpeg()
    assert jpeg is not None
    view = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return image, view


def _detail(a: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: high for noise, low once pixelated."""
    a = a.astype(np.float32)
    return float(np.abs(np.diff(a, axis=1)).mean())


@pytest.mark.parametrize(("blur", "pixelated"), [(["person"], True), ([], False)])
def test_live_view_pixelates_privacy_classes(blur: list[str], pixelated: bool) -> None:
    original, view = _view(blur)
    inside, outside = (slice(24, 106), slice(24, 96)), (slice(0, 120), slice(110, 160))
    assert _detail(view[outside]) > 0.5 * _detail(original[outside])  # untouched beside the box
    assert (_detail(view[inside]) < 0.2 * _detail(original[inside])) is pixelated


def test_unknown_privacy_class_fails_early() -> None:
    cfg = StreamConfig(id="s1", source="clip.mp4", privacy={"blur": ["unicorn"]})
    with pytest.raises(VtrackError, match="unicorn"):
        StreamWorker(cfg, StubDetector(), Metrics(), source_factory=lambda _c: None)  # type: ignore[arg-type]
