"""Fixtures of the stream tests (helpers in ``synthetic_media``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from synthetic_media import write_video


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """``make_video(name="clip.mp4", **write_video_kwargs) -> Path`` in ``tmp_path``."""

    def make(name: str = "clip.mp4", **kwargs: object) -> Path:
        return write_video(tmp_path / name, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def h264_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames, 25 fps, 96x64, H.264 in MP4 (faststart); shared read-only by many tests."""
    return write_video(tmp_path_factory.mktemp("media") / "clip.mp4", n=30, fps=25)
