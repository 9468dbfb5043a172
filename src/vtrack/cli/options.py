"""Command-line options several commands share, with one help text: ``--backend``, ``--precision`` (every
command that runs the detector), ``--model``, ``--imgsz``, ``--config``, ``--quiet``, ``--verbose``."""

from __future__ import annotations

from pathlib import Path
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
ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="ONNX file, .pt checkpoint, or name like yolo11n.")
]
ImgszOption = Annotated[int | None, typer.Option("--imgsz", help="Inference size (default: the model's).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, errors only.")]
VerboseOption = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logging.")]
