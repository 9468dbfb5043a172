"""Open a sub-class stage from a ``.vtc`` file (what ``--subclasses FILE`` does)."""

from __future__ import annotations

from pathlib import Path

from vtrack.errors import ConfigError
from vtrack.subclasses.embedder import CropEmbedder, resolve_embedder
from vtrack.subclasses.model import SubclassModel
from vtrack.subclasses.stage import SubclassStage


def open_stage(
    vtc: str | Path,
    *,
    embedder: str | Path | None = None,
    detector_classes: set[str] | None = None,
    kept_classes: list[str] | None = None,
    **stage_kwargs: object,
) -> SubclassStage:
    """Load a ``.vtc`` file and its embedder into a :class:`SubclassStage`.

    Args:
        vtc: the ``.vtc`` file.
        embedder: the embedder ``.onnx`` (default: :func:`vtrack.subclasses.embedder.default_embedder_path`).
        detector_classes: every class the detector can give (checks the parent class).
        kept_classes: the run's class filter (``--classes``), parents or ``parent:label`` names; the
            parent must be among them when given.
        **stage_kwargs: passed to :class:`SubclassStage`.

    Raises:
        ConfigError: bad file, another embedder, a parent class the run does not detect.
        ModelError: the embedder is missing or not an embedder.
    """
    model = SubclassModel.load(vtc)
    emb = CropEmbedder(resolve_embedder(embedder))
    model.check_compatible(embedder_sha256=emb.sha256, classes=detector_classes, source=str(vtc))
    if kept_classes is not None:
        parents = {c.split(":", 1)[0] for c in kept_classes}
        if model.parent not in parents:
            raise ConfigError(
                f"{vtc} refines class {model.parent!r}, which --classes {','.join(kept_classes)} leaves out"
            )
    return SubclassStage(model, emb, source=str(vtc), **stage_kwargs)  # type: ignore[arg-type]
