"""`vtrack batch --ray --store`: each Ray task writes its video to the store (Ray really started here)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from vtrack.batch.inputs import expand_inputs
from vtrack.batch.runner import BatchOptions, run_batch
from vtrack.config import LineConfig, RunConfig
from vtrack.exporters.store import CountFilter, open_store

pytestmark = [pytest.mark.assets, pytest.mark.slow]


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    try:
        import ray
    except ImportError as e:
        msg = f"ray is not installed ({e}); pip install 'vtrack[ray]' (or the dev extra) to run this test"
        if os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no"):
            pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
        pytest.skip(msg)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_tasks_write_the_store_like_local_workers(shared: Path, tmp_path: Path, ray_local: Any) -> None:
    video = shared / "media/video/bicycle_tracking_sample.mp4"
    items = expand_inputs([str(video)])
    url = f"sqlite:///{tmp_path / 'counts.db'}"
    cfg = RunConfig.model_validate(
        {
            "model": {"path": str(shared / "models/yolov8n.onnx")},
            "stride": 10,
            "classes": ["bicycle", "person"],
            "output": {"video": False},
            "counting": {"lines": [LineConfig(name="gate", points=(0.5, 0, 0.5, 1)).model_dump()]},
            "store": url,
            "run_id": "ray1",
        }
    )
    console = Console(stderr=True, quiet=True)
    opts = BatchOptions(out_dir=tmp_path / "out", threads=1, quiet=True, ray="auto")
    report = run_batch(items, cfg, opts, console)
    assert report.exit_code == 0 and report.summary["run"]["backend"] == "ray"
    crossings = sum(
        n for per in report.summary["totals"]["lines"].values() for c in per.values() for n in c.values()
    )
    with open_store(url) as st:  # type: ignore[attr-defined]
        (run,) = st.runs(CountFilter())
        hourly = sum(h.count for h in st.hourly(CountFilter()))
    assert (run.run_id, run.stream, run.status) == ("ray1", "bicycle_tracking_sample", "finished")
    assert run.events == hourly == crossings
