"""USB cameras without a camera: what a missing device looks like (the real OpenCV/V4L2 backend).

No test machine has a camera or the v4l2loopback kernel module, so capture itself is not
exercised here; see docs/deployment.md ("Which sources are tested how"). What is checked: a
``/dev/videoN`` that does not exist and an index with no device behind it give a clear one-line
``last_error``, no traceback, and are retried with backoff (a USB camera may be plugged in later),
never ``failed``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from live_servers import ErrorLog, log_texts, wait_for

from vtrack.stream.live import LiveSource, StreamState, is_live_spec


def _absent_index() -> int:
    return next(i for i in range(63, 1000) if not Path(f"/dev/video{i}").exists())


@pytest.mark.parametrize(
    ("kind", "spec"),
    [
        ("path", f"/dev/video{_absent_index()}"),
        ("index", str(_absent_index())),
        ("huge index", "9" * 30),  # does not fit a C int: still one clear line
        ("leading zeros", f"00{_absent_index()}"),
    ],
)
def test_missing_camera_is_retried_with_a_clear_error(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], kind: str, spec: str
) -> None:
    caplog.set_level(logging.DEBUG)
    assert is_live_spec(spec), kind
    source = LiveSource(spec, name="usb", stall_timeout=2.0, backoff_initial=0.05, backoff_max=0.2)
    errors = ErrorLog(source)
    states: set[StreamState] = set()

    def retried() -> bool:
        errors.poll()
        states.add(source.state)
        return source.reconnects >= 3

    with source:
        assert wait_for(retried, 30), (source.state, source.last_error)
        assert source.read(timeout=0.05) is None
    device = f"/dev/video{int(spec)}" if spec.isdigit() else spec
    assert errors.seen == [f"cannot open: cannot open camera {spec}: {device} does not exist"], errors.seen
    assert StreamState.FAILED not in states and StreamState.RUNNING not in states
    assert source.state is StreamState.STOPPED
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [t for t in log_texts(caplog.records) if "Traceback" in t]
    _out, err = capfd.readouterr()
    assert "Traceback" not in err and "VIDEOIO" not in err  # OpenCV was not asked: no stderr noise


@pytest.mark.parametrize("spec", ["²", "/dev/video", "/dev/video٣", "video0", "-1"])
def test_not_a_camera_spec(spec: str) -> None:
    """Only ASCII indices and ``/dev/video<digits>`` are cameras; the rest are file paths."""
    assert not is_live_spec(spec)
