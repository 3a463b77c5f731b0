"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory, pg_ctl on a unix socket.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` user (Debian's package
creates it) or ``nobody``, through runuser. Tests that need it skip, saying why, only where no server can be
started (no binaries: ``apt-get install postgresql``, which scripts/setup.sh does on Debian).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_binaries() -> Path | None:
    """The directory of initdb and pg_ctl: on PATH, else Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def server_user() -> str | None:
    """Who runs the server: ourselves, or under root a user that exists (None: nobody to run it as)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody user to run PostgreSQL as")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server for as long as the context lasts; yields a URL to its ``postgres`` database."""
    bindir = find_binaries()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL binaries (initdb, pg_ctl): apt-get install postgresql")
    user = server_user()
    base = Path(tempfile.mkdtemp(prefix="promptclimb-pg-"))  # under /tmp: the server's user can reach it
    base.chmod(0o755)
    as_user = ["runuser", "-u", user, "--"] if user else []
    if user:
        shutil.chown(base, user)
    data, port = base / "data", free_port()

    def run(*argv: str) -> None:
        subprocess.run([*as_user, *argv], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "-N")
        url = f"postgresql://postgres@/postgres?host={base}&port={port}"
        server_ctl(url, "start")
        try:
            yield url
        finally:
            server_ctl(url, "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def server_ctl(url: str, action: str) -> None:
    """Start, or stop at once (as a crash would), the server ``postgres_server`` yielded ``url`` for."""
    query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
    base, port = Path(query["host"]), query["port"]
    user = server_user()
    as_user = ["runuser", "-u", user, "--"] if user else []
    pg_ctl, data = str(find_binaries() / "pg_ctl"), str(base / "data")  # type: ignore[operator]
    if action == "start":
        options = f"-k {base} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=50"
        argv = [pg_ctl, "-D", data, "-o", options, "-l", str(base / "log"), "-w", "start"]
    else:
        argv = [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]
    subprocess.run([*as_user, *argv], check=True, capture_output=True, text=True, timeout=120)


def fresh_database(server_url: str, name: str) -> str:
    """A new empty database on the server; its URL."""
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.replace("/postgres?", f"/{name}?", 1)
