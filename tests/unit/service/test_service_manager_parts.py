"""Pure parts of the stream manager: password scrubbing."""

from __future__ import annotations

from datetime import datetime, timezone

from vtrack.service.manager import safe_source, scrub

T0 = datetime(2026, 3, 1, 10, 15, tzinfo=timezone.utc)


def test_scrub_hides_url_passwords_in_any_text() -> None:
    text = "cannot open rtsp://admin:p%40ss@10.0.0.5:554/s1: Connection refused; http://u:x@h/y"
    out = scrub(text)
    assert "p%40ss" not in out and ":x@" not in out
    assert "rtsp://admin:***@10.0.0.5:554/s1" in out
    assert scrub("/dev/video0") == "/dev/video0"
    assert "hunter22" not in safe_source("rtsp://admin:hunter22@cam/x")
