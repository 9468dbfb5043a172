"""The sub-class stage on scripted tracks with the real embedder: labels, schedule, fixing, bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from subclass_media import blob, stripes, write_examples

from vtrack.errors import ConfigError
from vtrack.subclasses.embedder import CropEmbedder
from vtrack.subclasses.learn import learn
from vtrack.subclasses.model import SubclassModel
from vtrack.subclasses.stage import PARENT_KEY, SubclassStage

pytestmark = pytest.mark.assets

W, H = 640, 480
BOX_A = (100, 100, 160, 220)  # striped object
BOX_B = (400, 100, 460, 220)  # blob object


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, embedder: CropEmbedder) -> SubclassModel:
    root = write_examples(tmp_path_factory.mktemp("ex"), {"striped": 4, "blob": 4})
    return learn(root, embedder, threshold=0.6)[0]


def frame(seed: int = 0) -> np.ndarray:
    img = np.full((H, W, 3), 127, np.uint8)
    x1, y1, x2, y2 = BOX_A
    img[y1:y2, x1:x2] = stripes(seed, y2 - y1, x2 - x1)
    x1, y1, x2, y2 = BOX_B
    img[y1:y2, x1:x2] = blob(seed, y2 - y1, x2 - x1)
    return img


def dets(rows: list[tuple[tuple[int, int, int, int], int, str]]) -> sv.Detections:
    return sv.Detections(
        xyxy=np.array([r[0] for r in rows], dtype=np.float32).reshape(-1, 4),
        confidence=np.full(len(rows), 0.9, np.float32),
        class_id=np.zeros(len(rows), int),
        tracker_id=np.array([r[1] for r in rows], int),
        data={"class_name": np.array([r[2] for r in rows], dtype=str)},
    )


def test_labels_parent_rows_only(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder)
    d = dets([(BOX_A, 1, "person"), (BOX_B, 2, "person"), (BOX_B, 3, "bicycle"), (BOX_A, -1, "person")])
    out = stage.apply(frame(), d, 0)
    assert out.data["class_name"].tolist() == ["person:striped", "person:blob", "bicycle", "person"]
    assert out.data[PARENT_KEY].tolist() == ["person", "person", "bicycle", "person"]
    assert stage.tracks_labelled == 2 and stage.crops == 2 and stage.ms_per_track > 0


def test_a_colour_model_labels_with_the_colour_part(tmp_path: Path, embedder: CropEmbedder) -> None:
    """A ``.vtc`` learned with ``colour_weight`` is queried with the same (1286-d) vectors."""
    root = write_examples(tmp_path / "ex", {"striped": 4, "blob": 4})
    learned = learn(root, embedder, threshold=0.6, colour_weight=1.0)[0]
    coloured = SubclassModel.load(learned.save(tmp_path / "c.vtc"))
    stage = SubclassStage(coloured, embedder)
    out = stage.apply(frame(), dets([(BOX_A, 1, "person"), (BOX_B, 2, "person")]), 0)
    assert out.data["class_name"].tolist() == ["person:striped", "person:blob"]


def test_views_are_spaced_out_and_bounded(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder, views=3, spacing=5)
    views_at = []
    for i in range(60):
        before = stage.crops
        stage.apply(frame(i), dets([(BOX_A, 1, "person")]), i)
        if stage.crops > before:
            views_at.append(i)
    assert views_at == [0, 5, 15]  # at birth, then gaps of 5, 10


def test_crops_per_frame_bounded_new_tracks_first(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder, max_crops_per_frame=1, spacing=1)
    rows = [(BOX_A, 1, "person"), (BOX_B, 2, "person")]
    stage.apply(frame(), dets(rows), 0)
    assert stage.crops == 1 and stage.label_of(2) == "unknown"
    out = stage.apply(frame(), dets(rows), 1)
    assert stage.crops == 2 and out.data["class_name"].tolist() == ["person:striped", "person:blob"]


def test_cut_boxes_wait_then_are_taken(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder)
    cut = (0, 100, 60, 220)
    for i in range(20):
        stage.apply(frame(), dets([(cut, 1, "person")]), i)
        if stage.crops:
            break
    assert i == 15 and stage.crops == 1


def test_crossing_fixes_the_label(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder, spacing=1)
    stage.apply(frame(), dets([(BOX_A, 1, "person")]), 0)
    stage.observe_crossing(1)
    # the same track now looks like a blob: fixed, it keeps its label and is not embedded again
    for i in range(1, 5):
        out = stage.apply(frame(), dets([(BOX_B, 1, "person")]), i)
    assert out.data["class_name"].tolist() == ["person:striped"] and stage.crops == 1


def test_label_may_change_before_a_crossing(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder, spacing=1, views=8)
    stage.apply(frame(), dets([(BOX_A, 1, "person")]), 0)
    for i in range(1, 8):
        out = stage.apply(frame(), dets([(BOX_B, 1, "person")]), i)
    assert out.data["class_name"].tolist() == ["person:blob"]


def test_state_is_bounded_by_age_and_forget(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder, max_track_age_frames=10)
    stage.apply(frame(), dets([(BOX_A, 1, "person")]), 0)
    stage.apply(frame(), dets([(BOX_B, 2, "person")]), 5)
    assert stage.active_tracks == 2
    stage.apply(frame(), dets([]), 12)
    assert stage.active_tracks == 1 and stage.label_of(1) is None
    stage.forget(2)
    assert stage.active_tracks == 0


def test_empty_and_untracked_detections_pass_through(model: SubclassModel, embedder: CropEmbedder) -> None:
    stage = SubclassStage(model, embedder)
    assert len(stage.apply(frame(), sv.Detections.empty(), 0)) == 0
    d = dets([(BOX_A, 1, "person")])
    d.tracker_id = None
    assert stage.apply(frame(), d, 1).data["class_name"].tolist() == ["person"]


def test_refuses_another_embedder_and_bad_params(
    model: SubclassModel, embedder: CropEmbedder, tmp_path: Path
) -> None:
    other = SubclassModel(**{**model.__dict__, "embedder_sha256": "0" * 64})
    with pytest.raises(ConfigError, match="learned with embedder"):
        SubclassStage(other, embedder)
    with pytest.raises(ConfigError, match="views must be >= 1"):
        SubclassStage(model, embedder, views=0)
