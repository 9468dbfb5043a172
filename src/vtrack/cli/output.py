"""Consoles, the one-line error output and the tables shared by CLI commands."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

out = Console()
err = Console(stderr=True)


def print_error(message: object, prefix: str = "error") -> None:
    """Print ``prefix: message`` on stderr as one line; the message is never read as rich markup.

    (Messages quote user input and regular expressions such as ``[a-z0-9]``, which rich would
    otherwise swallow as style tags.)
    """
    err.print(f"[bold red]{prefix}:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


def frame_progress(*, quiet: bool = False) -> Progress:
    """The frames bar of a command that reads a video (frames done of the total, FPS, elapsed, ETA) on
    stderr; off with ``quiet`` or when stderr is not a terminal. Add a task with an ``fps`` field."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:>6.1f} FPS"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
        transient=False,
    )


def advance(progress: Progress, task_id: object) -> None:
    """One more frame on a :func:`frame_progress` task, with its speed as the ``fps`` field."""
    progress.advance(task_id)  # type: ignore[arg-type]
    task = next(t for t in progress.tasks if t.id == task_id)
    progress.update(task_id, fps=task.speed or 0.0)  # type: ignore[arg-type]


def crossings_table(lines: Mapping[str, Mapping[str, Mapping[str, int]]], title: str) -> Table:
    """A rich table of crossings: a row per line × class with its ``in`` and ``out`` counts.

    Args:
        lines: line name → class name → ``{"in": n, "out": n}`` (a run summary's ``lines``).
        title: the table's title.
    """
    table = Table("line", "class", "in", "out", title=title)
    for line_name, per in lines.items():
        for cls, c in per.items():
            table.add_row(line_name, cls, str(c["in"]), str(c["out"]))
    return table
