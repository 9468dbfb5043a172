"""Contract tests of the trackers: row alignment, IDs, per-class tracking, lost buffer, bounded state."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from vtrack.errors import ConfigError
from vtrack.trackers import TRACKERS, ByteTrack, LibraryTracker, Tracker, lost_track_frames, make_tracker

FPS = 30.0
BOX = 40.0  # box side, pixels
SPACING = 100.0  # pixels between scripted objects: boxes never overlap
ALL_TRACKERS = sorted(TRACKERS)


def dets(
    boxes: np.ndarray | list[list[float]],
    *,
    conf: np.ndarray | list[float] | None = None,
    cls: np.ndarray | list[int] | None = None,
    masks: bool = False,
    obj: np.ndarray | list[int] | None = None,
) -> sv.Detections:
    """Detections factory.

    Args:
        boxes: ``(N, 4)`` xyxy pixels.
        conf: ``(N,)`` scores; default all 0.9.
        cls: ``(N,)`` class IDs; default all 0.
        masks: add ``(N, 8, 8)`` bool masks, each encoding its object in its first row.
        obj: ``(N,)`` ground-truth object IDs, stored in ``data["obj"]``.
    """
    xyxy = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    n = len(xyxy)
    objs = np.arange(n) if obj is None else np.asarray(obj, dtype=np.int64)
    mask = None
    if masks:
        mask = np.zeros((n, 8, 8), dtype=bool)
        for i, o in enumerate(objs.tolist()):
            mask[i, 0, :] = [bool((o >> b) & 1) for b in range(8)]
    return sv.Detections(
        xyxy=xyxy,
        mask=mask,
        confidence=np.full(n, 0.9, np.float32) if conf is None else np.asarray(conf, np.float32),
        class_id=np.zeros(n, np.int64) if cls is None else np.asarray(cls, np.int64),
        data={"obj": objs, "class_name": np.array([f"c{o}" for o in objs.tolist()])},
    )


def box_at(x: float, y: float) -> list[float]:
    return [x, y, x + BOX, y + BOX]


def moving_objects(frame: int, n: int, speed: float = 2.0) -> np.ndarray:
    """``(n, 4)`` boxes of ``n`` objects moving right at ``speed`` px/frame, one per row of a grid."""
    return np.array([box_at(10 + frame * speed, 10 + i * SPACING) for i in range(n)], dtype=np.float32)


def run_static(tracker: Tracker, visible: list[bool], x: float = 100.0) -> list[int]:
    """Feed one static object on the frames where ``visible``; return its ID per visible frame."""
    out = []
    for v in visible:
        r = tracker.update(dets([box_at(x, x)]) if v else dets(np.empty((0, 4))))
        if v:
            out.append(int(r.tracker_id[0]))
        else:
            assert len(r) == 0
    return out


# ---------------------------------------------------------------------------------------- factory
def test_make_tracker_default_is_bytetrack_and_a_tracker() -> None:
    t = make_tracker(fps=FPS)
    assert isinstance(t, ByteTrack)
    assert isinstance(t, Tracker)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("deepsort", {}, "unknown tracker 'deepsort'"),
        ("bytetrack", {"fps": 0.0}, "fps must be a finite number > 0"),
        ("bytetrack", {"lost_track_seconds": -1.0}, "lost_track_seconds"),
        ("bytetrack", {"high_conf_threshold": 1.5}, "high_conf_threshold"),
        ("bytetrack", {"low_conf_threshold": 0.7}, "must not exceed"),
        ("bytetrack", {"no_such_knob": 1}, "invalid parameters"),
        ("ocsort", {"no_such_knob": 1}, "invalid parameters"),
        ("bytetrack", {"state_estimator": "xyah"}, "state_estimator"),
    ],
)
def test_make_tracker_rejects_bad_config(name: str, kwargs: dict, match: str) -> None:
    kwargs = {"fps": FPS, **kwargs}
    with pytest.raises(ConfigError, match=match):
        make_tracker(name, **kwargs)


@pytest.mark.parametrize(
    ("seconds", "fps", "frames"),
    [
        (1.0, 30.0, 30),
        (1.0, 25.0, 25),
        (1.0, 10.0, 10),
        (2.0, 5.0, 10),
        (0.5, 15.0, 8),
        (0.0, 30.0, 0),
        (1.0, 29.97, 30),
        (0.1, 30.0, 3),
    ],
)
def test_lost_track_frames(seconds: float, fps: float, frames: int) -> None:
    assert lost_track_frames(seconds, fps) == frames


# ---------------------------------------------------------------------------------- row alignment
@pytest.mark.parametrize("name", ALL_TRACKERS)
def test_rows_stay_aligned_with_shuffled_input_and_masks(name: str) -> None:
    rng = np.random.default_rng(7)
    tracker = make_tracker(name, fps=FPS)
    n = 12
    id_of_obj: dict[int, int] = {}
    for f in range(40):
        order = rng.permutation(n)
        boxes = moving_objects(f, n)[order]
        conf = rng.uniform(0.65, 1.0, n)
        conf[rng.random(n) < 0.15] = 0.05  # some rows below the low-score floor
        cls = order % 2
        d = dets(boxes, conf=conf, cls=cls, masks=True, obj=order)
        out = tracker.update(d)

        assert len(out) == n
        np.testing.assert_array_equal(out.xyxy, d.xyxy)
        np.testing.assert_array_equal(out.mask, d.mask)
        np.testing.assert_array_equal(out.confidence, d.confidence)
        np.testing.assert_array_equal(out.class_id, d.class_id)
        np.testing.assert_array_equal(out.data["obj"], d.data["obj"])
        np.testing.assert_array_equal(out.data["class_name"], d.data["class_name"])
        assert "_vtrack_row" not in out.data
        assert out.tracker_id is not None and out.tracker_id.shape == (n,)
        assert ((out.tracker_id == -1) | (out.tracker_id >= 1)).all()
        if name == "bytetrack":
            assert (out.tracker_id[d.confidence < 0.1] == -1).all()
        # A confirmed ID always belongs to the same object, and an object keeps its ID.
        for obj, tid in zip(out.data["obj"].tolist(), out.tracker_id.tolist(), strict=True):
            if tid == -1:
                continue
            assert id_of_obj.setdefault(obj, tid) == tid, f"frame {f}: object {obj} changed ID"
        assert len(set(id_of_obj.values())) == len(id_of_obj)
    assert len(id_of_obj) == n  # every object got confirmed


def test_input_detections_are_not_modified() -> None:
    tracker = make_tracker(fps=FPS)
    d = dets(moving_objects(0, 3))
    before = {k: v.copy() for k, v in d.data.items()}
    for _ in range(3):
        out = tracker.update(d)
    assert d.tracker_id is None
    assert out.tracker_id is not None and (out.tracker_id > 0).all()
    assert set(d.data) == set(before)


@pytest.mark.parametrize("name", ALL_TRACKERS)
def test_empty_in_empty_out(name: str) -> None:
    tracker = make_tracker(name, fps=FPS)
    for d in (sv.Detections.empty(), dets(np.empty((0, 4)))):
        out = tracker.update(d)
        assert len(out) == 0
        assert out.tracker_id is not None and out.tracker_id.shape == (0,)


def test_confidence_none_is_tracked() -> None:
    tracker = make_tracker(fps=FPS)
    for f in range(3):
        d = sv.Detections(xyxy=moving_objects(f, 2))
        out = tracker.update(d)
    assert out.tracker_id is not None and sorted(out.tracker_id.tolist()) == [1, 2]


@pytest.mark.parametrize(
    ("engine", "visible", "expected"),
    [
        # The paper confirms the tracks of a stream's first frame at once ...
        ("paper", [True, True, True], [1, 1, 1]),
        # ... any later track on its second consecutive match.
        ("paper", [False, True, True, True], [-1, 1, 1]),
        ("library", [True, True, True], [-1, 1, 1]),
        ("library", [False, True, True, True], [-1, 1, 1]),
    ],
)
def test_new_track_confirmed_on_second_frame(engine: str, visible: list[bool], expected: list[int]) -> None:
    tracker = make_tracker(fps=FPS, engine=engine)
    assert run_static(tracker, visible) == expected


def test_class_appearing_mid_stream_is_not_confirmed_at_once() -> None:
    """First-frame confirmation is the stream's first frame, not a class engine's first frame."""
    tracker = make_tracker(fps=FPS)
    tracker.update(dets([box_at(300, 300)], cls=[0]))
    both = dets([box_at(300, 300), box_at(100, 100)], cls=[0, 1])
    first, second = tracker.update(both), tracker.update(both)
    assert first.tracker_id is not None and second.tracker_id is not None
    assert first.tracker_id[1] == -1 and second.tracker_id[1] > 0


# -------------------------------------------------------------------------------- lost buffer
@pytest.mark.parametrize(
    ("fps", "seconds", "gap", "same_id"),
    [
        (10.0, 1.0, 10, True),  # buffer 10 frames: a 10-frame gap is bridged
        (10.0, 1.0, 11, False),
        (30.0, 1.0, 25, True),  # the same 25-frame gap: bridged at 30 fps ...
        (10.0, 1.0, 25, False),  # ... not at 10 fps
        (5.0, 2.0, 10, True),
        (5.0, 2.0, 11, False),
        (30.0, 0.5, 15, True),
        (30.0, 0.5, 16, False),
    ],
)
def test_lost_buffer_in_seconds(fps: float, seconds: float, gap: int, same_id: bool) -> None:
    tracker = make_tracker(fps=fps, lost_track_seconds=seconds)
    ids = run_static(tracker, [True] * 5 + [False] * gap + [True] * 3)
    before, after = ids[4], ids[-1]
    assert before > 0 and after > 0
    assert (before == after) is same_id
    if not same_id:
        assert after > before


# ------------------------------------------------------------------------------------------ IDs
def _stream(rng: np.random.Generator, frames: int) -> list[sv.Detections]:
    """A scripted stream: objects appear and vanish in waves, so new IDs keep coming."""
    out = []
    for f in range(frames):
        wave, t = divmod(f, 20)
        n = 1 + wave % 3
        boxes = np.array(
            [box_at(20 + t * 3 + 7 * wave, 20 + i * SPACING) for i in range(n)], dtype=np.float32
        )
        present = t < 14  # gap of 6 frames > buffer of 3 frames below: a new ID per wave
        d = dets(boxes, conf=rng.uniform(0.7, 1.0, n)) if present else dets(np.empty((0, 4)))
        out.append(d)
    return out


def _ids(out: sv.Detections) -> list[int]:
    assert out.tracker_id is not None
    return [int(i) for i in out.tracker_id if i != -1]


@pytest.mark.parametrize("name", ALL_TRACKERS)
def test_ids_unique_across_reset_and_independent_between_instances(name: str) -> None:
    """Two streams interleaved, one reset mid-way: no reuse, no cross-talk.

    The library's own IDs start at 0 and restart after ``reset()``; the wrapper must hide that.
    """
    a_frames = _stream(np.random.default_rng(1), 200)
    b_frames = _stream(np.random.default_rng(2), 200)
    kw = {"fps": 30.0, "lost_track_seconds": 0.1}

    solo = make_tracker(name, **kw)
    b_solo = [tuple(solo.update(d).tracker_id.tolist()) for d in b_frames]  # type: ignore[union-attr]

    a, b = make_tracker(name, **kw), make_tracker(name, **kw)
    a_before: list[int] = []
    a_after: list[int] = []
    b_out = []
    for f in range(200):
        if f == 100:
            a.reset()
        (a_before if f < 100 else a_after).extend(_ids(a.update(a_frames[f])))
        out = b.update(b_frames[f])
        b_out.append(tuple(out.tracker_id.tolist()))  # type: ignore[union-attr]

    # B behaves exactly as if it ran alone: A's activity and reset do not touch it.
    assert b_out == b_solo
    # A's IDs are positive, new IDs only ever grow, and none reappears after the reset.
    first_seen = list(dict.fromkeys(a_before + a_after))
    assert min(first_seen) == 1
    assert first_seen == sorted(first_seen)
    assert len(first_seen) > 10
    assert a_after and min(a_after) > max(a_before)
    assert isinstance(a, LibraryTracker) and a.next_id == max(first_seen) + 1


def test_reset_forgets_tracks() -> None:
    tracker = make_tracker(fps=FPS)
    first = run_static(tracker, [True] * 3)
    tracker.reset()
    assert isinstance(tracker, LibraryTracker) and tracker.state_size["tracks"] == 0
    second = run_static(tracker, [True] * 3)
    assert first == [1, 1, 1]  # the first frame of a stream confirms at once (paper engine) ...
    assert second == [2, 2, 2]  # ... also the first frame after reset()


# ------------------------------------------------------------------------------------- per class
@pytest.mark.parametrize(("per_class", "inherits"), [(True, False), (False, True)])
def test_bicycle_never_takes_a_persons_id(per_class: bool, inherits: bool) -> None:
    """A person's box is replaced by a bicycle's at the same place: per class, a new ID."""
    person, bicycle = 0, 1
    tracker = make_tracker(fps=FPS, per_class=per_class)
    box = [box_at(100, 100)]
    ids = []
    for f in range(10):
        out = tracker.update(dets(box, cls=[person if f < 5 else bicycle]))
        ids.append(int(out.tracker_id[0]))  # type: ignore[index]
    assert ids[4] > 0 and ids[9] > 0
    assert (ids[4] == ids[9]) is inherits


def test_two_classes_overlapping_keep_their_own_ids() -> None:
    """A person riding a bicycle: two boxes nearly identical, two stable IDs."""
    tracker = make_tracker(fps=FPS)
    seen: dict[int, set[int]] = {0: set(), 1: set()}
    for f in range(30):
        b = box_at(10 + 3 * f, 50)
        order = [0, 1] if f % 2 else [1, 0]
        boxes = [b if c == 0 else [v + 1 for v in b] for c in order]
        out = tracker.update(dets(boxes, cls=order))
        for c, tid in zip(order, out.tracker_id.tolist(), strict=True):  # type: ignore[union-attr]
            if tid != -1:
                seen[c].add(tid)
    assert len(seen[0]) == 1 and len(seen[1]) == 1 and seen[0] != seen[1]


# -------------------------------------------------------------------------------- bounded state
@pytest.mark.parametrize("name", ALL_TRACKERS)
def test_state_stays_bounded_over_many_short_tracks(name: str) -> None:
    rng = np.random.default_rng(3)
    tracker = make_tracker(name, fps=30.0, lost_track_seconds=0.2)  # 6 frames
    assert isinstance(tracker, LibraryTracker)
    live: list[tuple[int, float, float, int, int]] = []  # (obj, x, y, cls, frames left)
    next_obj = 0
    peak = {"engines": 0, "id_map": 0, "tracks": 0}
    for _ in range(1500):
        if rng.random() < 0.5:
            live.append((next_obj, rng.uniform(0, 2000), rng.uniform(0, 2000), int(rng.integers(3)), 5))
            next_obj += 1
        boxes = [box_at(x, y) for _, x, y, _, _ in live]
        d = dets(boxes, cls=[c for *_, c, _ in live]) if live else dets(np.empty((0, 4)))
        tracker.update(d)
        live = [(o, x + 1, y, c, k - 1) for o, x, y, c, k in live if k > 1]
        for key, value in tracker.state_size.items():
            peak[key] = max(peak[key], value)
    assert tracker.next_id > 300  # many tracks came and went ...
    assert peak["tracks"] < 40  # ... yet only the live ones (+ lost buffer) are held
    assert peak["id_map"] <= peak["tracks"]
    assert peak["engines"] <= 3
