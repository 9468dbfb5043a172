"""int8 post-training quantization (NNCF) of an Ultralytics ONNX export, calibrated on the user's own footage.

``vtrack export MODEL.onnx --int8 --calib VIDEO_OR_DIR`` reads frames spread over the source, quantizes the
model with NNCF on most of them (the head's box arithmetic — the DFL and the anchor/stride decode — kept in
float), then measures the agreement of the int8 model with fp32 on the held-out rest and writes the
OpenVINO IR ``MODEL-int8.xml`` (+ ``.bin``) only when the agreement reaches the threshold (or when forced).
NNCF (the ``int8`` extra) is imported only here.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv

from vtrack.detectors.backend import int8_sibling
from vtrack.detectors.openvino_yolo import YoloOpenVinoDetector, _import_openvino
from vtrack.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

INT8_EXTRA_MISSING = "int8 quantization needs NNCF: pip install 'vtrack[int8]'"
DEFAULT_CALIB_FRAMES = 120
DEFAULT_HELDOUT_FRAMES = 40
DEFAULT_MIN_AGREEMENT = 0.90
"""Least recall and precision of the int8 model's boxes against fp32's on held-out frames (measured on the
bike clip with 120 calibration frames: about 0.95)."""
MATCH_IOU = 0.5
"""Two boxes of the same class agree at IoU >= this."""


@dataclass(frozen=True)
class Agreement:
    """How well detections agree with reference detections (boxes matched by class at IoU >= 0.5).

    Attributes:
        recall: Share of the reference boxes matched (1.0 when there are none).
        precision: Share of the other boxes matched (1.0 when there are none).
        reference: Reference boxes in all.
        other: Other boxes in all.
        frames: Frames compared.
    """

    recall: float
    precision: float
    reference: int
    other: int
    frames: int

    @property
    def score(self) -> float:
        """The lower of recall and precision."""
        return min(self.recall, self.precision)


def _matches(a: sv.Detections, b: sv.Detections, iou: float) -> int:
    """Greedy one-to-one matches of same-class boxes, best IoU first."""
    if len(a) == 0 or len(b) == 0:
        return 0
    ious = sv.box_iou_batch(a.xyxy, b.xyxy)
    ious[np.asarray(a.class_id)[:, None] != np.asarray(b.class_id)[None, :]] = 0.0
    matched = 0
    while True:
        i, j = np.unravel_index(int(np.argmax(ious)), ious.shape)
        if ious[i, j] < iou:
            return matched
        matched += 1
        ious[i, :] = 0.0
        ious[:, j] = 0.0


def agreement(
    reference: Sequence[sv.Detections], other: Sequence[sv.Detections], *, iou: float = MATCH_IOU
) -> Agreement:
    """Agreement of ``other`` with ``reference``, frame by frame (see :class:`Agreement`).

    Args:
        reference: Detections per frame, e.g. of the fp32 model.
        other: Detections of the same frames, e.g. of the int8 model.
        iou: Match threshold.

    Raises:
        ValueError: The two sequences differ in length.
    """
    if len(reference) != len(other):
        raise ValueError(f"agreement needs the same frames: {len(reference)} vs {len(other)}")
    matched = sum(_matches(r, o, iou) for r, o in zip(reference, other, strict=True))
    n_ref = sum(len(r) for r in reference)
    n_other = sum(len(o) for o in other)
    return Agreement(
        recall=matched / n_ref if n_ref else 1.0,
        precision=matched / n_other if n_other else 1.0,
        reference=n_ref,
        other=n_other,
        frames=len(reference),
    )


def sample_frames(source: str | Path, count: int) -> list[np.ndarray]:
    """About ``count`` frames spread evenly over a video file or image folder.

    Raises:
        SourceError: The source cannot be read.
        ModelError: It holds no frame.
    """
    from vtrack.stream.sources import open_source

    probe = open_source(source)
    total = probe.frame_count
    probe.close()
    stride = max(1, (total or count) // count)
    src = open_source(source, stride=stride)
    frames: list[np.ndarray] = []
    try:
        for frame in src:
            frames.append(frame.image)
            if len(frames) >= count:
                break
    finally:
        src.close()
    if not frames:
        raise ModelError(f"no frame could be read from {source} for calibration")
    return frames


def split_heldout(
    frames: Sequence[np.ndarray], heldout: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(held out, calibration)``: ``heldout`` frames spread evenly (at most half of them), and the rest.

    Both sets then cover the whole source.
    """
    n = min(heldout, len(frames) // 2)
    picks = set(np.linspace(0, len(frames) - 1, n).round().astype(int).tolist()) if n else set()
    return (
        [f for i, f in enumerate(frames) if i in picks],
        [f for i, f in enumerate(frames) if i not in picks],
    )


def head_box_scope(model: Any) -> list[str]:
    """Operations of a YOLO head's box decode: the DFL and the anchor/stride arithmetic after it.

    Ultralytics' ``Detect``/``Segment`` head names them ``/model.N/dfl/...`` and ``/model.N/Sub``,
    ``/model.N/Add_1``, ``/model.N/Div_1``, ``/model.N/Mul_2``... (directly under the head, unlike the
    convolution branches ``/model.N/cv2.0/...``). Quantizing them would round box coordinates to a few pixels.

    Args:
        model: An ``openvino.Model``.

    Returns:
        Their names (empty when the model has no DFL: the whole model is then quantized).
    """
    ops = [(op.get_friendly_name(), op.get_type_name()) for op in model.get_ordered_ops()]
    dfl = [name for name, _ in ops if "/dfl/" in name]
    if not dfl:
        return []
    head = dfl[0].split("/dfl/")[0] + "/"
    skip = {"Constant", "Parameter", "Result"}
    return [
        name
        for name, kind in ops
        if kind not in skip and name.startswith(head) and ("/dfl/" in name or "/" not in name[len(head) :])
    ]


def quantize_int8(
    model_path: str | Path,
    calib: str | Path,
    *,
    calib_frames: int = DEFAULT_CALIB_FRAMES,
    heldout_frames: int = DEFAULT_HELDOUT_FRAMES,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    force: bool = False,
    out: str | Path | None = None,
) -> tuple[Path, Agreement]:
    """Quantize an Ultralytics ONNX export to int8 on frames of ``calib`` and write an OpenVINO IR.

    Args:
        model_path: The fp32 ``.onnx``.
        calib: A video file or image folder from the camera the model will watch.
        calib_frames: Frames NNCF calibrates on (>= 1).
        heldout_frames: Other frames of the same source on which int8 is compared with fp32 (>= 1).
        min_agreement: Least recall and precision against fp32 (see :class:`Agreement`) to write the model.
        force: Write it whatever the agreement.
        out: The ``.xml`` to write; default ``<stem>-int8.xml`` beside the model (where ``precision: int8``
            looks for it).

    Returns:
        ``(path of the .xml, agreement with fp32 on the held-out frames)``.

    Raises:
        ModelError: NNCF missing, the model unreadable, quantization failed, or the agreement below
            ``min_agreement`` without ``force`` (nothing is written then).
        ConfigError: Bad counts or threshold.
        SourceError: ``calib`` cannot be read.
    """
    if calib_frames < 1 or heldout_frames < 1:
        raise ConfigError(
            f"calibration and held-out frames must be >= 1, got {calib_frames}, {heldout_frames}"
        )
    if not 0.0 <= min_agreement <= 1.0:
        raise ConfigError(f"min agreement must be in [0, 1], got {min_agreement}")
    try:
        import nncf
    except ImportError as e:
        raise ModelError(INT8_EXTRA_MISSING) from e
    ov = _import_openvino()
    src = Path(model_path)
    if src.suffix.lower() != ".onnx":
        raise ModelError(f"int8 quantization takes the fp32 .onnx export, got {src}")
    dest = Path(out) if out is not None else int8_sibling(src)
    if dest.suffix.lower() != ".xml":
        raise ConfigError(f"the int8 model is an OpenVINO IR: give a .xml path, got {dest}")

    fp32 = YoloOpenVinoDetector(src, precision="fp32")
    frames = sample_frames(calib, calib_frames + heldout_frames)
    if len(frames) < 2:
        raise ModelError(
            f"{calib} has {len(frames)} frame(s); quantization needs some to calibrate and some held out"
        )
    heldout, calibration = split_heldout(frames, heldout_frames)
    tensors = [fp32.preprocess(f)[0].copy() for f in calibration]
    logger.info(
        "quantizing %s on %d frames of %s (%d held out)", src.name, len(tensors), calib, len(heldout)
    )
    model = ov.Core().read_model(str(src))
    scope = head_box_scope(model)
    if not scope:
        logger.warning("%s: no DFL box decode found; every operation is quantized", src.name)
    try:
        quantized = nncf.quantize(
            model,
            nncf.Dataset(tensors),
            preset=nncf.QuantizationPreset.MIXED,
            subset_size=len(tensors),
            ignored_scope=nncf.IgnoredScope(names=scope, validate=False),
        )
    except Exception as e:  # NNCF raises many kinds
        raise ModelError(f"int8 quantization of {src} failed: {' '.join(str(e).split())[:200]}") from e

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vtrack-int8-", dir=dest.parent) as tmp:
        tmp_xml = Path(tmp) / dest.name
        ov.save_model(quantized, str(tmp_xml), compress_to_fp16=False)
        int8 = YoloOpenVinoDetector(tmp_xml, precision="int8")
        score = agreement([fp32(f) for f in heldout], [int8(f) for f in heldout])
        logger.info(
            "int8 vs fp32 on %d held-out frames: recall %.3f, precision %.3f (%d vs %d boxes)",
            score.frames, score.recall, score.precision, score.reference, score.other,
        )
        if score.score < min_agreement and not force:
            raise ModelError(
                f"int8 model agrees too little with fp32 on {score.frames} held-out frames of {calib}: "
                f"recall {score.recall:.3f}, precision {score.precision:.3f} (< {min_agreement}); "
                "not written (more --calib-frames or a source closer to the scene may help; "
                "--force writes it anyway)"
            )
        os.replace(tmp_xml, dest)
        os.replace(tmp_xml.with_suffix(".bin"), dest.with_suffix(".bin"))
    logger.info("wrote %s", dest)
    return dest, score
