"""The ``vtrack`` command line: the typer app, its commands and the console-script entry point.

One module per command group; :mod:`vtrack.cli.common` holds what they share (exit codes, the one-line
failure, logging, the stop signal, flag parsers, flags → run config), :mod:`vtrack.cli.options` the
options several commands take, :mod:`vtrack.cli.output` the consoles and shared tables. Errors a user
can cause (bad file, bad flag, bad config, bad model) end as one line on stderr and exit code 2, never a
traceback.

Where each command lives: ``run`` and ``validate-config`` in :mod:`~vtrack.cli.run`, ``export`` in
:mod:`~vtrack.cli.export`, ``eval`` in :mod:`~vtrack.cli.eval`, ``eval-counts`` in
:mod:`~vtrack.cli.eval_counts`, ``batch``, ``counts``, ``serve`` and ``bench`` in the modules of those
names, ``crops``, ``learn`` and ``export-embedder`` in :mod:`~vtrack.cli.subclasses`, ``docs-config`` in
:mod:`vtrack.docs_gen`.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from vtrack import __version__
from vtrack.cli.batch import batch_command
from vtrack.cli.bench import bench_command
from vtrack.cli.common import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USER_ERROR
from vtrack.cli.counts import counts_command
from vtrack.cli.eval import eval_command
from vtrack.cli.eval_counts import eval_counts_command
from vtrack.cli.export import export_command
from vtrack.cli.output import err, out
from vtrack.cli.run import run_command, validate_config_command
from vtrack.cli.serve import serve_command
from vtrack.cli.subclasses import crops_command, export_embedder_command, learn_command
from vtrack.docs_gen import docs_config_command
from vtrack.errors import VtrackError
from vtrack.runtime import tune_malloc

log = logging.getLogger("vtrack")

app = typer.Typer(
    name="vtrack",
    help="Detect, track and count objects in videos, image folders and live streams.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"vtrack {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """vtrack: ONNX YOLO detection + tracking + line counting."""


#: Every command by name, in the order of `vtrack --help`.
COMMANDS = (
    ("run", run_command),
    ("validate-config", validate_config_command),
    ("export", export_command),
    ("eval", eval_command),
    ("eval-counts", eval_counts_command),
    ("batch", batch_command),
    ("counts", counts_command),
    ("serve", serve_command),
    ("bench", bench_command),
    ("crops", crops_command),
    ("learn", learn_command),
    ("export-embedder", export_embedder_command),
    ("docs-config", docs_config_command),
)
for _name, _command in COMMANDS:
    app.command(_name)(_command)


def main() -> None:
    """Console-script entry point: every error ends as one line on stderr and an exit code."""
    tune_malloc()
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except VtrackError as e:  # in case a command forgot to catch
        err.print(f"error: {e}", highlight=False)
        sys.exit(EXIT_USER_ERROR)
    except OSError as e:  # the machine's, not ours: a full disk, a folder that cannot be written
        where = f" ({e.filename})" if e.filename else ""
        err.print(f"error: {e.strerror or e}{where}", highlight=False)
        sys.exit(EXIT_USER_ERROR)
    except Exception as e:
        log.debug("internal error", exc_info=True)
        err.print(
            f"internal error: {type(e).__name__}: {e} (run with -vv for details; please report it)",
            highlight=False,
        )
        sys.exit(EXIT_INTERNAL)
