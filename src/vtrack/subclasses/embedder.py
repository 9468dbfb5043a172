"""Image embeddings of object crops: EfficientNet-Lite0 (ImageNet) in its own ONNX Runtime session.

The model is ``efficientnet_lite0.onnx`` (see ``vtrack export-embedder`` and docs/subclasses.md): input
``images`` ``(N, 3, 224, 224)`` float32 RGB normalised as ``(pixel - 127) / 128``, output ``features``
``(N, 1280)`` (pooled, before the classifier). Crops are taken around the box with some context (a
cyclist's bicycle sticks out of the person box), letterboxed to a square with grey (zero after
normalisation) so their aspect ratio is kept, and embedded in batches. Embeddings are L2-normalised.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from vtrack.detectors.onnx_yolo import open_session
from vtrack.errors import ModelError

logger = logging.getLogger(__name__)

EMBED_SIZE = 224
"""Side of the square embedder input, pixels."""
EMBED_DIM = 1280
"""Length of one embedding."""
INPUT_NAME = "images"
OUTPUT_NAME = "features"
PIXEL_MEAN = 127.0
PIXEL_SCALE = 128.0
DEFAULT_CONTEXT = 0.15
"""Fraction of the box width/height added on each side of a crop (context around the object)."""
DEFAULT_BATCH = 8
"""Crops per ONNX Runtime call."""
DEFAULT_MODEL_NAME = "efficientnet_lite0.onnx"


EMBEDDER_ENV = "VTRACK_EMBEDDER"
"""Environment variable naming the embedder file (read when called)."""


def default_embedder_path() -> Path:
    """``$VTRACK_EMBEDDER``, else ``efficientnet_lite0.onnx`` in vtrack's cache folder (``$VTRACK_CACHE``,
    default ``~/.cache/vtrack``), where ``vtrack export-embedder`` writes it."""
    import os

    from vtrack.detectors.export import default_cache_dir

    env = os.environ.get(EMBEDDER_ENV)
    return Path(env).expanduser() if env else default_cache_dir() / DEFAULT_MODEL_NAME


def resolve_embedder(path: str | Path | None) -> Path:
    """The embedder file to use: ``path`` or the default (see :func:`default_embedder_path`).

    Raises:
        ModelError: the file does not exist (the message says how to make it).
    """
    p = Path(path).expanduser() if path is not None else default_embedder_path()
    if not p.is_file():
        raise ModelError(
            f"embedder not found: {p}: run `vtrack export-embedder` (export extra) or pass --embedder PATH "
            f"(set {EMBEDDER_ENV} to change the default)"
        )
    return p


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def context_box(
    xyxy: np.ndarray, width: int, height: int, context: float = DEFAULT_CONTEXT
) -> tuple[int, int, int, int]:
    """The crop rectangle of one box: the box grown by ``context`` of its size per side, clipped.

    Args:
        xyxy: ``(4,)`` float box ``x1, y1, x2, y2`` in pixels.
        width: frame width in pixels.
        height: frame height in pixels.
        context: fraction of the box's width (height) added left and right (top and bottom).

    Returns:
        Integer ``(x1, y1, x2, y2)`` inside the frame, with ``x2 > x1`` and ``y2 > y1`` when the box
        overlaps the frame (else an empty rectangle).
    """
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    dx, dy = (x2 - x1) * context, (y2 - y1) * context
    a = max(0, int(np.floor(x1 - dx)))
    b = max(0, int(np.floor(y1 - dy)))
    c = min(width, int(np.ceil(x2 + dx)))
    d = min(height, int(np.ceil(y2 + dy)))
    return a, b, max(a, c), max(b, d)


def crop(image: np.ndarray, xyxy: np.ndarray, context: float = DEFAULT_CONTEXT) -> np.ndarray:
    """The crop of one box with context (see :func:`context_box`).

    Args:
        image: BGR frame ``(H, W, 3)`` uint8.
        xyxy: ``(4,)`` box in pixels.
        context: see :func:`context_box`.

    Returns:
        A view ``(h, w, 3)`` uint8 of ``image`` (``h`` or ``w`` may be 0 for a box outside the frame).
    """
    a, b, c, d = context_box(xyxy, image.shape[1], image.shape[0], context)
    return image[b:d, a:c]


def to_input(crop_bgr: np.ndarray, out: np.ndarray) -> None:
    """Write one crop into one row of the embedder input.

    Args:
        crop_bgr: ``(h, w, 3)`` uint8 BGR crop, ``h, w >= 1``.
        out: ``(3, 224, 224)`` float32 row to fill: RGB, letterboxed (centred, grey borders = 0),
            ``(pixel - 127) / 128``.
    """
    h, w = crop_bgr.shape[:2]
    scale = EMBED_SIZE / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(crop_bgr, (nw, nh), interpolation=interp)
    top, left = (EMBED_SIZE - nh) // 2, (EMBED_SIZE - nw) // 2
    out[:] = 0.0
    rgb = resized[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    out[:, top : top + nh, left : left + nw] = (rgb - PIXEL_MEAN) / PIXEL_SCALE


class CropEmbedder:
    """Embeds image crops with EfficientNet-Lite0 in its own ONNX Runtime session.

    Args:
        model_path: the embedder ``.onnx`` (input ``images`` ``(N, 3, 224, 224)``, output ``features``
            ``(N, 1280)``).
        batch: crops per ONNX Runtime call (``>= 1``).
        intra_op_threads: ONNX Runtime threads (``None``: its default; 1 keeps the detector's cores free).
        providers: ONNX Runtime execution providers (default: the best available).

    Attributes:
        sha256: hex SHA-256 of the model file (stored in ``.vtc`` files to refuse another embedder).
        path: the model file.
        calls: number of ONNX Runtime calls made.
        crops: number of crops embedded.

    Raises:
        ModelError: the file is missing or not an embedder of this shape (e.g. a YOLO detector).
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        batch: int = DEFAULT_BATCH,
        intra_op_threads: int | None = 1,
        providers: list[str] | None = None,
    ) -> None:
        if batch < 1:
            raise ModelError(f"embedder batch must be >= 1, got {batch}")
        self.path = Path(model_path)
        self._session = open_session(self.path, providers=providers, intra_op_threads=intra_op_threads)
        check_embedder(self._session, self.path)
        self.sha256 = file_sha256(self.path)
        self.batch = int(batch)
        self._buf = np.zeros((self.batch, 3, EMBED_SIZE, EMBED_SIZE), dtype=np.float32)
        self.calls = 0
        self.crops = 0

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """L2-normalised embeddings of crops.

        Args:
            crops: BGR uint8 images ``(h, w, 3)`` of any size, ``h, w >= 1``.

        Returns:
            ``(len(crops), 1280)`` float32, each row of unit length.
        """
        out = np.empty((len(crops), EMBED_DIM), dtype=np.float32)
        for start in range(0, len(crops), self.batch):
            chunk = crops[start : start + self.batch]
            for i, c in enumerate(chunk):
                to_input(c, self._buf[i])
            feats = self._session.run([OUTPUT_NAME], {INPUT_NAME: self._buf[: len(chunk)]})[0]
            out[start : start + len(chunk)] = feats
            self.calls += 1
        self.crops += len(crops)
        return normalize(out)


