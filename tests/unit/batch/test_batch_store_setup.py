"""`vtrack batch --store`: URL preparation, the cluster check, the settings hash, the summary record."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vtrack.batch.manifest import settings_fingerprint
from vtrack.batch.store import (
    absolute_store_url,
    check_store_on_cluster,
    prepare_store,
    store_settings,
    store_summary,
)
from vtrack.cli import app
from vtrack.config import RunConfig
from vtrack.errors import ConfigError
from vtrack.exporters.store import StoreError

PG = "postgresql://u:secret@db.example:5432/counts"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///counts.db", "sqlite:////work/dir/counts.db"),
        ("sqlite:///sub/c.db", "sqlite:////work/dir/sub/c.db"),
        ("sqlite:////abs/c.db", "sqlite:////abs/c.db"),
        (PG, PG),
        ("postgres://u@h/db", "postgres://u@h/db"),
    ],
)
def test_absolute_store_url(url: str, expected: str) -> None:
    assert absolute_store_url(url, Path("/work/dir")) == expected


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ConfigError, match="in-memory SQLite store cannot be shared"):
        absolute_store_url("sqlite:///:memory:", Path("/x"))


def test_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match=r"expected sqlite:///path\.db"):
        absolute_store_url("mysql://h/db", Path("/x"))


@pytest.mark.parametrize(
    ("url", "nodes", "refused"),
    [("sqlite:////a/c.db", 1, False), ("sqlite:////a/c.db", 2, True), (PG, 5, False), (PG, 1, False)],
)
def test_sqlite_is_refused_on_a_cluster_of_several_nodes(url: str, nodes: int, refused: bool) -> None:
    if refused:
        with pytest.raises(ConfigError, match=r"2 nodes .* use a PostgreSQL store"):
            check_store_on_cluster(url, nodes)
    else:
        check_store_on_cluster(url, nodes)


def test_settings_hash_ignores_the_password_but_not_the_database() -> None:
    def fp(store: str | None) -> str:
        return settings_fingerprint({"stride": 2, "store": store_settings(store)})

    assert store_settings(PG) == "postgresql://u:***@db.example:5432/counts"
    assert fp(PG) == fp(PG.replace("secret", "other"))
    assert fp(PG) != fp(PG.replace("/counts", "/counts2"))
    assert fp(None) == settings_fingerprint({"stride": 2, "store": None})


def test_prepare_store_creates_and_migrates_the_file_once(tmp_path: Path) -> None:
    cfg = prepare_store(RunConfig(store="sqlite:///sub/c.db", run_id="b1"), tmp_path)
    assert cfg.store == f"sqlite:///{tmp_path}/sub/c.db"
    with sqlite3.connect(tmp_path / "sub/c.db") as c:
        assert c.execute("SELECT MAX(version) FROM vtrack_schema").fetchone()[0] >= 1
    assert prepare_store(RunConfig(), tmp_path) == RunConfig()


def test_prepare_store_fails_before_any_work_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(StoreError, match="cannot") as e:
        prepare_store(RunConfig(store=f"sqlite:///{tmp_path}/file/c.db"), tmp_path)
    assert "\n" not in str(e.value)


def test_store_summary() -> None:
    assert store_summary(RunConfig()) is None
    cfg = RunConfig(store=PG, run_id="b1", timezone="Europe/Amsterdam")
    assert store_summary(cfg) == {
        "url": "postgresql://u:***@db.example:5432/counts",
        "run_id": "b1",
        "timezone": "Europe/Amsterdam",
    }


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        (["--store", "mysql://h/db"], "expected sqlite:///path.db"),
        (["--start-time", "yesterday"], "--start-time 'yesterday' is not an ISO 8601 time"),
        (["--tz", "Mars/Base"], "unknown time zone"),
    ],
)
def test_batch_store_flags_fail_with_one_line(tmp_path: Path, args: list[str], msg: str) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 64)
    r = CliRunner().invoke(app, ["batch", str(video), "--out", str(tmp_path / "out"), *args])
    assert r.exit_code == 2, r.output
    assert msg in r.output and "Traceback" not in r.output
