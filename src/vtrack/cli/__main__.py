"""``python -m vtrack.cli``: the same as the ``vtrack`` command."""

from vtrack.cli import main

main()
