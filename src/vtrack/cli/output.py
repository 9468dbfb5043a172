"""Consoles, the one-line error output and the tables shared by CLI commands."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console()
err = Console(stderr=True)


def print_error(message: object, prefix: str = "error") -> None:
    """Print ``prefix: message`` on stderr as one line; the message is never read as rich markup.

    (Messages quote user input and regular expressions such as ``[a-z0-9]``, which rich would
    otherwise swallow as style tags.)
    """
    err.print(f"[bold red]{prefix}:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


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
