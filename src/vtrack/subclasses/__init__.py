"""Sub-classes learned from a few examples: ``person`` → ``person:cyclist`` / ``person:pedestrian``.

* :mod:`.embedder`: crops → EfficientNet-Lite0 embeddings in their own ONNX Runtime session.
* :mod:`.quality`: how good a crop is (sharp, large, not cut by the frame).
* :mod:`.model`: the ``.vtc`` file and the k-NN vote.
* :mod:`.learn`: a folder of labelled crops → a model (``vtrack learn``).
* :mod:`.crops`: the best crops of each track (``vtrack crops``).
* :mod:`.stage`: the per-track labeller run between tracking and counting (``--subclasses``).
"""

from __future__ import annotations

from vtrack.subclasses.embedder import CropEmbedder
from vtrack.subclasses.model import UNKNOWN, SubclassModel, Vote
from vtrack.subclasses.stage import PARENT_KEY, SubclassStage, sublabel

__all__ = ["PARENT_KEY", "UNKNOWN", "CropEmbedder", "SubclassModel", "SubclassStage", "Vote", "sublabel"]
