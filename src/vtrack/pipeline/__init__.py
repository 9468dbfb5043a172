"""One frame step and one composition for ``run``, ``serve`` and ``batch``.

* :mod:`vtrack.pipeline.step`: :class:`FrameStep`, detections → tracks → counts → ``FrameResult``.
* :mod:`vtrack.pipeline.compose`: builds the detector, tracker, counters and step from config.
"""
