"""One redactor for the package: URL credentials hidden in URLs and in any text quoting them."""

from __future__ import annotations

import pytest

from vtrack.exporters.store.base import redact
from vtrack.redact import redact_url, scrub, url_secrets
from vtrack.service.manager import safe_source
from vtrack.service.manager import scrub as manager_scrub
from vtrack.stream.live import redact_url as live_redact_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:pa/ss@cam.local/x", "rtsp://admin:***@cam.local/x"),  # unescaped '/'
        ("rtsp://admin:p@ss/w@cam/x", "rtsp://admin:***@cam/x"),  # '@' and '/' in the password
        ("rtsp://admin:a?b#c@cam/x", "rtsp://admin:***@cam/x"),
        ("postgresql://me:s3/cret@h:1/db", "postgresql://me:***@h:1/db"),
        ("rtsp://user:pass@host/x", "rtsp://user:***@host/x"),
        ("https://TOKEN123@host/mjpeg", "https://***@host/mjpeg"),
        ("http://host/video?token=abc&res=hd", "http://host/video?token=***&res=hd"),
        ("http://host/v?API_KEY=abc", "http://host/v?API_KEY=***"),
        ("rtsp://host:554/x?channel=1", "rtsp://host:554/x?channel=1"),
        ("/videos/clip.mp4", "/videos/clip.mp4"),
        ("0", "0"),
    ],
)
def test_every_redactor_hides_the_password(url: str, expected: str) -> None:
    for f in (redact_url, live_redact_url, safe_source, manager_scrub):
        assert f(url) == expected, f
    if "TOKEN" not in url:  # the store keeps a database login given without a password
        assert redact(url) == expected


def test_store_urls_keep_the_login() -> None:
    assert redact("postgresql://me@h/db") == "postgresql://me@h/db"
    assert redact("postgresql://me:x/y@h/db") == "postgresql://me:***@h/db"


def test_text_with_several_urls_and_known_secrets() -> None:
    text = "cannot open rtsp://u:pa/ss@h/x: refused; http://v:q@g/y (auth pa%2Fss)"
    out = scrub(text, ["rtsp://u:pa/ss@h/x"])
    assert "pa/ss" not in out and "pa%2Fss" not in out and ":q@" not in out
    assert "rtsp://u:***@h/x" in out
    assert url_secrets("rtsp://u:pa/ss@h/x")[0] in ("pa%2Fss", "pa/ss")
