"""Fixtures of the sub-class tests: the real embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrack.subclasses.embedder import CropEmbedder


@pytest.fixture(scope="session")
def embedder_path(shared: Path) -> Path:
    return shared / "models/efficientnet_lite0.onnx"


@pytest.fixture(scope="session")
def embedder(embedder_path: Path) -> CropEmbedder:
    return CropEmbedder(embedder_path)
