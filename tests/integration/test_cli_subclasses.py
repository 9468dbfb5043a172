"""``vtrack crops``, ``learn``, ``export-embedder`` end to end; bad input gets one clear line each."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from vtrack.errors import ConfigError
from vtrack.subclasses.examples import build, read_manifest
from vtrack.subclasses.model import SubclassModel
from vtrack.subclasses.runtime import open_stage

pytestmark = pytest.mark.assets

REPO = Path(__file__).resolve().parents[2]
CYCLIST_PEDESTRIAN = "cyclist-pedestrian"


def vtrack(*args: str | Path, env_embedder: Path | None = None) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ)
    if env_embedder is not None:
        env["VTRACK_EMBEDDER"] = str(env_embedder)
    return subprocess.run(
        [sys.executable, "-m", "vtrack.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def assert_clean_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    assert len(r.stderr.strip().splitlines()) <= 3, r.stderr  # one line, wrapped by the terminal width
    text = " ".join(r.stderr.split()).lower()
    for n in needles:
        assert n.lower() in text, r.stderr


@pytest.fixture(scope="module")
def embedder(shared: Path) -> Path:
    return shared / "models/efficientnet_lite0.onnx"


@pytest.fixture(scope="module")
def examples(subclass_examples: Callable[[str], Path]) -> Path:
    """The cyclist/pedestrian crops, cut from ../shared by their manifest."""
    return subclass_examples(CYCLIST_PEDESTRIAN)


@pytest.mark.parametrize("name", ["cyclist-pedestrian", "car-van", "car-light-dark"])
def test_examples_build_from_their_manifest(name: str, subclass_examples: Callable[[str], Path]) -> None:
    kept = REPO / "examples/subclasses" / name
    rows = read_manifest(kept / "manifest.csv")
    folder = subclass_examples(name)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.glob("*/*.jpg"))
    assert files == sorted(f"{r.label}/{r.file}.jpg" for r in rows)
    assert (folder / "parent.txt").read_text() == (kept / "parent.txt").read_text()
    assert all(max(cv2.imread(str(folder / f)).shape[:2]) <= 224 for f in files)


def test_examples_build_without_the_footage(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "vtrack.subclasses.examples", "build",
         REPO / "examples/subclasses/car-van/manifest.csv", tmp_path / "out", "--shared", tmp_path],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "not found under" in r.stderr and "--shared" in r.stderr


@pytest.fixture(scope="module")
def learned(
    tmp_path_factory: pytest.TempPathFactory, embedder: Path, examples: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``vtrack learn`` on the cyclist/pedestrian set, run once for the module: ``(the process, its .vtc)``.

    The tests after it only read the file, so one learn serves them all.
    """
    out = tmp_path_factory.mktemp("vtc") / "cp.vtc"
    return vtrack("learn", examples, "--out", out, env_embedder=embedder), out


@pytest.fixture(scope="module")
def cyclists_vtc(learned: tuple[subprocess.CompletedProcess[str], Path]) -> Path:
    r, out = learned
    assert r.returncode == 0, r.stderr
    return out


def test_learn_the_example_set(learned: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    r, vtc = learned
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "person:cyclist" in text and "person:pedestrian" in text and "accuracy" in text
    m = SubclassModel.load(vtc)
    assert m.parent == "person" and m.label_names == ["cyclist", "pedestrian"]
    acc, _, _ = m.leave_one_out()
    assert acc >= 0.9  # measured 0.974 (leave-one-track-out)


def _images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"c{i}.jpg"), np.full((64, 32, 3), 20 * i, np.uint8))


@pytest.mark.parametrize(
    ("setup", "needles"),
    [
        (lambda p: p.mkdir(), ["no label folders with images"]),
        (lambda p: _images(p / "unsorted", 4), ["outside label folders"]),
        (lambda p: (_images(p / "cyclist", 4), (p / "parent.txt").write_text("person")), ["only one label"]),
        (
            lambda p: (_images(p / "a", 4), _images(p / "b", 1), (p / "parent.txt").write_text("person")),
            ["at least 3", "'b' has 1"],
        ),
        (lambda p: (_images(p / "a", 3), _images(p / "b", 3)), ["no parent class"]),
    ],
)
def test_learn_bad_folders(tmp_path: Path, embedder: Path, setup, needles: list[str]) -> None:
    folder = tmp_path / "ex"
    setup(folder)
    assert_clean_error(vtrack("learn", folder, "--out", tmp_path / "x.vtc", env_embedder=embedder), *needles)


