"""Turn Ultralytics ``.pt`` checkpoints (or official model names) into ONNX files the detector loads.

Ultralytics (the ``export`` extra) is imported only inside these functions; the runtime needs only
onnxruntime.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vtrack.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

EXPORT_EXTRA_MISSING = "the 'export' extra is not installed: pip install 'vtrack[export]'"
CACHE_ENV = "VTRACK_CACHE"
OFFICIAL_NAME = re.compile(r"^yolo(?:v\d+|\d+)[nsmlx](?:-seg)?$")
"""Official Ultralytics detect/segment model names, e.g. ``yolo11n``, ``yolov8s-seg``, ``yolo26n``."""


def _import_ultralytics() -> Any:
    try:
        import ultralytics
    except ImportError as e:
        raise ModelError(EXPORT_EXTRA_MISSING) from e
    return ultralytics


def default_cache_dir() -> Path:
    """``$VTRACK_CACHE`` or ``~/.cache/vtrack`` (read when called, not at import)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vtrack"


def export_model(
    pt_path: str | Path,
    *,
    imgsz: int = 640,
    half: bool = False,
    dynamic: bool = False,
    nms: bool = False,
    out_dir: str | Path | None = None,
    filename: str | None = None,
) -> Path:
    """Export an Ultralytics checkpoint to ONNX with Ultralytics' exporter.

    The export runs on a private copy of the checkpoint in a temporary folder, so an ``.onnx`` already
    beside the ``.pt`` is never overwritten by accident, and the result appears atomically.

    Args:
        pt_path: The ``.pt`` checkpoint (detect or segment).
        imgsz: Square input size, a multiple of 32.
        half: FP16 weights (Ultralytics only honours this on a GPU).
        dynamic: Dynamic input height/width (and batch).
        nms: Put NMS inside the model (end-to-end output ``(1, 300, 6[+32])``).
        out_dir: Folder of the result; default the checkpoint's folder.
        filename: Name of the result; default ``<checkpoint stem>.onnx``.

    Returns:
        Path of the written ``.onnx``.

    Raises:
        ModelError: Ultralytics is missing, the checkpoint is missing or the export fails.
        ConfigError: ``imgsz`` is not a positive multiple of 32.
    """
    pt = Path(pt_path)
    if not pt.is_file():
        raise ModelError(f"checkpoint not found: {pt}")
    if imgsz <= 0 or imgsz % 32:
        raise ConfigError(f"imgsz must be a positive multiple of 32, got {imgsz}")
    ultralytics = _import_ultralytics()
    dest_dir = Path(out_dir) if out_dir is not None else pt.parent
    dest = dest_dir / (filename or f"{pt.stem}.onnx")
    logger.info("exporting %s to ONNX (imgsz=%d, half=%s, dynamic=%s, nms=%s)", pt, imgsz, half, dynamic, nms)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        tmp_dir = tempfile.TemporaryDirectory(prefix="vtrack-export-", dir=dest_dir)
    except OSError as e:
        raise ModelError(f"cannot write the export to {dest_dir}: {e}") from e
    with tmp_dir as tmp:
        work = Path(tmp) / pt.name
        shutil.copy2(pt, work)
        try:
            model = ultralytics.YOLO(str(work))
            produced = model.export(format="onnx", imgsz=imgsz, half=half, dynamic=dynamic, nms=nms)
        except Exception as e:  # Ultralytics raises many kinds (AssertionError, RuntimeError, ...)
            raise ModelError(f"export of {pt} to ONNX failed: {' '.join(str(e).split())[:200]}") from e
        produced_path = Path(str(produced))
        if not produced_path.is_file():
            raise ModelError(f"export of {pt} to ONNX produced no file (Ultralytics returned {produced!r})")
        os.replace(produced_path, dest)
    logger.info("exported %s", dest)
    return dest


def _cached_export_path(pt: Path, imgsz: int, cache_dir: Path | None) -> Path:
    name = f"{pt.stem}-{imgsz}.onnx"
    beside = pt.parent / name
    if cache_dir is None and os.access(pt.parent, os.W_OK):
        return beside
    return (cache_dir or default_cache_dir()) / name


def _fresh(onnx_path: Path, pt: Path) -> bool:
    return (
        onnx_path.is_file()
        and onnx_path.stat().st_size > 0
        and onnx_path.stat().st_mtime >= pt.stat().st_mtime
    )


def _fetch_official(name: str, dest_dir: Path) -> Path:
    _import_ultralytics()
    from ultralytics.utils import is_online
    from ultralytics.utils.downloads import attempt_download_asset

    pt = dest_dir / f"{name}.pt"
    if pt.is_file():
        return pt
    if not is_online():
        raise ModelError(
            f"model '{name}' is not here and there is no network to fetch it; give a local .pt or .onnx path"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    logger.info("fetching official weights %s into %s", name, dest_dir)
    try:
        attempt_download_asset(str(pt))
    except Exception as e:  # network and HTTP errors of various kinds
        raise ModelError(f"could not fetch model '{name}': {' '.join(str(e).split())[:200]}") from e
    if not pt.is_file():
        raise ModelError(f"could not fetch model '{name}': no such official Ultralytics model?")
    return pt


def resolve_model(spec: str | Path, *, imgsz: int = 640, cache_dir: Path | None = None) -> Path:
    """Turn a model reference into an ONNX file path.

    * ``path/to/model.onnx``, ``path/to/model-int8.xml`` (OpenVINO IR of ``vtrack export --int8``): returned
      as is.
    * ``path/to/model.pt``: exported once to ``<stem>-<imgsz>.onnx`` beside it (or in the cache folder
      when that folder is not writable, or when ``cache_dir`` is given) and reused while it is newer
      than the checkpoint.
    * an official name (``yolo11n``, ``yolov8n-seg``, ``yolo26n.pt``): weights fetched by Ultralytics into
      the cache folder when a network exists, then exported as above.

    Args:
        spec: Path or official name.
        imgsz: Export size for checkpoints.
        cache_dir: Cache folder; default ``$VTRACK_CACHE`` or ``~/.cache/vtrack``.

    Returns:
        Path of an existing ``.onnx`` file.

    Raises:
        ModelError: Missing file, unknown name, no network for a name, or a failed export.
    """
    text = str(spec).strip()
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if suffix in (".onnx", ".xml"):
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        if suffix == ".xml" and not path.with_suffix(".bin").is_file():
            raise ModelError(f"OpenVINO IR {path} has no weights file {path.stem}.bin beside it")
        return path
    if suffix not in ("", ".pt"):
        raise ModelError(
            f"unsupported model file {path}: expected a .onnx, .pt or OpenVINO .xml file, or a name like "
            "'yolo11n'"
        )
    if suffix == ".pt" and path.is_file():
        pt = path
    elif path.parent == Path(".") and OFFICIAL_NAME.match(path.stem):
        pt = _fetch_official(path.stem, (cache_dir or default_cache_dir()) / "weights")
    elif suffix == ".pt":
        raise ModelError(f"checkpoint not found: {path}")
    else:
        raise ModelError(
            f"unknown model {text!r}: expected a .onnx or .pt path or an official name like 'yolo11n' or "
            "'yolov8n-seg'"
        )
    target = _cached_export_path(pt, imgsz, cache_dir)
    if _fresh(target, pt):
        logger.info("using cached export %s", target)
        return target
    return export_model(pt, imgsz=imgsz, out_dir=target.parent, filename=target.name)
