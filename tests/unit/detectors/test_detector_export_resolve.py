"""resolve_model / export_model without Ultralytics: path handling, caching, clear errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vtrack.detectors import export as export_mod
from vtrack.detectors.export import EXPORT_EXTRA_MISSING, export_model, resolve_model
from vtrack.errors import ModelError


@pytest.fixture
def no_ultralytics(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import ultralytics`` fail even where it is installed."""
    monkeypatch.setitem(sys.modules, "ultralytics", None)


@pytest.fixture
def fake_export(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace export_model by a recorder that writes a placeholder file."""
    calls: list[dict] = []

    def fake(pt_path, *, imgsz=640, out_dir=None, filename=None, **kw):
        calls.append({"pt": Path(pt_path), "imgsz": imgsz, "out_dir": Path(out_dir), "filename": filename})
        out = Path(out_dir) / filename
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"onnx")
        return out

    monkeypatch.setattr(export_mod, "export_model", fake)
    return calls


def test_onnx_path_is_returned_as_is(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    assert resolve_model(str(model)) == model


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("missing.onnx", "model file not found"),
        ("missing.pt", "checkpoint not found"),
        ("dir/yolo11n", "unknown model"),
        ("not-a-model", "unknown model 'not-a-model'"),
        ("model.engine", "unsupported model file"),
    ],
)
def test_resolve_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, match: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match=match):
        resolve_model(spec, cache_dir=tmp_path / "cache")


def test_pt_is_exported_once_beside_it_and_reused(tmp_path: Path, fake_export: list[dict]) -> None:
    pt = tmp_path / "det.pt"
    pt.write_bytes(b"pt")
    first = resolve_model(str(pt), imgsz=320)
    assert first == tmp_path / "det-320.onnx" and first.is_file()
    assert len(fake_export) == 1 and fake_export[0]["imgsz"] == 320
    assert resolve_model(str(pt), imgsz=320) == first
    assert len(fake_export) == 1  # cached
    resolve_model(str(pt), imgsz=640)  # another size: another export
    assert len(fake_export) == 2
    old = first.stat().st_mtime - 100
    os.utime(first, (old, old))  # checkpoint now newer than the export
    resolve_model(str(pt), imgsz=320)
    assert len(fake_export) == 3


def test_pt_in_read_only_folder_is_cached_elsewhere(
    tmp_path: Path, fake_export: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    pt = tmp_path / "ro" / "det.pt"
    pt.parent.mkdir()
    pt.write_bytes(b"pt")
    real_access = os.access
    monkeypatch.setattr(
        export_mod.os, "access", lambda p, m: False if Path(p) == pt.parent else real_access(p, m)
    )
    monkeypatch.setenv("VTRACK_CACHE", str(tmp_path / "envcache"))
    assert resolve_model(str(pt)) == tmp_path / "envcache" / "det-640.onnx"
    assert resolve_model(str(pt), cache_dir=tmp_path / "explicit") == tmp_path / "explicit" / "det-640.onnx"


def test_export_without_ultralytics_names_the_extra(tmp_path: Path, no_ultralytics: None) -> None:
    pt = tmp_path / "det.pt"
    pt.write_bytes(b"pt")
    with pytest.raises(ModelError) as e:
        export_model(pt)
    assert (
        str(e.value)
        == EXPORT_EXTRA_MISSING
        == "the 'export' extra is not installed: pip install 'vtrack[export]'"
    )


def test_official_name_without_ultralytics(tmp_path: Path, no_ultralytics: None) -> None:
    with pytest.raises(ModelError, match="'export' extra is not installed"):
        resolve_model("yolo11n", cache_dir=tmp_path)


@pytest.mark.parametrize(("imgsz", "match"), [(100, "multiple of 32"), (0, "multiple of 32")])
def test_export_bad_imgsz(tmp_path: Path, imgsz: int, match: str) -> None:
    pt = tmp_path / "det.pt"
    pt.write_bytes(b"pt")
    with pytest.raises(Exception, match=match):
        export_model(pt, imgsz=imgsz)


def test_export_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="checkpoint not found"):
        export_model(tmp_path / "nope.pt")


@pytest.mark.parametrize(
    ("name", "official"),
    [
        ("yolo11n", True),
        ("yolov8n-seg", True),
        ("yolo26x", True),
        ("yolov5su", False),
        ("yolo11n-pose", False),
    ],
)
def test_official_name_pattern(name: str, official: bool) -> None:
    assert bool(export_mod.OFFICIAL_NAME.match(name)) is official
