"""Shared fixtures. The one way tests find the real models and media in ../shared."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_root() -> Path:
    env = os.environ.get("VTRACK_SHARED")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def _assets_required() -> bool:
    return os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def shared() -> Path:
    """Path to ../shared (models, media, mot).

    Skips the test with a clear reason when the folder is absent (a fresh clone elsewhere), but
    fails it when ``VTRACK_REQUIRE_ASSETS=1`` (set by ``.ci/run``).
    """
    root = _shared_root()
    if not (root / "models").is_dir():
        msg = f"test assets not found at {root} (set VTRACK_SHARED or place shared/ beside the repo)"
        if _assets_required():
            pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
        pytest.skip(msg)
    return root


@pytest.fixture(scope="session")
def subclass_examples(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``subclass_examples("cyclist-pedestrian")``: that example set's crops, cut once per session.

    The repository ships only ``examples/subclasses/<set>/manifest.csv`` and ``parent.txt`` (the
    footage may not be redistributed); the crops are cut from ``shared`` into a temporary folder.
    """
    from vtrack.subclasses.examples import build

    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            out = tmp_path_factory.mktemp(f"examples-{name}")
            build(REPO_ROOT / "examples/subclasses" / name / "manifest.csv", out, shared)
            built[name] = out
        return built[name]

    return get


def require_module(name: str):
    """Import ``name`` or skip; fail instead when ``VTRACK_REQUIRE_ASSETS=1``.

    Used for the optional torch/ultralytics stack of export and parity tests.
    """
    try:
        return __import__(name)
    except ImportError as e:
        msg = f"{name} is not installed ({e}); install the 'export' extra to run this test"
        if _assets_required():
            pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
        pytest.skip(msg)


@pytest.fixture(scope="session")
def ultralytics():
    """The ultralytics module (export/parity tests only)."""
    return require_module("ultralytics")
