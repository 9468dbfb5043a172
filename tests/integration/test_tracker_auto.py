"""``tracker: auto`` on real footage: a dashcam picks BoT-SORT (+CMC), a fixed camera ByteTrack."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import supervision as sv

from vtrack.trackers import AutoTracker

FRAMES = 30


@pytest.mark.parametrize(
    ("video", "expected"),
    [
        ("dashcam_freeway_day_480p.mp4", "botsort"),  # driving: the scene flows past
        ("degirum_traffic_motorway_overpass.mp4", "bytetrack"),  # fixed camera over moving traffic
    ],
)
def test_auto_picks_by_camera_motion(shared: Path, video: str, expected: str) -> None:
    cap = cv2.VideoCapture(str(shared / "media" / "video" / video))
    assert cap.isOpened(), video
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    trk = AutoTracker(fps=fps)
    empty = sv.Detections(xyxy=np.empty((0, 4), np.float32), class_id=np.empty(0, np.int64))
    try:
        for _ in range(FRAMES):
            ok, frame = cap.read()
            assert ok
            trk.update(empty, frame)
            if trk.decision is not None:
                break
    finally:
        cap.release()
    assert trk.decision is not None, "no decision within the first frames"
    assert trk.decision.used == expected, trk.decision.reason
    assert trk.decision.camera_motion_px_per_frame is not None
