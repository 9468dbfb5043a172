"""What the commands share (:mod:`vtrack.cli.common`): one-line failures, logging levels, the stop signal,
flag parsers and the flags → run config mapping."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import typer

from vtrack.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_USER_ERROR,
    fail,
    parse_params,
    parse_start_time,
    run_config_from_flags,
    setup_logging,
    split_classes,
    stop_on_signals,
    write_json,
)
from vtrack.errors import ConfigError


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Give the root logger back its handlers and level after ``setup_logging`` replaced them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_exit_codes() -> None:
    assert (EXIT_USER_ERROR, EXIT_INTERRUPTED) == (2, 130)


@pytest.mark.parametrize(
    ("args", "code", "line"),
    [
        (("bad [a-z] value",), EXIT_USER_ERROR, "error: bad [a-z] value"),  # never read as markup
        ((ConfigError("no such file"), 3, "invalid"), 3, "invalid: no such file"),
    ],
)
def test_fail_prints_one_line_and_exits(
    capsys: pytest.CaptureFixture[str], args: tuple[Any, ...], code: int, line: str
) -> None:
    with pytest.raises(typer.Exit) as e:
        fail(*args)
    assert e.value.exit_code == code
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", line + "\n")


@pytest.mark.parametrize(
    ("verbose", "quiet", "level"),
    [
        (0, False, logging.WARNING),
        (1, False, logging.INFO),
        (2, False, logging.DEBUG),
        (5, False, logging.DEBUG),
        (2, True, logging.ERROR),
    ],
)
def test_setup_logging_levels(root_logging: None, verbose: int, quiet: bool, level: int) -> None:
    assert setup_logging(verbose, quiet) == level
    root = logging.getLogger()
    assert root.level == level
    assert len(root.handlers) == 1


@pytest.mark.parametrize(
    ("text", "names"),
    [(None, None), ("bicycle", ["bicycle"]), (" bicycle, person ,", ["bicycle", "person"])],
)
def test_split_classes(text: str | None, names: list[str] | None) -> None:
    assert split_classes(text) == names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((",",), "--classes ',': expected comma-separated class names, e.g. bicycle,person"),
        ((" ", "--blur"), "--blur ' ': expected comma-separated class names, e.g. bicycle,person"),
        ((",", "--classes", "person"), "--classes ',': expected comma-separated class names, e.g. person"),
    ],
)
def test_split_classes_without_a_name_is_one_line(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        split_classes(*args)
    assert str(e.value) == message


def test_parse_start_time() -> None:
    assert parse_start_time(None) is None
    assert parse_start_time("2026-03-29T01:30:00+01:00") == datetime(
        2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=1))
    )
    with pytest.raises(ConfigError, match=r"^--start-time 'noon' is not an ISO 8601 time"):
        parse_start_time("noon")


def test_parse_params_values_are_yaml_scalars() -> None:
    assert parse_params(None) == {}
    assert parse_params(["min_iou=0.3", " fuse = true", "mode=xyxy", "empty="]) == {
        "min_iou": 0.3, "fuse": True, "mode": "xyxy", "empty": "",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("min_iou", "--param 'min_iou': expected KEY=VALUE, e.g. min_iou=0.3"),
        ("=0.3", "--param '=0.3': expected KEY=VALUE, e.g. min_iou=0.3"),
        ("k=[1", "--param 'k=[1': value is not a scalar"),
    ],
)
def test_parse_params_bad_items(item: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_params([item])
    assert str(e.value).startswith(message)


def test_flags_land_on_their_config_keys(tmp_path: Path) -> None:
    cfg = run_config_from_flags(
        None, source="clip.mp4", model="m.onnx", imgsz=320, conf=0.4, backend="onnxruntime",
        precision="fp32", classes="bicycle,person", line=["gate=0,0.5,1,0.5"], zone=["lot=0,0,1,0,1,1"],
        min_frames=3, tracker="ocsort", stride=2, fps=12.5, start_time="2026-01-02T03:04:05+00:00",
        out_dir=tmp_path / "out", no_video=True, blur="person", store="sqlite:///c.db", run_id="r1",
        tz="Europe/Amsterdam",
    )  # fmt: skip
    assert (cfg.source, cfg.model.path, cfg.model.imgsz, cfg.model.conf) == ("clip.mp4", "m.onnx", 320, 0.4)
    assert (cfg.model.backend, cfg.model.precision) == ("onnxruntime", "fp32")
    assert cfg.classes == ["bicycle", "person"]
    assert [lc.name for lc in cfg.counting.lines] == ["gate"]
    assert [zc.name for zc in cfg.counting.zones] == ["lot"]
    assert (cfg.counting.min_frames, cfg.tracker.type, cfg.stride, cfg.fps) == (3, "ocsort", 2, 12.5)
    assert cfg.start_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert (Path(cfg.output.dir), cfg.output.video) == (tmp_path / "out", False)
    assert (cfg.privacy.blur, cfg.store, cfg.run_id, cfg.timezone) == (
        ["person"], "sqlite:///c.db", "r1", "Europe/Amsterdam"
    )


def test_flags_not_given_leave_the_files_values(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("source: a.mp4\nclasses: [car]\nstride: 3\nmodel:\n  conf: 0.5\n", encoding="utf-8")
    cfg = run_config_from_flags(config, conf=0.3, no_video=False)
    assert (cfg.source, cfg.classes, cfg.stride, cfg.model.conf) == ("a.mp4", ["car"], 3, 0.3)
    assert cfg.output.video is True


def test_flags_are_checked_in_command_line_order_then_the_config() -> None:
    with pytest.raises(ConfigError, match=r"^--start-time"):
        run_config_from_flags(None, start_time="noon", classes=",", blur=",")
    with pytest.raises(ConfigError, match=r"^--classes"):
        run_config_from_flags(None, classes=",", blur=",")
    with pytest.raises(ConfigError, match=r"^--blur"):
        run_config_from_flags(None, blur=",", stride=0)
    with pytest.raises(ConfigError, match="stride"):
        run_config_from_flags(None, stride=0)


def test_write_json_creates_the_folder_and_fails_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    write_json(path, {"x": [1, 2]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": [1, 2]}
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^cannot write --json .*file/c\.json: "):
        write_json(blocker / "c.json", {})


_SIGTERM_CHILD = """
import signal, sys
from vtrack.cli.common import stop_on_signals
before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
with stop_on_signals() as stop:
    print("ready", flush=True)
    stopped = stop.wait(60)
after = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
print("stopped" if stopped else "timeout", "restored" if after == before else "changed", flush=True)
"""


def test_sigterm_sets_the_stop_event_and_handlers_come_back() -> None:
    """A real SIGTERM to a real process (not raised in this one: native libraries loaded by other tests,
    Ray's among them, may have their own handlers here)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIGTERM_CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert out.strip() == "stopped restored", err
    assert proc.returncode == 0 and "stopping (signal 15)" in err


def test_off_the_main_thread_no_handler_is_set() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[bool] = []

    def worker() -> None:
        with stop_on_signals() as stop:
            seen.append(signal.getsignal(signal.SIGTERM) == before and not stop.is_set())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [True]
