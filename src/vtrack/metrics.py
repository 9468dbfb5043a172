"""The project's Prometheus metrics, in their own :class:`CollectorRegistry` (never the global one).

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` base units). They are updated
where the event happens (the stream workers of ``vtrack serve``) and exposed by ``GET /metrics``.

Metric families (sample names in :data:`METRIC_NAMES`):

* ``vtrack_frames_total{stream}``: frames processed (detected, tracked, counted).
* ``vtrack_frames_dropped_total{stream,reason}``: frames dropped; ``reason="stale"`` when a newer frame
  replaced one the pipeline had not yet taken.
* ``vtrack_stream_up{stream}``: 1 while the stream is ``running``, else 0.
* ``vtrack_reconnects_total{stream}``: reconnections of the stream's source.
* ``vtrack_last_frame_age_seconds{stream}``: seconds since the last frame was read from the source.
* ``vtrack_inference_seconds``: histogram of detector calls (shared detector, all streams).
* ``vtrack_frame_latency_seconds{stream}``: histogram of capture → result latency.
* ``vtrack_tracks_active{stream}``: confirmed tracks in the last processed frame.
* ``vtrack_objects{stream,class}``: detections per class in the last processed frame.
* ``vtrack_line_crossings_total{stream,line,class,direction}``: line crossings.
* ``vtrack_zone_occupancy{stream,zone,class}``: tracks in the zone now (entered, not yet exited).
* ``vtrack_zone_entries_total{stream,zone,class}``: zone entries.
* ``vtrack_zone_exits_total{stream,zone,class}``: zone exits.
* ``vtrack_build_info{version,python}``: constant 1.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.metrics_core import Metric

from vtrack import __version__

INFERENCE_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
"""Seconds; covers a GPU (few ms) to a busy 2-core CPU (hundreds of ms)."""
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
"""Seconds from capture to result."""

METRIC_NAMES: frozenset[str] = frozenset(
    {
        "vtrack_frames_total",
        "vtrack_frames_dropped_total",
        "vtrack_stream_up",
        "vtrack_reconnects_total",
        "vtrack_last_frame_age_seconds",
        "vtrack_inference_seconds_bucket",
        "vtrack_inference_seconds_count",
        "vtrack_inference_seconds_sum",
        "vtrack_frame_latency_seconds_bucket",
        "vtrack_frame_latency_seconds_count",
        "vtrack_frame_latency_seconds_sum",
        "vtrack_tracks_active",
        "vtrack_objects",
        "vtrack_line_crossings_total",
        "vtrack_zone_occupancy",
        "vtrack_zone_entries_total",
        "vtrack_zone_exits_total",
        "vtrack_build_info",
    }
)
"""Every sample family name ``GET /metrics`` exposes (histograms as ``_bucket``/``_count``/``_sum``).

Dashboards and alert rules are checked against this set: keep names stable.
"""


class VtrackRegistry(CollectorRegistry):
    """A registry that leaves out the ``*_created`` samples of counters and histograms.

    They double the series count, and Prometheus' text format has no use for them.
    """

    def collect(self) -> Iterable[Metric]:
        for family in super().collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class Metrics:
    """The metric objects of one process (or one test), in a private registry.

    Args:
        registry: registry to register in; default a new one (so tests and several apps never clash).

    Attributes:
        registry: the :class:`CollectorRegistry` to expose.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else VtrackRegistry(auto_describe=True)
        r = self.registry
        self.frames = Counter("vtrack_frames", "Frames processed per stream.", ["stream"], registry=r)
        self.frames_dropped = Counter(
            "vtrack_frames_dropped",
            "Frames dropped per stream and reason (stale: replaced by a newer frame before processing).",
            ["stream", "reason"],
            registry=r,
        )
        self.stream_up = Gauge(
            "vtrack_stream_up", "1 while the stream is running, else 0.", ["stream"], registry=r
        )
        self.reconnects = Counter(
            "vtrack_reconnects", "Reconnections of the stream's source.", ["stream"], registry=r
        )
        self.last_frame_age = Gauge(
            "vtrack_last_frame_age_seconds",
            "Seconds since the last frame was read from the source.",
            ["stream"],
            registry=r,
        )
        self.inference = Histogram(
            "vtrack_inference_seconds",
            "Seconds per detector call (shared detector, all streams).",
            buckets=INFERENCE_BUCKETS,
            registry=r,
        )
        self.frame_latency = Histogram(
            "vtrack_frame_latency_seconds",
            "Seconds from frame capture to result (detected, tracked, counted).",
            ["stream"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tracks_active = Gauge(
            "vtrack_tracks_active", "Confirmed tracks in the last processed frame.", ["stream"], registry=r
        )
        self.objects = Gauge(
            "vtrack_objects",
            "Detections per class in the last processed frame.",
            ["stream", "class"],
            registry=r,
        )
        self.line_crossings = Counter(
            "vtrack_line_crossings",
            "Line crossings per stream, line, class and direction (in/out).",
            ["stream", "line", "class", "direction"],
            registry=r,
        )
        self.zone_occupancy = Gauge(
            "vtrack_zone_occupancy",
            "Tracks in the zone now (entered and not yet exited), per stream, zone and class.",
            ["stream", "zone", "class"],
            registry=r,
        )
        self.zone_entries = Counter(
            "vtrack_zone_entries", "Zone entries per stream, zone and class.", ["stream", "zone", "class"],
            registry=r,
        )
        self.zone_exits = Counter(
            "vtrack_zone_exits", "Zone exits per stream, zone and class.", ["stream", "zone", "class"],
            registry=r,
        )
        self.build_info = Info("vtrack_build", "vtrack version and Python version.", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})

    def remove_stream(self, stream: str) -> None:
        """Drop every labelled series of ``stream`` (a stream removed at run time stops being exported)."""
        for metric in (
            self.frames,
            self.frames_dropped,
            self.stream_up,
            self.reconnects,
            self.last_frame_age,
            self.frame_latency,
            self.tracks_active,
            self.objects,
            self.line_crossings,
            self.zone_occupancy,
            self.zone_entries,
            self.zone_exits,
        ):
            # prometheus_client has no "remove by one label": walk the children it holds
            for labels in list(metric._metrics):  # no public listing of children
                names = metric._labelnames
                if dict(zip(names, labels, strict=True)).get("stream") == stream:
                    metric.remove(*labels)

    def render(self) -> bytes:
        """The registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
