"""Sources on the real media in ../shared (see shared/media/PROVENANCE.md, shared/mot/PROVENANCE.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from vtrack.stream.sources import ImageFolderSource, VideoFileSource, open_source, probe_start_time

pytestmark = pytest.mark.assets


def test_bicycle_720p(shared: Path) -> None:
    src = open_source(shared / "media/video/bicycle_tracking_sample.mp4")
    assert isinstance(src, VideoFileSource)
    assert (src.name, src.width, src.height, src.frame_count) == ("bicycle_tracking_sample", 1280, 720, 300)
    assert src.native_fps == src.fps == pytest.approx(30)
    frames = list(src)
    assert len(frames) == 300 and [f.index for f in frames] == list(range(300))
    assert frames[0].pts == 0 and frames[-1].pts == pytest.approx(299 / 30)
    assert frames[0].image.shape == (720, 1280, 3) and frames[0].image.dtype == np.uint8
    assert src.errors == [] and src.decode_failures == 0


def test_bicycle_1080p_with_stride(shared: Path) -> None:
    src = open_source(shared / "media/video/bicycle_tracking_sample_1080p.mp4", stride=10)
    assert (src.width, src.height, src.frame_count, src.fps) == (1920, 1080, 30, pytest.approx(3))
    frames = list(src)
    assert [f.index for f in frames] == list(range(0, 300, 10))
    assert frames[0].image.shape == (1080, 1920, 3)


def test_ntsc_rate(shared: Path) -> None:
    src = VideoFileSource(shared / "media/video/degirum_aerial_crossing_pedestrians_bikes.mp4", stride=100)
    assert src.native_fps == pytest.approx(24000 / 1001)
    assert src.frame_count == 5  # ceil(419 / 100)


def test_tud_campus(shared: Path) -> None:
    src = open_source(shared / "mot/TUD-Campus/img1")
    assert isinstance(src, ImageFolderSource)
    assert (src.name, src.width, src.height, src.frame_count) == ("TUD-Campus", 640, 480, 71)
    assert src.native_fps == 25 and src.fps_origin.endswith("seqinfo.ini")
    frames = list(src)
    assert len(frames) == 71 and Path(frames[-1].path or "").name == "000071.jpg"
    assert frames[-1].pts == pytest.approx(70 / 25)
    assert src.errors == []


def test_tud_campus_glob(shared: Path) -> None:
    src = open_source(str(shared / "mot/TUD-Campus/img1/*.jpg"), stride=10)
    assert (src.name, src.native_fps, src.frame_count) == ("TUD-Campus", 25, 8)
    assert [f.index for f in src] == list(range(0, 71, 10))


def test_scan_car_bikes(shared: Path) -> None:
    src = open_source(shared / "media/scan_car_bikes")
    frames = list(src)
    assert src.name == "scan_car_bikes"
    assert src.frame_count == len(frames) == 15 and src.errors == []
    assert src.native_fps == 30  # no seqinfo.ini: the default
    assert (src.width, src.height) == frames[0].image.shape[1::-1]
    assert len({f.image.shape for f in frames}) > 1  # phone photos of several sizes, yielded as they are
    assert all(f.image.dtype == np.uint8 and f.image.shape[2] == 3 for f in frames)


def test_start_times(shared: Path) -> None:
    video = shared / "media/video"
    assert probe_start_time(video / "dashcam_freeway_day_480p.mp4") == (
        datetime(2021, 6, 1, 6, 52, tzinfo=timezone.utc),
        "creation_time",
    )
    start, how = probe_start_time(video / "bicycle_tracking_sample.mp4")  # no creation_time tag
    assert how == "file_mtime" and start.tzinfo is not None
