"""``vtrack batch``: many videos and photo folders, in parallel worker processes, resumable.

Modules:
    inputs: expand files, folders, globs and ``@list`` files into :class:`BatchItem` s.
    manifest: the append-only ``manifest.jsonl`` of finished items and the content/settings hashes.
    worker: what one worker process does with one item (a video through ``run_job``, or a photo folder).
    photos: per-image detections of a photo folder (``detections.jsonl``, ``counts.csv``).
    runner: the process pool, the progress bar, the merged ``summary.csv``/``summary.json``.
"""

from __future__ import annotations

from vtrack.batch.inputs import BatchItem, expand_inputs

__all__ = ["BatchItem", "expand_inputs"]
