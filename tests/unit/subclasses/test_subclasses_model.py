"""The k-NN vote, leave-one-track-out and the .vtc file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vtrack.errors import ConfigError
from vtrack.subclasses.model import UNKNOWN, SubclassModel


def unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def toy(threshold: float = 0.5, k: int = 3) -> SubclassModel:
    """Two labels on the x and y axes of 3-D space, three examples each (one track per example)."""
    emb = np.stack([unit(1, 0.1 * i, 0) for i in range(3)] + [unit(0.1 * i, 1, 0) for i in range(3)])
    return SubclassModel(
        parent="person",
        label_names=["cyclist", "pedestrian"],
        embeddings=emb,
        labels=np.array([0, 0, 0, 1, 1, 1]),
        groups=np.arange(6),
        embedder_sha256="a" * 64,
        k=k,
        threshold=threshold,
    )


@pytest.mark.parametrize(
    ("query", "label"),
    [
        (unit(1, 0, 0), "cyclist"),
        (unit(0, 1, 0), "pedestrian"),
        (unit(1, 0.9, 0), "cyclist"),  # closer to the x examples
        (unit(0, 0, 1), UNKNOWN),  # far from both (distance 1 > 0.5)
        (unit(-1, 0, 0), UNKNOWN),
    ],
)
def test_vote(query: np.ndarray, label: str) -> None:
    assert toy().vote(query).label == label


def test_vote_distance_is_to_the_nearest_winner_example() -> None:
    v = toy().vote(unit(1, 0, 0))
    assert v.distance == pytest.approx(0.0, abs=1e-6)
    assert set(v.scores) <= {"cyclist", "pedestrian"}


def test_k_larger_than_examples_and_all_excluded() -> None:
    m = toy(k=50)
    assert m.vote(unit(1, 0, 0)).label == "cyclist"
    assert m.vote(unit(1, 0, 0), exclude=np.ones(6, bool)).label == UNKNOWN


def test_leave_one_track_out() -> None:
    acc, per, nn = toy().leave_one_out()
    assert acc == 1.0 and per == {"cyclist": (3, 3), "pedestrian": (3, 3)}
    assert nn.shape == (6,) and (nn < 0.02).all()


def test_leave_one_track_out_leaves_the_whole_group_out() -> None:
    m = toy(k=1)
    m.groups = np.array([0, 0, 0, 1, 1, 1])  # one track per label: its own crops cannot vote for it
    acc, _, _ = m.leave_one_out()
    assert acc == 0.0


def test_save_load_round_trip(tmp_path: Path) -> None:
    m = toy()
    m.files = ["cyclist/a.jpg"] * 6
    p = m.save(tmp_path / "x.vtc")
    back = SubclassModel.load(p)
    assert back.parent == "person" and back.label_names == ["cyclist", "pedestrian"]
    assert back.k == 3 and back.threshold == pytest.approx(0.5) and back.files == m.files
    np.testing.assert_allclose(back.embeddings, m.embeddings, atol=2e-3)
    assert back.label_counts() == {"cyclist": 3, "pedestrian": 3}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "not found"),
        (b"", "not a vtrack subclasses"),
        (b"hello", "not a vtrack subclasses"),
    ],
)
def test_load_rejects_bad_files(tmp_path: Path, content: bytes | None, needle: str) -> None:
    p = tmp_path / "bad.vtc"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ConfigError, match=needle):
        SubclassModel.load(p)


def test_load_rejects_another_npz(tmp_path: Path) -> None:
    p = tmp_path / "other.vtc"
    with p.open("wb") as f:
        np.savez(
            f,
            meta=np.array('{"format": "something"}'),
            embeddings=np.zeros((1, 3)),
            labels=np.zeros(1),
            groups=np.zeros(1),
        )
    with pytest.raises(ConfigError, match="not a vtrack subclasses"):
        SubclassModel.load(p)


@pytest.mark.parametrize(
    ("sha", "classes", "needle"),
    [
        ("b" * 64, None, "another|learned with embedder"),
        ("a" * 64, {"car", "truck"}, "refines class 'person'"),
    ],
)
def test_check_compatible(sha: str, classes: set[str] | None, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        toy().check_compatible(embedder_sha256=sha, classes=classes, source="x.vtc")


def test_check_compatible_accepts_the_same_embedder_and_class() -> None:
    toy().check_compatible(embedder_sha256="a" * 64, classes={"person", "car"})


def test_a_colour_model_is_written_as_version_2_and_a_plain_one_as_version_1(tmp_path: Path) -> None:
    import json

    m = toy()
    plain = m.save(tmp_path / "plain.vtc")
    m.colour_weight = 1.5
    coloured = m.save(tmp_path / "colour.vtc")
    with np.load(plain) as z:
        meta = json.loads(str(z["meta"]))
        assert meta["version"] == 1 and "colour_weight" not in meta  # older vtrack still reads it
    with np.load(coloured) as z:
        assert json.loads(str(z["meta"]))["version"] == 2
    assert SubclassModel.load(plain).colour_weight == 0.0
    assert SubclassModel.load(coloured).colour_weight == 1.5


def test_colour_features_see_the_centre_of_the_crop() -> None:
    from vtrack.subclasses.embedder import COLOUR_DIMS, colour_features

    white = np.full((100, 60, 3), 255, np.uint8)
    framed = np.zeros((100, 60, 3), np.uint8)
    framed[30:70, 18:42] = 255  # white object in the centre, dark context around
    black = np.zeros((1, 1, 3), np.uint8)  # the smallest crop works too
    f = colour_features([white, framed, black])
    assert f.shape == (3, COLOUR_DIMS) and f.dtype == np.float32
    assert f[0, 0] == pytest.approx(f[1, 0]) and f[0, 0] > 1.9 and f[2, 0] == 0.0  # L of white: 255/128
