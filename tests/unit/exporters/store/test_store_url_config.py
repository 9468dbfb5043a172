"""Store URLs, the run config's store keys and the default run id."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vtrack.config import RunConfig
from vtrack.errors import ConfigError
from vtrack.exporters.store import StoreError, parse_store_url
from vtrack.exporters.store.base import redact
from vtrack.job import default_run_id


@pytest.mark.parametrize(
    ("url", "backend", "target"),
    [
        ("sqlite:///counts.db", "sqlite", "counts.db"),
        ("sqlite:////var/lib/vtrack/counts.db", "sqlite", "/var/lib/vtrack/counts.db"),
        ("postgresql://u@db:5432/vtrack", "postgresql", "postgresql://u@db:5432/vtrack"),
        ("postgres://u:pw@db/vtrack", "postgresql", "postgres://u:pw@db/vtrack"),
    ],
)
def test_good_urls(url: str, backend: str, target: str) -> None:
    p = parse_store_url(url)
    assert (p.backend, p.target) == (backend, target)
    assert "pw" not in p.display


@pytest.mark.parametrize("url", ["", "counts.db", "sqlite://counts.db", "sqlite:///", "mysql://x/y", "postgresql://"])
def test_bad_urls_are_one_line_errors(url: str) -> None:
    with pytest.raises(StoreError, match=r"expected sqlite:///path\.db or postgresql://") as ei:
        parse_store_url(url)
    assert "\n" not in str(ei.value)


def test_redact_hides_password() -> None:
    assert redact("postgresql://me:s3cret@h:1/db") == "postgresql://me:***@h:1/db"
    assert redact("postgresql://me@h/db") == "postgresql://me@h/db"


def test_run_config_store_keys() -> None:
    data = {"store": "sqlite:///x.db", "run_id": "day1", "timezone": "Europe/Amsterdam"}
    cfg = RunConfig.model_validate(data)
    assert (cfg.store, cfg.run_id, cfg.timezone) == ("sqlite:///x.db", "day1", "Europe/Amsterdam")
    assert RunConfig().store is None and RunConfig().timezone == "UTC"
    for field in ("store", "run_id", "timezone"):
        assert RunConfig.model_fields[field].description


@pytest.mark.parametrize(
    ("data", "msg"),
    [
        ({"store": "mysql://x"}, "expected sqlite"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"run_id": ""}, "at least 1"),
        ({"stores": "sqlite:///x.db"}, "Extra inputs"),
    ],
)
def test_run_config_rejects_bad_store_keys(data: dict[str, str], msg: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=msg):
        RunConfig.model_validate(data)


def test_default_run_id_is_stable_per_file_and_start_time(tmp_path) -> None:
    t = datetime(2026, 5, 1, 7, tzinfo=timezone.utc)
    a = default_run_id(str(tmp_path / "cam.mp4"), t)
    assert a == default_run_id(str(tmp_path / "cam.mp4"), t.astimezone())
    assert a.startswith("cam-") and len(a) == len("cam-") + 10
    assert a != default_run_id(str(tmp_path / "other" / "cam.mp4"), t)
    assert a != default_run_id(str(tmp_path / "cam.mp4"), t.replace(hour=8))


def test_parse_time_and_zone_errors() -> None:
    from vtrack.exporters.store.query import parse_time, zone

    ams = zone("Europe/Amsterdam")
    assert parse_time("2026-03-29", ams).isoformat() == "2026-03-29T00:00:00+01:00"
    assert parse_time("2026-03-29T12:00Z", ams).utcoffset() == timedelta(0)
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_time("yesterday", ams)
    with pytest.raises(ConfigError, match="unknown time zone"):
        zone("Europe/Atlantis")
