"""Input expansion of ``vtrack batch``: files, folders, globs, @list files, output names."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrack.batch.inputs import expand_inputs
from vtrack.errors import ConfigError


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    touch(tmp_path / "drives/a.mp4")
    touch(tmp_path / "drives/b.MOV")
    touch(tmp_path / "drives/notes.txt")
    touch(tmp_path / "drives/day2/a.mp4")
    touch(tmp_path / "scan/img10.jpg")
    touch(tmp_path / "scan/img2.jpg")
    touch(tmp_path / "scan/sub/x.png")
    return tmp_path


def test_folder_gives_each_video_and_each_photo_folder(tree: Path) -> None:
    items = expand_inputs([str(tree)])
    kinds = [(i.kind, i.path.relative_to(tree).as_posix()) for i in items]
    assert kinds == [
        ("video", "drives/a.mp4"),
        ("video", "drives/b.MOV"),
        ("video", "drives/day2/a.mp4"),
        ("photos", "scan"),
        ("photos", "scan/sub"),
    ]
    scan = items[3]
    assert [p.name for p in scan.images] == ["img2.jpg", "img10.jpg"]  # natural order


def test_equal_stems_get_distinct_stable_names(tree: Path) -> None:
    names = [i.name for i in expand_inputs([str(tree / "drives")])]
    a1, b, a2 = names
    assert b == "b"
    assert a1 != a2 and a1.startswith("a-") and a2.startswith("a-")
    # the same input twice maps to the same names
    assert [i.name for i in expand_inputs([str(tree / "drives")])] == names


def test_unique_stem_keeps_plain_name(tree: Path) -> None:
    (item,) = expand_inputs([str(tree / "drives/b.MOV")])
    assert item.name == "b" and item.kind == "video"


def test_glob_and_duplicates(tree: Path) -> None:
    items = expand_inputs([str(tree / "drives/*.mp4"), str(tree / "drives/a.mp4"), str(tree / "scan/*.jpg")])
    assert [(i.kind, i.path.name) for i in items] == [("video", "a.mp4"), ("photos", "scan")]
    assert len(items[1].images) == 2


def test_list_file_relative_paths_and_comments(tree: Path) -> None:
    lst = tree / "inputs.txt"
    lst.write_text("# my drives\n\ndrives/b.MOV\n  scan/img2.jpg  \n")
    items = expand_inputs([f"@{lst}"])
    assert [(i.kind, i.path.name) for i in items] == [("video", "b.MOV"), ("photos", "scan")]
    assert [p.name for p in items[1].images] == ["img2.jpg"]


def test_explicit_unknown_file_is_taken_as_video(tree: Path) -> None:
    junk = touch(tree / "junk.bin")
    (item,) = expand_inputs([str(junk)])
    assert item.kind == "video"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.mp4", "input not found"),
        ("nothing*.mp4", "no file matches"),
        ("@missing.txt", "list file not found"),
    ],
)
def test_bad_inputs_are_usage_errors(tmp_path: Path, spec: str, message: str) -> None:
    prefix = "@" if spec.startswith("@") else ""
    with pytest.raises(ConfigError, match=message):
        expand_inputs([prefix + str(tmp_path / spec.lstrip("@"))])


def test_folder_without_media_is_an_error(tmp_path: Path) -> None:
    touch(tmp_path / "readme.txt")
    with pytest.raises(ConfigError, match="no video or image"):
        expand_inputs([str(tmp_path)])
