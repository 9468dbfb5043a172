from __future__ import annotations

from pathlib import Path

import pytest

from vtrack.config import RunConfig, lines_from_flags, load_config
from vtrack.errors import ConfigError

GOOD = """\
source: clip.mp4
model:
  path: yolov8n.onnx
  conf: 0.3
classes: [bicycle, person]
tracker:
  type: bytetrack
  lost_track_seconds: 2
counting:
  lines:
    - name: gate
      points: [400, 250, 400, 650]
  min_frames: 3
output:
  video: false
stride: 2
start_time: 2026-05-01T08:00:00+02:00
"""


def test_load_good(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(GOOD)
    cfg = load_config(f)
    assert cfg.model.conf == 0.3 and cfg.stride == 2 and cfg.output.video is False
    assert cfg.counting.lines[0].points == (400, 250, 400, 650)
    assert cfg.start_time is not None and cfg.start_time.utcoffset() is not None


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("")
    assert load_config(f) == RunConfig()


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("modle: {}\n", ["c.yaml:1: modle: unknown key"]),
        ("model:\n  conf: 2\n", ["c.yaml:2: model.conf", "less than or equal to 1"]),
        ("stride: 0\n", ["stride"]),
        ("counting:\n  lines:\n    - name: a\n      points: [1, 2]\n", ["counting.lines.0.points"]),
        (
            "counting:\n  lines:\n"
            "    - {name: a, points: [0, 0, 1, 1]}\n    - {name: a, points: [0, 0, 1, 1]}\n",
            ["unique", "a"],
        ),
        ("tracker:\n  type: sort\n", ["tracker.type"]),
        ("- just\n- a list\n", ["mapping"]),
        ("model: [unclosed\n", ["not valid YAML"]),
    ],
)
def test_load_bad(tmp_path: Path, text: str, needles: list[str]) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_config(f)
    for n in needles:
        assert n in str(ei.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_lines_from_flags() -> None:
    (ln,) = lines_from_flags(["gate=1,2,3,4"])
    assert ln.name == "gate" and ln.points == (1, 2, 3, 4)
    with pytest.raises(ConfigError):
        lines_from_flags(["gate"])


# ---------------------------------------------------------------------------- ergonomics
def test_model_may_be_just_a_path() -> None:
    from vtrack.config import DeploymentConfig

    assert RunConfig.model_validate({"model": "m.onnx"}).model.path == "m.onnx"
    assert DeploymentConfig.model_validate({"model": "m.onnx"}).model.path == "m.onnx"


@pytest.mark.parametrize("points", [[1, 2, 3, 4], [[1, 2], [3, 4]], [(1, 2), (3, 4)]])
def test_line_points_flat_or_as_pairs(points: list) -> None:
    cfg = RunConfig.model_validate({"counting": {"lines": [{"name": "a", "points": points}]}})
    assert cfg.counting.lines[0].points == (1, 2, 3, 4)


def test_line_points_with_a_bad_pair_are_an_error() -> None:
    with pytest.raises(ValueError, match=r"\[\[x1, y1\], \[x2, y2\]\]"):
        RunConfig.model_validate({"counting": {"lines": [{"name": "a", "points": [[1, 2, 3], [4, 5]]}]}})


def test_deployment_files_are_told_apart(tmp_path: Path) -> None:
    from vtrack.config import is_deployment_file

    run, serve = tmp_path / "run.yaml", tmp_path / "serve.yaml"
    run.write_text("source: a.mp4\ncounting:\n  lines: []\n")
    serve.write_text("# cameras\nstreams:\n  - id: a\n    source: a.mp4\n")
    assert not is_deployment_file(run) and is_deployment_file(serve)
    assert not is_deployment_file(tmp_path / "missing.yaml")
