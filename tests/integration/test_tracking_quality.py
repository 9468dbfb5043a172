"""Tracking quality gate: ``vtrack eval`` on TUD-Campus with our detector and the default tracker.

The stored figures (``data/tracking_quality.json``) are HOTA, IDF1 and MOTA; the test fails when any
of them drops by more than ``tolerance_points``. The file is updated only on purpose, with the reason
in the commit. The detector runs once (one ``vtrack eval`` subprocess, as a user runs it); the same
run checks that the printed table and the JSON carry the same numbers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from vtrack.evaluation import HEADLINE, Evaluator, find_sequences
from vtrack.trackers import DEFAULT_TRACKER

pytestmark = pytest.mark.assets

STORED = Path(__file__).parent / "data" / "tracking_quality.json"
SEQ = "TUD-Campus"


@pytest.fixture(scope="module")
def stored() -> dict[str, Any]:
    return json.loads(STORED.read_text())


@pytest.fixture(scope="module")
def eval_run(
    shared: Path, stored: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """One ``vtrack eval`` run with the stored settings: its stdout and JSON record."""
    out = tmp_path_factory.mktemp("eval") / "eval.json"
    cmd = [
        sys.executable, "-m", "vtrack.cli", "eval", str(shared / "mot" / SEQ),
        "--model", str(shared / stored["model"]),
        "--classes", ",".join(stored["classes"]),
        "--conf", str(stored["conf"]),
        "--tracker", stored["tracker"],
        "--json", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return {"stdout": proc.stdout, "record": json.loads(out.read_text())}


def test_stored_settings_are_the_defaults(stored: dict[str, Any]) -> None:
    """The gate measures what users get: a tracker default change must re-record the figures."""
    assert stored["tracker"] == DEFAULT_TRACKER


def test_quality_has_not_dropped(eval_run: dict[str, Any], stored: dict[str, Any]) -> None:
    got = eval_run["record"]["sequences"][0]
    tol = float(stored["tolerance_points"])
    drops = {k: (v, got[k]) for k, v in stored["metrics"].items() if got[k] < v - tol}
    assert not drops, (
        f"tracking quality dropped more than {tol} points on {SEQ} (stored, now): {drops}; "
        f"if intended, update {STORED.name} and say why in the commit"
    )
    gains = {k: (v, got[k]) for k, v in stored["metrics"].items() if got[k] > v + tol}
    if gains:
        warnings.warn(
            f"tracking quality rose on {SEQ} (stored, now): {gains}; record it in {STORED.name}", stacklevel=2
        )


def test_printed_table_matches_json(eval_run: dict[str, Any]) -> None:
    rec = eval_run["record"]["sequences"][0]
    row = next(
        cells[1:]
        for line in eval_run["stdout"].splitlines()
        if (cells := [c.strip() for c in re.split(r"[│|]", line) if c.strip()]) and cells[0] == SEQ
    )
    assert row == [str(rec[k]) if k == "IDSW" else f"{rec[k]:.2f}" for k in HEADLINE]
    assert eval_run["record"]["settings"]["detections"] == "own"


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort", "ocsort"])
def test_every_tracker_scores_sanely_on_public_detections(shared: Path, tracker: str) -> None:
    """Public DPM detections: every tracker well above zero (a broken gt mapping gives all zeros)."""
    seqs = find_sequences([shared / "mot" / SEQ])
    report = Evaluator(detections="public").evaluate(seqs, tracker=tracker)
    s = report.combined
    assert s.HOTA > 25.0 and s.IDF1 > 40.0 and s.MOTA > 30.0, s.headline()
    assert "divided by" in report.settings["public_score_mapping"][SEQ]
