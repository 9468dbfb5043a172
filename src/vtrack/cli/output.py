"""Consoles and the one-line error output shared by every CLI command."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True)


def print_error(message: object, prefix: str = "error") -> None:
    """Print ``prefix: message`` on stderr as one line; the message is never read as rich markup.

    (Messages quote user input and regular expressions such as ``[a-z0-9]``, which rich would
    otherwise swallow as style tags.)
    """
    err.print(f"[bold red]{prefix}:[/] {escape(str(message))}", highlight=False, soft_wrap=True)
