"""Config validation speed: this checkout's loader against an earlier revision's, in one process.

Usage: ``PYTHONPATH=src python bench/config_validation.py [REV]`` (REV default ``HEAD~1`` of git: the
baseline's ``src/vtrack/config.py`` is read with ``git show`` and imported beside the current one).
Prints seconds per load of each file and the ratio baseline / current.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vtrack import config as current
from vtrack.errors import ConfigError


def _baseline(rev: str) -> Any:
    src = subprocess.run(
        ["git", "show", f"{rev}:src/vtrack/config.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "config_baseline.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("config_baseline", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["config_baseline"] = mod
    spec.loader.exec_module(mod)
    return mod


def _time(load: Callable[[Path], object], path: Path, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            load(path)
        except ConfigError:
            pass
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    old = _baseline(rev)
    tmp = Path(tempfile.mkdtemp())
    errors = tmp / "errors300.yaml"  # 300 streams, each with an unknown key: 300 errors
    errors.write_text(
        "streams:\n"
        + "".join(f"  - id: cam{i}\n    source: rtsp://h/{i}\n    typo_{i}: 1\n" for i in range(300))
    )
    big = tmp / "valid900k.yaml"  # a valid deployment just under the size limit
    big.write_text(
        "streams:\n"
        + "".join(
            f"  - id: cam{i}\n    source: rtsp://h/{i}\n    lines:\n"
            f"      - {{name: a, points: [0.1, 0.5, 0.9, 0.5]}}\n"
            for i in range(9000)
        )
    )
    print(f"libyaml: {current._YAML_LOADER.__name__}; {big.stat().st_size / 1e6:.2f} MB valid file")
    for path, repeat in ((errors, 1), (big, 1)):
        t_old = _time(old.load_deployment_config, path, repeat)
        t_new = _time(current.load_deployment_config, path, repeat)
        print(f"{path.name}: baseline {t_old:.3f} s, now {t_new:.3f} s, ratio {t_old / t_new:.1f}x")


if __name__ == "__main__":
    main()
