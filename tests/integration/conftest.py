"""Integration fixtures: a throwaway PostgreSQL cluster on loopback for the count store tests."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "vtrack"
_db_seq = itertools.count()


def _assets_required() -> bool:
    return os.environ.get("VTRACK_REQUIRE_ASSETS", "") not in ("", "0", "false", "no")


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(cand).parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL (``postgresql://vtrack@127.0.0.1:PORT/postgres``) of a throwaway cluster for this session.

    ``initdb`` into a temp dir, ``pg_ctl start`` on a free loopback port, stopped and deleted at the
    end. As root, the server runs as the ``postgres`` system user. Skips when the PostgreSQL
    binaries are missing; fails instead when ``VTRACK_REQUIRE_ASSETS=1`` (CI).
    """
    bindir = _pg_bin()
    if bindir is None:
        msg = "PostgreSQL binaries (initdb, pg_ctl) not found; install Debian's 'postgresql' package"
        if _assets_required():
            pytest.fail(msg + "; VTRACK_REQUIRE_ASSETS=1 makes this a failure")
        pytest.skip(msg)
    root = Path(tempfile.mkdtemp(prefix="vtrack-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = root / "data", root / "server.log"
    port = _free_port()

    def pg(*args: str) -> None:
        r = subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=120, check=False)
        if r.returncode != 0:
            server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"{args[0]} failed ({r.returncode}): {r.stderr.strip()[-2000:]} {server_log}")

    try:
        pg(str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, "-A", "trust", "-E", "UTF8", "--no-sync")
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        pg(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(log), "-w", "-t", "60", "start")
        yield f"postgresql://{PG_USER}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True, timeout=60, check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's cluster (one per test)."""
    import psycopg

    name = f"t{os.getpid()}_{next(_db_seq)}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"
