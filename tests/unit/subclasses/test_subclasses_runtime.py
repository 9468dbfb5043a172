"""``--classes`` with sub-classes: what the detector detects and what the counters count."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vtrack.errors import ConfigError
from vtrack.subclasses.runtime import counted_classes, detector_classes, subclass_summary

STAGE = SimpleNamespace(parent="person", model=SimpleNamespace(label_names=["cyclist", "pedestrian"]))


@pytest.mark.parametrize(
    ("classes", "detect"),
    [
        (None, None),
        (["person", "bicycle"], ["person", "bicycle"]),
        (["person:cyclist", "bicycle"], ["person", "bicycle"]),
        (["person:cyclist", "person:pedestrian", "person"], ["person"]),
    ],
)
def test_detector_classes(classes: list[str] | None, detect: list[str] | None) -> None:
    assert detector_classes(classes, subclasses=True) == detect


def test_a_subclass_without_subclasses_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="'person:cyclist' is a sub-class: pass --subclasses"):
        detector_classes(["bicycle", "person:cyclist"], subclasses=False)


@pytest.mark.parametrize(
    ("classes", "stage", "canonical", "counted"),
    [
        (None, STAGE, None, None),
        (["person", "bicycle"], None, None, ["person", "bicycle"]),
        (
            ["person", "bicycle"],
            STAGE,
            None,
            ["person:cyclist", "person:pedestrian", "person:unknown", "bicycle"],
        ),
        (["person:cyclist", "bicycle"], STAGE, None, ["person:cyclist", "bicycle"]),
        (["Person:cyclist", "Bicycle"], STAGE, ["person", "bicycle"], ["person:cyclist", "bicycle"]),
    ],
)
def test_counted_classes(classes, stage, canonical, counted) -> None:
    assert counted_classes(classes, stage, canonical) == counted


def test_summary_parent_totals_and_zero_parent_row() -> None:
    stage = SimpleNamespace(
        parent="person", model=STAGE.model, tracks_labelled=3, crops=5, ms_per_track=1.0, cpu_ms_per_track=0.5
    )
    lines = {
        "road": {
            "person": {"in": 0, "out": 0},
            "person:cyclist": {"in": 2, "out": 1},
            "person:pedestrian": {"in": 1, "out": 0},
            "bicycle": {"in": 4, "out": 0},
        }
    }
    s = subclass_summary("x.vtc", stage, lines)  # type: ignore[arg-type]
    assert s["parent_totals"] == {"road": {"in": 3, "out": 1}}
    assert "person" not in lines["road"] and "bicycle" in lines["road"]
