"""Which runtime runs the detector, at which precision, and why (pure logic, no runtime imported).

``auto`` picks OpenVINO on a CPU when it is installed (it reads the same ``.onnx``) and bf16 where the CPU
computes bf16 natively (AMX or AVX512-BF16), fp32 elsewhere; a GPU (CUDA/TensorRT providers) or
explicitly configured ONNX Runtime providers keep ONNX Runtime. :func:`choose_backend` decides from
facts passed in, so every branch is testable on any machine; :func:`vtrack.detectors.factory.build_detector`
gathers the facts.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from vtrack.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

Backend = Literal["auto", "onnxruntime", "openvino"]
Precision = Literal["auto", "fp32", "bf16", "fp16", "int8"]
BACKENDS: tuple[str, ...] = ("auto", "onnxruntime", "openvino")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16", "int8")
ONNXRUNTIME = "onnxruntime"
OPENVINO = "openvino"
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""/proc/cpuinfo flags of CPUs with native bf16 arithmetic (AMX; AVX512-BF16, Intel and AMD Zen 4+)."""
FP16_FLAGS = ("amx_fp16", "avx512_fp16")
"""/proc/cpuinfo flags of CPUs with native fp16 arithmetic (OpenVINO ignores an fp16 hint elsewhere)."""
INT8_SUFFIX = "-int8"
"""``vtrack export MODEL.onnx --int8`` writes ``MODEL-int8.xml`` (+ ``.bin``), an OpenVINO IR."""
OPENVINO_MISSING = "OpenVINO is not installed: pip install openvino (or pip install 'vtrack[int8]')"
_CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class BackendChoice:
    """The runtime and precision a detector runs with, and why.

    Attributes:
        backend: ``"onnxruntime"`` or ``"openvino"``.
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"``.
        reason: One line saying why, for the log and summary.json.
        model_path: The model file that runs: the configured one, or its int8 IR for ``int8``.
        sessions: Inferences run in parallel (ONNX Runtime sessions, OpenVINO streams), once planned.
        threads: Threads per inference (``None``: the runtime's choice), once planned.
    """

    backend: str
    precision: str
    reason: str
    model_path: Path
    sessions: int = 1
    threads: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"backend", "precision", "reason", "model", "sessions", "threads"}``."""
        d = asdict(self)
        d["model"] = str(d.pop("model_path"))
        return d


def cpu_flags(path: Path = _CPUINFO) -> frozenset[str]:
    """The feature flags of the first CPU in ``/proc/cpuinfo``; empty where there is no such file."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def openvino_installed() -> bool:
    """Whether the ``openvino`` package can be imported (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def int8_sibling(model_path: Path) -> Path:
    """Where ``vtrack export --int8`` writes the int8 IR of ``model_path``: ``<stem>-int8.xml`` beside it."""
    return model_path.with_name(f"{model_path.stem}{INT8_SUFFIX}.xml")


def is_int8_ir(model_path: Path) -> bool:
    """An OpenVINO IR holding quantize operations (an NNCF int8 model)."""
    if model_path.suffix.lower() != ".xml":
        return False
    try:
        return b"FakeQuantize" in model_path.read_bytes()
    except OSError:
        return False


def choose_backend(
    backend: str,
    precision: str,
    *,
    model_path: Path,
    providers: Sequence[str] | None,
    available_providers: Collection[str],
    openvino_available: bool,
    flags: Collection[str],
) -> BackendChoice:
    """Decide the runtime and precision of a detector.

    Args:
        backend: ``auto``, ``onnxruntime`` or ``openvino`` (``model.backend``).
        precision: ``auto``, ``fp32``, ``bf16``, ``fp16`` or ``int8`` (``model.precision``).
        model_path: The resolved model: ``.onnx`` or an OpenVINO IR ``.xml``.
        providers: ONNX Runtime providers configured (``model.providers``), ``None`` when not set.
        available_providers: The providers this ONNX Runtime build has.
        openvino_available: OpenVINO can be imported.
        flags: The CPU's feature flags (:func:`cpu_flags`).

    Returns:
        The choice, with the model file to load.

    Raises:
        ConfigError: An unknown value, or a combination that cannot run (bf16/int8 on ONNX Runtime, an IR on
            ONNX Runtime, OpenVINO asked for but not installed, int8 without an int8 model).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    ir = model_path.suffix.lower() == ".xml"
    bf16_native = sorted(set(BF16_FLAGS) & set(flags))
    gpu = [p for p in (providers or available_providers) if p in GPU_PROVIDERS]

    if backend == "auto":
        if ir:
            backend, why = OPENVINO, f"{model_path.name} is an OpenVINO IR"
        elif providers and providers[0] != "CPUExecutionProvider":
            backend, why = ONNXRUNTIME, f"ONNX Runtime providers configured ({providers[0]})"
        elif gpu:
            backend, why = ONNXRUNTIME, f"a GPU provider is available ({gpu[0]})"
        elif precision in ("bf16", "int8") and openvino_available:
            backend, why = OPENVINO, f"{precision} runs on OpenVINO"
        elif openvino_available:
            backend, why = OPENVINO, "CPU inference and OpenVINO is installed"
        else:
            backend, why = ONNXRUNTIME, "OpenVINO is not installed"
    else:
        why = "asked for"
    if backend == OPENVINO and not openvino_available:
        raise ConfigError(f"backend openvino: {OPENVINO_MISSING}")

    if backend == ONNXRUNTIME:
        if ir:
            raise ConfigError(
                f"{model_path} is an OpenVINO IR; ONNX Runtime needs the .onnx (or use --backend openvino)"
            )
        if precision in ("bf16", "int8"):
            raise ConfigError(
                f"precision {precision} runs on OpenVINO; ONNX Runtime runs fp32 (fp16 with TensorRT): "
                "use --backend openvino or auto"
            )
        prec = "fp32" if precision == "auto" else precision
        return BackendChoice(ONNXRUNTIME, prec, f"{why}; {prec}", model_path)

    # OpenVINO
    if precision == "auto":
        if is_int8_ir(model_path):
            return BackendChoice(OPENVINO, "int8", f"{why}; the model is int8", model_path)
        if bf16_native:
            return BackendChoice(
                OPENVINO, "bf16", f"{why}; bf16: the CPU has {', '.join(bf16_native)}", model_path
            )
        return BackendChoice(OPENVINO, "fp32", f"{why}; fp32: no native bf16 on this CPU", model_path)
    if precision == "int8":
        if is_int8_ir(model_path):
            return BackendChoice(OPENVINO, "int8", f"{why}; int8 model", model_path)
        sibling = int8_sibling(model_path)
        if is_int8_ir(sibling):
            return BackendChoice(OPENVINO, "int8", f"{why}; int8 model {sibling.name}", sibling)
        raise ModelError(
            f"precision int8 needs an int8 model: none at {sibling}; make it with "
            f"`vtrack export {model_path} --int8 --calib VIDEO_OR_DIR`"
        )
    if precision == "bf16" and not bf16_native:
        logger.warning(
            "bf16 asked for on a CPU without native bf16 (no %s): expect it slow", "/".join(BF16_FLAGS)
        )
    if precision == "fp16" and not set(FP16_FLAGS) & set(flags):
        logger.warning("fp16 asked for on a CPU without native fp16: OpenVINO runs fp32 instead")
    return BackendChoice(OPENVINO, precision, f"{why}; {precision} asked for", model_path)
