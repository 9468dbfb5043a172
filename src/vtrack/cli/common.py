"""What every ``vtrack`` command shares: exit codes, the one-line failure, logging set-up, the stop
signal and the parsers of flags that more than one command takes.

Exit codes: 0 done, 1 internal error (a bug: the message asks for a report), 2 the user's error (bad
flag, file, config, model; one line on stderr), 130 interrupted (Ctrl-C or SIGTERM; outputs are
complete for the frames done). ``vtrack batch`` adds 3: some inputs failed, the rest were processed.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, overload

import typer
import yaml
from pydantic import ValidationError
from rich.logging import RichHandler

from vtrack.cli.output import err, print_error
from vtrack.config import RunConfig, format_validation_error, lines_from_flags, load_config, zones_from_flags
from vtrack.errors import ConfigError

log = logging.getLogger("vtrack")

EXIT_INTERNAL = 1
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def fail(message: object, code: int = EXIT_USER_ERROR, prefix: str = "error") -> NoReturn:
    """Print ``prefix: message`` as one line on stderr and end the command with ``code``."""
    print_error(message, prefix)
    raise typer.Exit(code)


def setup_logging(verbose: int, quiet: bool = False, *, show_time: bool = False) -> int:
    """Log to stderr through rich: warnings, ``-v`` info, ``-vv`` debug; ``quiet`` errors only.

    Args:
        verbose: how many ``-v`` were given.
        quiet: only errors (wins over ``verbose``).
        show_time: a time column (long-running ``vtrack serve``).

    Returns:
        The root logger's level.
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=show_time, rich_tracebacks=False)],
        force=True,
    )
    return level


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Set an event on SIGINT/SIGTERM (the run then finishes its frame and closes its files).

    A second Ctrl-C falls back to the default handler. Off the main thread (where signal handlers
    cannot be set) the event is only set by the caller.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
        stop.set()
        log.warning("stopping (signal %s): finishing the current frame and closing outputs", signum)

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


@overload
def split_classes(text: str, flag: str = ..., example: str = ...) -> list[str]: ...
@overload
def split_classes(text: str | None, flag: str = ..., example: str = ...) -> list[str] | None: ...
def split_classes(
    text: str | None, flag: str = "--classes", example: str = "bicycle,person"
) -> list[str] | None:
    """``--classes bicycle,person`` → ``["bicycle", "person"]`` (``None`` when the flag is not given).

    Raises:
        ConfigError: no class name in ``text``.
    """
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise ConfigError(f"{flag} {text!r}: expected comma-separated class names, e.g. {example}")
    return names


def parse_start_time(text: str | None) -> datetime | None:
    """``--start-time`` as a datetime (``None`` when not given).

    Raises:
        ConfigError: not an ISO 8601 time.
    """
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"--start-time {text!r} is not an ISO 8601 time: {e}") from e


def parse_params(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` flags → keyword arguments; values are YAML scalars (``0.3``, ``true``, ``xyxy``).

    Raises:
        ConfigError: an item without ``=`` or with an empty key.
    """
    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE, e.g. min_iou=0.3")
        try:
            params[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"--param {item!r}: value is not a scalar: {e}") from e
    return params


def write_json(path: Path, data: Any, flag: str = "--json") -> None:
    """Write ``data`` as indented JSON to the file a flag names, creating its folder.

    Raises:
        ConfigError: the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot write {flag} {path}: {e}") from e


def build_run_config(config: Path | None, overrides: dict[str, Any]) -> RunConfig:
    """The config file (if any) with command-line flags applied on top.

    Args:
        config: YAML file path or ``None``.
        overrides: dotted keys (``"model.conf"``) → values; ``None`` values mean "flag not given".

    Raises:
        ConfigError: the file, or the file with the flags applied, is not a valid run config.
    """
    base = load_config(config) if config is not None else RunConfig()
    data = base.model_dump(mode="python")
    for key, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    try:
        return RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError("; ".join(format_validation_error(e))) from e


def run_config_from_flags(
    config: Path | None,
    *,
    source: str | None = None,
    model: str | None = None,
    imgsz: int | None = None,
    conf: float | None = None,
    backend: str | None = None,
    precision: str | None = None,
    classes: str | None = None,
    subclasses: str | None = None,
    line: list[str] | None = None,
    zone: list[str] | None = None,
    min_frames: int | None = None,
    tracker: str | None = None,
    stride: int | None = None,
    fps: float | None = None,
    start_time: str | None = None,
    out_dir: Path | None = None,
    no_video: bool = False,
    blur: str | None = None,
    store: str | None = None,
    run_id: str | None = None,
    tz: str | None = None,
) -> RunConfig:
    """The run config of ``vtrack run``, ``batch`` and ``eval-counts``: ``--config`` with the flags on top.

    Each keyword is the flag of that name as given on the command line (``None``, or ``False`` for
    ``no_video``: not given, the file's or the default value holds). The flags that need parsing are
    checked in the order ``--start-time``, ``--classes``, ``--line``, ``--zone``, ``--blur``, then the
    whole config.

    Raises:
        ConfigError: a flag, the file, or the file with the flags applied is invalid.
    """
    start = parse_start_time(start_time)
    overrides: dict[str, Any] = {
        "source": source,
        "model.path": model,
        "model.imgsz": imgsz,
        "model.conf": conf,
        "model.backend": backend,
        "model.precision": precision,
        "classes": split_classes(classes),
        "subclasses": subclasses,
        "counting.lines": [lc.model_dump() for lc in lines_from_flags(line)] if line else None,
        "counting.zones": [zc.model_dump() for zc in zones_from_flags(zone)] if zone else None,
        "counting.min_frames": min_frames,
        "tracker.type": tracker,
        "stride": stride,
        "fps": fps,
        "start_time": start,
        "output.dir": str(out_dir) if out_dir is not None else None,
        "output.video": False if no_video else None,
        "privacy.blur": split_classes(blur, "--blur"),
        "store": store,
        "run_id": run_id,
        "timezone": tz,
    }
    return build_run_config(config, overrides)
