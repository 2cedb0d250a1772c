"""A throwaway PostgreSQL server for the tests, the load benchmark and the deployment doc's check.

:func:`start_server` makes a cluster in a fresh temporary folder with Debian's (or any) PostgreSQL
binaries (``initdb``, then ``pg_ctl start`` on a free local port, TCP on 127.0.0.1 only, password
authentication for TCP), and :meth:`PostgresServer.stop` removes it again. ``initdb`` refuses to
run as root, so as root the cluster belongs to the ``postgres`` user the Debian package creates
(the folder is handed to it, and every server command runs under it; the tests themselves keep
running as root and connect over TCP). ``fsync`` is off: the server's own durability is
PostgreSQL's business, and these clusters live for one test session; what the tests kill is the
client (``kill -9`` of a writer), never the server.

When PostgreSQL is not installed, :class:`PostgresUnavailable` says so, and the tests that need
the server are skipped with that reason; an installed one that does not start is an error
(:class:`PostgresStartError`), not a skip. ``./run.sh test`` and ``.ci/run`` install
Debian's ``postgresql`` package when it is missing.

Example:
    >>> server = start_server()                                    # doctest: +SKIP
    >>> url = server.create_database("mine")                        # doctest: +SKIP
    >>> server.stop()                                               # doctest: +SKIP
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

USER = "reason4rec"
PASSWORD = "r4r-test-secret"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed here (or cannot run as anyone); the message says why (a skip reason)."""


class PostgresStartError(RuntimeError):
    """PostgreSQL is installed but the throwaway server did not start: a failure, not a skip."""


def find_bindir() -> Path | None:
    """The folder with ``initdb`` and ``pg_ctl``: ``$PG_BINDIR``, the PATH, or Debian's
    ``/usr/lib/postgresql/<version>/bin`` (not on the PATH), the newest version first."""
    if os.environ.get("PG_BINDIR"):
        return Path(os.environ["PG_BINDIR"])
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    """A running throwaway cluster; ``url()`` names one of its databases."""

    bindir: Path
    folder: Path
    port: int
    owner: str | None
    """The user the server runs as (``postgres`` when these tests run as root), None: this one."""
    databases: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres", *, password: str = PASSWORD, host: str = "127.0.0.1") -> str:
        return f"postgresql://{USER}:{password}@{host}:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database (a test's own), its URL returned."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """A PostgreSQL program from :attr:`bindir`, as the cluster's owner."""
        return _run([str(self.bindir / args[0]), *args[1:]], self.owner, check=check, timeout=timeout)

    def pid(self) -> int:
        """The postmaster's process id (its first line of ``postmaster.pid``)."""
        return int((self.folder / "data" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop", check=False, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_server(port: int | None = None, *, durable: bool = False) -> PostgresServer:
    """initdb + pg_ctl start in a new temporary folder (a few seconds); raises PostgresUnavailable.

    ``durable``: fsync, full-page writes and synchronous commits on, as a real server runs (the
    load benchmark); off by default (the tests kill clients, never this server)."""
    bindir = find_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        raise PostgresUnavailable("PostgreSQL is not installed (no initdb; `apt-get install postgresql`, "
                                  "or set PG_BINDIR to the folder holding initdb and pg_ctl)")
    owner = None
    if os.geteuid() == 0:  # initdb refuses root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and there is no `postgres` user to run the test "
                                      "server as (initdb refuses root)") from None
        owner = "postgres"
    folder = Path(tempfile.mkdtemp(prefix="r4r-pg-"))
    try:
        data, socket_dir, pwfile = folder / "data", folder / "sock", folder / "pwfile"
        socket_dir.mkdir()
        pwfile.write_text(PASSWORD + "\n")
        if owner is not None:
            entry = pwd.getpwnam(owner)
            for path in (folder, socket_dir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        _run([str(bindir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
              "--auth-local=trust", "-E", "UTF8", "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C",
              "--no-sync"], owner, timeout=180)
        port = port or free_port()
        speed = "" if durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        options = (f"-p {port} -k {socket_dir} -c listen_addresses=127.0.0.1 {speed}"
                   "-c max_connections=200 -c shared_buffers=64MB")
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-o", options, "-w",
              "-t", "60", "start"], owner, timeout=120)
        server = PostgresServer(bindir, folder, port, owner)
        _wait_until_up(server)
        return server
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        log = folder / "server.log"
        detail = getattr(err, "stderr", None) or (log.read_text(errors="replace")[-500:] if log.exists() else "")
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresStartError(f"the test PostgreSQL server did not start ({err}): {str(detail).strip()}") from err


def _wait_until_up(server: PostgresServer, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=3).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _has_c_utf8() -> bool:
    return Path("/usr/lib/locale/C.utf8").exists() or Path("/usr/lib/locale/C.UTF-8").exists()


def _run(command: list[str], owner: str | None, *, check: bool = True, timeout: float = 120):
    """Run ``command`` as ``owner`` (None: as this process), from a folder any user may enter."""
    return subprocess.run(command, user=owner, cwd="/", check=check, timeout=timeout, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})


if __name__ == "__main__":  # a quick check by hand: start, connect, stop
    started = time.perf_counter()
    server = start_server()
    print(f"up on port {server.port} in {time.perf_counter() - started:.1f} s as {server.owner or 'this user'}")
    print(server.create_database())
    server.stop()
