"""``learn``: a folder of labelled crops → a model; bad folders give one clear error each."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from subclass_media import stripes, write_examples

from vtrack.errors import ConfigError, ModelError
from vtrack.subclasses.embedder import CropEmbedder
from vtrack.subclasses.learn import labelled_files, learn
from vtrack.subclasses.model import SubclassModel

pytestmark = pytest.mark.assets


def test_learn_two_labels(tmp_path: Path, embedder: CropEmbedder) -> None:
    root = write_examples(tmp_path / "ex", {"striped": 4, "blob": 3})
    model, report = learn(root, embedder)
    assert model.parent == "person" and model.label_names == ["blob", "striped"]
    assert report.counts == {"blob": 3, "striped": 4} and report.tracks == 7
    assert report.accuracy == 1.0
    assert 0 < report.threshold <= 0.6 and model.embedder_sha256 == embedder.sha256
    back = SubclassModel.load(model.save(tmp_path / "x.vtc"))
    assert back.vote(embedder.embed([stripes(99)])[0]).label == "striped"


def test_unsorted_folder_is_not_a_label(tmp_path: Path, embedder: CropEmbedder) -> None:
    root = write_examples(tmp_path / "ex", {"a": 3, "b": 3, "unsorted": 5})
    assert sorted(labelled_files(root)) == ["a", "b"]


def _loose(tmp_path: Path) -> Path:
    root = tmp_path / "loose"
    (root / "unsorted").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(root / "unsorted" / f"c{i}.jpg"), stripes(i))
    return root


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p / "missing", "not found"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no label folders with images"),
        (_loose, "4 image(s) found outside label folders"),
        (lambda p: write_examples(p / "one", {"cyclist": 5}), "only one label ('cyclist')"),
        (lambda p: write_examples(p / "few", {"a": 5, "b": 2}), "'b' has 2"),
        (lambda p: write_examples(p / "unk", {"a": 3, "unknown": 3}), "reserved"),
        (lambda p: write_examples(p / "np", {"a": 3, "b": 3}, parent=None), "no parent class"),
    ],
)
def test_bad_folders(tmp_path: Path, embedder: CropEmbedder, make, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        learn(make(tmp_path), embedder)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unreadable_image(tmp_path: Path, embedder: CropEmbedder) -> None:
    root = write_examples(tmp_path / "ex", {"a": 3, "b": 3})
    (root / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ConfigError, match=r"cannot read image .*broken\.jpg"):
        learn(root, embedder)


def test_a_detector_is_not_an_embedder(shared: Path) -> None:
    with pytest.raises(ModelError, match="is not an EfficientNet-Lite0 embedder"):
        CropEmbedder(shared / "models/yolov8n.onnx")


def test_bad_k_and_threshold(tmp_path: Path, embedder: CropEmbedder) -> None:
    root = write_examples(tmp_path / "ex", {"a": 3, "b": 3})
    with pytest.raises(ConfigError, match="k must be"):
        learn(root, embedder, k=0)
    with pytest.raises(ConfigError, match="threshold"):
        learn(root, embedder, threshold=3.0)
