"""Tiny Ultralytics-like ONNX models, built in the tests with ``onnx.helper``.

Each model takes ``images`` and returns constant outputs (made to depend on the input so that
onnxruntime keeps it), with the metadata an Ultralytics export carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import supervision as sv
from onnx import TensorProto, helper, numpy_helper

NAMES = {0: "person", 1: "bicycle", 2: "car"}
NC = len(NAMES)
NM = 32
IMGSZ = 64
OPSET = 17
IR_VERSION = 8


def ultralytics_meta(
    task: str = "detect", *, names: dict[int, str] | None = None, imgsz: int = IMGSZ, end2end: bool = False
) -> dict[str, str]:
    """Metadata as Ultralytics writes it (every value a string; names a dict literal)."""
    return {
        "description": f"tiny test {task} model",
        "author": "Ultralytics",
        "version": "8.4.190",
        "license": "AGPL-3.0 License",
        "stride": "32",
        "task": task,
        "batch": "1",
        "imgsz": str([imgsz, imgsz]),
        "names": str(names if names is not None else NAMES),
        "end2end": str(end2end),
        "channels": "3",
    }


def raw_output(
    boxes_xywh: Sequence[Sequence[float]],
    scores: Sequence[Sequence[float]],
    coeffs: Sequence[Sequence[float]] | None = None,
    *,
    nc: int = NC,
    anchors: int = 21,
) -> np.ndarray:
    """A raw ``(1, 4 + nc [+ nm], anchors)`` output; anchors beyond the given boxes score 0."""
    nm = 0 if coeffs is None else NM
    out = np.zeros((1, 4 + nc + nm, anchors), dtype=np.float32)
    for a, (box, sc) in enumerate(zip(boxes_xywh, scores, strict=True)):
        out[0, :4, a] = box
        out[0, 4 : 4 + nc, a] = sc
        if coeffs is not None:
            out[0, 4 + nc :, a] = coeffs[a]
    return out


def e2e_output(rows: Sequence[Sequence[float]], *, nm: int = 0, k: int = 10) -> np.ndarray:
    """An end-to-end ``(1, k, 6 [+ nm])`` output; rows beyond the given ones are zero."""
    out = np.zeros((1, k, 6 + nm), dtype=np.float32)
    for i, row in enumerate(rows):
        out[0, i, : len(row)] = row
    return out


def half_split_protos(mh: int = 16, mw: int = 16) -> np.ndarray:
    """Prototypes ``(1, 32, mh, mw)``: channel 0 is +10 left, -10 right of the middle; channel 1 is +10."""
    protos = np.zeros((1, NM, mh, mw), dtype=np.float32)
    protos[0, 0, :, : mw // 2] = 10.0
    protos[0, 0, :, mw // 2 :] = -10.0
    protos[0, 1] = 10.0
    return protos


def coeff(channel: int, value: float = 1.0) -> list[float]:
    c = [0.0] * NM
    c[channel] = value
    return c


def _dims(shape: Sequence[int | str]) -> list[int | str]:
    return list(shape)


def build_model(
    path: Path,
    outputs: Sequence[np.ndarray],
    *,
    meta: dict[str, str] | None,
    input_shape: Sequence[int | str] = (1, 3, IMGSZ, IMGSZ),
    output_shapes: Sequence[Sequence[int | str]] | None = None,
    input_type: int = TensorProto.FLOAT,
) -> Path:
    """Write a model with input ``images`` returning ``outputs`` (``output0``, ``output1``...)."""
    nodes = []
    src = "images"
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["images"], ["images_f"], to=TensorProto.FLOAT))
        src = "images_f"
    nodes += [
        helper.make_node("ReduceMean", [src], ["mean"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.float32))),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    graph_outputs = []
    for i, arr in enumerate(outputs):
        const = f"const{i}"
        nodes.append(helper.make_node("Constant", [], [const], value=numpy_helper.from_array(arr, const)))
        nodes.append(helper.make_node("Add", [const, "nothing"], [f"output{i}"]))
        shape = _dims(output_shapes[i]) if output_shapes is not None else list(arr.shape)
        graph_outputs.append(helper.make_tensor_value_info(f"output{i}", TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        nodes,
        "tiny_yolo",
        [helper.make_tensor_value_info("images", input_type, _dims(input_shape))],
        graph_outputs,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    if meta:
        helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_mean_color_model(
    path: Path,
    *,
    batch: int | str = "batch",
    hw: tuple[int | str, int | str] = (IMGSZ, IMGSZ),
    anchors: int = 21,
    seed: int = 0,
    meta: dict[str, str] | None = None,
) -> Path:
    """A raw-output detector whose boxes and scores depend on each image's mean colour.

    ``output0 = sigmoid(mean_rgb(images) @ W + b) * scale``, shaped ``(B, 4 + NC, anchors)``: boxes
    (cx, cy in the 64x64 input, w, h up to 16) and class scores in (0, 1). Frames of different colours
    give different detections, so a batch mix-up shows. ``batch`` is the input's batch axis: a name for a
    dynamic axis, or 1.
    """
    rows = 4 + NC
    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, 4.0, (3, rows * anchors)).astype(np.float32)
    bias = rng.normal(-1.0, 1.0, (rows * anchors,)).astype(np.float32)
    scale = np.array([IMGSZ, IMGSZ, 16, 16] + [1] * NC, dtype=np.float32).reshape(1, rows, 1)
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[2, 3], keepdims=0),
        helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(weight, "w")),
        helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(bias, "b")),
        helper.make_node("MatMul", ["mean", "w"], ["lin0"]),
        helper.make_node("Add", ["lin0", "b"], ["lin"]),
        helper.make_node(
            "Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, rows, anchors], np.int64))
        ),
        helper.make_node("Reshape", ["lin", "shape"], ["lin3"]),
        helper.make_node("Sigmoid", ["lin3"], ["sig"]),
        helper.make_node("Constant", [], ["scale"], value=numpy_helper.from_array(scale, "scale")),
        helper.make_node("Mul", ["sig", "scale"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_mean_color_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, hw[0], hw[1]])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, rows, anchors])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    helper.set_model_props(model, meta if meta is not None else ultralytics_meta())
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def colour_frames(n: int, shape: tuple[int, int] = (128, 256)) -> list[np.ndarray]:
    """``n`` BGR uint8 frames ``(h, w, 3)``, each of its own colour with a gradient."""
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(n):
        base = rng.integers(0, 256, 3, dtype=np.uint8)
        frame = np.empty((*shape, 3), dtype=np.uint8)
        frame[:] = base
        frame[:, : shape[1] // 2] //= 2
        frames.append(frame)
    return frames


def assert_same_detections(a: sv.Detections, b: sv.Detections) -> None:
    assert len(a) == len(b)
    assert a.confidence is not None and b.confidence is not None
    np.testing.assert_allclose(a.xyxy, b.xyxy, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(a.confidence, b.confidence, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.class_id, b.class_id)
