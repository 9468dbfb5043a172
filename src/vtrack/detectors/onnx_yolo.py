"""Ultralytics YOLO detectors and segmenters exported to ONNX, run with onnxruntime.

Supports YOLOv8 / YOLO11 / YOLO26 (and other Ultralytics ``Detect``/``Segment`` heads) exported with
``format=onnx``: static or dynamic input shape, raw outputs that need NMS, and end-to-end outputs
(``nms=True`` exports, NMS-free heads). Everything the runtime needs (class names, task, input size,
stride) is read from the export's ONNX metadata.
"""

from __future__ import annotations

import ast
import difflib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import supervision as sv

from vtrack.detectors.backend import BackendChoice
from vtrack.detectors.export import default_cache_dir
from vtrack.detectors.postprocess import (
    Candidates,
    batched_nms,
    decode_end2end,
    decode_raw,
    masks_in_frame,
)
from vtrack.detectors.preprocess import (
    PAD_VALUE,
    Letterboxer,
    LetterboxGeometry,
    boxes_to_frame,
    letterbox_geometry,
)
from vtrack.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

SUPPORTED_TASKS = ("detect", "segment")
TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PROVIDER_PREFERENCE = (TENSORRT, CUDA, CPU)
CUDNN_CONV_ALGO_SEARCH = "EXHAUSTIVE"
"""cuDNN convolution algorithm search of the CUDA provider: the fastest kernel per input shape, searched
once per shape (a batched dynamic model sees at most ``batch`` shapes per letterbox geometry)."""
DEFAULT_IMGSZ = 640
DEFAULT_STRIDE = 32
_MAX_ERROR_CHARS = 200
_EXAMPLE_NAMES = 8


@dataclass(frozen=True)
class ModelSpec:
    """What an Ultralytics ONNX export is, from its metadata and input/output signature.

    Attributes:
        path: The ONNX file.
        task: ``"detect"`` or ``"segment"``.
        names: Class id → name.
        imgsz: Input ``(height, width)`` the model was exported for.
        stride: Largest model stride.
        dynamic: The input's height/width are symbolic.
        end2end: The first output is ``(1, K, 6 + nm)`` post-NMS rows rather than raw ``(1, 4 + nc + nm, A)``.
        num_masks: Mask coefficients per detection (``nm``), 0 for detectors.
        input_name: Name of the image input.
        input_dtype: ``np.float32`` or ``np.float16``.
        output_names: The detections output, then the prototype output for segmenters.
        dynamic_batch: The input's batch axis is symbolic: several frames can run in one call
            (:meth:`YoloOnnxDetector.infer_batch`).
    """

    path: Path
    task: str
    names: dict[int, str]
    imgsz: tuple[int, int]
    stride: int
    dynamic: bool
    end2end: bool
    num_masks: int
    input_name: str
    input_dtype: type[np.floating]
    output_names: tuple[str, ...]
    dynamic_batch: bool = False

    @property
    def num_classes(self) -> int:
        """``nc``: one past the largest class id."""
        return max(self.names) + 1 if self.names else 0


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _literal(meta: Mapping[str, str], key: str, path: Path) -> Any:
    try:
        return ast.literal_eval(meta[key])
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        raise ModelError(f"unreadable '{key}' metadata in {path}: {meta[key][:60]!r}") from e


def _parse_names(meta: Mapping[str, str], path: Path) -> dict[int, str]:
    raw = _literal(meta, "names", path)
    if isinstance(raw, (list, tuple)):
        raw = dict(enumerate(raw))
    if not isinstance(raw, dict) or not raw:
        raise ModelError(f"'names' metadata in {path} is not a non-empty class id → name mapping")
    try:
        names = {int(k): str(v) for k, v in raw.items()}
    except (TypeError, ValueError) as e:
        raise ModelError(f"'names' metadata in {path} has a non-integer class id") from e
    if min(names) < 0:
        raise ModelError(f"'names' metadata in {path} has a negative class id")
    return names


def _parse_imgsz(meta: Mapping[str, str], path: Path) -> tuple[int, int] | None:
    if "imgsz" not in meta:
        return None
    raw = _literal(meta, "imgsz", path)
    if isinstance(raw, int):
        return (raw, raw)
    if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(v, int) for v in raw):
        return (int(raw[0]), int(raw[1]))
    raise ModelError(f"'imgsz' metadata in {path} is {meta['imgsz']!r}; expected an int or [h, w]")


