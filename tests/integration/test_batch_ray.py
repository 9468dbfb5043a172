"""``vtrack batch`` through Ray (really started on this machine) gives the same outputs as the local pool,
and with ``--store`` each Ray task writes its video's run to the count store as local workers do.

Ray is started once for the module (``ray.init(num_cpus=2, include_dashboard=False)``) and both tests'
batches reuse that connection (a start and a shutdown cost ~5 s here, so the store test lives here rather
than in a module of its own). Timings on this shared 2-core machine are noisy; the tests check equality only.
"""

from __future__ import annotations

import json
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


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:  # ray is in the dev extra; without it, say how to get it
        msg = f"ray is not installed ({e}); pip install 'vtrack[ray]' (or the dev extra) to run this test"
        if os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no"):
            pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
        pytest.skip(msg)
    return ray


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    ray = _import_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        yield ray
    finally:
        ray.shutdown()


def without_run(path: Path) -> dict[str, Any]:
    s = json.loads(path.read_text())
    s.pop("run")
    return s


def test_ray_batch_equals_local_pool(shared: Path, tmp_path: Path, ray_local: Any) -> None:
    """Same per-file outputs, summary.csv, summary.json (but ``run``), failures and exit code."""
    video = shared / "media/video"
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    clips = [
        video / "mmtracking_demo_street_night_8frames.mp4",
        video / "intel_car_detection_parking_topdown.mp4",
    ]
    items = expand_inputs([str(c) for c in [*clips, broken]])
    cfg = RunConfig.model_validate(
        {
            "model": {"path": str(shared / "models/yolov8n.onnx")},
            "stride": 5,
            "output": {"video": False},
            "counting": {"lines": [LineConfig(name="gate", points=(0.5, 0, 0.5, 1)).model_dump()]},
        }
    )
    console = Console(stderr=True, quiet=True)
    local_opts = BatchOptions(out_dir=tmp_path / "local", workers=2, threads=1, quiet=True)
    ray_opts = BatchOptions(out_dir=tmp_path / "ray", threads=1, quiet=True, ray="auto")
    local = run_batch(items, cfg, local_opts, console)
    on_ray = run_batch(items, cfg, ray_opts, console)

    assert local.exit_code == on_ray.exit_code == 3  # partial: the broken file failed, the rest done
    assert on_ray.summary["run"]["backend"] == "ray"
    assert on_ray.summary["run"]["workers"] == 2  # the cluster's 2 CPUs, 1 thread per task
    assert (tmp_path / "local/summary.csv").read_bytes() == (tmp_path / "ray/summary.csv").read_bytes()
    assert without_run(tmp_path / "local/summary.json") == without_run(tmp_path / "ray/summary.json")
    for item in items[:2]:
        for f in ("counts.csv", "events.jsonl", "tracks.txt"):
            assert (tmp_path / "local" / item.name / f).read_bytes() == (
                tmp_path / "ray" / item.name / f
            ).read_bytes()
    failed = {o.item.name: o.error for o in on_ray.outcomes if o.status == "failed"}
    assert failed == {o.item.name: o.error for o in local.outcomes if o.status == "failed"}
    assert list(failed) == ["broken"] and failed["broken"]
    manifest = [json.loads(x) for x in (tmp_path / "ray/manifest.jsonl").read_text().splitlines()]
    assert sorted((m["name"], m["status"]) for m in manifest) == sorted(
        [(i.name, "done") for i in items[:2]] + [("broken", "failed")]
    )

    # a rerun through Ray skips what is done (the same manifest) and retries the failed file
    again = run_batch(items, cfg, ray_opts, console)
    assert (again.summary["run"]["skipped"], again.summary["run"]["failed"], again.exit_code) == (2, 1, 3)


def test_ray_tasks_write_the_store_like_local_workers(shared: Path, tmp_path: Path, ray_local: Any) -> None:
    """``vtrack batch --ray --store``: the task writes its crossings and run as a local worker does."""
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
