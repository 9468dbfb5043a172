"""Ultralytics YOLO detectors and segmenters run by OpenVINO (CPU) at fp32, bf16, fp16 or int8.

OpenVINO reads the same ``.onnx`` as ONNX Runtime (or an int8 IR ``.xml`` written by
``vtrack export --int8``); pre- and post-processing are :class:`YoloOnnxDetector`'s own. Compiled models
are cached in ``$VTRACK_CACHE/openvino`` so a restart does not compile again.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vtrack.detectors.backend import OPENVINO_MISSING
from vtrack.detectors.export import default_cache_dir
from vtrack.detectors.onnx_yolo import (
    ModelSpec,
    TensorInfo,
    YoloOnnxDetector,
    _one_line,
    check_thresholds,
    inspect_signature,
)
from vtrack.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

DEVICE = "CPU"
PRECISION_HINTS: dict[str, str] = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
"""``INFERENCE_PRECISION_HINT`` per precision. int8: the operations NNCF left in float (the head's box
arithmetic) run in f32, not in bf16."""
_TYPES = {"f32": "tensor(float)", "f16": "tensor(float16)"}


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError as e:
        raise ModelError(OPENVINO_MISSING) from e
    return openvino


def _metadata(model: Any) -> dict[str, str]:
    """The Ultralytics metadata of a read model: ONNX ``metadata_props`` are in ``rt_info["framework"]``."""
    if not model.has_rt_info(["framework"]):
        return {}
    section = model.get_rt_info()["framework"]
    meta: dict[str, str] = {}
    for key in section:
        try:
            meta[str(key)] = section[key].astype(str)
        except (RuntimeError, TypeError, AttributeError):  # a non-string entry: not ours
            continue
    return meta


def _infos(ports: Any) -> list[TensorInfo]:
    infos = []
    for port in ports:
        shape: list[object] = [d.get_length() if d.is_static else None for d in port.get_partial_shape()]
        type_name = port.get_element_type().get_type_name()
        infos.append(TensorInfo(port.get_any_name(), shape, _TYPES.get(type_name, f"tensor({type_name})")))
    return infos


def inspect_openvino(model: Any, path: Path) -> ModelSpec:
    """The :class:`ModelSpec` of a model read by ``openvino.Core.read_model``.

    Raises:
        ModelError: Not an Ultralytics export, not a detect/segment model, or an unexpected signature.
    """
    return inspect_signature(_metadata(model), _infos(model.inputs), _infos(model.outputs), path)


def compile_config(precision: str, *, streams: int, threads: int | None) -> dict[str, str]:
    """OpenVINO CPU properties for a precision and a number of parallel inferences.

    Args:
        precision: ``fp32``, ``bf16``, ``fp16`` or ``int8``.
        streams: CPU streams (inferences that run at once, each on its own threads): one per session.
        threads: Threads of all streams together; ``None`` for OpenVINO's choice (every core).

    Returns:
        Property name → value for ``compile_model``.

    Raises:
        ConfigError: An unknown precision, streams < 1 or threads < 1.
    """
    if precision not in PRECISION_HINTS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISION_HINTS)}, got {precision!r}")
    if streams < 1:
        raise ConfigError(f"streams must be >= 1, got {streams}")
    config = {
        "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
        "PERFORMANCE_HINT": "THROUGHPUT" if streams > 1 else "LATENCY",
        "NUM_STREAMS": str(streams),
    }
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"threads must be >= 1, got {threads}")
        config["INFERENCE_NUM_THREADS"] = str(threads)
    return config


class YoloOpenVinoDetector(YoloOnnxDetector):
    """An Ultralytics YOLO detector or segmenter run by OpenVINO on the CPU.

    Same API as :class:`YoloOnnxDetector` (``preprocess`` / ``infer`` / ``postprocess``, ``sessions``,
    ``open_sessions``, ``infer_batch``...), whose pre- and post-processing it uses. A "session" here is an
    OpenVINO CPU stream: ``streams`` inferences run at once on one compiled model, each with
    ``threads // streams`` threads.

    Args:
        model_path: An Ultralytics ``.onnx`` export or an OpenVINO IR ``.xml`` (``vtrack export --int8``).
        conf: Keep detections with confidence strictly above this.
        iou: NMS IoU threshold.
        classes: Class ids to keep, or ``None`` for all.
        imgsz: Input size (as for :class:`YoloOnnxDetector`).
        max_det: Keep at most this many detections per frame.
        precision: ``fp32``, ``bf16``, ``fp16`` (OpenVINO's ``INFERENCE_PRECISION_HINT``) or ``int8`` (an
            int8 IR; what NNCF left in float runs in fp32).
        streams: Inferences run at once (>= 1).
        threads: Threads of all streams together; ``None`` for OpenVINO's choice.
        cache_dir: Compiled-model cache; default ``$VTRACK_CACHE/openvino``.

    Thread-safe like ONNX Runtime: :meth:`infer` may be called from several threads at once, each call
    on an idle infer request of its own.

    Raises:
        ModelError: OpenVINO missing, the file missing/unreadable or not an Ultralytics export.
        ConfigError: Invalid thresholds, classes, imgsz, precision, streams or threads.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        classes: list[int] | None = None,
        imgsz: int | None = None,
        max_det: int = 300,
        precision: str = "fp32",
        streams: int = 1,
        threads: int | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        check_thresholds(conf, iou, max_det)
        config = compile_config(precision, streams=streams, threads=threads)
        ov = _import_openvino()
        path = Path(model_path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        if path.stat().st_size == 0:
            raise ModelError(f"model file is empty (0 bytes): {path}")
        core = ov.Core()
        cache = (cache_dir if cache_dir is not None else default_cache_dir()) / "openvino"
        try:
            cache.mkdir(parents=True, exist_ok=True)
            core.set_property({"CACHE_DIR": str(cache)})
        except OSError as e:
            logger.warning("no OpenVINO model cache (%s): every start compiles the model", e)
        t0 = time.perf_counter()
        try:
            model = core.read_model(str(path))
        except Exception as e:  # OpenVINO raises RuntimeError and its own types
            raise ModelError(f"cannot load model {path} with OpenVINO: {_one_line(e)}") from e
        spec = inspect_openvino(model, path)
        try:
            compiled = core.compile_model(model, DEVICE, config)
        except Exception as e:
            raise ModelError(f"OpenVINO cannot compile {path} ({config}): {_one_line(e)}") from e
        self.load_seconds = time.perf_counter() - t0
        self._compiled = compiled
        self._outputs = [compiled.output(name) for name in spec.output_names]
        self._input = compiled.input(spec.input_name)
        self.precision = precision
        self.streams = streams
        self.threads = threads
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._requests = 1
        self._idle.put(compiled.create_infer_request())
        self._setup(spec, conf=conf, iou=iou, classes=classes, imgsz=imgsz, max_det=max_det)
        logger.info(
            "loaded %s with OpenVINO %s (%s, %d stream(s), %s threads) in %.2f s",
            path, ov.__version__, precision, streams, threads or "auto", self.load_seconds,
        )

    @property
    def sessions(self) -> int:
        """Inferences that run at once (OpenVINO CPU streams)."""
        return self.streams

    def open_sessions(self, count: int, *, intra_op_threads: int | None = None) -> None:
        """Have ``count`` infer requests ready (one per inference thread).

        More requests than streams queue inside OpenVINO; the streams are fixed when the detector is built
        (:func:`vtrack.detectors.factory.build_detector` sets them from ``model.sessions``).

        Args:
            count: Requests wanted (>= 1).
            intra_op_threads: Ignored (threads are set per compiled model); kept for the shared API.

        Raises:
            ConfigError: ``count`` < 1.
        """
        if count < 1:
            raise ConfigError(f"sessions must be >= 1, got {count}")
        if count > self.streams:
            logger.info("%d inference threads on %d OpenVINO stream(s): some will wait", count, self.streams)
        while self._requests < count:
            self._idle.put(self._compiled.create_infer_request())
            self._requests += 1

    def _run(self, tensor: np.ndarray, session: int) -> list[np.ndarray]:
        if session < 0:
            raise ConfigError(f"session must be >= 0, got {session}")
        try:
            request = self._idle.get_nowait()
        except queue.Empty:  # more concurrent callers than requests: one more (bounded by the callers)
            request = self._compiled.create_infer_request()
            self._requests += 1
        try:
            results: Mapping[Any, np.ndarray] = request.infer({self._input: tensor}, share_inputs=True)
            return [np.asarray(results[o]) for o in self._outputs]  # share_outputs=False: our own copies
        finally:
            self._idle.put(request)

    def __repr__(self) -> str:
        s = self.spec
        kind = "end2end" if s.end2end else "raw"
        shape = "dynamic" if s.dynamic else f"{s.imgsz[0]}x{s.imgsz[1]}"
        return (
            f"YoloOpenVinoDetector({s.path.name}, task={s.task}, classes={len(s.names)}, input={shape}, "
            f"{kind}, precision={self.precision}, streams={self.streams})"
        )
