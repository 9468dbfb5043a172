from __future__ import annotations

import numpy as np
import pytest

from vtrack.errors import ConfigError
from vtrack.geometry import Anchor, Line, LineSpec, anchor_points, parse_line_spec


@pytest.mark.parametrize(
    ("line", "point", "side"),
    [
        # vertical line drawn top→bottom: screen-left is the right-hand side (-1), screen-right is +1
        (Line("v", 400, 250, 400, 650), (300, 400), -1),
        (Line("v", 400, 250, 400, 650), (500, 400), 1),
        (Line("v", 400, 250, 400, 650), (400.2, 400), 0),
        # drawn bottom→top: flipped
        (Line("v", 400, 650, 400, 250), (300, 400), 1),
        # horizontal line drawn left→right: above (smaller y) is the left-hand side
        (Line("h", 0, 100, 200, 100), (50, 50), 1),
        (Line("h", 0, 100, 200, 100), (50, 150), -1),
    ],
)
def test_side(line: Line, point: tuple[float, float], side: int) -> None:
    assert line.side(np.array([point]))[0] == side


def test_left_to_right_across_top_down_line_goes_from_minus_to_plus() -> None:
    line = Line("v", 400, 250, 400, 650)
    sides = line.side(np.array([[350, 400], [450, 400]]))
    assert sides.tolist() == [-1, 1]  # right-hand → left-hand side: "in"


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (Anchor.BOTTOM_CENTER, (15, 40)),
        (Anchor.CENTER, (15, 30)),
        (Anchor.TOP_LEFT, (10, 20)),
        (Anchor.CENTER_RIGHT, (20, 30)),
    ],
)
def test_anchor_points(anchor: Anchor, expected: tuple[float, float]) -> None:
    pts = anchor_points(np.array([[10, 20, 20, 40]], dtype=np.float32), anchor)
    assert pts.shape == (1, 2) and pts.dtype == np.float64
    assert tuple(pts[0]) == expected


def test_within_segment() -> None:
    line = Line("h", 100, 100, 200, 100)
    pts = np.array([[150, 90], [90, 110], [250, 100], [205, 100]])
    assert line.within_segment(pts, margin=10).tolist() == [True, True, False, True]


@pytest.mark.parametrize(
    ("text", "name", "coords"),
    [
        ("gate=400,250,400,650", "gate", (400, 250, 400, 650)),
        (" mid = 0.5, 0, 0.5, 1 ", "mid", (0.5, 0, 0.5, 1)),
        ("a-b.c_1=1,2,3,4", "a-b.c_1", (1, 2, 3, 4)),
    ],
)
def test_parse_line_spec(text: str, name: str, coords: tuple[float, ...]) -> None:
    spec = parse_line_spec(text)
    assert spec.name == name and spec.coords == coords


@pytest.mark.parametrize(
    "text", ["gate", "=1,2,3,4", "gate=1,2,3", "gate=1,2,3,4,5", "gate=a,b,c,d", "gate=-1,0,3,4",
             "g ate=1,2,3,4", "gate=nan,1,2,3"],
)
def test_parse_line_spec_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="malformed line"):
        parse_line_spec(text)


def test_resolve_relative_and_pixels() -> None:
    rel = LineSpec("m", (0.5, 0.0, 0.5, 1.0)).resolve(640, 480)
    assert (rel.ax, rel.ay, rel.bx, rel.by) == (320, 0, 320, 480)
    px = LineSpec("m", (1.0, 1.0, 100.0, 1.0)).resolve(640, 480)
    assert (px.ax, px.bx) == (1.0, 100.0)
    diag = LineSpec("m", (0.0, 0.0, 1.0, 1.0)).resolve(640, 480)
    assert (diag.bx, diag.by) == (640, 480)


@pytest.mark.parametrize(
    ("coords", "match"), [((10, 10, 10, 10), "same point"), ((10, 10, 700, 10), "outside")]
)
def test_resolve_rejects(coords: tuple[float, float, float, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LineSpec("x", coords).resolve(640, 480)
