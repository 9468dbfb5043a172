"""choose_backend: which runtime and precision, from facts passed in (every branch on any machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrack.detectors.backend import choose_backend, cpu_flags, int8_sibling, is_int8_ir
from vtrack.errors import ConfigError, ModelError

CPU_ONLY = ("CPUExecutionProvider",)
WITH_CUDA = ("CUDAExecutionProvider", "CPUExecutionProvider")
BF16 = {"avx512f", "avx512_bf16"}
AMX = {"amx_tile", "amx_bf16"}
PLAIN = {"avx2", "fma"}
ONNX = Path("m.onnx")


@pytest.mark.parametrize(
    ("backend", "precision", "providers", "available", "ov", "flags", "want"),
    [
        # auto on a CPU: OpenVINO when installed, bf16 where native, else fp32
        ("auto", "auto", None, CPU_ONLY, True, BF16, ("openvino", "bf16")),
        ("auto", "auto", None, CPU_ONLY, True, AMX, ("openvino", "bf16")),
        ("auto", "auto", None, CPU_ONLY, True, PLAIN, ("openvino", "fp32")),
        ("auto", "auto", None, CPU_ONLY, False, BF16, ("onnxruntime", "fp32")),
        # a GPU or configured providers keep ONNX Runtime
        ("auto", "auto", None, WITH_CUDA, True, BF16, ("onnxruntime", "fp32")),
        ("auto", "auto", ["CUDAExecutionProvider"], WITH_CUDA, True, BF16, ("onnxruntime", "fp32")),
        ("auto", "fp16", ["TensorrtExecutionProvider"], WITH_CUDA, True, BF16, ("onnxruntime", "fp16")),
        # explicit CPU provider list still lets auto pick OpenVINO
        ("auto", "auto", ["CPUExecutionProvider"], CPU_ONLY, True, BF16, ("openvino", "bf16")),
        # forced choices
        ("onnxruntime", "auto", None, CPU_ONLY, True, BF16, ("onnxruntime", "fp32")),
        ("openvino", "fp32", None, CPU_ONLY, True, BF16, ("openvino", "fp32")),
        ("openvino", "bf16", None, CPU_ONLY, True, PLAIN, ("openvino", "bf16")),  # warned, still run
        ("auto", "bf16", None, WITH_CUDA, True, BF16, ("onnxruntime", "error")),
    ],
)
def test_choose_backend_table(backend, precision, providers, available, ov, flags, want) -> None:
    args = dict(model_path=ONNX, providers=providers, available_providers=available, openvino_available=ov,
                flags=flags)
    if want[1] == "error":
        with pytest.raises(ConfigError, match="bf16 runs on OpenVINO"):
            choose_backend(backend, precision, **args)
        return
    choice = choose_backend(backend, precision, **args)
    assert (choice.backend, choice.precision) == want
    assert choice.reason and "\n" not in choice.reason
    assert choice.model_path == ONNX


@pytest.mark.parametrize(
    ("backend", "precision", "ov", "error", "match"),
    [
        ("openvino", "auto", False, ConfigError, "OpenVINO is not installed"),
        ("onnxruntime", "bf16", True, ConfigError, "bf16 runs on OpenVINO"),
        ("onnxruntime", "int8", True, ConfigError, "int8 runs on OpenVINO"),
        ("tensorflow", "auto", True, ConfigError, "backend must be one of"),
        ("auto", "int4", True, ConfigError, "precision must be one of"),
        ("openvino", "int8", True, ModelError, "vtrack export .* --int8 --calib"),
    ],
)
def test_choose_backend_refuses(backend, precision, ov, error, match) -> None:
    with pytest.raises(error, match=match):
        choose_backend(backend, precision, model_path=ONNX, providers=None, available_providers=CPU_ONLY,
                       openvino_available=ov, flags=BF16)


def _fake_int8(path: Path) -> Path:
    path.write_text('<net><layers><layer type="FakeQuantize"/></layers></net>')
    path.with_suffix(".bin").write_bytes(b"\0")
    return path


def test_int8_finds_the_exported_sibling_and_auto_runs_an_int8_ir(tmp_path: Path) -> None:
    onnx = tmp_path / "yolo.onnx"
    onnx.write_bytes(b"x")
    ir = _fake_int8(int8_sibling(onnx))
    assert ir.name == "yolo-int8.xml"
    kw = dict(providers=None, available_providers=CPU_ONLY, openvino_available=True, flags=PLAIN)
    chosen = choose_backend("auto", "int8", model_path=onnx, **kw)
    assert (chosen.backend, chosen.precision, chosen.model_path) == ("openvino", "int8", ir)
    direct = choose_backend("auto", "auto", model_path=ir, **kw)
    assert (direct.backend, direct.precision) == ("openvino", "int8")
    with pytest.raises(ConfigError, match="OpenVINO IR"):
        choose_backend("onnxruntime", "auto", model_path=ir, **kw)


def test_is_int8_ir(tmp_path: Path) -> None:
    assert is_int8_ir(_fake_int8(tmp_path / "a.xml"))
    plain = tmp_path / "b.xml"
    plain.write_text('<net><layers><layer type="Convolution"/></layers></net>')
    assert not is_int8_ir(plain)
    assert not is_int8_ir(tmp_path / "missing.xml")
    assert not is_int8_ir(tmp_path / "a.onnx")


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("processor\t: 0\nflags\t\t: fpu avx512_bf16 amx_bf16\n\nprocessor\t: 1\nflags\t: fpu\n",
         {"fpu", "avx512_bf16", "amx_bf16"}),
        ("processor\t: 0\nFeatures\t: fp asimd bf16\n", {"fp", "asimd", "bf16"}),  # aarch64
        ("nothing here\n", set()),
    ],
)
def test_cpu_flags(tmp_path: Path, text: str, want: set[str]) -> None:
    f = tmp_path / "cpuinfo"
    f.write_text(text)
    assert cpu_flags(f) == want


def test_cpu_flags_without_the_file(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "none") == frozenset()


def test_choice_as_dict_is_json_ready() -> None:
    choice = choose_backend("auto", "auto", model_path=ONNX, providers=None, available_providers=CPU_ONLY,
                            openvino_available=True, flags=BF16)
    d = choice.as_dict()
    assert d["backend"] == "openvino" and d["precision"] == "bf16" and d["model"] == "m.onnx"
    assert "avx512_bf16" in d["reason"]
