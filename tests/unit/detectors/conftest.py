"""Fixtures of the detector unit tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_onnx import build_model, ultralytics_meta

ModelFactory = Callable[..., Path]


@pytest.fixture
def make_model(tmp_path: Path) -> ModelFactory:
    """``make_model(outputs, meta=..., name=..., **build_model kwargs) -> Path`` in ``tmp_path``."""
    counter = iter(range(1_000_000))

    def factory(
        outputs: Sequence[np.ndarray],
        *,
        meta: dict[str, str] | None = None,
        name: str | None = None,
        **kw: Any,
    ) -> Path:
        path = tmp_path / (name or f"model{next(counter)}.onnx")
        return build_model(path, outputs, meta=meta if meta is not None else ultralytics_meta(), **kw)

    return factory