def test_learn_with_a_detector_as_embedder(tmp_path: Path, shared: Path, examples: Path) -> None:
    r = vtrack("learn", examples, "--out", tmp_path / "x.vtc", "--embedder", shared / "models/yolov8n.onnx")
    assert_clean_error(r, "is not an EfficientNet-Lite0 embedder")


def test_learn_without_an_embedder(tmp_path: Path, examples: Path) -> None:
    r = vtrack("learn", examples, "--out", tmp_path / "x.vtc", env_embedder=tmp_path / "none.onnx")
    assert_clean_error(r, "embedder not found", "vtrack export-embedder")


def test_vtc_for_another_parent_class_or_embedder(tmp_path: Path, embedder: Path, cyclists_vtc: Path) -> None:
    with pytest.raises(ConfigError, match="refines class 'person', which this run does not detect"):
        open_stage(cyclists_vtc, embedder=embedder, detector_classes={"car", "truck"})
    with pytest.raises(ConfigError, match="--classes car leaves out"):
        open_stage(cyclists_vtc, embedder=embedder, kept_classes=["car"])
    onnx = pytest.importorskip("onnx")
    other = tmp_path / "other.onnx"
    graph = onnx.load(str(embedder))
    graph.doc_string = "another export"  # the same network, other bytes: another sha256
    onnx.save(graph, str(other))
    with pytest.raises(ConfigError, match="learned with embedder sha256"):
        open_stage(cyclists_vtc, embedder=other)
    assert open_stage(cyclists_vtc, embedder=embedder, kept_classes=["person:cyclist"]).parent == "person"


