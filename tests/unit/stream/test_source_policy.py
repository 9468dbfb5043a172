"""The source policy: FFmpeg-safe specs for every stream, ``server.allow_sources`` for the API's."""

from __future__ import annotations

from pathlib import Path

import pytest

from vtrack.config import AllowSourcesConfig, DeploymentConfig
from vtrack.errors import ConfigError
from vtrack.stream.policy import SourceRules, check_source_allowed, check_source_spec


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("tcp://127.0.0.1:9999?listen=1", "listen"),
        ("tcp://127.0.0.1:9999?LISTEN=2&x=1", "listen"),
        ("http://0.0.0.0:8000/x?listen=1", "listen"),
        ("srt://:9000?mode=listener", "listen"),
        ("rtsp://cam/x?rtsp_flags=listen", "listen"),
        ("concat:/etc/passwd|/etc/hosts", "FFmpeg protocol"),
        ("file:/etc/passwd", "FFmpeg protocol"),
        ("subfile,,start,0,end,10,,:/etc/passwd", "FFmpeg protocol"),
        ("pipe:0", "FFmpeg protocol"),
        ("ftp://h/x.mp4", "unsupported URL scheme"),
        ("file:///etc/passwd", "unsupported URL scheme"),
        ("rtsp://cam/x\nHost: y", "control character"),
    ],
)
def test_never_accepted_anywhere(spec: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        check_source_spec(spec)
    with pytest.raises(ValueError, match=needle):  # nor in a config file
        DeploymentConfig.model_validate({"streams": [{"id": "cam", "source": spec}]})


@pytest.mark.parametrize(
    "spec", ["rtsp://admin:pa/ss@cam/x?channel=1", "0", "/dev/video2", "/data/clip.mp4", "clip.mp4",
             "srt://h:9000?mode=caller", "udp://239.0.0.1:1234"],
)
def test_config_streams_keep_their_sources(spec: str) -> None:
    check_source_spec(spec)


def _rules(tmp_path: Path, **kw: object) -> SourceRules:
    return AllowSourcesConfig.model_validate({"file_roots": [str(tmp_path / "videos")], **kw}).rules()


def test_api_policy_table(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (videos / "link.mp4").symlink_to(tmp_path / "secret.mp4")
    rules = _rules(tmp_path)
    allowed = ["rtsp://u:p@cam/x", "https://h/x.m3u8", str(videos / "a.mp4"), str(videos / "missing.mp4")]
    for spec in allowed:
        check_source_allowed(spec, rules)
    refused = {
        str(tmp_path / "secret.mp4"): "file_roots",
        str(videos / ".." / "secret.mp4"): "file_roots",
        str(videos / "link.mp4"): "file_roots",  # a symlink out of the root
        "/etc/passwd": "file_roots",
        "/no/such/file": "file_roots",  # same answer whether it exists or not
        "0": "cameras",
        "/dev/video0": "cameras",
        "udp://239.0.0.1:1234": "schemes",
        "tcp://10.0.0.1:80": "schemes",
        "srt://h:9000": "schemes",
    }
    for spec, rule in refused.items():
        with pytest.raises(ConfigError, match=f"server.allow_sources.{rule}"):
            check_source_allowed(spec, rules)
    msgs = set()
    for spec in ("/etc/passwd", "/no/such/file"):
        with pytest.raises(ConfigError) as e:
            check_source_allowed(spec, rules)
        msgs.add(str(e.value).replace(spec, "X"))
    assert len(msgs) == 1


def test_hosts_and_cameras(tmp_path: Path) -> None:
    rules = _rules(tmp_path, hosts=["cam.local", "10.1.0.0/16"], cameras=True, schemes=["RTSP"])
    check_source_allowed("rtsp://u:p/w@cam.local:554/x", rules)
    check_source_allowed("rtsp://10.1.2.3/x", rules)
    check_source_allowed("0", rules)
    for spec in ("rtsp://10.2.0.1/x", "rtsp://evil/x", "rtsp://u:p/w@evil/x", "http://cam.local/x"):
        with pytest.raises(ConfigError):
            check_source_allowed(spec, rules)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"schemes": ["gopher"]}, "unknown scheme"),
        ({"file_roots": ["videos"]}, "absolute"),
        ({"hosts": ["10.0.0.0/99"]}, "IP network"),
    ],
)
def test_policy_config_is_validated(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        DeploymentConfig.model_validate({"server": {"allow_sources": data}})


@pytest.mark.parametrize(
    "spec",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://u:p@169.254.169.254/x",
        "http://2852039166/x",  # 169.254.169.254 as one number
        "http://0xa9.0xfe.0xa9.0xfe/x",
        "http://[::ffff:169.254.169.254]/x",
        "http://[fe80::1]/x",
        "rtsp://0.0.0.0/x",
    ],
)
def test_link_local_literals_are_refused_by_default(tmp_path: Path, spec: str) -> None:
    """With any host allowed (the default), a cloud metadata address is still refused..."""
    with pytest.raises(ConfigError, match="link-local"):
        check_source_allowed(spec, _rules(tmp_path))


def test_link_local_hosts_may_be_listed(tmp_path: Path) -> None:
    """... unless the operator lists it; ordinary and loopback hosts stay allowed."""
    check_source_allowed("http://169.254.10.20/x", _rules(tmp_path, hosts=["169.254.0.0/16"]))
    for spec in ("rtsp://127.0.0.1:8554/cam", "rtsp://10.0.0.5/x", "https://cam.example/x.m3u8"):
        check_source_allowed(spec, _rules(tmp_path))
