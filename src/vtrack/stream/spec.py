"""What a source spec names: a live URL, a camera or a file (no imports beyond the standard library:
config validation uses it without loading the video stack)."""

from __future__ import annotations

import re
from typing import Final

LIVE_SCHEMES: Final = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt"})
"""URL schemes read as live streams."""

CAMERA_PATH: Final = re.compile(r"^/dev/video[0-9]+$")
"""A V4L2 camera device."""


def is_live_spec(spec: str) -> bool:
    """Whether ``spec`` names a live source rather than a file.

    Args:
        spec: ``rtsp://``, ``rtsps://``, ``rtmp(s)://``, ``http(s)://`` (MJPEG, HLS...), ``udp://``,
            ``tcp://``, ``srt://`` URLs, a camera index (``"0"``) or a ``/dev/videoN`` path are live.

    Returns:
        ``True`` for a live source, ``False`` for anything else (taken as a file path).
    """
    text = str(spec).strip()
    if is_index(text) or CAMERA_PATH.match(text):
        return True
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in LIVE_SCHEMES


def is_index(text: str) -> bool:
    """ASCII digits only (``"²".isdigit()`` is true but ``int("²")`` fails)."""
    return text.isascii() and text.isdigit()


def is_camera(spec: str) -> bool:
    """A camera index or a ``/dev/videoN`` path."""
    text = spec.strip()
    return is_index(text) or bool(CAMERA_PATH.match(text))



__all__ = ["CAMERA_PATH", "LIVE_SCHEMES", "is_camera", "is_index", "is_live_spec"]
