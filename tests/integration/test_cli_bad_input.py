"""Bad input gets one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

pytestmark = pytest.mark.assets


def vtrack(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vtrack.cli", *map(str, args)],
        capture_output=True, text=True, timeout=300, check=False,
    )


def assert_clean_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    text = " ".join(r.stderr.split()).lower()
    for n in needles:
        assert n.lower() in text, r.stderr


@pytest.fixture(scope="module")
def model(shared: Path) -> Path:
    return shared / "models/yolov8n.onnx"


@pytest.fixture(scope="module")
def clip(shared: Path) -> Path:
    return shared / "media/video/intel_car_detection_parking_topdown.mp4"


def test_missing_file(model: Path, tmp_path: Path) -> None:
    r = vtrack("run", tmp_path / "nope.mp4", "--model", model, "--out", tmp_path / "o")
    assert_clean_error(r, "nope.mp4")


def test_zero_byte_file(model: Path, tmp_path: Path) -> None:
    f = tmp_path / "empty.mp4"
    f.write_bytes(b"")
    assert_clean_error(vtrack("run", f, "--model", model, "--out", tmp_path / "o"), "empty.mp4")


def test_not_a_video(model: Path, tmp_path: Path) -> None:
    f = tmp_path / "notes.mp4"
    f.write_text("these are not frames\n" * 100)
    assert_clean_error(vtrack("run", f, "--model", model, "--out", tmp_path / "o"), "notes.mp4")


def test_missing_model(clip: Path, tmp_path: Path) -> None:
    r = vtrack("run", clip, "--model", tmp_path / "missing.onnx", "--out", tmp_path / "o")
    assert_clean_error(r, "missing.onnx")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--classes", "bicycle,unicorn"], "unicorn"),
        (["--line", "gate=10,10,5000,10"], "outside"),
        (["--line", "gate=10,10,20"], "gate=10,10,20"),
        (["--line", "no-equals-sign"], "no-equals-sign"),
        (["--line", "gate=a,b,c,d"], "gate=a,b,c,d"),
        (["--conf", "1.5"], "conf"),
        (["--stride", "0"], "stride"),
        (["--start-time", "yesterday"], "start-time"),
        (["--backend", "tensorflow"], "model.backend"),
        (["--precision", "int4"], "model.precision"),
        (["--backend", "onnxruntime", "--precision", "bf16"], "bf16 runs on OpenVINO"),
        (["--precision", "int8"], "vtrack export"),  # no int8 model made yet
    ],
)
def test_bad_flags(model: Path, clip: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    assert_clean_error(vtrack("run", clip, "--model", model, "--out", tmp_path / "o", *args), needle)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--int8"], "--int8 needs --calib"),
        ([], "already onnx"),
        (["--calib", "x.mp4"], "--calib goes with --int8"),
    ],
)
def test_bad_export_flags(model: Path, tmp_path: Path, args: list[str], needle: str) -> None:
    assert_clean_error(vtrack("export", model, "--out", tmp_path, *args), needle)


def test_bad_config(clip: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "source: x.mp4\nmodel:\n  path: m.onnx\n  confidence: 0.3\ncounting:\n  lines:\n    - name: a\n"
    )
    r = vtrack("run", "--config", cfg)
    assert_clean_error(r, "model.confidence", "unknown key", "counting.lines.0.points")
    r = vtrack("validate-config", cfg)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{cfg}:4: model.confidence" in " ".join(r.stderr.split())


def test_truncated_video_processes_what_decodes(model: Path, shared: Path, tmp_path: Path) -> None:
    src = shared / "media/video/intel_car_detection_parking_topdown.mp4"
    cut = tmp_path / "cut.mp4"
    data = src.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    # --stride 10: every frame that decodes is still read and counted (the point here), but the
    # detector runs on a tenth of them (170 frames: 7.7 -> 3.3 s)
    r = vtrack("run", cut, "--model", model, "--out", tmp_path / "o", "--quiet", "--no-video",
               "--stride", "10")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    summary = json.loads((tmp_path / "o/summary.json").read_text())
    with av.open(str(src)) as c:
        total = c.streams.video[0].frames
    assert 0 < summary["frames"] < total


def test_valid_config_runs(model: Path, clip: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "ok.yaml"
    cfg.write_text(
        f"source: {clip}\nmodel:\n  path: {model}\n  conf: 0.3\nclasses: [car]\nstride: 5\n"
        f"counting:\n  lines:\n    - name: mid\n      points: [0, 0.5, 1, 0.5]\n"
        f"output:\n  dir: {tmp_path / 'o'}\n  video: false\n"
    )
    assert vtrack("validate-config", cfg).returncode == 0
    r = vtrack("run", "--config", cfg, "--quiet")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "o/summary.json").read_text())
    # stride 5: the detector ran on every 5th frame, the tracks were carried over the others, so the
    # outputs have every frame at the source's rate
    assert summary["fps"] == pytest.approx(12.5, abs=0.01)
    assert summary["frames"] - summary["tracker"]["carried_frames"] == -(-summary["frames"] // 5)
    assert set(summary["lines"]["mid"]) == {"car"}

