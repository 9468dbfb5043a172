"""Config loading under abuse: many errors, big or alias-bomb files, syntax errors near a password,
degenerate lines and zones."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from vtrack.config import (
    MAX_CONFIG_BYTES,
    DeploymentConfig,
    LineConfig,
    ZoneConfig,
    load_config,
    load_deployment_config,
)
from vtrack.errors import ConfigError

PASSWORD = "Cam3ra-pw/xyz"


def test_many_errors_are_reported_from_one_parse(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(
        "streams:\n"
        + "".join(f"  - id: cam{i}\n    source: rtsp://h/{i}\n    typo_{i}: 1\n" for i in range(300))
    )
    calls = 0
    real = yaml.compose

    def counting(*a: object, **k: object) -> object:
        nonlocal calls
        calls += 1
        return real(*a, **k)  # type: ignore[arg-type]

    yaml.compose = counting  # type: ignore[assignment]
    try:
        with pytest.raises(ConfigError) as e:
            load_deployment_config(p)
    finally:
        yaml.compose = real
    lines = str(e.value).splitlines()
    assert lines[0] == "300 error(s) in config:"
    assert lines[1] == f"{p}:4: streams.0.typo_0: unknown key (typo?)"
    assert lines[-1] == f"{p}:{3 * 299 + 4}: streams.299.typo_299: unknown key (typo?)"
    assert calls == 0  # the document is composed once, by the loader, for the data and every line


def test_oversized_file_is_refused_without_parsing(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_text("# " + "x" * MAX_CONFIG_BYTES + "\n")
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"over 1024 KiB"):
        load_deployment_config(p)
    assert time.perf_counter() - t0 < 5  # generous: the file is only read up to the limit


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(levels) + "\n")
    with pytest.raises(ConfigError, match="YAML nodes once aliases are expanded"):
        load_deployment_config(p)


@pytest.mark.parametrize(
    "text",
    [
        f"streams:\n  - id: cam\n    source: rtsp://admin:{PASSWORD}@10.0.0.5/x\n   bad: [\n",
        f"streams:\n  - {{id: cam, source: 'rtsp://admin:{PASSWORD}@h/x}}\n",
        f"streams:\n  - id: cam\n    source: rtsp://admin:{PASSWORD}@h/x\n\tlines: []\n",
    ],
)
def test_yaml_syntax_errors_never_quote_the_file(tmp_path: Path, text: str) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_deployment_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:") and "not valid YAML" in msg
    assert "\n" not in msg and PASSWORD not in msg and "Cam3ra" not in msg
    assert e.value.__cause__ is None  # nor through a chained exception's text


def test_validation_messages_never_carry_a_password(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(f"store: 'mysql://u:{PASSWORD}@h/db'\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert PASSWORD not in str(e.value) and "u:***@" in str(e.value)


@pytest.mark.parametrize("points", [(0.5, 0.5, 0.5, 0.5), (100, 20, 100, 20), (0, 0, 0, 0)])
def test_zero_length_line_is_invalid(points: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match="two different points"):
        LineConfig(name="gate", points=points)


def test_zero_length_line_fails_the_deployment_check(tmp_path: Path) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(
        "streams:\n  - id: cam\n    source: rtsp://h/x\n    lines:\n      - {name: a, points: [5, 5, 5, 5]}\n"
    )
    expected = r"d.yaml:5: streams.0.counting.lines.0.points: Value error, a line needs"
    with pytest.raises(ConfigError, match=expected):
        load_deployment_config(p)


def test_zone_on_one_line_is_invalid() -> None:
    with pytest.raises(ValueError, match="enclose no area"):
        ZoneConfig(name="z", points=[(0, 0), (1, 1), (2, 2)])
    assert ZoneConfig(name="z", points=[(0, 0), (1, 0), (1, 1)]).points[2] == (1, 1)
    assert DeploymentConfig().streams == []


def test_degenerate_flags_are_one_line_errors() -> None:
    from vtrack.config import lines_from_flags, zones_from_flags

    with pytest.raises(ConfigError, match=r"^--line 'a=5,5,5,5': a line needs two different points"):
        lines_from_flags(["a=5,5,5,5"])
    with pytest.raises(ConfigError, match=r"^--zone 'z=0,0,1,1,2,2': the points enclose no area"):
        zones_from_flags(["z=0,0,1,1,2,2"])
