"""``vtrack bench``: the report's ratios and targets, the Markdown, and one tiny real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vtrack.bench import (
    BenchConfig,
    Result,
    format_markdown,
    limit_layouts,
    make_report,
    run_bench,
)


def _results(**fps: float) -> dict[str, Result]:
    return {k: Result(frames=100, seconds=100 / v, stages_ms={"inference": 50.0}) for k, v in fps.items()}


def test_ratios_and_targets() -> None:
    res = _results(a_bare=10.0, b_no_video=12.0, c_video=9.5, d_ultralytics=8.0, e_limit=13.0)
    report = make_report(BenchConfig("v.mp4", "m.onnx"), 2, res, {"drawing": 1.0, "encoding": 15.0})
    r = report["results"]
    assert r["a_bare"]["ratio_to_a"] == 1.0 and r["b_no_video"]["ratio_to_a"] == 1.2
    met = {t["ratio"]: (t["value"], t["met"]) for t in report["targets"]}
    assert met == {
        "b/a": (1.2, True),
        "b/e": (round(12 / 13, 3), True),
        "c/a": (0.95, True),
        "b/d": (1.5, True),
    }
    assert report["stages_ms"]["inference"] == 50.0 and report["stages_ms"]["encoding"] == 15.0
    json.dumps(report)  # JSON-able


def test_missing_ultralytics_is_not_applicable() -> None:
    res = _results(a_bare=10.0, b_no_video=11.0, c_video=9.0, e_limit=13.0)
    report = make_report(BenchConfig("v.mp4", "m.onnx"), 2, res, {})
    bd = next(t for t in report["targets"] if t["ratio"] == "b/d")
    assert bd["met"] is None and bd["value"] is None
    text = format_markdown(report)
    assert "not run" in text and "| b/d ≥ 1.4 | – | n/a |" in text
    assert "| b/a ≥ 1.15 | 1.100 | **no** |" in text


def test_cpu_accounting_table() -> None:
    res = _results(a_bare=10.0, b_no_video=12.0, e_limit=13.0)
    res["b_no_video"].cpu_ms = {
        "process": 160.0,
        "reader": 5.0,
        "inference": 140.0,
        "pipeline": 4.0,
        "other": 11.0,
    }
    res["e_limit"].cpu_ms = {"process": 150.0}
    report = make_report(BenchConfig("v.mp4", "m.onnx"), 2, res, {})
    cpu = report["cpu_ms"]
    assert set(cpu) == {"b_no_video", "e_limit"}  # (a) has no CPU figure here
    assert cpu["b_no_video"]["cores_busy"] == round(160.0 * 12.0 / 2000.0, 3)
    assert cpu["e_limit"]["cores_busy"] == round(150.0 * 13.0 / 2000.0, 3)
    text = format_markdown(report)
    assert "| b | 160.0 | 140.0 | 5.0 | 11.0 | 4.0 | 0.96 |" in text
    assert "| e | 150.0 | – | – | – | – | 0.97 |" in text


@pytest.mark.parametrize(
    ("cores", "expected"),
    [(1, [(1, 1)]), (2, [(1, 1), (1, 2), (2, 1)]), (4, [(1, 1), (1, 4), (2, 2), (4, 1)])],
)
def test_limit_layouts(cores: int, expected: list[tuple[int, int]]) -> None:
    assert limit_layouts(cores) == expected


_PEAK_SCRIPT = """
import time
import numpy as np
from vtrack.bench import peak_rss, rss_mb
before = rss_mb()
with peak_rss() as peak:
    block = np.ones(64 * 1024 * 1024 // 8)  # 64 MB, touched
    time.sleep(0.2)
    del block
print(before, peak[0], rss_mb())
"""


def test_peak_rss_sees_a_short_allocation() -> None:
    # In a fresh process: in the suite's own (2 GB, other tests' threads freeing memory) the RSS
    # around the block moves by more than the block.
    r = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    before, peak, after = (float(x) for x in r.stdout.split())
    assert peak >= before + 40 and after < peak - 40  # seen while it lived, gone by the end


def test_cli_has_bench() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "vtrack.cli", "bench", "--help"], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0 and "--max-frames" in r.stdout


def test_tiny_real_run(shared: Path, tmp_path: Path) -> None:
    cfg = BenchConfig(
        source=str(shared / "media/video/mmtracking_demo_street_night_8frames.mp4"),
        model=str(shared / "models/yolov8n.onnx"),
        classes=["car"],
        lines=["mid=0.5,0,0.5,1"],
        max_frames=8,
        limit_frames=2,
        ultralytics_python="",
    )
    report = run_bench(cfg)
    r = report["results"]
    assert set(r) == {"a_bare", "b_no_video", "c_video", "e_limit"}
    assert r["a_bare"]["frames"] == r["b_no_video"]["frames"] == r["c_video"]["frames"] == 8
    assert all(v["fps"] > 0 and v["peak_rss_mb"] > 0 for v in r.values())
    for stage in ("decode", "preprocess", "inference", "postprocess", "track", "drawing", "encoding"):
        assert report["stages_ms"][stage] > 0, stage
    assert "(e) inference limit" in format_markdown(report)
    b = report["cpu_ms"]["b_no_video"]
    assert b["inference"] > 0 and b["reader"] > 0 and b["pipeline"] > 0
    assert b["process"] >= b["inference"] + b["reader"] + b["pipeline"] - 1.0  # rounding
    assert report["cpu_ms"]["e_limit"]["process"] > 0


def test_tiny_real_run_with_subclasses(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--subclasses``: one more (b) run labelling person tracks; its slowdown is in the report."""
    sys.path.insert(0, str(Path(__file__).resolve().parent / "subclasses"))
    from subclass_media import write_examples

    from vtrack.subclasses.embedder import CropEmbedder
    from vtrack.subclasses.learn import learn

    embedder = shared / "models/efficientnet_lite0.onnx"
    monkeypatch.setenv("VTRACK_EMBEDDER", str(embedder))
    examples = write_examples(tmp_path / "ex", {"striped": 3, "blob": 3})
    vtc = learn(examples, CropEmbedder(embedder), threshold=0.6)[0].save(tmp_path / "people.vtc")
    cfg = BenchConfig(
        source=str(shared / "media/video/mmtracking_demo_street_night_8frames.mp4"),
        model=str(shared / "models/yolov8n.onnx"),
        classes=["car", "person"],
        max_frames=8,
        limit_frames=2,
        ultralytics_python="",
        subclasses=str(vtc),
    )
    report = run_bench(cfg)
    sub = report["results"]["b_no_video[subclasses]"]
    assert sub["frames"] == 8 and sub["fps"] > 0 and sub["ratio_of_main_b_to_this"] > 0
    assert report["config"]["subclasses"] == str(vtc)
    assert "(b)" in format_markdown(report) and "[subclasses" in format_markdown(report)
