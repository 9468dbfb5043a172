"""The batch manifest: fingerprints, skip/redo decisions, torn lines, worker planning."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vtrack.batch.inputs import BatchItem
from vtrack.batch.manifest import (
    HASH_EDGE_BYTES,
    Manifest,
    file_fingerprint,
    item_fingerprint,
    settings_fingerprint,
)
from vtrack.batch.runner import plan_workers


def video(tmp_path: Path, name: str = "clip.mp4", size: int = 3 * HASH_EDGE_BYTES) -> BatchItem:
    p = tmp_path / name
    p.write_bytes(os.urandom(size))
    return BatchItem(kind="video", path=p, name=p.stem)


def done_record(item: BatchItem, content: str, settings: str) -> dict[str, object]:
    return {
        "key": item.key,
        "name": item.name,
        "status": "done",
        "content_hash": content,
        "settings_hash": settings,
    }


def test_fingerprint_changes_with_content_at_the_ends_and_mtime(tmp_path: Path) -> None:
    item = video(tmp_path)
    h0 = file_fingerprint(item.path)
    st = item.path.stat()
    with item.path.open("r+b") as f:  # same size, last byte changed, mtime restored
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 0xFF]))
    os.utime(item.path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file_fingerprint(item.path) != h0
    h1 = file_fingerprint(item.path)
    os.utime(item.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert file_fingerprint(item.path) != h1


def test_photo_folder_fingerprint_uses_names_sizes_mtimes(tmp_path: Path) -> None:
    imgs = []
    for n in ("a.jpg", "b.jpg"):
        (tmp_path / n).write_bytes(b"123")
        imgs.append(tmp_path / n)
    item = BatchItem(kind="photos", path=tmp_path, name="x", images=tuple(imgs))
    h = item_fingerprint(item)
    (tmp_path / "b.jpg").write_bytes(b"1234")
    assert item_fingerprint(item) != h


def test_settings_fingerprint_is_order_independent() -> None:
    assert settings_fingerprint({"a": 1, "b": [1, 2]}) == settings_fingerprint({"b": [1, 2], "a": 1})
    assert settings_fingerprint({"a": 1}) != settings_fingerprint({"a": 2})


@pytest.mark.parametrize(
    ("content", "settings", "outputs", "expected"),
    [
        ("c", "s", True, True),  # unchanged: skip
        ("c2", "s", True, False),  # the file changed: redo
        ("c", "s2", True, False),  # the settings changed: redo
        ("c", "s", False, False),  # its outputs were deleted: redo
    ],
)
def test_skip_or_redo(tmp_path: Path, content: str, settings: str, outputs: bool, expected: bool) -> None:
    item = video(tmp_path, size=10)
    out = tmp_path / "out"
    m = Manifest(out)
    m.append(done_record(item, "c", "s"))
    if outputs:
        (out / item.name).mkdir()
    assert Manifest(out).is_done(item, content, settings, out) is expected


def test_last_record_wins_and_failed_is_redone(tmp_path: Path) -> None:
    item = video(tmp_path, size=10)
    out = tmp_path / "out"
    (out / item.name).mkdir(parents=True)
    m = Manifest(out)
    m.append(done_record(item, "c", "s"))
    m.append({**done_record(item, "c", "s"), "status": "failed", "error": "boom"})
    assert not Manifest(out).is_done(item, "c", "s", out)
    m.append(done_record(item, "c", "s"))
    assert Manifest(out).is_done(item, "c", "s", out)


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    a, b = video(tmp_path, "a.mp4", 10), video(tmp_path, "b.mp4", 10)
    out = tmp_path / "out"
    for it in (a, b):
        (out / it.name).mkdir(parents=True)
    Manifest(out).append(done_record(a, "c", "s"))
    with (out / "manifest.jsonl").open("a") as f:
        f.write('{"key": "video:' + str(b.path) + '", "name": "b", "sta')  # killed mid-write
    m = Manifest(out)
    assert m.is_done(a, "c", "s", out)
    assert not m.is_done(b, "c", "s", out)


@pytest.mark.parametrize(
    ("items", "cores", "workers", "threads", "expected"),
    [
        (10, 2, None, None, (2, 1)),
        (1, 8, None, None, (1, 8)),
        (10, 8, None, 2, (4, 2)),
        (10, 8, 2, None, (2, 4)),
        (10, 2, 4, 1, (4, 1)),  # explicit wins
        (0, 4, None, None, (1, 4)),
    ],
)
def test_plan_workers(
    items: int, cores: int, workers: int | None, threads: int | None, expected: tuple[int, int]
) -> None:
    assert plan_workers(items, cores, workers, threads) == expected