def test_crops_on_a_short_clip(tmp_path: Path, shared: Path) -> None:
    clip = shared / "media/video/mmtracking_demo_street_night_8frames.mp4"
    r = vtrack(
        "crops", clip, "--model", shared / "models/yolov8n.onnx", "--classes", "person", "--out", tmp_path
    )
    assert r.returncode == 0, r.stderr
    crops = sorted((tmp_path / "unsorted").glob("*.jpg"))
    assert len(crops) >= 5 and (tmp_path / "parent.txt").read_text().strip() == "person"
    assert all(max(cv2.imread(str(c)).shape[:2]) <= 224 for c in crops)
    assert crops[0].name.startswith("mmtracking_demo_street_night_8frames_t")
    # every crop is recorded where it was cut; sorted by hand, the record becomes a set's manifest,
    # and the manifest cuts the same pixels from the footage again
    record = (tmp_path / "crops.csv").read_text().splitlines()
    assert record[0] == "file,label,source,frame,x1,y1,x2,y2" and len(record) == len(crops) + 1
    for label, some in (("near", crops[:3]), ("far", crops[3:5])):
        (tmp_path / label).mkdir()
        for c in some:
            c.rename(tmp_path / label / c.name)
    tool = [sys.executable, "-m", "vtrack.subclasses.examples", "manifest", str(tmp_path)]
    r = subprocess.run([*tool, "--shared", str(shared)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "2 far, 3 near" in r.stderr, r.stderr
    manifest = (tmp_path / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 6 and all(",media/video/mmtracking_demo_street_night_8frames.mp4," in m
                                      for m in manifest[1:])  # fmt: skip
    rebuilt = build(tmp_path / "manifest.csv", tmp_path / "rebuilt", shared)
    for p in rebuilt:
        again, cut = cv2.imread(str(p)), cv2.imread(str(tmp_path / p.parent.name / p.name))
        assert again.shape == cut.shape and np.abs(again.astype(int) - cut.astype(int)).mean() < 1.0


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--classes", "persn"], ["unknown class name"]),
        (["--line", "bad"], ["malformed line"]),
    ],
)
def test_crops_bad_flags(tmp_path: Path, shared: Path, args: list[str], needles: list[str]) -> None:
    clip = shared / "media/video/mmtracking_demo_street_night_8frames.mp4"
    r = vtrack("crops", clip, "--model", shared / "models/yolov8n.onnx", "--out", tmp_path, *args)
    assert_clean_error(r, *needles)


@pytest.mark.torch
def test_export_embedder_matches_the_shared_one(tmp_path: Path, embedder: Path) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    import onnxruntime as ort

    r = vtrack("export-embedder", "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    x = np.random.default_rng(0).uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)
    a = ort.InferenceSession(str(tmp_path / "efficientnet_lite0.onnx")).run(["features"], {"images": x})[0]
    b = ort.InferenceSession(str(embedder)).run(["features"], {"images": x})[0]
    assert np.abs(a - b).max() < 1e-4


@pytest.mark.slow
def test_run_tud_campus_counts_pedestrians_only(
    tmp_path: Path, shared: Path, embedder: Path, cyclists_vtc: Path
) -> None:
    import json

    r = vtrack(
        "run",
        shared / "mot/TUD-Campus/img1",
        "--model",
        shared / "models/yolov8n.onnx",
        "--classes",
        "person",
        "--line",
        "mid=0.5,0.2,0.5,1",
        "--subclasses",
        cyclists_vtc,
        "--no-video",
        "-o",
        tmp_path,
        "-q",
        env_embedder=embedder,
    )
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "summary.json").read_text())
    per = s["lines"]["mid"]
    assert set(per) == {"person:pedestrian"}, per  # no cyclist, no bare 'person' row
    total = per["person:pedestrian"]["in"] + per["person:pedestrian"]["out"]
    assert total >= 3 and s["subclasses"]["parent_totals"]["mid"] == per["person:pedestrian"]
    events = [json.loads(x) for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert events and {e["class"] for e in events} == {"person:pedestrian"}
    assert "person:pedestrian" in (tmp_path / "counts.csv").read_text()


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--classes", "person:cyclist"], ["is a sub-class", "--subclasses"]),
        (
            ["--classes", "car", "--subclasses", "{vtc}"],
            ["refines class 'person'", "--classes car leaves out"],
        ),
        (["--subclasses", "{missing}"], ["subclasses file not found"]),
        (["--subclasses", "{notvtc}"], ["not a vtrack subclasses (.vtc) file"]),
    ],
)
def test_run_bad_subclasses(
    tmp_path: Path, shared: Path, embedder: Path, cyclists_vtc: Path, args: list[str], needles: list[str]
) -> None:
    (tmp_path / "not.vtc").write_text("hello")
    subst = {
        "{vtc}": str(cyclists_vtc),
        "{missing}": str(tmp_path / "x.vtc"),
        "{notvtc}": str(tmp_path / "not.vtc"),
    }
    args = [subst.get(a, a) for a in args]
    r = vtrack(
        "run",
        shared / "mot/TUD-Campus/img1",
        "--model",
        shared / "models/yolov8n.onnx",
        *args,
        "--no-video",
        "-o",
        tmp_path / "out",
        env_embedder=embedder,
    )
    assert_clean_error(r, *needles)


@pytest.mark.slow
def test_eval_reports_tracks_per_label(
    tmp_path: Path, shared: Path, embedder: Path, cyclists_vtc: Path
) -> None:
    import json

    r = vtrack(
        "eval",
        shared / "mot/TUD-Campus",
        "--model",
        shared / "models/yolov8n.onnx",
        "--subclasses",
        cyclists_vtc,
        "--json",
        tmp_path / "e.json",
        env_embedder=embedder,
    )
    assert r.returncode == 0, r.stderr
    per = json.loads((tmp_path / "e.json").read_text())["settings"]["subclasses"]["tracks"]["TUD-Campus"]
    assert per.get("person:pedestrian", 0) >= 5 and "person:cyclist" not in per, per
    assert "TUD-Campus: person:pedestrian=" in r.stdout
