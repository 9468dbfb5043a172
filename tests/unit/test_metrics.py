"""The Prometheus metrics: own registry, exact names, text exposition."""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from vtrack.metrics import METRIC_NAMES, Metrics


def _samples(m: Metrics) -> set[str]:
    return {s.name for fam in text_string_to_metric_families(m.render().decode()) for s in fam.samples}


def _fill(m: Metrics, stream: str = "cam1") -> None:
    m.frames.labels(stream).inc()
    m.frames_dropped.labels(stream, "stale").inc(2)
    m.stream_up.labels(stream).set(1)
    m.reconnects.labels(stream).inc()
    m.last_frame_age.labels(stream).set(0.2)
    m.inference.observe(0.05)
    m.frame_latency.labels(stream).observe(0.12)
    m.tracks_active.labels(stream).set(3)
    m.objects.labels(stream, "car").set(2)
    m.line_crossings.labels(stream, "gate", "car", "in").inc()
    m.zone_occupancy.labels(stream, "lot", "car").set(2)
    m.zone_entries.labels(stream, "lot", "car").inc(3)
    m.zone_exits.labels(stream, "lot", "car").inc()


def test_every_name_exposed_and_nothing_else() -> None:
    m = Metrics()
    _fill(m)
    names = _samples(m)
    assert names == METRIC_NAMES
    text = m.render().decode()
    assert 'vtrack_line_crossings_total{class="car",direction="in",line="gate",stream="cam1"} 1.0' in text
    assert 'vtrack_frames_dropped_total{reason="stale",stream="cam1"} 2.0' in text
    assert "vtrack_build_info{" in text
    assert 'vtrack_zone_occupancy{class="car",stream="cam1",zone="lot"} 2.0' in text
    assert 'vtrack_zone_entries_total{class="car",stream="cam1",zone="lot"} 3.0' in text


def test_own_registry_never_global() -> None:
    a, b = Metrics(), Metrics()  # two instances must not clash
    assert a.registry is not REGISTRY and a.registry is not b.registry
    global_names = {s.name for fam in REGISTRY.collect() for s in fam.samples}
    assert not any(n.startswith("vtrack_") for n in global_names)


def test_remove_stream_drops_its_series_only() -> None:
    m = Metrics()
    _fill(m, "a")
    _fill(m, "b")
    m.remove_stream("a")
    text = m.render().decode()
    assert 'stream="a"' not in text
    assert 'stream="b"' in text