def _dim(value: object) -> int | None:
    """A static dimension as int, ``None`` when symbolic/unknown."""
    return value if isinstance(value, int) and value > 0 else None


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a model, whatever runs it.

    Attributes:
        name: Tensor name.
        shape: Dimensions; an ``int`` > 0 when static, anything else (``None``, a symbol) when not.
        type: ONNX Runtime's type string: ``"tensor(float)"``, ``"tensor(float16)"``...
    """

    name: str
    shape: list[object]
    type: str


def inspect_session(session: ort.InferenceSession, path: Path) -> ModelSpec:
    """Read and check what an onnxruntime session holds (see :func:`inspect_signature`).

    Args:
        session: A loaded session.
        path: Its file, for messages.

    Returns:
        The model's spec.

    Raises:
        ModelError: Not an Ultralytics export, not a detect/segment model, or an unexpected signature.
    """

    def infos(args: Sequence[Any]) -> list[TensorInfo]:
        return [TensorInfo(a.name, list(a.shape), a.type) for a in args]

    return inspect_signature(
        session.get_modelmeta().custom_metadata_map,
        infos(session.get_inputs()),
        infos(session.get_outputs()),
        path,
    )


def inspect_signature(
    meta: Mapping[str, str], inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo], path: Path
) -> ModelSpec:
    """Read and check an Ultralytics export from its metadata and input/output signature.

    Args:
        meta: The export's metadata (``names``, ``task``, ``imgsz``, ``stride``, ``end2end``...).
        inputs: The model's inputs.
        outputs: The model's outputs.
        path: Its file, for messages.

    Returns:
        The model's spec.

    Raises:
        ModelError: Not an Ultralytics export, not a detect/segment model, or an unexpected signature.
    """
    if "names" not in meta:
        raise ModelError(
            f"{path} is not an Ultralytics YOLO export: its ONNX metadata has no class names; "
            "export it with `vtrack export` or Ultralytics `format=onnx`"
        )
    names = _parse_names(meta, path)
    task = meta.get("task")
    if task is None:  # very old exports: infer from the outputs
        task = "segment" if any(len(o.shape) == 4 for o in outputs) else "detect"
        logger.warning("%s has no 'task' metadata; assuming %s from its outputs", path, task)
    if task not in SUPPORTED_TASKS:
        raise ModelError(
            f"{path} is a '{task}' model; vtrack needs a detect or segment model "
            "(e.g. yolo11n or yolo11n-seg)"
        )

    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        sig = [(i.name, i.shape) for i in inputs]
        raise ModelError(f"{path} has inputs {sig}; expected one image input of shape (1, 3, H, W)")
    inp = inputs[0]
    batch, channels, in_h, in_w = (_dim(d) for d in inp.shape)
    if channels not in (None, 3):
        raise ModelError(f"{path} takes {channels}-channel images; expected 3 (BGR/RGB)")
    if batch not in (None, 1):
        raise ModelError(f"{path} was exported with batch={batch}; export it with batch=1 or dynamic=True")
    if inp.type == "tensor(float)":
        input_dtype: type[np.floating] = np.float32
    elif inp.type == "tensor(float16)":
        input_dtype = np.float16
    else:
        raise ModelError(
            f"{path} takes {inp.type} input; expected float or float16 (int8 I/O is not supported)"
        )

    meta_imgsz = _parse_imgsz(meta, path)
    dynamic = in_h is None or in_w is None
    if dynamic:
        imgsz = meta_imgsz or (DEFAULT_IMGSZ, DEFAULT_IMGSZ)
    else:
        assert in_h is not None and in_w is not None
        imgsz = (in_h, in_w)
        if meta_imgsz is not None and meta_imgsz != imgsz:
            logger.warning(
                "%s: imgsz metadata %s differs from the input shape %s; using the input",
                path,
                meta_imgsz,
                imgsz,
            )
    try:
        stride = int(meta.get("stride", DEFAULT_STRIDE))
    except ValueError as e:
        raise ModelError(f"'stride' metadata in {path} is {meta['stride']!r}; expected an int") from e

    det_outs = [o for o in outputs if len(o.shape) == 3]
    proto_outs = [o for o in outputs if len(o.shape) == 4]
    if len(det_outs) != 1:
        sig = [(o.name, o.shape) for o in outputs]
        raise ModelError(f"{path} has outputs {sig}; expected one 3-D detections output")
    det = det_outs[0]
    num_masks = 0
    output_names: tuple[str, ...] = (det.name,)
    if task == "segment":
        nm = _dim(proto_outs[0].shape[1]) if len(proto_outs) == 1 else None
        if nm is None:
            sig = [(o.name, o.shape) for o in outputs]
            raise ModelError(
                f"{path} is a segment model but has outputs {sig}; expected a (1, nm, h, w) prototypes"
            )
        num_masks = nm
        output_names = (det.name, proto_outs[0].name)

    nc = max(names) + 1
    d1, d2 = _dim(det.shape[1]), _dim(det.shape[2])
    raw_rows, e2e_cols = 4 + nc + num_masks, 6 + num_masks
    meta_e2e = str(meta.get("end2end", "")).lower() == "true"
    if meta_e2e and d2 in (None, e2e_cols):
        end2end = True
    elif d1 == raw_rows:
        end2end = False
    elif d2 == e2e_cols:
        end2end = True
    else:
        raise ModelError(
            f"{path}: output '{det.name}' has shape {det.shape}; for a {task} model with {nc} classes "
            "expected "
            f"(1, {raw_rows}, N) raw or (1, N, {e2e_cols}) end-to-end"
        )
    return ModelSpec(
        path=path,
        task=task,
        names=names,
        imgsz=imgsz,
        stride=stride,
        dynamic=dynamic,
        end2end=end2end,
        num_masks=num_masks,
        input_name=inp.name,
        input_dtype=input_dtype,
        output_names=output_names,
        dynamic_batch=batch is None,
    )


def select_providers(requested: list[str] | None = None) -> list[str]:
    """Execution providers to use, best first.

    Args:
        requested: Explicit providers (each must be available), or ``None`` for the best available of
            TensorRT → CUDA → CPU.

    Returns:
        Provider names for ``onnxruntime.InferenceSession``.

    Raises:
        ConfigError: A requested provider is not available in this onnxruntime build.
    """
    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise ConfigError(
                f"execution provider(s) {', '.join(missing)} not available; this onnxruntime has "
                f"{', '.join(available)}"
            )
        return list(requested)
    chosen = [p for p in PROVIDER_PREFERENCE if p in available]
    return chosen or list(available)


ProviderEntry = str | tuple[str, dict[str, Any]]


def provider_options(
    providers: Sequence[str],
    *,
    half: bool = False,
    device_id: int = 0,
    cache_dir: Path | None = None,
    trt_profile: tuple[str, str, str] | None = None,
) -> list[ProviderEntry]:
    """The ``providers`` argument of ``onnxruntime.InferenceSession``: names with their options.

    * TensorRT: engines cached in ``cache_dir/tensorrt`` (default ``$VTRACK_CACHE/tensorrt``) so only the
      first start pays for the build; FP16 kernels (``trt_fp16_enable``) when ``half``; the device.
    * CUDA: the device and an exhaustive cuDNN convolution search (once per input shape).
    * Others (CPU...): no options.

    Args:
        providers: Provider names, best first (see :func:`select_providers`).
        half: Let TensorRT build FP16 engines (ignored by the other providers: an FP16 model runs
            in FP16 anywhere, an FP32 one in FP32 on CUDA).
        device_id: GPU ordinal of the TensorRT and CUDA providers.
        cache_dir: The vtrack cache folder (default :func:`vtrack.detectors.export.default_cache_dir`).
        trt_profile: TensorRT optimisation profile of a dynamic-shape model, ``(min, opt, max)`` input
            shapes such as ``("images:1x3x384x640", "images:8x3x384x640", "images:8x3x384x640")``: one
            engine serves every shape in the range (without it TensorRT builds again for each new shape).

    Returns:
        One entry per provider, in order: the bare name or ``(name, options)``.

    Raises:
        ConfigError: ``device_id`` < 0.
    """
    if device_id < 0:
        raise ConfigError(f"device_id must be >= 0, got {device_id}")
    entries: list[ProviderEntry] = []
    for name in providers:
        if name == TENSORRT:
            engine_dir = (cache_dir if cache_dir is not None else default_cache_dir()) / "tensorrt"
            options: dict[str, Any] = {
                "device_id": device_id,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(engine_dir),
            }
            if half:
                options["trt_fp16_enable"] = True
            if trt_profile is not None:
                low, opt, high = trt_profile
                options["trt_profile_min_shapes"] = low
                options["trt_profile_opt_shapes"] = opt
                options["trt_profile_max_shapes"] = high
            entries.append((name, options))
        elif name == CUDA:
            entries.append((name, {"device_id": device_id, "cudnn_conv_algo_search": CUDNN_CONV_ALGO_SEARCH}))
        else:
            entries.append(name)
    return entries


def open_session(
    model_path: str | Path,
    *,
    providers: list[str] | None = None,
    intra_op_threads: int | None = None,
    half: bool = False,
    device_id: int = 0,
    trt_profile: tuple[str, str, str] | None = None,
) -> ort.InferenceSession:
    """Load an ONNX file into onnxruntime.

    Provider options come from :func:`provider_options` (TensorRT engine cache in
    ``$VTRACK_CACHE/tensorrt``, default ``~/.cache/vtrack/tensorrt``; FP16 engines when ``half``).

    Args:
        model_path: The ``.onnx`` file.
        providers: Execution providers (see :func:`select_providers`).
        intra_op_threads: onnxruntime intra-op threads; ``None`` or 0 for onnxruntime's default.
        half: FP16 TensorRT engines (see :func:`provider_options`).
        device_id: GPU ordinal for the TensorRT/CUDA providers.
        trt_profile: TensorRT shape profile (see :func:`provider_options`).

    Returns:
        The session.

    Raises:
        ModelError: The file is missing, empty or not a loadable ONNX model.
        ConfigError: Bad ``providers``, ``intra_op_threads`` or ``device_id``.
    """
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    if path.stat().st_size == 0:
        raise ModelError(f"model file is empty (0 bytes): {path}")
    options = ort.SessionOptions()
    if intra_op_threads is not None:
        if intra_op_threads < 0:
            raise ConfigError(
                f"intra_op_threads must be >= 0 (0 = onnxruntime default), got {intra_op_threads}"
            )
        options.intra_op_num_threads = intra_op_threads
    names = select_providers(providers)
    if half and TENSORRT not in names:
        logger.info("half precision applies to TensorRT engines only; %s runs its own precision", path.name)
    chosen = provider_options(names, half=half, device_id=device_id, trt_profile=trt_profile)
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=chosen)
    except Exception as e:  # onnxruntime raises its own pybind exception types
        raise ModelError(f"cannot load ONNX model {path}: {_one_line(e)}") from e
    logger.info("loaded %s with %s", path, ", ".join(session.get_providers()))
    return session


def trt_shape_profile(
    model_path: str | Path,
    *,
    max_batch: int,
    imgsz: int | None = None,
    frame_hw: tuple[int, int] | None = None,
) -> tuple[str, str, str] | None:
    """A TensorRT shape profile for a model with dynamic axes (see :func:`provider_options`).

    The model is read on the CPU (fast) to learn its input name and axes. Batch runs from 1 to
    ``max_batch`` (dynamic batch axis). Height/width (dynamic-shape models): the letterboxed shape of
    ``frame_hw`` frames when given, else any shape from one stride up to ``imgsz`` square.

    Args:
        model_path: The ``.onnx`` file.
        max_batch: Largest batch to run (>= 1).
        imgsz: Inference size of a dynamic-shape model (default: the export's).
        frame_hw: ``(height, width)`` of the frames, when every stream has the same size.

    Returns:
        ``(min, opt, max)`` shapes such as ``"images:1x3x384x640"``, the optimum at the largest batch
        and size; ``None`` when the model has no dynamic axis.

    Raises:
        ConfigError: ``max_batch`` < 1.
        ModelError: The model cannot be loaded.
    """
    if max_batch < 1:
        raise ConfigError(f"max_batch must be >= 1, got {max_batch}")
    path = Path(model_path)
    spec = inspect_session(open_session(path, providers=[CPU]), path)
    if not spec.dynamic and not spec.dynamic_batch:
        return None
    top = max_batch if spec.dynamic_batch else 1
    if not spec.dynamic:
        low = high = spec.imgsz
    else:
        side = imgsz or max(spec.imgsz)
        if frame_hw is not None:
            geom = letterbox_geometry(frame_hw, (side, side), stride=spec.stride, auto=True)
            low = high = (geom.input_h, geom.input_w)
        else:
            low, high = (spec.stride, spec.stride), (side, side)

    def shape(batch: int, hw: tuple[int, int]) -> str:
        return f"{spec.input_name}:{batch}x3x{hw[0]}x{hw[1]}"

    return shape(1, low), shape(top, high), shape(top, high)


def class_ids_for_names(class_names: Mapping[int, str], names: Iterable[str]) -> list[int]:
    """Class ids for class names (exact match first, then case-insensitive).

    Args:
        class_names: The model's class id → name.
        names: Names to look up, e.g. ``["car", "bicycle"]``.

    Returns:
        The ids, in the order of ``names``.

    Raises:
        ConfigError: Some names are unknown; the message lists them, close matches and a few valid names.
    """
    exact = {v: k for k, v in class_names.items()}
    folded = {v.casefold(): k for k, v in class_names.items()}
    ids: list[int] = []
    unknown: list[str] = []
    for name in names:
        if name in exact:
            ids.append(exact[name])
        elif name.casefold() in folded:
            ids.append(folded[name.casefold()])
        else:
            unknown.append(name)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(exact), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        valid = ", ".join(repr(v) for v in list(class_names.values())[:_EXAMPLE_NAMES])
        raise ConfigError(
            f"unknown class name(s) {', '.join(hints)}; the model has {len(class_names)} classes, "
            f"e.g. {valid}"
        )
    return ids


def check_thresholds(conf: float, iou: float, max_det: int) -> None:
    """Raise :class:`ConfigError` for a confidence, NMS IoU or detection limit out of range."""
    if not 0.0 <= conf < 1.0:
        raise ConfigError(f"conf must be in [0, 1), got {conf}")
    if not 0.0 < iou <= 1.0:
        raise ConfigError(f"iou must be in (0, 1], got {iou}")
    if max_det < 1:
        raise ConfigError(f"max_det must be >= 1, got {max_det}")


class YoloOnnxDetector:
    """An Ultralytics YOLO detector or segmenter exported to ONNX.

    Implements :class:`vtrack.detectors.base.Detector`.

    Args:
        model_path: The ``.onnx`` file, an Ultralytics export (see
            :func:`vtrack.detectors.export.export_model`).
        conf: Keep detections with confidence strictly above this.
        iou: NMS IoU threshold (raw outputs only; end-to-end models are already suppressed).
        classes: Class ids to keep, or ``None`` for all (see :meth:`class_ids_for_names`).
        imgsz: Input size. Static models: must equal the exported size (default). Dynamic models: the
            longest side of the letterboxed input (default: the export's ``imgsz``).
        providers: onnxruntime execution providers; default the best of TensorRT → CUDA → CPU available.
        intra_op_threads: onnxruntime intra-op threads (``None``: onnxruntime's default, all cores).
        max_det: Keep at most this many detections per frame.
        half: FP16 TensorRT engines when TensorRT runs the model (see :func:`provider_options`).
        device_id: GPU ordinal for the TensorRT/CUDA providers.
        io_binding: Run through ONNX Runtime's IO binding: the input is bound from host memory and the
            outputs are allocated by the session on its device (the GPU under CUDA/TensorRT), then
            copied back once; on CPU it gives the same results as a plain run.
        trt_profile: TensorRT shape profile of a dynamic-shape model (see :func:`provider_options`).

    Not thread-safe: calls reuse one input buffer (run a detector on one thread, as the pipeline does).

    Attributes:
        class_names: Class id → name, from the metadata.
        task: ``"detect"`` or ``"segment"``.
        conf: Confidence threshold (may be changed between calls).
        iou: NMS IoU threshold (may be changed between calls).
        max_det: Most detections per frame.
        classes: Class ids kept or ``None`` (settable, validated).
        spec: Everything read from the model.
        timings: Seconds spent in ``preprocess``, ``inference`` and ``postprocess`` by the last call.
        choice: The backend and precision chosen for it and why (set by
            :func:`vtrack.detectors.factory.build_detector`), else ``None``.

    Raises:
        ModelError: The file is missing/corrupt, not an Ultralytics export, or not a detect/segment model.
        ConfigError: An invalid threshold, class id, imgsz or provider.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        classes: list[int] | None = None,
        imgsz: int | None = None,
        providers: list[str] | None = None,
        intra_op_threads: int | None = None,
        max_det: int = 300,
        half: bool = False,
        device_id: int = 0,
        io_binding: bool = False,
        trt_profile: tuple[str, str, str] | None = None,
    ) -> None:
        check_thresholds(conf, iou, max_det)
        self._session_kwargs: dict[str, Any] = {
            "half": half,
            "device_id": device_id,
            "trt_profile": trt_profile,
        }
        self._session = open_session(
            model_path, providers=providers, intra_op_threads=intra_op_threads, **self._session_kwargs
        )
        self.io_binding = io_binding
        self._output_device = "cuda" if {TENSORRT, CUDA} & set(self._session.get_providers()) else "cpu"
        self._device_id = device_id
        self._setup(
            inspect_session(self._session, Path(model_path)),
            conf=conf, iou=iou, classes=classes, imgsz=imgsz, max_det=max_det,
        )

    def _setup(
        self,
        spec: ModelSpec,
        *,
        conf: float,
        iou: float,
        classes: list[int] | None,
        imgsz: int | None,
        max_det: int,
    ) -> None:
        """What every runtime shares: thresholds, classes, the letterboxer, the label lookup."""
        self.spec = spec
        self.choice: BackendChoice | None = None
        self.class_names: dict[int, str] = dict(self.spec.names)
        self.task: str = self.spec.task
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self._classes: np.ndarray | None = None
        self.classes = classes
        target = self._target_size(imgsz)
        self._letterbox = Letterboxer(
            target, stride=self.spec.stride, auto=self.spec.dynamic, dtype=self.spec.input_dtype
        )
        self._names_lookup = np.array(
            [self.class_names.get(i, str(i)) for i in range(self.spec.num_classes)], dtype=str
        )
        self.timings: dict[str, float] = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        self._checked_outputs = False

    def _target_size(self, imgsz: int | None) -> tuple[int, int]:
        spec = self.spec
        if not spec.dynamic:
            if imgsz is not None and imgsz != max(spec.imgsz):
                raise ConfigError(
                    f"{spec.path} has a fixed input of {spec.imgsz[0]}x{spec.imgsz[1]}; imgsz={imgsz} needs "
                    "a model exported at that size or with dynamic=True"
                )
            return spec.imgsz
        if imgsz is None:
            return spec.imgsz
        if imgsz <= 0 or imgsz % spec.stride:
            raise ConfigError(
                f"imgsz must be a positive multiple of the model stride {spec.stride}, got {imgsz}"
            )
        return (imgsz, imgsz)

    @property
    def classes(self) -> list[int] | None:
        """Class ids kept, or ``None`` for all. Settable (validated) between calls."""
        return None if self._classes is None else self._classes.tolist()

    @classes.setter
    def classes(self, value: Iterable[int] | None) -> None:
        if value is None:
            self._classes = None
            return
        ids = list(value)
        bad = [c for c in ids if c not in self.class_names]
        if bad:
            raise ConfigError(
                f"class id(s) {bad} not in the model; valid ids are 0..{self.spec.num_classes - 1}"
            )
        self._classes = np.asarray(sorted(set(ids)), dtype=np.int64)

    @property
    def input_size(self) -> tuple[int, int]:
        """The (maximum) input ``(height, width)`` frames are letterboxed into."""
        return self._letterbox.target_hw

    def class_ids_for_names(self, names: Iterable[str]) -> list[int]:
        """Class ids of this model for class names; see :func:`class_ids_for_names`."""
        return class_ids_for_names(self.class_names, names)

    def warmup(self, runs: int = 2) -> None:
        """Run a grey frame of the input size through the whole pipeline (allocations, provider setup)."""
        h, w = self.input_size
        frame = np.full((h, w, 3), 114, dtype=np.uint8)
        for _ in range(runs):
            self(frame)

    def _check_outputs(self, det: np.ndarray, proto: np.ndarray | None) -> None:
        spec = self.spec
        expected = 6 + spec.num_masks if spec.end2end else 4 + spec.num_classes + spec.num_masks
        got = (det.shape[2] if spec.end2end else det.shape[1]) if det.ndim == 3 else None
        if got != expected:
            raise ModelError(
                f"{spec.path}: output shape {det.shape} does not fit a {spec.task} model "
                f"with {spec.num_classes} classes"
            )
        if proto is not None and (proto.ndim != 4 or proto.shape[1] != spec.num_masks):
            raise ModelError(
                f"{spec.path}: prototype output shape {proto.shape}; expected (1, {spec.num_masks}, h, w)"
            )
        self._checked_outputs = True

    def __call__(self, image: np.ndarray) -> sv.Detections:
        """Detect (and segment) objects in one frame.

        Args:
            image: BGR ``(H, W, 3)`` uint8.

        Returns:
            ``sv.Detections``: ``xyxy`` ``(N, 4)`` float32 frame pixels clipped to the frame,
            ``confidence`` ``(N,)`` float32, ``class_id`` ``(N,)`` int64, ``data["class_name"]`` ``(N,)`` str,
            and for segmenters ``mask`` ``(N, H, W)`` bool. Sorted by confidence, highest first.
        """
        t0 = time.perf_counter()
        tensor, geom = self._letterbox(image)
        t1 = time.perf_counter()
        outputs = self.infer(tensor)
        t2 = time.perf_counter()
        detections = self.postprocess(outputs, geom)
        t3 = time.perf_counter()
        self.timings = {"preprocess": t1 - t0, "inference": t2 - t1, "postprocess": t3 - t2}
        return detections

    def preprocess(
        self, image: np.ndarray, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, LetterboxGeometry]:
        """Letterbox one frame straight into an input tensor (the first stage of :meth:`__call__`).

        Unlike :meth:`__call__`, which reuses one internal tensor, this writes into ``out`` when it has
        the right shape and dtype (border included), so several frames can be in flight at once, each
        in its own buffer: hand the returned tensor back as ``out`` once its inference is done.

        Args:
            image: BGR ``(H, W, 3)`` uint8.
            out: A tensor from an earlier call to reuse, or ``None`` to allocate one.

        Returns:
            ``(tensor, geometry)``: tensor ``(1, 3, input_h, input_w)`` of the model's input dtype
            (float32 or float16), RGB in ``[0, 1]``, border ``114/255``; ``out`` itself when reusable.

        Raises:
            ValueError: ``image`` is not an ``(H, W, 3)`` uint8 array.
        """
        return self._letterbox.into(image, out)

    def infer(self, tensor: np.ndarray, session: int = 0) -> list[np.ndarray]:
        """Run the model on a prepared tensor (the second stage of :meth:`__call__`).

        Thread-safe: ONNX Runtime sessions may run concurrently, and each session of
        :meth:`open_sessions` can run its own frame at the same time (frame-level parallelism).

        Args:
            tensor: ``(1, 3, H, W)`` float32/float16 from :meth:`preprocess`.
            session: Which session runs it, ``0 <= session < self.sessions``.

        Returns:
            The raw outputs: detections ``(1, 4 + nc + nm, A)`` (or ``(1, K, 6 + nm)`` end-to-end), then the
            prototypes ``(1, nm, h, w)`` for segmenters.
        """
        return self._run(tensor, session)

    def _run(self, tensor: np.ndarray, session: int) -> list[np.ndarray]:
        if not 0 <= session < self.sessions:
            raise ConfigError(f"session must be in [0, {self.sessions}), got {session}")
        sess = self._session if session == 0 else self._extra_sessions[session - 1]
        names = list(self.spec.output_names)
        if not self.io_binding:
            outputs: list[np.ndarray] = sess.run(names, {self.spec.input_name: tensor})
            return outputs
        binding = sess.io_binding()  # one per call: bindings are not shared between threads
        binding.bind_cpu_input(self.spec.input_name, np.ascontiguousarray(tensor))
        for name in names:
            binding.bind_output(name, self._output_device, self._device_id)
        sess.run_with_iobinding(binding)
        bound: list[np.ndarray] = binding.copy_outputs_to_cpu()
        return bound

    def infer_batch(self, tensors: Sequence[np.ndarray], session: int = 0) -> list[list[np.ndarray]]:
        """Run several prepared frames in one inference (models with a dynamic batch axis).

        Thread-safe like :meth:`infer`. Frames of one call must share their letterbox shape (the same
        frame size, or any size with a static-shape model); post-process each frame's outputs with
        :meth:`postprocess` as usual.

        Args:
            tensors: ``(1, 3, H, W)`` tensors from :meth:`preprocess`, all of one shape and dtype.
            session: Which session runs them.

        Returns:
            Per frame, in order, the outputs :meth:`infer` would give for it alone: detections
            ``(1, 4 + nc + nm, A)`` (or ``(1, K, 6 + nm)``), then prototypes ``(1, nm, h, w)`` for segmenters.

        Raises:
            ModelError: More than one frame for a model exported with a fixed batch of 1, or outputs
                that do not have one row per frame.
            ValueError: No tensors, or tensors that are not ``(1, 3, H, W)`` of one shape and dtype.
        """
        if not tensors:
            raise ValueError("infer_batch needs at least one tensor, got none")
        first = tensors[0]
        for t in tensors:
            if t.ndim != 4 or t.shape[0] != 1 or t.shape != first.shape or t.dtype != first.dtype:
                raise ValueError(
                    f"infer_batch needs (1, 3, H, W) tensors of one shape and dtype; got {first.shape} "
                    f"{first.dtype} and {t.shape} {t.dtype}"
                )
        if len(tensors) == 1:
            return [self._run(first, session)]
        if not self.spec.dynamic_batch:
            raise ModelError(
                f"{self.spec.path} has a fixed batch of 1; batching {len(tensors)} frames needs an export "
                "with a dynamic batch axis (`vtrack export --dynamic` / Ultralytics dynamic=True)"
            )
        batch = np.concatenate(tensors, axis=0)
        outputs = self._run(batch, session)
        n = len(tensors)
        if any(o.ndim == 0 or o.shape[0] != n for o in outputs):
            raise ModelError(
                f"{self.spec.path}: a batch of {n} frames gave outputs of shapes "
                f"{[o.shape for o in outputs]}; expected {n} rows each"
            )
        return [[o[i : i + 1] for o in outputs] for i in range(n)]

    @property
    def sessions(self) -> int:
        """How many ONNX Runtime sessions can run frames in parallel (see :meth:`open_sessions`)."""
        return 1 + len(getattr(self, "_extra_sessions", ()))

    def open_sessions(self, count: int, *, intra_op_threads: int | None = None) -> None:
        """Load ``count - 1`` more sessions of the same model for frame-level parallelism.

        On a few CPU cores, several 1-thread sessions side by side beat one multi-thread session
        (less synchronisation inside each inference); on a GPU one session is the right choice.

        Args:
            count: Total sessions wanted (>= 1); sessions already open are kept.
            intra_op_threads: Intra-op threads of each new session; ``None`` for ONNX Runtime's default.

        Raises:
            ConfigError: ``count`` < 1.
            ModelError: The model cannot be loaded again.
        """
        if count < 1:
            raise ConfigError(f"sessions must be >= 1, got {count}")
        extra: list[ort.InferenceSession] = list(getattr(self, "_extra_sessions", ()))
        providers = self._session.get_providers()
        h, w = self.input_size
        grey = np.full((1, 3, h, w), PAD_VALUE / 255.0, dtype=self.spec.input_dtype)
        while 1 + len(extra) < count:
            session = open_session(
                self.spec.path, providers=providers, intra_op_threads=intra_op_threads, **self._session_kwargs
            )
            session.run(list(self.spec.output_names), {self.spec.input_name: grey})  # warm up
            extra.append(session)
        self._extra_sessions = extra[: count - 1]

    def postprocess(
        self,
        outputs: list[np.ndarray],
        geom: LetterboxGeometry,
        frame_shape: tuple[int, ...] | None = None,
    ) -> sv.Detections:
        """Turn raw outputs into detections in frame pixels (the last stage of :meth:`__call__`).

        Args:
            outputs: What :meth:`infer` returned for the frame.
            geom: The frame's letterbox geometry from :meth:`preprocess`.
            frame_shape: The frame's ``(H, W[, 3])``; checked against ``geom`` when given.

        Returns:
            ``sv.Detections`` as :meth:`__call__` returns them.

        Raises:
            ValueError: ``frame_shape`` does not match ``geom``.
            ModelError: The outputs do not fit the model's task and classes.
        """
        if frame_shape is not None and tuple(frame_shape[:2]) != (geom.frame_h, geom.frame_w):
            raise ValueError(
                f"frame shape {tuple(frame_shape[:2])} does not match the letterbox geometry "
                f"({geom.frame_h}, {geom.frame_w})"
            )
        det = outputs[0]
        proto = outputs[1] if len(outputs) > 1 else None
        if not self._checked_outputs:
            self._check_outputs(det, proto)
        if det.dtype != np.float32:
            det = det.astype(np.float32)
        spec = self.spec
        cands: Candidates
        if spec.end2end:
            cands = decode_end2end(
                det[0], num_masks=spec.num_masks, conf=self.conf, classes=self._classes, max_det=self.max_det
            )
        else:
            cands = decode_raw(
                det[0],
                num_classes=spec.num_classes,
                num_masks=spec.num_masks,
                conf=self.conf,
                classes=self._classes,
            )
            cands = batched_nms(cands, self.iou, self.max_det)
        boxes = boxes_to_frame(cands.boxes, geom)
        masks = None
        if spec.task == "segment":
            assert proto is not None and cands.coeffs is not None
            masks = masks_in_frame(proto[0].astype(np.float32, copy=False), cands.coeffs, boxes, geom)
        return sv.Detections(
            xyxy=boxes,
            confidence=cands.scores,
            class_id=cands.class_ids,
            mask=masks,
            data={"class_name": self._names_lookup[cands.class_ids]},
        )

    def __repr__(self) -> str:
        s = self.spec
        kind = "end2end" if s.end2end else "raw"
        shape = "dynamic" if s.dynamic else f"{s.imgsz[0]}x{s.imgsz[1]}"
        return (
            f"YoloOnnxDetector({s.path.name}, task={s.task}, classes={len(s.names)}, input={shape}, "
            f"{kind}, providers={self._session.get_providers()})"
        )
