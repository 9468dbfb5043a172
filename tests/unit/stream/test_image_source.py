"""ImageFolderSource: natural order, frame rate from seqinfo.ini, stride, unreadable and odd images."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from synthetic_media import number_of, write_image

from vtrack.errors import ConfigError, SourceError
from vtrack.stream.base import Source
from vtrack.stream.images import ImageFolderSource, list_images, natural_sort_key, read_seqinfo_fps


def make_folder(folder: Path, names: list[str], size: tuple[int, int] = (32, 24)) -> Path:
    """Write ``names[i]`` with the colour of frame number ``i``."""
    for i, name in enumerate(names):
        write_image(folder / name, i, size)
    return folder


def write_seqinfo(path: Path, frame_rate: str = "25", im_dir: str | None = "img1") -> None:
    lines = ["[Sequence]", "name=SEQ-01"]
    if im_dir is not None:
        lines.append(f"imDir={im_dir}")
    lines.append(f"frameRate={frame_rate}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["frame10.png", "frame2.png", "frame1.png"], ["frame1.png", "frame2.png", "frame10.png"]),
        (["b.png", "A.png", "c.png"], ["A.png", "b.png", "c.png"]),
        (["img_1_10.png", "img_1_9.png", "img_0_99.png"], ["img_0_99.png", "img_1_9.png", "img_1_10.png"]),
        (["01.png", "1.png", "002.png"], ["01.png", "1.png", "002.png"]),
        (["x.png", "10.png", "9.png"], ["9.png", "10.png", "x.png"]),
    ],
)
def test_natural_sort(names: list[str], expected: list[str]) -> None:
    assert sorted(names, key=natural_sort_key) == expected


def test_plays_images_in_natural_order(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "shots", ["frame1.png", "frame2.png", "frame10.png", "frame11.png"])
    src = ImageFolderSource(folder)
    frames = list(src)

    assert isinstance(src, Source)
    assert [Path(f.path or "").name for f in frames] == [
        "frame1.png",
        "frame2.png",
        "frame10.png",
        "frame11.png",
    ]
    assert [number_of(f.image) for f in frames] == [0, 1, 2, 3]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.pts for f in frames] == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30])
    assert (src.name, src.width, src.height, src.frame_count) == ("shots", 32, 24, 4)
    assert src.native_fps == src.fps == 30 and src.fps_origin == "default"
    assert frames[0].image.shape == (24, 32, 3) and frames[0].image.dtype == np.uint8
    assert frames[0].source_id == "shots"


def test_extensions_are_case_insensitive_and_other_files_ignored(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "f", ["a1.PNG", "a2.Jpg", "a3.bmp", "a4.tif", "a5.webp"])
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"AppleDouble junk")
    (folder / "sub").mkdir()
    write_image(folder / "sub" / "a0.png", 9)
    assert [p.name for p in list_images(folder)] == ["a1.PNG", "a2.Jpg", "a3.bmp", "a4.tif", "a5.webp"]
    assert len(list(ImageFolderSource(folder))) == 5


def test_mot_img1_folder_takes_rate_and_name_from_the_sequence(tmp_path: Path) -> None:
    img1 = make_folder(tmp_path / "SEQ-01" / "img1", [f"{i:06d}.jpg" for i in range(1, 6)])
    write_seqinfo(tmp_path / "SEQ-01" / "seqinfo.ini", "25")
    src = ImageFolderSource(img1)
    frames = list(src)
    assert src.name == "SEQ-01"
    assert src.native_fps == 25 and src.fps_origin.endswith("seqinfo.ini")
    assert [f.pts for f in frames] == pytest.approx([i / 25 for i in range(5)])


def test_seqinfo_inside_the_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "seq", ["1.png", "2.png"])
    write_seqinfo(folder / "seqinfo.ini", "12.5", im_dir=None)
    assert ImageFolderSource(folder).native_fps == 12.5


def test_seqinfo_of_another_image_folder_is_ignored(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "seq" / "thumbs", ["1.png"])
    write_seqinfo(tmp_path / "seq" / "seqinfo.ini", "25", im_dir="img1")
    assert ImageFolderSource(folder).native_fps == 30


def test_fps_argument_wins_over_seqinfo(tmp_path: Path) -> None:
    img1 = make_folder(tmp_path / "S" / "img1", ["1.png", "2.png", "3.png"])
    write_seqinfo(tmp_path / "S" / "seqinfo.ini", "25")
    src = ImageFolderSource(img1, fps=10, stride=2)
    assert (src.native_fps, src.fps, src.fps_origin) == (10, 5, "argument")
    assert [f.pts for f in src] == pytest.approx([0, 0.2])


@pytest.mark.parametrize("bad", ["abc", "0", "-5", "inf"])
def test_bad_seqinfo_frame_rate_is_a_source_error(tmp_path: Path, bad: str) -> None:
    img1 = make_folder(tmp_path / "S" / "img1", ["1.png"])
    write_seqinfo(tmp_path / "S" / "seqinfo.ini", bad)
    with pytest.raises(SourceError, match="frameRate"):
        ImageFolderSource(img1)


def test_read_seqinfo_fps_without_any_ini(tmp_path: Path) -> None:
    assert read_seqinfo_fps(make_folder(tmp_path / "x", ["1.png"])) is None


@pytest.mark.parametrize("fps", [0, -1, float("nan"), "25"])
def test_bad_fps_is_a_config_error(tmp_path: Path, fps: object) -> None:
    with pytest.raises(ConfigError, match="fps"):
        ImageFolderSource(make_folder(tmp_path / "x", ["1.png"]), fps=fps)  # type: ignore[arg-type]


@pytest.mark.parametrize("stride", [1, 2, 3, 10])
def test_stride(tmp_path: Path, stride: int) -> None:
    folder = make_folder(tmp_path / "x", [f"f{i}.png" for i in range(10)])
    src = ImageFolderSource(folder, stride=stride, fps=5)
    frames = list(src)
    expected = list(range(0, 10, stride))
    assert [f.index for f in frames] == expected
    assert [number_of(f.image) for f in frames] == expected
    assert [f.pts for f in frames] == pytest.approx([i / 5 for i in expected])
    assert src.frame_count == len(expected)
    assert src.fps == pytest.approx(5 / stride)


def test_unreadable_image_is_skipped_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_folder(tmp_path / "x", ["f0.png", "f1.png", "f2.png", "f3.png"])
    (folder / "f2.png").write_bytes(b"\x89PNG but cut short")
    src = ImageFolderSource(folder)
    with caplog.at_level(logging.WARNING, logger="vtrack.stream"):
        frames = list(src)
    assert [f.index for f in frames] == [0, 1, 3]
    assert [number_of(f.image) for f in frames] == [0, 1, 3]
    assert src.decode_failures == 1
    assert len(src.errors) == 1 and "f2.png" in src.errors[0]
    assert any("f2.png" in r.getMessage() for r in caplog.records)
    list(src)  # a new pass starts with fresh counters
    assert src.decode_failures == 1


def test_size_comes_from_the_first_readable_image(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "x", ["f0.png", "f1.png"], size=(40, 30))
    (folder / "f0.png").write_bytes(b"junk")
    src = ImageFolderSource(folder)
    assert (src.width, src.height) == (40, 30)


def test_images_of_other_sizes_are_yielded_as_they_are(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "x"
    write_image(folder / "a.png", 0, (32, 24))
    write_image(folder / "b.png", 1, (64, 48))
    write_image(folder / "c.png", 2, (16, 16))
    src = ImageFolderSource(folder)
    with caplog.at_level(logging.WARNING, logger="vtrack.stream"):
        shapes = [f.image.shape for f in src]
    assert shapes == [(24, 32, 3), (48, 64, 3), (16, 16, 3)]
    assert (src.width, src.height) == (32, 24)
    assert sum("own size" in r.getMessage() for r in caplog.records) == 1  # warned once


def test_grey_and_alpha_images_become_bgr(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    cv2.imwrite(str(folder / "grey.png"), np.full((10, 12), 77, np.uint8))
    cv2.imwrite(str(folder / "rgba.png"), np.full((10, 12, 4), 200, np.uint8))
    cv2.imwrite(str(folder / "deep.png"), np.full((10, 12, 3), 65535, np.uint16))
    images = [f.image for f in ImageFolderSource(folder)]
    assert all(i.shape == (10, 12, 3) and i.dtype == np.uint8 for i in images)


def test_from_files_keeps_the_given_order(tmp_path: Path) -> None:
    a = write_image(tmp_path / "d" / "a.png", 0)
    b = write_image(tmp_path / "d" / "b.png", 1)
    src = ImageFolderSource.from_files([b, a], fps=2)
    assert [number_of(f.image) for f in src] == [1, 0]
    assert src.name == "d"
    single = ImageFolderSource.from_files([a])
    assert (single.name, single.frame_count) == ("a", 1)


def test_from_files_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no image files"):
        ImageFolderSource.from_files([])
    with pytest.raises(SourceError, match="not found"):
        ImageFolderSource.from_files([tmp_path / "gone.png"])


def test_close_stops_the_pass(tmp_path: Path) -> None:
    src = ImageFolderSource(make_folder(tmp_path / "x", [f"{i}.png" for i in range(5)]))
    frames = iter(src)
    next(frames)
    src.close()
    assert list(frames) == []


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "missing", "not found"),
        (lambda p: write_image(p / "one.png", 0), "expected a folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no images in folder"),
    ],
    ids=["missing", "file", "empty"],
)
def test_bad_folder_is_one_clear_line(tmp_path: Path, setup: Callable[[Path], Path], message: str) -> None:
    path = setup(tmp_path)
    with pytest.raises(SourceError, match=message) as err:
        ImageFolderSource(path)
    assert "\n" not in str(err.value)


def test_folder_of_only_unreadable_images_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "a.jpg").write_text("nope")
    (folder / "b.png").write_text("nope")
    with pytest.raises(SourceError, match="none of the 2 image"):
        ImageFolderSource(folder)
