"""``vtrack.subclasses.examples``: an example set rebuilt from its manifest (synthetic frames)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vtrack.errors import ConfigError
from vtrack.subclasses.examples import MANIFEST_COLUMNS, build, main, read_manifest

HEADER = ",".join(MANIFEST_COLUMNS)


def _footage(root: Path) -> list[np.ndarray]:
    """Three smooth 480x320 PNG frames under ``root/seq/img1``, 50 grey levels apart (lossless)."""
    yy, xx = np.mgrid[0:320, 0:480]
    ramp = (xx // 4 + yy // 4)[..., None] + np.array([0, 20, 40])  # smooth: JPEG keeps it close
    frames = [(ramp + 50 * i).clip(0, 255).astype(np.uint8) for i in range(3)]
    (root / "seq/img1").mkdir(parents=True)
    for i, f in enumerate(frames):
        cv2.imwrite(str(root / f"seq/img1/{i + 1:06d}.png"), f)
    return frames


def _set(root: Path, rows: list[str]) -> Path:
    folder = root / "set"
    folder.mkdir()
    (folder / "parent.txt").write_text("person\n")
    (folder / "manifest.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    return folder / "manifest.csv"


def test_build_cuts_and_shrinks_each_row(tmp_path: Path) -> None:
    frames = _footage(tmp_path / "shared")
    manifest = _set(
        tmp_path,
        [
            "seq_t0001_f00002_q50,cyclist,seq/img1,2,10,20,60,120",
            "seq_t0002_f00000_q40,pedestrian,seq/img1,0,0,0,480,300",
        ],
    )
    written = build(manifest, tmp_path / "out", tmp_path / "shared")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in written] == [
        "cyclist/seq_t0001_f00002_q50.jpg",
        "pedestrian/seq_t0002_f00000_q40.jpg",
    ]
    assert (tmp_path / "out/parent.txt").read_text() == "person\n"
    small = cv2.imread(str(written[0]))
    assert small.shape == (100, 50, 3)
    assert np.abs(small.astype(int) - frames[2][20:120, 10:60].astype(int)).mean() < 3  # frame 2, not 1
    assert cv2.imread(str(written[1])).shape == (140, 224, 3)  # 480x300 shrunk to 224 px


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        (["x,a,seq/img1,5,0,0,10,10"], "has no frame 5"),
        (["x,a,seq/img1,0,0,0,500,10"], "outside the 480x320 frame"),
        (["x,a,nowhere.mp4,0,0,0,10,10"], "not found under"),
    ],
)
def test_build_refuses_rows_the_footage_cannot_give(tmp_path: Path, rows: list[str], needle: str) -> None:
    _footage(tmp_path / "shared")
    with pytest.raises(ConfigError, match=needle):
        build(_set(tmp_path, rows), tmp_path / "out", tmp_path / "shared")


@pytest.mark.parametrize(
    "text",
    [
        "file,label\nx,a\n",
        HEADER + "\n",
        HEADER + "\nx,a,s,zero,0,0,1,1\n",
        HEADER + "\nx,unsorted,s,0,0,0,1,1\n",
        HEADER + "\nx,a,s,0,5,0,5,1\n",
    ],
)
def test_bad_manifests(tmp_path: Path, text: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ConfigError):
        read_manifest(tmp_path / "m.csv")


def test_main_reports_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["build", str(tmp_path / "missing.csv"), str(tmp_path / "out"), "--shared", str(tmp_path)]
    assert main(args) == 2
    assert "cannot read manifest" in capsys.readouterr().err


def _record(folder: Path, rows: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crops.csv").write_text("\n".join([HEADER, *rows]) + "\n")


def _crop(folder: Path, label: str, name: str) -> None:
    (folder / label).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / label / f"{name}.jpg"), np.zeros((8, 8, 3), np.uint8))


def test_manifest_of_sorted_crops(tmp_path: Path) -> None:
    from vtrack.subclasses.examples import manifest_rows

    shared = tmp_path / "shared"
    clip = str(shared / "media/a.mp4")
    _record(
        tmp_path / "c",
        [
            f"a_t1_f1,unsorted,{clip},1,0,0,9,9",
            f"a_t2_f4,unsorted,{clip},4,1,1,8,8",
            "b_t3_f2,unsorted,/elsewhere/b.mp4,2,2,2,6,6",
            f"a_t4_f5,unsorted,{clip},5,0,0,4,4",
        ],
    )
    _crop(tmp_path / "c", "van", "a_t1_f1")
    _crop(tmp_path / "c", "car", "b_t3_f2")
    _crop(tmp_path / "c", "car", "a_t2_f4")
    _crop(tmp_path / "c", "unsorted", "a_t4_f5")  # left unsorted: not in the set; a_t... deleted ones neither
    rows = manifest_rows(tmp_path / "c", shared)
    assert [(r.file, r.label, r.source, r.frame, r.box) for r in rows] == [
        ("a_t1_f1", "van", "media/a.mp4", 1, (0, 0, 9, 9)),
        ("a_t2_f4", "car", "media/a.mp4", 4, (1, 1, 8, 8)),
        ("b_t3_f2", "car", "/elsewhere/b.mp4", 2, (2, 2, 6, 6)),  # not under shared: kept as given
    ]


@pytest.mark.parametrize(
    ("setup", "needle"),
    [
        (lambda f: f.mkdir(), "no crops.csv"),
        (lambda f: _record(f, ["a_t1_f1,unsorted,a.mp4,1,0,0,9,9"]), "none of the crops"),
        (
            lambda f: (
                _record(f, ["a_t1_f1,unsorted,a.mp4,1,0,0,9,9"]),
                _crop(f, "x", "a_t1_f1"),
                _crop(f, "y", "a_t1_f1"),
            ),
            "in both x/ and y/",
        ),
    ],
)
def test_manifest_refusals(tmp_path: Path, setup, needle: str) -> None:  # type: ignore[no-untyped-def]
    from vtrack.subclasses.examples import manifest_rows

    setup(tmp_path / "c")
    with pytest.raises(ConfigError, match=needle):
        manifest_rows(tmp_path / "c")
