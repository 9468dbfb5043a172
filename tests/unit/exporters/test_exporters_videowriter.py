"""VideoWriter / AnnotatedVideoExporter: H.264 MP4 read back with PyAV."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vtrack.exporters import AnnotatedVideoExporter, Exporter, ExportError, FrameAnnotator, VideoWriter
from vtrack.exporters.video import frame_rate_fraction
from vtrack.geometry import Line


def probe(path: Path) -> dict[str, object]:
    """Codec facts and the number of frames actually decodable."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        facts = {
            "codec": s.codec_context.name,
            "pix_fmt": s.codec_context.pix_fmt,
            "width": s.codec_context.width,
            "height": s.codec_context.height,
            "average_rate": s.average_rate,
            "frames_header": s.frames,
        }
        facts["decoded"] = sum(1 for _ in c.decode(video=0))
    return facts


def gradient_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    xs = np.linspace(0, 255, width, dtype=np.float32)
    frames = []
    for i in range(n):
        img = np.zeros((height, width, 3), np.uint8)
        img[..., 0] = xs[None, :].astype(np.uint8)
        img[..., 1] = (i * 7) % 256
        img[..., 2] = 128
        frames.append(img)
    return frames


@pytest.mark.parametrize(
    ("fps", "expected"),
    [
        (29.97, Fraction(30000, 1001)),
        (30000 / 1001, Fraction(30000, 1001)),
        (23.976, Fraction(24000, 1001)),
        (59.94, Fraction(60000, 1001)),
        (30, Fraction(30)),
        (25.0, Fraction(25)),
        (12.5, Fraction(25, 2)),
        (Fraction(30000, 1001), Fraction(30000, 1001)),
    ],
)
def test_frame_rate_fraction(fps, expected):
    assert frame_rate_fraction(fps) == expected


@pytest.mark.parametrize("fps", [0, -1, float("nan"), float("inf")])
def test_frame_rate_fraction_rejects(fps):
    with pytest.raises(ValueError, match="fps"):
        frame_rate_fraction(fps)


@pytest.mark.parametrize("background", [False, True], ids=["sync", "background"])
@pytest.mark.parametrize(("fps", "rate"), [(29.97, Fraction(30000, 1001)), (25, Fraction(25))])
def test_h264_yuv420p_exact_rate_and_frame_count(tmp_path, background, fps, rate):
    path = tmp_path / "sub" / "out.mp4"
    with VideoWriter(path, fps=fps, width=160, height=96, background=background) as w:
        for img in gradient_frames(37, 160, 96):
            w.write(img)
    facts = probe(path)
    assert facts == {
        "codec": "h264",
        "pix_fmt": "yuv420p",
        "width": 160,
        "height": 96,
        "average_rate": rate,
        "frames_header": 37,
        "decoded": 37,
    }
    assert not path.with_name("out.mp4.part").exists()


def test_faststart_puts_moov_before_mdat(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=30, width=64, height=48) as w:
        for img in gradient_frames(10, 64, 48):
            w.write(img)
    data = path.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")


@pytest.mark.parametrize(("width", "height"), [(161, 96), (160, 97), (161, 97), (1, 1)])
def test_odd_sizes_are_padded_by_one_pixel(tmp_path, width, height):
    path = tmp_path / "odd.mp4"
    w = VideoWriter(path, fps=30, width=width, height=height)
    for img in gradient_frames(5, width, height):
        w.write(img)
    w.close()
    facts = probe(path)
    assert (facts["width"], facts["height"]) == (width + width % 2, height + height % 2)
    assert facts["decoded"] == 5


def test_colours_survive_the_round_trip(tmp_path):
    path = tmp_path / "c.mp4"
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (40, 120, 200)]
    with VideoWriter(path, fps=30, width=64, height=64, crf=10) as w:
        for c in colours:
            w.write(np.full((64, 64, 3), c, np.uint8))
    with av.open(str(path)) as c:
        decoded = [f.to_ndarray(format="bgr24")[32, 32].astype(int) for f in c.decode(video=0)]
    for got, want in zip(decoded, colours, strict=True):
        assert np.abs(got - np.array(want)).max() <= 6, (got, want)


def test_close_twice_is_safe_and_write_after_close_raises(tmp_path):
    path = tmp_path / "out.mp4"
    w = VideoWriter(path, fps=30, width=64, height=48)
    w.write(gradient_frames(1, 64, 48)[0])
    w.close()
    w.close()
    assert w.frames_written == 1
    with pytest.raises(ExportError, match="closed"):
        w.write(gradient_frames(1, 64, 48)[0])


@pytest.mark.parametrize(
    "image",
    [np.zeros((48, 65, 3), np.uint8), np.zeros((48, 64), np.uint8), np.zeros((48, 64, 3), np.float32)],
    ids=["wrong-size", "grey", "float"],
)
def test_wrong_frame_is_rejected(tmp_path, image):
    w = VideoWriter(tmp_path / "out.mp4", fps=30, width=64, height=48)
    with pytest.raises(ValueError, match=r"\(48, 64, 3\) uint8"):
        w.write(image)
    w.close()


def test_no_frames_leaves_no_file(tmp_path, caplog):
    path = tmp_path / "none.mp4"
    with caplog.at_level(logging.WARNING):
        VideoWriter(path, fps=30, width=64, height=48).close()
    assert not path.exists() and not path.with_name("none.mp4.part").exists()
    assert any("no frames" in m for m in caplog.messages)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 0, "height": 10},
        {"width": 10, "height": 10, "crf": 60},
        {"width": 10, "height": 10, "preset": "turbo"},
    ],
)
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        VideoWriter(tmp_path / "x.mp4", fps=30, **kwargs)


def test_interrupted_run_keeps_the_frames_done(tmp_path):
    path = tmp_path / "out.mp4"
    w = VideoWriter(path, fps=30, width=64, height=48)
    frames = gradient_frames(50, 64, 48)
    try:
        for i, img in enumerate(frames):
            if i == 20:
                raise KeyboardInterrupt
            w.write(img)
    except KeyboardInterrupt:
        pass
    finally:
        w.close()
    assert probe(path)["decoded"] == 20


def test_annotated_video_exporter(tmp_path, detections, result):
    calls = []

    def counts():
        calls.append(1)
        return {"gate": {"car": {"in": len(calls), "out": 0}}}

    path = tmp_path / "ann.mp4"
    ex = AnnotatedVideoExporter(
        path, FrameAnnotator([Line("gate", 10, 200, 300, 200)]), counts, 30000 / 1001, 320, 240
    )
    assert isinstance(ex, Exporter)
    for i in range(12):
        ex.write(result(detections([[20 + 5 * i, 50, 80 + 5 * i, 120]], [1]), index=i))
    ex.close()
    ex.close()
    assert len(calls) == 12
    facts = probe(path)
    assert facts["decoded"] == 12 and facts["average_rate"] == Fraction(30000, 1001)
    with pytest.raises(ExportError, match="closed"):
        ex.write(result())


def test_background_encoder_failure_surfaces_on_write_and_close(tmp_path, monkeypatch):
    w = VideoWriter(tmp_path / "out.mp4", fps=30, width=64, height=48, queue_size=1)

    def boom(yuv, pts):
        raise ExportError("disk full")

    monkeypatch.setattr(w, "_encode", boom)
    frame = gradient_frames(1, 64, 48)[0]
    with pytest.raises(ExportError, match="disk full"):
        for _ in range(50):  # the error shows on a later write once the worker has hit it
            w.write(frame)
    with pytest.raises(ExportError, match="disk full"):
        w.close()
    w.close()  # still safe
