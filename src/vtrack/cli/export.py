"""``vtrack export``: an Ultralytics .pt checkpoint to ONNX; with ``--int8`` also an int8 OpenVINO model
calibrated on the camera's frames, written when it agrees with fp32 on held-out frames (or with --force).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vtrack.cli.common import fail, setup_logging
from vtrack.cli.output import out
from vtrack.errors import ConfigError, VtrackError


def export_command(
    model: Annotated[
        Path, typer.Argument(help="Ultralytics .pt checkpoint (or an .onnx export with --int8).")
    ],
    imgsz: Annotated[int, typer.Option(help="Input size.")] = 640,
    half: Annotated[bool, typer.Option(help="FP16 weights (GPU inference).")] = False,
    dynamic: Annotated[bool, typer.Option(help="Dynamic batch/height/width axes.")] = False,
    nms: Annotated[bool, typer.Option(help="End-to-end export with NMS inside the graph.")] = False,
    int8: Annotated[
        bool,
        typer.Option("--int8", help="Also quantize to int8 (OpenVINO IR <stem>-int8.xml, 'int8' extra): "
                     "run it with --precision int8."),
    ] = False,
    calib: Annotated[
        Path | None,
        typer.Option("--calib", help="--int8: video or image folder of the camera to calibrate on."),
    ] = None,
    calib_frames: Annotated[
        int, typer.Option("--calib-frames", min=1, help="--int8: frames to calibrate on.")
    ] = 120,
    min_agreement: Annotated[
        float,
        typer.Option(
            "--min-agreement", min=0.0, max=1.0,
            help="--int8: least recall and precision vs fp32 on held-out frames to write the model.",
        ),
    ] = 0.9,
    force: Annotated[
        bool, typer.Option("--force", help="--int8: write it below --min-agreement too.")
    ] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Folder for the .onnx.")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True)] = 0,
) -> None:
    """Export an Ultralytics .pt checkpoint to ONNX (needs the 'export' extra); --int8 also quantizes it."""
    setup_logging(verbose)
    from vtrack.detectors.export import export_model

    try:
        if calib is not None and not int8:
            raise ConfigError("--calib goes with --int8")
        if model.suffix.lower() == ".onnx" and not int8:
            raise ConfigError(f"{model} is already ONNX; add --int8 --calib VIDEO to quantize it")
        if int8 and calib is None:
            raise ConfigError("--int8 needs --calib VIDEO_OR_DIR: frames of the camera to calibrate on")
        if model.suffix.lower() == ".onnx":
            path = model
        else:
            path = export_model(model, imgsz=imgsz, half=half, dynamic=dynamic, nms=nms, out_dir=out_dir)
            out.print(f"wrote {path}")
        if int8:
            assert calib is not None
            from vtrack.detectors.backend import int8_sibling
            from vtrack.detectors.quantize import quantize_int8

            dest = int8_sibling(out_dir / path.name if out_dir is not None else path)
            path, score = quantize_int8(
                path, calib, calib_frames=calib_frames, min_agreement=min_agreement, force=force, out=dest
            )
            out.print(
                f"int8 vs fp32 on {score.frames} held-out frames of {calib}: recall {score.recall:.3f}, "
                f"precision {score.precision:.3f} ({score.reference} vs {score.other} boxes)",
                highlight=False,
            )
            out.print(f"wrote {path}")
    except VtrackError as e:
        fail(e)
