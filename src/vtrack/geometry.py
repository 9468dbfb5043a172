"""Points, counting lines, polygon zones and anchors: pure geometry, no drawing.

Screen coordinates: x grows to the right, y grows downwards (image pixels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import numpy as np

from vtrack.errors import ConfigError

_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class Anchor(str, Enum):
    """Which point of a box is tested against a line."""

    BOTTOM_CENTER = "bottom_center"
    CENTER = "center"
    TOP_CENTER = "top_center"
    CENTER_LEFT = "center_left"
    CENTER_RIGHT = "center_right"
    BOTTOM_LEFT = "bottom_left"
    BOTTOM_RIGHT = "bottom_right"
    TOP_LEFT = "top_left"
    TOP_RIGHT = "top_right"


def anchor_points(xyxy: np.ndarray, anchor: Anchor = Anchor.BOTTOM_CENTER) -> np.ndarray:
    """Return the anchor point of each box.

    Args:
        xyxy: boxes, shape ``(N, 4)``, any float dtype, as ``x1, y1, x2, y2`` pixels.
        anchor: which point of the box.

    Returns:
        Points, shape ``(N, 2)``, dtype ``float64``.
    """
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    table = {
        Anchor.BOTTOM_CENTER: (cx, y2),
        Anchor.CENTER: (cx, cy),
        Anchor.TOP_CENTER: (cx, y1),
        Anchor.CENTER_LEFT: (x1, cy),
        Anchor.CENTER_RIGHT: (x2, cy),
        Anchor.BOTTOM_LEFT: (x1, y2),
        Anchor.BOTTOM_RIGHT: (x2, y2),
        Anchor.TOP_LEFT: (x1, y1),
        Anchor.TOP_RIGHT: (x2, y1),
    }
    xs, ys = table[Anchor(anchor)]
    return np.stack([xs, ys], axis=1)


@dataclass(frozen=True, slots=True)
class Line:
    """A directed counting line from A to B in pixels.

    ``in`` is a crossing from the right-hand side to the left-hand side of the arrow A→B as
    drawn on screen. For a vertical line drawn top→bottom, moving left→right is ``in``.
    """

    name: str
    ax: float
    ay: float
    bx: float
    by: float

    @property
    def length(self) -> float:
        return float(np.hypot(self.bx - self.ax, self.by - self.ay))

    def side(self, points: np.ndarray) -> np.ndarray:
        """Signed side of each point relative to the arrow A→B.

        Args:
            points: shape ``(N, 2)`` pixels.

        Returns:
            shape ``(N,)`` ``int8``: ``+1`` on the left-hand side of A→B as seen on screen,
            ``-1`` on the right-hand side, ``0`` on the line (within half a pixel).
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dx, dy = self.bx - self.ax, self.by - self.ay
        # z of (B-A) x (P-A). With y pointing down, z < 0 means P is on the left hand of someone
        # walking from A to B on screen (for A above B: screen-right).
        cross = dx * (p[:, 1] - self.ay) - dy * (p[:, 0] - self.ax)
        dist = cross / max(self.length, 1e-9)
        out = np.zeros(len(p), dtype=np.int8)
        out[dist < -0.5] = 1
        out[dist > 0.5] = -1
        return out

    def within_segment(self, points: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether each point's projection falls on the segment A–B (extended by ``margin`` px).

        Args:
            points: shape ``(N, 2)`` pixels.
            margin: extra pixels allowed beyond each end.

        Returns:
            shape ``(N,)`` ``bool``.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dx, dy = self.bx - self.ax, self.by - self.ay
        length = max(self.length, 1e-9)
        t = ((p[:, 0] - self.ax) * dx + (p[:, 1] - self.ay) * dy) / length
        return (t >= -margin) & (t <= length + margin)

    def inside_frame(self, width: int, height: int) -> bool:
        """Whether both endpoints lie in the frame ``[0, width] x [0, height]``."""
        return all(0 <= x <= width for x in (self.ax, self.bx)) and all(
            0 <= y <= height for y in (self.ay, self.by)
        )


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A line as the user wrote it: pixels, or fractions of width/height when all values ≤ 1."""

    name: str
    coords: tuple[float, float, float, float]

    @property
    def relative(self) -> bool:
        """True when every coordinate is in ``[0, 1]``: fractions of width/height.

        A line in pixels that short (≤ 1.5 px) would be meaningless, so there is no ambiguity.
        """
        return all(0.0 <= c <= 1.0 for c in self.coords)

    def resolve(self, width: int, height: int) -> Line:
        """Return the line in pixels for a frame of ``width x height``.

        Raises:
            ConfigError: if the line is degenerate or lies outside the frame.
        """
        x1, y1, x2, y2 = self.coords
        if self.relative:
            x1, x2 = x1 * width, x2 * width
            y1, y2 = y1 * height, y2 * height
        line = Line(self.name, x1, y1, x2, y2)
        if line.length < 1.0:
            raise ConfigError(f"line {self.name!r}: A and B are the same point ({x1:g},{y1:g})")
        if not line.inside_frame(width, height):
            raise ConfigError(
                f"line {self.name!r} ({x1:g},{y1:g})→({x2:g},{y2:g}) lies outside the "
                f"{width}x{height} frame"
            )
        return line


def parse_line_spec(text: str) -> LineSpec:
    """Parse ``NAME=x1,y1,x2,y2`` (pixels, or fractions of width/height when all ≤ 1).

    Raises:
        ConfigError: naming the malformed part.
    """
    if "=" not in text:
        raise ConfigError(f"malformed line {text!r}: expected NAME=x1,y1,x2,y2")
    name, _, rest = text.partition("=")
    name = name.strip()
    if not name or not _NAME_RE.match(name):
        raise ConfigError(
            f"malformed line {text!r}: the name must be letters, digits, '_', '-' or '.'"
        )
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) != 4:
        raise ConfigError(f"malformed line {text!r}: expected 4 numbers x1,y1,x2,y2, got {len(parts)}")
    try:
        coords = tuple(float(p) for p in parts)
    except ValueError as e:
        raise ConfigError(f"malformed line {text!r}: {e}") from e
    if any(c < 0 or not np.isfinite(c) for c in coords):
        raise ConfigError(f"malformed line {text!r}: coordinates must be finite and ≥ 0")
    return LineSpec(name, coords)  # type: ignore[arg-type]


MIN_POLYGON_POINTS = 3
MIN_POLYGON_AREA_PX = 1.0
"""Smallest area (square pixels) of a resolved zone polygon; anything smaller is degenerate."""


@dataclass(frozen=True, slots=True)
class Polygon:
    """A named polygon zone: pixels, or fractions of width/height when every value is in ``[0, 1]``.

    As written by a user it may be in fractions (:attr:`relative`); :meth:`resolve` returns the same
    polygon in pixels of a given frame, and :meth:`contains` tests pixel points against the vertices
    as stored, so call it on a resolved polygon. Self-intersecting outlines follow the even-odd rule.

    Attributes:
        name: zone name (letters, digits, ``_``, ``-``, ``.``).
        points: vertices in order, at least 3, as ``((x1, y1), (x2, y2), ...)``.

    Raises:
        ConfigError: for fewer than 3 vertices or a non-finite or negative coordinate.
    """

    name: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if len(self.points) < MIN_POLYGON_POINTS:
            raise ConfigError(
                f"zone {self.name!r}: a polygon needs at least {MIN_POLYGON_POINTS} points, "
                f"got {len(self.points)}"
            )
        flat = [c for p in self.points for c in p]
        if any(len(p) != 2 for p in self.points) or any(not np.isfinite(c) or c < 0 for c in flat):
            raise ConfigError(f"zone {self.name!r}: points must be (x, y) pairs, finite and ≥ 0")

    @property
    def relative(self) -> bool:
        """True when every coordinate is in ``[0, 1]``: fractions of width/height.

        A polygon in pixels that small would be degenerate (< 1 px²), so there is no ambiguity.
        """
        return all(0.0 <= c <= 1.0 for p in self.points for c in p)

    @property
    def vertices(self) -> np.ndarray:
        """The vertices, shape ``(V, 2)``, dtype ``float64``."""
        return np.asarray(self.points, dtype=np.float64).reshape(-1, 2)

    @property
    def area(self) -> float:
        """Absolute area by the shoelace formula (in the polygon's own units)."""
        v = self.vertices
        x, y = v[:, 0], v[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)

    def inside_frame(self, width: int, height: int) -> bool:
        """Whether every vertex lies in the frame ``[0, width] x [0, height]``."""
        v = self.vertices
        return bool(((v[:, 0] >= 0) & (v[:, 0] <= width) & (v[:, 1] >= 0) & (v[:, 1] <= height)).all())

    def resolve(self, width: int, height: int) -> Polygon:
        """Return the polygon in pixels for a frame of ``width x height``.

        Raises:
            ConfigError: if the polygon is degenerate (area < 1 px²) or lies outside the frame.
        """
        pts = self.points
        if self.relative:
            pts = tuple((x * width, y * height) for x, y in pts)
        poly = Polygon(self.name, tuple((float(x), float(y)) for x, y in pts))
        if poly.area < MIN_POLYGON_AREA_PX:
            raise ConfigError(f"zone {self.name!r} is degenerate: its points enclose no area")
        if not poly.inside_frame(width, height):
            raise ConfigError(f"zone {self.name!r} lies outside the {width}x{height} frame")
        return poly

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether each point is inside the polygon (even-odd rule; vectorised, no OpenCV).

        Points exactly on an edge may fall either way; zone counters need several consecutive
        observations on one side, so this never matters for counting.

        Args:
            points: shape ``(N, 2)``, any float dtype, pixels (same units as the vertices).

        Returns:
            shape ``(N,)`` ``bool``.
        """
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        v = self.vertices
        x1, y1 = v[:, 0][None, :], v[:, 1][None, :]  # (1, V) edge starts
        w = np.roll(v, -1, axis=0)
        x2, y2 = w[:, 0][None, :], w[:, 1][None, :]  # (1, V) edge ends
        px, py = p[:, 0:1], p[:, 1:2]  # (N, 1)
        straddles = (y1 > py) != (y2 > py)  # (N, V): the horizontal ray through p meets this edge's span
        # p is left of the edge's crossing x1 + (py - y1) * (x2 - x1) / dy, without dividing by dy:
        dy = y2 - y1
        lhs, rhs = (px - x1) * dy, (py - y1) * (x2 - x1)
        left = np.where(dy > 0, lhs < rhs, lhs > rhs)
        return (np.count_nonzero(straddles & left, axis=1) % 2) == 1


def parse_zone_spec(text: str) -> Polygon:
    """Parse ``NAME=x1,y1,x2,y2,x3,y3,...`` (pixels, or fractions of width/height when all ≤ 1).

    Returns:
        The polygon as written (resolve it against the frame size with :meth:`Polygon.resolve`).

    Raises:
        ConfigError: naming the malformed part.
    """
    if "=" not in text:
        raise ConfigError(f"malformed zone {text!r}: expected NAME=x1,y1,x2,y2,x3,y3,...")
    name, _, rest = text.partition("=")
    name = name.strip()
    if not name or not _NAME_RE.match(name):
        raise ConfigError(f"malformed zone {text!r}: the name must be letters, digits, '_', '-' or '.'")
    parts = [p.strip() for p in rest.split(",")]
    if len(parts) < 2 * MIN_POLYGON_POINTS or len(parts) % 2:
        raise ConfigError(
            f"malformed zone {text!r}: expected an even number (≥ 6) of values x1,y1,x2,y2,x3,y3,..., "
            f"got {len(parts)}"
        )
    try:
        coords = [float(p) for p in parts]
    except ValueError as e:
        raise ConfigError(f"malformed zone {text!r}: {e}") from e
    if any(c < 0 or not np.isfinite(c) for c in coords):
        raise ConfigError(f"malformed zone {text!r}: coordinates must be finite and ≥ 0")
    return Polygon(name, tuple(zip(coords[0::2], coords[1::2], strict=True)))
