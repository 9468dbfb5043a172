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


def _painted(root: Path, label: str, bgr: tuple[int, int, int], n: int, start: int) -> None:
    """``n`` crops of one stripe texture painted ``bgr``: same shape, different colour."""
    (root / label).mkdir(parents=True, exist_ok=True)
    for j in range(n):
        img = stripes(j)
        img[img.mean(axis=2) > 128] = bgr  # the bright stripes take the paint
        cv2.imwrite(str(root / label / f"clip_t{start + j:04d}_f00001_q50.jpg"), img)


def test_a_colour_weight_appends_the_colour_part(tmp_path: Path, embedder: CropEmbedder) -> None:
    """Same texture, two paints. (The real case where only colour separates labels, cars light vs dark
    on held-out clips, is measured in docs/subclasses.md: synthetic stripes are told apart either way.)"""
    root = tmp_path / "ex"
    _painted(root, "red", (30, 30, 220), 4, 0)
    _painted(root, "blue", (220, 60, 30), 4, 100)
    (root / "parent.txt").write_text("car\n")
    model, report = learn(root, embedder, colour_weight=1.0)
    assert report.accuracy == 1.0 and model.colour_weight == 1.0
    assert model.embeddings.shape[1] == 1280 + 6
    back = SubclassModel.load(model.save(tmp_path / "c.vtc"))
    assert back.colour_weight == 1.0
    plain, _ = learn(root, embedder)
    assert plain.colour_weight == 0.0 and plain.embeddings.shape[1] == 1280
    with pytest.raises(ConfigError, match="colour weight"):
        learn(root, embedder, colour_weight=-1.0)
