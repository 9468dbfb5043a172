"""Command-line options shared by every command that runs the detector: ``--backend``, ``--precision``."""

from __future__ import annotations

from typing import Annotated

import typer

BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="auto (default: OpenVINO on a CPU when installed, ONNX Runtime on a GPU), onnxruntime or "
        "openvino.",
    ),
]
PrecisionOption = Annotated[
    str | None,
    typer.Option(
        "--precision",
        help="auto (default: bf16 on CPUs with native bf16 under OpenVINO, else fp32), fp32, bf16, fp16 or "
        "int8 (needs `vtrack export MODEL.onnx --int8 --calib VIDEO`).",
    ),
]
