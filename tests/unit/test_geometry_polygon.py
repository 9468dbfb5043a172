"""Polygon zones: containment (against OpenCV's pointPolygonTest), resolving, parsing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vtrack.errors import ConfigError
from vtrack.geometry import Polygon, parse_zone_spec

SQUARE = Polygon("sq", ((100, 100), (200, 100), (200, 200), (100, 200)))
L_SHAPE = Polygon("L", ((0, 0), (100, 0), (100, 40), (40, 40), (40, 100), (0, 100)))  # concave
BOWTIE = Polygon("bow", ((0, 0), (100, 100), (100, 0), (0, 100)))  # self-intersecting: even-odd


@pytest.mark.parametrize(
    ("poly", "point", "inside"),
    [
        (SQUARE, (150, 150), True),
        (SQUARE, (99, 150), False),
        (SQUARE, (150, 250), False),
        (L_SHAPE, (20, 80), True),
        (L_SHAPE, (80, 20), True),
        (L_SHAPE, (80, 80), False),  # the notch of the L
        (BOWTIE, (20, 50), True),  # the left triangle (edge x=0)
        (BOWTIE, (80, 50), True),  # the right triangle (edge x=100)
        (BOWTIE, (50, 20), False),  # between the diagonals, above the crossing
        (BOWTIE, (50, 80), False),
    ],
)
def test_contains(poly: Polygon, point: tuple[float, float], inside: bool) -> None:
    out = poly.contains(np.array([point]))
    assert out.shape == (1,) and out.dtype == np.bool_
    assert bool(out[0]) is inside


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_contains_matches_opencv_away_from_edges(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_vertices = int(rng.integers(3, 9))
    # A star-shaped (simple) polygon: sorted angles, random radii around (200, 200).
    angles = np.sort(rng.uniform(0, 2 * np.pi, n_vertices))
    radii = rng.uniform(40, 180, n_vertices)
    verts = np.stack([200 + radii * np.cos(angles), 200 + radii * np.sin(angles)], axis=1)
    poly = Polygon("star", tuple(map(tuple, verts.tolist())))
    pts = rng.uniform(0, 400, (5000, 2))
    contour = verts.astype(np.float32).reshape(-1, 1, 2)
    dist = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in pts])
    clear = np.abs(dist) > 1e-6
    np.testing.assert_array_equal(poly.contains(pts)[clear], (dist > 0)[clear])


def test_contains_empty_and_many_points() -> None:
    assert SQUARE.contains(np.empty((0, 2))).shape == (0,)
    assert SQUARE.contains(np.full((10, 2), 150.0)).all()


@pytest.mark.parametrize(
    ("poly", "size", "expected"),
    [
        (
            Polygon("f", ((0.25, 0.5), (0.75, 0.5), (0.5, 1.0))),
            (800, 400),
            ((200, 200), (600, 200), (400, 400)),
        ),
        (Polygon("px", ((10, 10), (50, 10), (50, 50))), (800, 400), ((10, 10), (50, 10), (50, 50))),
        (Polygon("edge", ((0, 0), (800, 0), (800, 400))), (800, 400), ((0, 0), (800, 0), (800, 400))),
    ],
)
def test_resolve(poly: Polygon, size: tuple[int, int], expected: tuple) -> None:
    resolved = poly.resolve(*size)
    assert resolved.name == poly.name
    assert resolved.points == expected


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Polygon("two", ((0, 0), (10, 10))), "at least 3 points"),
        (lambda: Polygon("neg", ((0, 0), (-1, 10), (10, 10))), "≥ 0"),
        (lambda: Polygon("nan", ((0, 0), (float("nan"), 10), (10, 10))), "finite"),
        (lambda: Polygon("flat", ((10, 10), (50, 50), (90, 90))).resolve(640, 480), "degenerate"),
        (lambda: Polygon("same", ((0.5, 0.5), (0.5, 0.5), (0.5, 0.5))).resolve(640, 480), "degenerate"),
        (lambda: Polygon("big", ((10, 10), (700, 10), (700, 300))).resolve(640, 480), "outside the 640x480"),
    ],
)
def test_bad_polygons_are_config_errors(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize(
    ("text", "name", "points"),
    [
        ("lot=0.2,0.2,0.8,0.2,0.8,0.8,0.2,0.8", "lot", ((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))),
        ("door-1 = 10, 20, 30, 20, 30, 60", "door-1", ((10, 20), (30, 20), (30, 60))),
    ],
)
def test_parse_zone_spec(text: str, name: str, points: tuple) -> None:
    poly = parse_zone_spec(text)
    assert (poly.name, poly.points) == (name, points)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0,0,1,0,1,1", "NAME="),
        ("a b=0,0,1,0,1,1", "name must be"),
        ("z=0,0,1,0", "≥ 6"),
        ("z=0,0,1,0,1,1,2", "even number"),
        ("z=0,0,1,0,1,x", "malformed zone"),
        ("z=0,0,1,0,1,-1", "≥ 0"),
        ("z=0,0,1,0,1,inf", "finite"),
    ],
)
def test_parse_zone_spec_errors(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_zone_spec(text)
