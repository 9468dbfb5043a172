"""The ``vtrack`` app: every command registered under its name, in the order of ``vtrack --help``."""

from __future__ import annotations

from typer.testing import CliRunner

from vtrack import __version__
from vtrack.cli import app

COMMANDS = [
    "run", "validate-config", "export", "eval", "eval-counts", "batch", "counts", "serve", "bench", "crops",
    "learn", "export-embedder", "docs-config",
]  # fmt: skip


def test_commands_in_help_order() -> None:
    assert [c.name for c in app.registered_commands] == COMMANDS


def test_version_and_every_commands_help() -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["--version"])
    assert (r.exit_code, r.stdout) == (0, f"vtrack {__version__}\n")
    for name in COMMANDS:
        r = runner.invoke(app, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "Usage:" in r.stdout, name
