"""The tables shared by commands (:mod:`vtrack.cli.output`)."""

from __future__ import annotations

import io

from rich.console import Console

from vtrack.cli.output import crossings_table


def test_crossings_table_has_a_row_per_line_and_class() -> None:
    lines = {"gate": {"bicycle": {"in": 3, "out": 1}, "person": {"in": 0, "out": 2}}, "exit": {}}
    table = crossings_table(lines, "crossings")
    assert [c.header for c in table.columns] == ["line", "class", "in", "out"]
    assert table.row_count == 2
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(table)
    text = console.export_text()
    assert "crossings" in text
    rows = [[cell.strip() for cell in ln.split("│")[1:5]] for ln in text.splitlines() if "│ gate" in ln]
    assert rows == [["gate", "bicycle", "3", "1"], ["gate", "person", "0", "2"]]
