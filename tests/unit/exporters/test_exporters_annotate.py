"""FrameAnnotator: shapes, what is drawn where, masks, unconfirmed rows, trails, line labels."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from supervision.detection.compact_mask import CompactMask

from vtrack.exporters.annotate import UNCONFIRMED_COLOR, FrameAnnotator, track_color
from vtrack.geometry import Line

BG = 40
W, H = 320, 240


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels that differ."""
    return np.any(a != b, axis=-1)


def test_output_shape_dtype_and_copy(detections, result):
    r = result(detections([[50, 60, 120, 150]], [3]))
    before = r.frame.image.copy()
    out = FrameAnnotator([]).annotate(r)
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert out is not r.frame.image
    assert np.array_equal(r.frame.image, before), "copy=True must leave the input untouched"


def test_in_place_returns_the_frame_image(detections, result):
    r = result(detections([[50, 60, 120, 150]], [3]))
    out = FrameAnnotator([], copy=False).annotate(r)
    assert out is r.frame.image
    assert changed(out, np.full_like(out, BG)).any()


def test_draws_box_edges_in_track_colour_and_nothing_far_away(detections, result):
    r = result(detections([[100, 100, 200, 180]], [7]))
    out = FrameAnnotator([], trail_length_frames=0).annotate(r)
    assert tuple(out[140, 100]) == track_color(7)  # left edge
    assert tuple(out[179, 150]) == track_color(7)  # bottom edge
    assert tuple(out[140, 150]) == (BG, BG, BG)  # interior untouched without masks
    assert not changed(out[200:, :], np.full((H - 200, W, 3), BG, np.uint8)).any()


def test_label_text_above_box(detections, result):
    r = result(detections([[100, 100, 200, 180]], [7], classes=["bicycle"], conf=[0.87]))
    out = FrameAnnotator([], trail_length_frames=0).annotate(r)
    label = out[80:100, 100:200]
    assert (label == np.array(track_color(7), np.uint8)).all(axis=-1).mean() > 0.3  # filled label box


def test_unconfirmed_rows_are_thin_grey(detections, result):
    r = result(detections([[100, 100, 200, 180]], [-1]))
    out = FrameAnnotator([], trail_length_frames=0).annotate(r)
    assert tuple(out[140, 100]) == UNCONFIRMED_COLOR
    assert tuple(out[140, 101]) == (BG, BG, BG), "unconfirmed boxes are 1 px thick"


def test_no_tracker_id_is_drawn_as_unconfirmed(detections, result):
    r = result(detections([[100, 100, 200, 180]], None))
    out = FrameAnnotator([]).annotate(r)
    assert tuple(out[140, 100]) == UNCONFIRMED_COLOR


def test_track_colours_are_stable_and_distinct():
    assert track_color(5) == track_color(5)
    colours = {track_color(i) for i in range(1, 21)}
    assert len(colours) == 20


def _ellipse_masks(boxes: list[list[int]]) -> np.ndarray:
    masks = np.zeros((len(boxes), H, W), dtype=bool)
    yy, xx = np.mgrid[0:H, 0:W]
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        masks[k] = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
    return masks


@pytest.mark.parametrize("compact", [False, True], ids=["dense", "compact"])
def test_masks_tinted_inside_box_only(detections, result, compact):
    boxes = [[100, 80, 200, 200]]
    masks = _ellipse_masks(boxes)
    masks[0, 10:20, 10:20] = True  # a stray blob outside the box must not be blended
    if compact:
        masks = CompactMask.from_dense(masks, np.asarray(boxes, np.float32), image_shape=(H, W))
    r = result(detections(boxes, [4], masks=masks))
    out = FrameAnnotator([], trail_length_frames=0, mask_opacity=0.5).annotate(r)
    colour = np.array(track_color(4), float)
    centre = out[140, 150].astype(float)
    expected = 0.5 * BG + 0.5 * colour
    assert np.abs(centre - expected).max() <= 2, (centre, expected)
    assert tuple(out[85, 105]) == (BG, BG, BG)  # inside the box, outside the ellipse
    assert tuple(out[15, 15]) == (BG, BG, BG)  # mask pixel outside its box


def test_masks_off(detections, result):
    boxes = [[100, 80, 200, 200]]
    r = result(detections(boxes, [4], masks=_ellipse_masks(boxes)))
    out = FrameAnnotator([], trail_length_frames=0, draw_masks=False).annotate(r)
    assert tuple(out[140, 150]) == (BG, BG, BG)


