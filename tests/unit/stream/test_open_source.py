"""open_source: picking the source for a path or pattern; probe_start_time and creation_time parsing."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from synthetic_media import number_of, write_image

from vtrack.errors import SourceError
from vtrack.stream.base import Source
from vtrack.stream.sources import (
    ImageFolderSource,
    VideoFileSource,
    open_source,
    parse_creation_time,
    probe_start_time,
)

MakeVideo = Callable[..., Path]
MTIME = datetime(2024, 3, 5, 7, 9, 11, tzinfo=timezone.utc)


def test_video_file(h264_clip: Path) -> None:
    src = open_source(str(h264_clip), stride=3)
    assert isinstance(src, VideoFileSource) and isinstance(src, Source)
    assert (src.name, src.frame_count, src.stride) == ("clip", 10, 3)


def test_video_ignores_fps_with_a_warning(h264_clip: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vtrack.stream"):
        src = open_source(h264_clip, fps=99)
    assert src.native_fps == pytest.approx(25)
    assert any("ignored" in r.getMessage() for r in caplog.records)


def test_image_folder(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / "seq" / f"{i}.png", i)
    src = open_source(tmp_path / "seq", fps=5)
    assert isinstance(src, ImageFolderSource)
    assert (src.name, src.native_fps, src.frame_count) == ("seq", 5, 3)


def test_mot_img1_folder_is_named_after_the_sequence(tmp_path: Path) -> None:
    write_image(tmp_path / "TUD-Campus" / "img1" / "000001.jpg", 0)
    assert open_source(tmp_path / "TUD-Campus" / "img1").name == "TUD-Campus"


def test_single_image(tmp_path: Path) -> None:
    path = write_image(tmp_path / "photos" / "Bike.JPG", 4)
    src = open_source(path)
    frames = list(src)
    assert isinstance(src, ImageFolderSource)
    assert src.name == "Bike" and len(frames) == 1 and number_of(frames[0].image) == 4


def test_glob_of_images_in_natural_order(tmp_path: Path) -> None:
    for i, name in enumerate(["f1.png", "f2.png", "f10.png"]):
        write_image(tmp_path / "frames" / name, i)
    (tmp_path / "frames" / "notes.txt").write_text("left out")
    write_image(tmp_path / "frames" / "other.jpg", 9)
    src = open_source(str(tmp_path / "frames" / "f*.png"), fps=10, stride=1)
    frames = list(src)
    assert isinstance(src, ImageFolderSource)
    assert [Path(f.path or "").name for f in frames] == ["f1.png", "f2.png", "f10.png"]
    assert [number_of(f.image) for f in frames] == [0, 1, 2]
    assert (src.name, src.native_fps) == ("frames", 10)
    # a broader pattern skips files that are not images
    assert open_source(str(tmp_path / "frames" / "*")).frame_count == 4


def test_recursive_glob(tmp_path: Path) -> None:
    write_image(tmp_path / "a" / "1.png", 0)
    write_image(tmp_path / "b" / "2.png", 1)
    assert open_source(str(tmp_path / "**" / "*.png")).frame_count == 2


def test_glob_matching_videos_points_to_batch(make_video: MakeVideo, tmp_path: Path) -> None:
    make_video("a.mp4", n=3)
    make_video("b.mp4", n=3)
    with pytest.raises(SourceError, match="vtrack batch") as err:
        open_source(str(tmp_path / "*.mp4"))
    assert "2 video file(s)" in str(err.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{tmp}/nothing/*.jpg", "no file matches"),
        ("{tmp}/missing.mp4", "source not found"),
        ("", "no source given"),
        ("rtsp://camera.local/stream", "stream URLs"),
    ],
)
def test_errors(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(SourceError, match=message) as err:
        open_source(spec.format(tmp=tmp_path))
    assert "\n" not in str(err.value)


def test_glob_matching_no_image(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(SourceError, match="no image"):
        open_source(str(tmp_path / "*"))


def test_empty_folder_and_bad_video_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no images in folder"):
        open_source(tmp_path / "empty")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(SourceError, match="not a video file"):
        open_source(tmp_path / "notes.mp4")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-06-01T06:52:00.000000Z", datetime(2021, 6, 1, 6, 52, tzinfo=timezone.utc)),
        ("2021-06-01T06:52:00Z", datetime(2021, 6, 1, 6, 52, tzinfo=timezone.utc)),
        ("2021-06-01T06:52:00.5Z", datetime(2021, 6, 1, 6, 52, 0, 500000, tzinfo=timezone.utc)),
        ("2021-06-01T06:52:00.123456789Z", datetime(2021, 6, 1, 6, 52, 0, 123456, tzinfo=timezone.utc)),
        ("2021-06-01 06:52:00", datetime(2021, 6, 1, 6, 52, tzinfo=timezone.utc)),
        ("2021-06-01T08:52:00+02:00", datetime(2021, 6, 1, 6, 52, tzinfo=timezone.utc)),
        ("1970-01-01T00:00:00.000000Z", None),
        ("1904-01-01T00:00:00.000000Z", None),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_creation_time(text: str | None, expected: datetime | None) -> None:
    parsed = parse_creation_time(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def _set_mtime(path: Path) -> None:
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))


def test_start_time_from_creation_time(make_video: MakeVideo) -> None:
    path = make_video("cam.mp4", n=3, metadata={"creation_time": "2022-11-09T15:28:55.000000Z"})
    _set_mtime(path)
    assert probe_start_time(path) == (datetime(2022, 11, 9, 15, 28, 55, tzinfo=timezone.utc), "creation_time")


@pytest.mark.parametrize("metadata", [None, {"creation_time": "1970-01-01T00:00:00.000000Z"}])
def test_start_time_falls_back_to_mtime(make_video: MakeVideo, metadata: dict[str, str] | None) -> None:
    path = make_video("cam.mkv", n=3, metadata=metadata)
    _set_mtime(path)
    assert probe_start_time(path) == (MTIME, "file_mtime")


def test_start_time_of_folder_glob_and_missing(tmp_path: Path) -> None:
    first = write_image(tmp_path / "seq" / "f1.png", 0)
    write_image(tmp_path / "seq" / "f10.png", 1)
    _set_mtime(first)
    assert probe_start_time(tmp_path / "seq") == (MTIME, "file_mtime")
    assert probe_start_time(str(tmp_path / "seq" / "*.png")) == (MTIME, "file_mtime")
    with pytest.raises(SourceError, match="not found"):
        probe_start_time(tmp_path / "gone.mp4")


def test_a_stream_url_is_refused_without_its_password() -> None:
    with pytest.raises(SourceError, match="not read by open_source") as info:
        open_source("rtsp://admin:Sekr1t@127.0.0.1:8554/cam")
    assert "Sekr1t" not in str(info.value)
    assert "127.0.0.1:8554/cam" in str(info.value)