COLOUR_DIMS = 6
"""Length of :func:`colour_features`: mean and standard deviation of L, a, b."""
_COLOUR_CENTRE = (0.35, 0.65)
"""Part of a crop (per side) the colour is read from: inside the object's box, away from the context
margin and the box edges, where the background shows."""


def colour_features(crops: list[np.ndarray]) -> np.ndarray:
    """What colour each crop's object is: mean and standard deviation of CIE L*a*b* over its centre.

    Args:
        crops: BGR uint8 images ``(h, w, 3)``, ``h, w >= 1``.

    Returns:
        ``(len(crops), COLOUR_DIMS)`` float32, each value divided by 128 (about unit scale).
    """
    out = np.zeros((len(crops), COLOUR_DIMS), dtype=np.float32)
    lo, hi = _COLOUR_CENTRE
    for i, c in enumerate(crops):
        h, w = c.shape[:2]
        y0, x0 = int(h * lo), int(w * lo)
        centre = c[y0 : max(int(h * hi), y0 + 1), x0 : max(int(w * hi), x0 + 1)]
        lab = cv2.cvtColor(np.ascontiguousarray(centre), cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
        out[i, :3], out[i, 3:] = lab.mean(axis=0), lab.std(axis=0)
    return out / 128.0


def describe(embedder: CropEmbedder, crops: list[np.ndarray], colour_weight: float = 0.0) -> np.ndarray:
    """The vectors the k-NN compares: the embeddings, with the colour appended when asked.

    The ImageNet embedder hardly sees colour (a car's neighbours are cars of the same view, whatever
    their paint: docs/subclasses.md); ``colour_weight > 0`` appends :func:`colour_features` times that
    weight and re-normalises, so labels that differ by colour can be taught too.

    Args:
        embedder: the crop embedder.
        crops: BGR uint8 images ``(h, w, 3)``, ``h, w >= 1``.
        colour_weight: weight of the colour part (``0``: embeddings only).

    Returns:
        ``(len(crops), 1280)`` float32 (``1280 + COLOUR_DIMS`` with colour), unit rows.
    """
    emb = embedder.embed(crops)
    if colour_weight <= 0:
        return emb
    return normalize(np.concatenate([emb, colour_weight * colour_features(crops)], axis=1))


def normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 length (zero rows stay zero); ``(N, D)`` float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def check_embedder(session: ort.InferenceSession, path: Path) -> None:
    """Refuse a model that is not an image embedder of the expected shape.

    Raises:
        ModelError: no ``images`` input ``(N, 3, 224, 224)`` or no ``features`` output ``(N, 1280)``.
    """
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    want = (
        f"input {INPUT_NAME!r} (N, 3, {EMBED_SIZE}, {EMBED_SIZE}) and output {OUTPUT_NAME!r} (N, {EMBED_DIM})"
    )
    got = f"inputs {inputs}, outputs {outputs}"
    shape_in = inputs.get(INPUT_NAME)
    shape_out = outputs.get(OUTPUT_NAME)
    if (
        shape_in is None
        or shape_out is None
        or list(shape_in[1:]) != [3, EMBED_SIZE, EMBED_SIZE]
        or len(shape_out) != 2
        or shape_out[1] != EMBED_DIM
    ):
        raise ModelError(f"{path} is not an EfficientNet-Lite0 embedder: expected {want}, got {got}")
