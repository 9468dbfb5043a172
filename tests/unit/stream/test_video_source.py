"""VideoFileSource on synthetic videos: order, stride, timestamps, damaged and bad files."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from synthetic_media import number_of

from vtrack.errors import ConfigError, SourceError
from vtrack.stream.base import Source
from vtrack.stream.video import VideoFileSource, rotate_ccw

MakeVideo = Callable[..., Path]


@pytest.mark.parametrize(("codec", "suffix"), [("libx264", ".mp4"), ("mpeg4", ".mp4"), ("libx264", ".mkv")])
def test_reads_every_frame_in_order(make_video: MakeVideo, codec: str, suffix: str) -> None:
    path = make_video(f"clip{suffix}", n=40, fps=20, codec=codec, size=(80, 48))
    src = VideoFileSource(path)
    frames = list(src)

    assert isinstance(src, Source)
    assert (src.name, src.width, src.height) == ("clip", 80, 48)
    assert src.native_fps == pytest.approx(20) and src.fps == pytest.approx(20)
    assert src.frame_count == (40 if suffix == ".mp4" else None)  # MKV stores no frame count
    assert [f.index for f in frames] == list(range(40))
    assert [number_of(f.image) for f in frames] == list(range(40))
    assert [f.pts for f in frames] == pytest.approx([i / 20 for i in range(40)], abs=1e-3)
    first = frames[0]
    assert first.image.shape == (48, 80, 3) and first.image.dtype == np.uint8
    assert first.image.flags["C_CONTIGUOUS"] and first.image.flags["WRITEABLE"]
    assert (first.source_id, first.path) == ("clip", str(path))
    assert src.errors == [] and src.decode_failures == 0


@pytest.mark.parametrize("stride", [2, 3, 7, 30, 31])
def test_stride_yields_every_kth_frame(h264_clip: Path, stride: int) -> None:
    src = VideoFileSource(h264_clip, stride=stride)
    frames = list(src)
    expected = list(range(0, 30, stride))

    assert [f.index for f in frames] == expected
    assert [number_of(f.image) for f in frames] == expected
    assert [f.pts for f in frames] == pytest.approx([i / 25 for i in expected], abs=1e-3)
    assert src.frame_count == len(expected) == math.ceil(30 / stride)
    assert src.native_fps == pytest.approx(25)
    assert src.fps == pytest.approx(25 / stride)


@pytest.mark.parametrize("stride", [0, -1, 1.5, True, "2"])
def test_bad_stride_is_a_config_error(h264_clip: Path, stride: object) -> None:
    with pytest.raises(ConfigError, match="stride"):
        VideoFileSource(h264_clip, stride=stride)  # type: ignore[arg-type]


def test_name_can_be_given(h264_clip: Path) -> None:
    src = VideoFileSource(h264_clip, name="cam-1")
    assert src.name == "cam-1"
    assert next(iter(src)).source_id == "cam-1"


def test_variable_frame_rate_timestamps(make_video: MakeVideo) -> None:
    times_ms = [0, 40, 80, 320, 360, 1000, 1040, 1080]  # multiples of the 25 fps encoder tick
    path = make_video("vfr.mkv", pts_ms=times_ms, fps=25)
    frames = list(VideoFileSource(path))
    assert [f.pts for f in frames] == pytest.approx([t / 1000 for t in times_ms], abs=1e-3)
    assert [f.index for f in frames] == list(range(len(times_ms)))


@pytest.mark.parametrize(("name", "fmt"), [("late.mkv", None), ("late.ts", "mpegts")])
def test_timestamps_start_at_stream_start(make_video: MakeVideo, name: str, fmt: str | None) -> None:
    """A stream whose first timestamp is 5 s (a cut from a longer recording) starts at pts 0."""
    times_ms = [5000 + 40 * i for i in range(10)]
    frames = list(VideoFileSource(make_video(name, pts_ms=times_ms, container_format=fmt)))
    assert frames[0].pts == pytest.approx(0, abs=1e-3)
    assert frames[-1].pts == pytest.approx(0.36, abs=1e-3)


def test_raw_stream_without_timestamps_uses_index_over_fps(make_video: MakeVideo) -> None:
    path = make_video("raw.h264", n=12, fps=25, container_format="h264")
    src = VideoFileSource(path)
    frames = list(src)
    assert src.frame_count is None
    assert [number_of(f.image) for f in frames] == list(range(12))
    assert [f.pts for f in frames] == pytest.approx([i / 25 for i in range(12)])


def test_each_iteration_starts_over(h264_clip: Path) -> None:
    src = VideoFileSource(h264_clip, stride=5)
    assert [f.index for f in src] == [f.index for f in src] == [0, 5, 10, 15, 20, 25]


def test_close_stops_a_pass_and_is_idempotent(h264_clip: Path) -> None:
    src = VideoFileSource(h264_clip)
    frames = iter(src)
    assert [next(frames).index for _ in range(3)] == [0, 1, 2]
    src.close()
    src.close()
    assert src.closed
    assert list(frames) == []
    assert list(src) == []


def test_close_from_another_thread_stops_the_reader(h264_clip: Path) -> None:
    src = VideoFileSource(h264_clip)
    seen: list[int] = []
    first = threading.Event()
    proceed = threading.Event()

    def read() -> None:
        for frame in src:
            seen.append(frame.index)
            first.set()
            proceed.wait(5)

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(5)
    src.close()
    proceed.set()
    reader.join(5)
    assert not reader.is_alive()
    assert len(seen) < 30


def test_context_manager_closes(h264_clip: Path) -> None:
    with VideoFileSource(h264_clip) as src:
        assert next(iter(src)).index == 0
    assert src.closed


def test_truncated_file_yields_what_decodes_and_reports(
    make_video: MakeVideo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    full = make_video("full.mp4", n=60, fps=30, size=(160, 120))
    cut = tmp_path / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])

    src = VideoFileSource(cut)
    assert src.frame_count == 60  # what the container promises
    with caplog.at_level(logging.WARNING, logger="vtrack.stream"):
        frames = list(src)

    assert 0 < len(frames) < 60
    assert [number_of(f.image) for f in frames] == list(range(len(frames)))
    assert src.decode_failures >= 1
    assert any("of the 60 frames" in e for e in src.errors)
    assert any("truncated" in r.getMessage() for r in caplog.records)


def test_truncated_stream_without_frame_count_is_reported(make_video: MakeVideo, tmp_path: Path) -> None:
    """MKV stores no frame count: the shortfall against the stated duration is the clue."""
    full = make_video("full.mkv", n=60, fps=30, size=(160, 120))
    cut = tmp_path / "cut.mkv"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])

    src = VideoFileSource(cut)
    frames = list(src)
    assert 0 < len(frames) < 60
    assert src.decode_failures >= 1
    assert any("truncated" in e for e in src.errors)


def test_garbage_in_the_middle_is_skipped_and_counted(make_video: MakeVideo, tmp_path: Path) -> None:
    full = make_video("full.mp4", n=60, fps=30, size=(160, 120))
    data = bytearray(full.read_bytes())
    third = len(data) // 3
    data[third : third + 4000] = np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))

    src = VideoFileSource(bad)
    frames = list(src)
    assert len(frames) > 30
    assert src.decode_failures >= 1 and src.errors


def test_cut_mp4_without_index_is_a_clear_error(make_video: MakeVideo, tmp_path: Path) -> None:
    full = make_video("slow.mp4", n=30, faststart=False)  # moov atom written last
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(SourceError, match="moov atom") as err:
        VideoFileSource(cut)
    assert "\n" not in str(err.value)


def _text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    return path


def _zero_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp4"
    path.touch()
    return path


def _random_bytes(tmp_path: Path) -> Path:
    path = tmp_path / "noise.avi"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    return path


def _subtitles_only(tmp_path: Path) -> Path:
    path = tmp_path / "subs.mp4"
    path.write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n")
    return path


def _folder(tmp_path: Path) -> Path:
    (tmp_path / "dir").mkdir()
    return tmp_path / "dir"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "nope.mp4", "not found"),
        (_folder, "got a folder"),
        (_zero_bytes, "empty (0 bytes)"),
        (_text_file, "not a video file"),
        (_random_bytes, "not a video file"),
        (_subtitles_only, "no video stream"),
    ],
    ids=["missing", "folder", "zero-bytes", "text-file", "random-bytes", "subtitles-only"],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(SourceError) as err:
        VideoFileSource(path)
    text = str(err.value)
    assert message in text and str(path) in text
    assert "\n" not in text


def test_rotate_ccw() -> None:
    image = np.repeat(np.arange(6, dtype=np.uint8).reshape(2, 3, 1), 3, axis=2)  # [[0 1 2], [3 4 5]]
    assert rotate_ccw(image, 0) is image
    assert rotate_ccw(image, 90)[..., 0].tolist() == [[2, 5], [1, 4], [0, 3]]
    assert rotate_ccw(image, -90)[..., 0].tolist() == [[3, 0], [4, 1], [5, 2]]
    assert rotate_ccw(image, 180)[..., 0].tolist() == [[5, 4, 3], [2, 1, 0]]
    assert rotate_ccw(image, 270)[..., 0].tolist() == rotate_ccw(image, -90)[..., 0].tolist()
