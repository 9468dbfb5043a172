"""Teaching routes: recent crops of a stream, filing one under a label, learning again without restart."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "subclasses"))
from subclass_media import blob, stripes, write_examples

from vtrack.config import DeploymentConfig, StreamConfig
from vtrack.service.app import create_app
from vtrack.subclasses.embedder import CropEmbedder
from vtrack.subclasses.learn import learn
from vtrack.subclasses.stage import SubclassStage

pytestmark = pytest.mark.assets
TOKEN = "unit-token-1234"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class FakeWorker:
    subclasses: SubclassStage | None


class FakeManager:
    """The three lookups the routes make, over one stream."""

    started = True

    def __init__(self, cfg: StreamConfig, worker: FakeWorker) -> None:
        self.cfg, self._worker = cfg, worker

    def has(self, sid: str) -> bool:
        return sid == self.cfg.id

    def worker(self, sid: str) -> FakeWorker | None:
        return self._worker if sid == self.cfg.id else None

    def config_of(self, sid: str) -> StreamConfig | None:
        return self.cfg if sid == self.cfg.id else None


@pytest.fixture
def setup(tmp_path: Path, shared: Path) -> tuple[TestClient, SubclassStage, Path]:
    embedder = CropEmbedder(shared / "models/efficientnet_lite0.onnx")
    examples = write_examples(tmp_path / "ex", {"striped": 3, "blob": 3})
    vtc = learn(examples, embedder, threshold=0.6)[0].save(tmp_path / "s.vtc")
    from vtrack.subclasses.model import SubclassModel

    stage = SubclassStage(SubclassModel.load(vtc), embedder)
    img = np.full((240, 320, 3), 127, np.uint8)
    img[20:140, 20:80] = stripes(7)
    img[20:140, 200:260] = blob(7)
    det = sv.Detections(
        xyxy=np.array([[20, 20, 80, 140], [200, 20, 260, 140]], np.float32),
        tracker_id=np.array([1, 2]),
        data={"class_name": np.array(["person", "person"])},
    )
    stage.apply(img, det, 0)
    cfg = StreamConfig(id="cam", source="x.mp4", subclasses=str(vtc), subclasses_examples=str(examples))
    deployment = DeploymentConfig.model_validate({"server": {"token": TOKEN}})
    app = create_app(deployment, FakeManager(cfg, FakeWorker(stage)))  # type: ignore[arg-type]
    return TestClient(app), stage, examples


def test_crops_are_listed_and_served_behind_the_token(setup) -> None:
    client, _stage, _ = setup
    assert client.get("/api/streams/cam/subclasses/crops").status_code == 401
    crops = client.get("/api/streams/cam/subclasses/crops", headers=AUTH).json()
    assert [c["track_id"] for c in crops] == [1, 2]
    assert [c["label"] for c in crops] == ["person:striped", "person:blob"]
    r = client.get(crops[0]["url"], headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and r.content[:2] == b"\xff\xd8"
    assert client.get("/api/streams/cam/subclasses/crops/999.jpg", headers=AUTH).status_code == 404
    assert client.get("/api/streams/nope/subclasses/crops", headers=AUTH).status_code == 404


def test_label_then_learn_again_without_restart(setup) -> None:
    client, stage, examples = setup
    crops = client.get("/api/streams/cam/subclasses/crops", headers=AUTH).json()
    r = client.post(
        f"/api/streams/cam/subclasses/crops/{crops[1]['id']}/label", json={"label": "round"}, headers=AUTH
    )
    assert r.status_code == 201 and Path(r.json()["file"]).parent == examples / "round"
    bad = client.post(
        f"/api/streams/cam/subclasses/crops/{crops[1]['id']}/label", json={"label": "Bad Name"}, headers=AUTH
    )
    assert bad.status_code == 422
    # 'round' has one example: learning refuses with one line (HTTP 422), the old model stays
    r = client.post("/api/streams/cam/subclasses/learn", headers=AUTH)
    assert r.status_code == 422 and "at least 3" in r.json()["detail"]
    old = stage.model
    for i in range(2):
        (examples / "round" / f"copy{i}_t09{i}_f00001_q00.jpg").write_bytes(
            next((examples / "round").glob("*.jpg")).read_bytes()
        )
    r = client.post("/api/streams/cam/subclasses/learn", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["counts"] == {"blob": 3, "round": 3, "striped": 3}
    assert stage.model is not old and stage.model.label_names == ["blob", "round", "striped"]


def test_info_names_the_labels_and_the_examples_to_teach_into(setup) -> None:
    client, _stage, examples = setup
    assert client.get("/api/streams/cam/subclasses").status_code == 401
    info = client.get("/api/streams/cam/subclasses", headers=AUTH).json()
    both = {"blob": 3, "striped": 3}
    assert info == {"parent": "person", "labels": both, "examples": both}
    (examples / "unsorted").mkdir()
    (examples / "new").mkdir()
    info = client.get("/api/streams/cam/subclasses", headers=AUTH).json()
    assert info["examples"] == {"blob": 3, "new": 0, "striped": 3}  # unsorted is not a label
    assert client.get("/api/streams/nope/subclasses", headers=AUTH).status_code == 404