def test_mask_of_wrong_shape_is_skipped_with_one_warning(detections, result, caplog):
    det = detections([[100, 80, 200, 200]], [4])
    det.mask = np.ones((1, 10, 10), dtype=bool)
    ann = FrameAnnotator([])
    with caplog.at_level(logging.WARNING):
        ann.annotate(result(det))
        ann.annotate(result(det))
    assert sum("masks not drawn" in m for m in caplog.messages) == 1


def test_trail_follows_the_anchor(detections, result):
    ann = FrameAnnotator([], trail_length_frames=10)
    out = None
    for i in range(8):
        x = 40 + 20 * i
        out = ann.annotate(result(detections([[x, 100, x + 30, 150]], [9]), index=i))
    assert out is not None
    # bottom-centre anchors lie on y=150 from x=55 to x=195; the trail covers the stretch between
    assert tuple(out[150, 100]) == track_color(9)


def test_trails_are_bounded_per_track_and_expire(detections, result):
    ann = FrameAnnotator([], trail_length_frames=5, trail_expire_frames=3)
    # 1000 tracks pass, each seen for 4 consecutive frames, two at a time
    for i in range(1000):
        det = detections([[10, 10, 30, 30], [40, 40, 60, 60]], [i // 2 * 2 + 1, i // 2 * 2 + 2])
        ann.annotate(result(det, index=i))
        assert ann.tracked_trails <= 2 * 4
    assert all(len(h) <= 5 for h, _ in ann._trails._tracks.values())
    for i in range(4):
        ann.annotate(result(index=1000 + i))
    assert ann.tracked_trails == 0


def test_unconfirmed_rows_get_no_trail(detections, result):
    ann = FrameAnnotator([])
    for i in range(5):
        ann.annotate(result(detections([[10 + i, 10, 30 + i, 30]], [-1]), index=i))
    assert ann.tracked_trails == 0


def test_line_label_rows_order_and_overflow():
    ann = FrameAnnotator([], class_names=["person", "car"])
    per_class = {
        "car": {"in": 10, "out": 5},
        "person": {"in": 2, "out": 0},
        "bus": {"in": 1, "out": 1},
        "truck": {"in": 0, "out": 3},
        "zebra": {"in": 1, "out": 0},
    }
    rows = ann.line_label_rows(Line("gate", 0, 0, 10, 10), per_class)
    assert rows[0] == "gate in 14 | out 9"
    assert rows[1:5] == ["person 2/0", "car 10/5", "bus 1/1", "truck 0/3"]
    assert rows[5] == "+1 more"


def test_line_drawn_with_arrow_and_count_box(result):
    line = Line("gate", 40, 200, 280, 200)
    ann = FrameAnnotator([line])
    empty = ann.annotate(result())
    counted = ann.annotate(result(), {"gate": {"car": {"in": 123, "out": 45}}})
    assert tuple(empty[200, 160]) != (BG, BG, BG)  # the line itself
    # "in" points to the left-hand side of A→B (left → right on screen: upwards)
    assert changed(empty[160:196, 150:170], np.full((36, 20, 3), BG, np.uint8)).any()
    assert not changed(empty[205:235, 150:170], np.full((30, 20, 3), BG, np.uint8)).any()
    # the count box sits above A and its text changes with the counts
    assert changed(empty, counted)[100:200, 40:200].any()


def test_class_name_falls_back_to_class_names(detections, result):
    det = detections([[100, 100, 200, 180]], [1])
    det.data = {}
    det.class_id = np.array([1])
    out = FrameAnnotator([], class_names=["person", "car"]).annotate(result(det))
    assert out.shape == (H, W, 3)


def test_rejects_non_bgr_uint8(result):
    r = result()
    r.frame.image = r.frame.image.astype(np.float32)
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        FrameAnnotator([]).annotate(r)


def test_boxes_outside_the_frame_are_clipped(detections, result):
    r = result(detections([[-50, -40, 30, 20], [300, 220, 400, 300], [500, 500, 600, 600]], [1, 2, 3]))
    out = FrameAnnotator([]).annotate(r)
    assert out.shape == (H, W, 3)


@pytest.mark.parametrize("names", [["person", "car"], {0: "person", 1: "car"}], ids=["list", "mapping"])
def test_class_names_list_or_mapping(detections, result, names):
    det = detections([[100, 100, 200, 180]], [1])
    det.data = {}
    det.class_id = np.array([1])
    ann = FrameAnnotator([], class_names=names)
    assert ann._class_names_of(det) == ["car"]
    rows = ann.line_label_rows(
        Line("g", 0, 0, 1, 1), {"car": {"in": 1, "out": 0}, "person": {"in": 0, "out": 1}}
    )
    assert rows[1:] == ["person 0/1", "car 1/0"]
