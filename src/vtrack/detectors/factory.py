"""Build the detector a :class:`~vtrack.config.ModelConfig` describes: one place picks the runtime.

:func:`build_detector` resolves the model, picks the backend and precision (:func:`choose_backend`),
plans the parallel inferences (sessions × threads), logs the choice and why, and returns a detector with
the split API of :class:`~vtrack.detectors.onnx_yolo.YoloOnnxDetector` (``preprocess`` / ``infer`` /
``postprocess``, ``sessions``, ``warmup``...), its ``choice`` attribute set for summary.json.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import onnxruntime as ort

from vtrack.config import ModelConfig
from vtrack.detectors.backend import (
    ONNXRUNTIME,
    BackendChoice,
    choose_backend,
    cpu_flags,
    openvino_installed,
)
from vtrack.detectors.export import resolve_model
from vtrack.detectors.onnx_yolo import CPU, YoloOnnxDetector, select_providers
from vtrack.detectors.plan import plan_inference

logger = logging.getLogger(__name__)


def resolve_choice(
    model: ModelConfig,
    model_path: Path,
    *,
    flags: Collection[str] | None = None,
    openvino_available: bool | None = None,
) -> BackendChoice:
    """The backend and precision for ``model`` on this machine (see :func:`choose_backend`).

    Args:
        model: The model config (``backend``, ``precision``, ``providers``, ``half``).
        model_path: The resolved model file.
        flags: CPU flags; default this machine's (:func:`cpu_flags`).
        openvino_available: Default: whether OpenVINO can be imported here.

    Raises:
        ConfigError: A combination that cannot run here.
        ModelError: int8 asked for without an int8 model.
    """
    precision = model.precision
    if precision == "auto" and model.half and model.backend != "openvino":
        precision = "fp16"  # `half: true` keeps meaning FP16 TensorRT engines
    return choose_backend(
        model.backend,
        precision,
        model_path=model_path,
        providers=model.providers,
        available_providers=ort.get_available_providers(),
        openvino_available=openvino_installed() if openvino_available is None else openvino_available,
        flags=cpu_flags() if flags is None else flags,
    )


def build_detector(
    model: ModelConfig,
    *,
    model_path: Path | None = None,
    sessions: int | None = None,
    threads: int | None = None,
    shared: bool = False,
    trt_profile: tuple[str, str, str] | None = None,
    flags: Collection[str] | None = None,
    cores: int | None = None,
) -> YoloOnnxDetector:
    """Build the detector ``model`` describes, ready to run (extra sessions open, not warmed up).

    Args:
        model: The model config.
        model_path: The model file when already resolved; default ``resolve_model(model.path)``.
        sessions: Parallel inferences; default ``model.sessions`` or the plan for this machine
            (:func:`~vtrack.detectors.plan.plan_inference`: two 1-thread ones on 2 cores).
        threads: Threads per inference; default ``model.threads`` or the plan.
        shared: Many threads call ``infer`` on the detector at once (``vtrack serve``): ONNX Runtime keeps
            one session run concurrently (with ``model.threads``), OpenVINO gets the planned streams.
        trt_profile: TensorRT shape profile (ONNX Runtime only).
        flags: CPU flags; default this machine's.
        cores: CPU cores for the plan; default this process's affinity.

    Returns:
        A :class:`YoloOnnxDetector` or :class:`~vtrack.detectors.openvino_yolo.YoloOpenVinoDetector`, with
        ``choice`` set.

    Raises:
        ModelError: The model cannot be found, loaded or is not a detect/segment export.
        ConfigError: Bad settings, or a backend/precision that cannot run here.
    """
    path = model_path if model_path is not None else resolve_model(model.path, imgsz=model.imgsz or 640)
    choice = resolve_choice(model, Path(path), flags=flags)
    logger.info("detector: %s %s (%s)", choice.backend, choice.precision, choice.reason)
    providers = select_providers(model.providers) if choice.backend == ONNXRUNTIME else [CPU]
    n, per_session = plan_inference(
        providers, sessions or model.sessions, threads or model.threads, cores=cores
    )
    detector: YoloOnnxDetector
    if choice.backend == ONNXRUNTIME:
        if shared:
            n, per_session = 1, threads or model.threads
        detector = YoloOnnxDetector(
            choice.model_path,
            conf=model.conf,
            iou=model.iou,
            imgsz=model.imgsz,
            providers=model.providers,
            intra_op_threads=per_session,
            half=choice.precision == "fp16",
            trt_profile=trt_profile,
        )
        detector.open_sessions(n, intra_op_threads=per_session)
    else:
        from vtrack.detectors.openvino_yolo import YoloOpenVinoDetector

        detector = YoloOpenVinoDetector(
            choice.model_path,
            conf=model.conf,
            iou=model.iou,
            imgsz=model.imgsz,
            precision=choice.precision,
            streams=n,
            threads=None if per_session is None else n * per_session,
        )
        detector.open_sessions(n)
    detector.choice = replace(choice, sessions=n, threads=per_session)
    return detector
