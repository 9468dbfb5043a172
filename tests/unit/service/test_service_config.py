"""DeploymentConfig: the `vtrack serve` YAML (strict keys, YAML line numbers, token from the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrack.config import DeploymentConfig, StreamConfig, load_deployment_config
from vtrack.errors import ConfigError

GOOD = """\
server:
  port: 9000
model:
  path: m.onnx
timezone: Europe/Amsterdam
streams:
  - id: gate-1
    source: rtsp://admin:hunter22@10.0.0.5/stream1
    max_fps: 5
    classes: [bicycle]
    lines:
      - name: entry
        points: [0, 0.5, 1, 0.5]
  - id: demo
    source: clip.mp4
    loop: true
    enabled: false
"""


def _write(tmp_path: Path, text: str, name: str = "deployment.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_loads_a_deployment(tmp_path: Path) -> None:
    cfg = load_deployment_config(_write(tmp_path, GOOD), environ={})
    assert cfg.server.host == "127.0.0.1" and cfg.server.port == 9000 and cfg.server.token is None
    assert [s.id for s in cfg.streams] == ["gate-1", "demo"]
    assert cfg.streams[0].counting.lines[0].name == "entry" and cfg.streams[1].enabled is False
    assert "hunter22" not in repr(cfg)  # a URL password never reaches a log line through repr


def test_token_from_the_environment_at_load_time(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    assert (
        load_deployment_config(path, environ={"VTRACK_TOKEN": "from-env-123"}).server.token == "from-env-123"
    )
    with_token = GOOD.replace("  port: 9000", "  port: 9000\n  token: from-file-123")
    cfg = load_deployment_config(
        _write(tmp_path, with_token, "with_token.yaml"), environ={"VTRACK_TOKEN": "from-env-123"}
    )
    assert cfg.server.token == "from-file-123"
    with pytest.raises(ConfigError, match="VTRACK_TOKEN"):
        load_deployment_config(path, environ={"VTRACK_TOKEN": "short"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("    max_fps: 5", "    max_fsp: 5"), r":9: streams\.0\.max_fsp: unknown key"),
        (("  - id: demo", "  - id: Demo Cam"), r"streams\.1\.id: String should match pattern"),
        (("  - id: demo", "  - id: gate-1"), "stream ids must be unique, repeated: gate-1"),
        (("timezone: Europe/Amsterdam", "timezone: Mars/Base"), ":5: timezone: .*unknown time zone"),
        (("  port: 9000", "  port: 70000"), r":2: server\.port"),
        (("    max_fps: 5", "    max_fps: 0"), "greater than 0"),
    ],
)
def test_errors_name_the_path_and_yaml_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        load_deployment_config(_write(tmp_path, GOOD.replace(*change)), environ={})
    assert "hunter22" not in str(e.value)


def test_missing_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_deployment_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_deployment_config(_write(tmp_path, "- a\n- b\n"))


def test_stream_lines_must_be_unique() -> None:
    line = {"name": "a", "points": [0, 0, 1, 1]}
    with pytest.raises(ValueError, match="line names must be unique"):
        StreamConfig.model_validate({"id": "x", "source": "y", "lines": [line, line]})


def test_stream_zones_must_be_unique_and_polygons() -> None:
    zone = {"name": "lot", "points": [[0, 0], [1, 0], [1, 1]]}
    cfg = StreamConfig.model_validate({"id": "x", "source": "y", "zones": [zone], "min_frames": 3})
    assert cfg.counting.zones[0].name == "lot" and cfg.counting.min_frames == 3
    with pytest.raises(ValueError, match="zone names must be unique, repeated: lot"):
        StreamConfig.model_validate({"id": "x", "source": "y", "zones": [zone, zone]})
    segment = {"name": "a", "points": [[0, 0], [1, 1]]}
    with pytest.raises(ValueError, match="at least 3"):
        StreamConfig.model_validate({"id": "x", "source": "y", "zones": [segment]})


def test_stream_outputs_need_the_output_dir(tmp_path: Path) -> None:
    text = GOOD.replace("    loop: true\n", "    loop: true\n    outputs: true\n")
    with pytest.raises(ConfigError, match=r"'outputs: true' needs 'output_dir:' .*demo"):
        load_deployment_config(_write(tmp_path, text), environ={})
    cfg = load_deployment_config(_write(tmp_path, f"output_dir: {tmp_path / 'out'}\n" + text), environ={})
    assert cfg.streams[1].outputs and not cfg.streams[0].outputs


def test_defaults() -> None:
    cfg = DeploymentConfig()
    assert cfg.server.host == "127.0.0.1" and cfg.server.metrics_auth is True
    assert cfg.streams == [] and cfg.store is None and cfg.timezone == "UTC" and cfg.output_dir is None
    stream = StreamConfig(id="x", source="y")
    assert stream.counting.zones == [] and stream.counting.min_frames == 2 and stream.outputs is False
    assert stream.counting.once_per_direction is False  # every settled crossing counts, as in `vtrack run`
    assert StreamConfig(id="x", source="y", once_per_direction=True).counting.once_per_direction
