"""A stream's live view: the latest annotated JPEG, encoded only while someone watches.

The worker thread calls :meth:`LiveView.publish` after each frame while :attr:`LiveView.watched`;
HTTP handlers read :meth:`LiveView.latest` (snapshot) or wait for the next one (MJPEG). The view is
the only image ``vtrack serve`` sends out, so the stream's privacy classes are pixelated here, on a
copy, before drawing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from dataclasses import replace

import cv2

from vtrack.exporters.annotate import CountsTable, FrameAnnotator
from vtrack.exporters.privacy import blur_regions
from vtrack.types import FrameResult

VIEW_IDLE_S = 5.0
"""Annotated JPEGs are encoded while someone asked for one within this many seconds."""
JPEG_QUALITY = 80


class LiveView:
    """The newest annotated JPEG of one stream and who waits for it.

    Args:
        stopped: set when the stream stops (waiting readers return at once).
        blur: class names pixelated in the view.
    """

    def __init__(self, stopped: threading.Event, blur: Collection[str] = ()) -> None:
        self.stopped = stopped
        self.blur = frozenset(blur)
        self._jpeg: bytes | None = None
        self._seq = 0
        self._cond = threading.Condition()
        self._wanted_until = 0.0
        self._viewers = 0

    def want(self) -> None:
        """Keep encoding annotated JPEGs for the next :data:`VIEW_IDLE_S` seconds."""
        self._wanted_until = time.monotonic() + VIEW_IDLE_S

    def add_viewer(self, delta: int) -> None:
        """An MJPEG client connected (+1) or left (-1)."""
        with self._cond:
            self._viewers = max(0, self._viewers + delta)
        self.want()

    @property
    def watched(self) -> bool:
        """Someone watches: an MJPEG client is connected, or a JPEG was asked for lately."""
        return self._viewers > 0 or time.monotonic() < self._wanted_until

    def latest(self) -> tuple[bytes | None, int]:
        """The newest annotated JPEG and its sequence number (``None, 0`` before the first)."""
        with self._cond:
            return self._jpeg, self._seq

    def wait(self, after_seq: int, timeout: float) -> tuple[bytes | None, int]:
        """Wait up to ``timeout`` s for a JPEG newer than ``after_seq``; return the newest either way."""
        self.want()
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._seq <= after_seq and not self.stopped.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._jpeg, self._seq

    def wake(self) -> None:
        """Wake every waiting reader (the stream stopped)."""
        with self._cond:
            self._cond.notify_all()

    def publish(
        self,
        annotator: FrameAnnotator,
        result: FrameResult,
        counts: CountsTable | None,
    ) -> None:
        """Draw ``result`` (privacy classes pixelated first, on a copy) and make it the newest JPEG."""
        if result.blur is not None and self.blur:
            image = blur_regions(result.frame.image, result.blur, self.blur, copy=True)
            result = replace(result, frame=replace(result.frame, image=image))
        image = annotator.annotate(result, counts)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return
        with self._cond:
            self._jpeg = buf.tobytes()
            self._seq += 1
            self._cond.notify_all()
