"""Sessions x threads a detector opens: two 1-thread sessions on a 2-core CPU, one on a GPU."""

from __future__ import annotations

import pytest

from vtrack.detectors.plan import plan_inference


@pytest.mark.parametrize(
    ("providers", "sessions", "threads", "cores", "expected"),
    [
        (["CPUExecutionProvider"], None, None, 2, (2, 1)),
        (["CPUExecutionProvider"], None, None, 8, (2, 4)),
        (["CPUExecutionProvider"], None, None, 1, (1, 1)),
        (["CPUExecutionProvider"], 1, None, 2, (1, 2)),
        (["CPUExecutionProvider"], 3, 2, 2, (3, 2)),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], None, None, 2, (1, None)),
        (["TensorrtExecutionProvider", "CPUExecutionProvider"], None, 4, 2, (1, 4)),
    ],
)
def test_plan_inference(
    providers: list[str],
    sessions: int | None,
    threads: int | None,
    cores: int,
    expected: tuple[int, int | None],
) -> None:
    assert plan_inference(providers, sessions, threads, cores=cores) == expected
