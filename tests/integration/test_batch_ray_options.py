"""``--ray`` options that need no cluster: GPUs per task, a missing ray package, bad flag combinations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrack.batch import ray_backend
from vtrack.batch.ray_backend import gpus_per_task
from vtrack.cli import app
from vtrack.errors import ConfigError


@pytest.mark.parametrize(
    ("requested", "providers", "cluster_gpus", "expected"),
    [
        (None, None, 0, 0.0),  # no GPU in the cluster
        (None, None, 4, 1.0),  # default providers may pick CUDA
        (None, ["CPUExecutionProvider"], 4, 0.0),  # CPU asked for explicitly
        (None, ["CUDAExecutionProvider", "CPUExecutionProvider"], 4, 1.0),
        (None, ["TensorrtExecutionProvider"], 1, 1.0),
        (0.25, None, 4, 0.25),  # four tasks share a GPU
        (0, None, 4, 0.0),
    ],
)
def test_gpus_per_task(
    requested: float | None, providers: list[str] | None, cluster_gpus: float, expected: float
) -> None:
    assert gpus_per_task(requested, providers, cluster_gpus) == expected


@pytest.mark.parametrize(("requested", "cluster_gpus", "match"), [(-1, 4, "≥ 0"), (1, 0, "no GPUs")])
def test_gpus_per_task_rejects(requested: float, cluster_gpus: float, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        gpus_per_task(requested, None, cluster_gpus)


def test_missing_ray_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'vtrack\[ray\]'") as e:
        ray_backend.connect("auto", local_cpus=1)
    assert "\n" not in str(e.value)


def test_ray_gpus_without_ray_is_bad_usage(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"x")
    r = CliRunner().invoke(app, ["batch", str(video), "--out", str(tmp_path / "o"), "--ray-gpus", "1"])
    assert r.exit_code == 2
    assert "--ray-gpus needs --ray" in r.output
