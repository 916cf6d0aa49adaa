"""A real, throw-away PostgreSQL server for tests: its own cluster under a folder, on a free loopback port.

    server = PostgresServer.start(tmp_path)
    url = server.create_database("rushes_test")   # postgresql+psycopg://postgres@127.0.0.1:<port>/rushes_test
    server.stop()

PostgreSQL refuses to run as root: when the tests run as root the cluster belongs to the `postgres`
system user and initdb/pg_ctl run through `runuser -u postgres --`.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

USER = "postgres"
INSTALL_HINT = "install postgresql (make test does it)"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server programs are missing or the server would not start."""


def find_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl (or the ones on PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name.split(".")[0]),
        reverse=True,
    )
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    raise PostgresUnavailable(f"PostgreSQL server programs (initdb, pg_ctl) not found: {INSTALL_HINT}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    base: Path
    datadir: Path
    socket_dir: Path
    port: int
    bin_dir: Path
    host: str = "127.0.0.1"
    user: str = USER
    _scratch: Path | None = field(
        default=None, repr=False
    )  # a cluster folder outside `base`, removed on stop
    _running: bool = field(default=False, repr=False)

    @classmethod
    def start(cls, base: Path) -> PostgresServer:
        """initdb into base/pgdata and start the server on a free loopback port; returns when it accepts."""
        bin_dir = find_bin_dir()
        base = Path(base).resolve()
        base.mkdir(parents=True, exist_ok=True)
        root, scratch = _cluster_root(base)
        server = cls(
            base=base,
            datadir=root / "pgdata",
            socket_dir=root / "sock",
            port=0,
            bin_dir=bin_dir,
            _scratch=scratch,
        )
        server._initdb()
        last = ""
        for _ in range(3):  # another process may grab the free port first
            server.port = free_port()
            done = server._pg_ctl(
                "start", "-w", "-t", "60", "-l", str(root / "postgres.log"), "-o", server._options()
            )
            if done.returncode == 0:
                server._running = True
                atexit.register(server.stop)
                return server
            last = (done.stderr or done.stdout).strip() + _tail(root / "postgres.log")
        server._cleanup()
        raise PostgresUnavailable(f"PostgreSQL did not start under {root}: {last}")

    def pid(self) -> int:
        """The server's postmaster process (pg_ctl starts it apart from the caller's process tree)."""
        return int((self.datadir / "postmaster.pid").read_text().split()[0])

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string (for psycopg or tools that are not SQLAlchemy)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def pause(self) -> None:
        """Stop the server as a restart for maintenance does (every client cut off, committed data kept; an
        immediate stop would lose the last commits, as the server runs with fsync off), until `resume`."""
        done = self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30")
        if done.returncode != 0:
            raise PostgresUnavailable(f"PostgreSQL did not stop: {(done.stderr or done.stdout).strip()}")

    def resume(self) -> None:
        """Start the paused server again on its port; returns when it accepts connections."""
        log = self.datadir.parent / "postgres.log"
        done = self._pg_ctl("start", "-w", "-t", "60", "-l", str(log), "-o", self._options())
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"PostgreSQL did not start again: {(done.stderr or done.stdout).strip()}"
            )

    def stop(self) -> None:
        """Stop the server (fast) and remove a cluster kept outside `base`. Safe to call twice."""
        if self._running:
            self._running = False
            self._pg_ctl("stop", "-m", "immediate", "-w", "-t", "30")
        self._cleanup()

    def _options(self) -> str:
        return (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses={self.host} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 "
            "-c shared_buffers=32MB"
        )

    def _initdb(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        _give_to_postgres(self.socket_dir)
        done = _run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        if done.returncode != 0:
            raise PostgresUnavailable(
                f"initdb failed in {self.datadir}: {(done.stderr or done.stdout).strip()}"
            )

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([str(self.bin_dir / "pg_ctl"), "-D", str(self.datadir), *args])

    def _cleanup(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _as_root() -> bool:
    return os.geteuid() == 0


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    if _as_root():
        cmd = ["runuser", "-u", USER, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def _give_to_postgres(path: Path) -> None:
    if _as_root():
        entry = pwd.getpwnam(USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _cluster_root(base: Path) -> tuple[Path, Path | None]:
    """Where the cluster lives: `base` itself, or (as root, when the postgres user cannot reach `base`, e.g.
    under pytest's 0700 /tmp/pytest-of-root) a private folder under /tmp linked from base/pgdata."""
    if not _as_root():
        return base, None
    try:
        pwd.getpwnam(USER)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"running as root but there is no {USER!r} system user: {INSTALL_HINT}"
        ) from exc
    _give_to_postgres(base)
    if subprocess.run(["runuser", "-u", USER, "--", "test", "-w", str(base)], check=False).returncode == 0:
        return base, None
    scratch = Path(tempfile.mkdtemp(prefix="rushes-pg-", dir="/tmp"))
    scratch.chmod(0o755)
    _give_to_postgres(scratch)
    with contextlib.suppress(FileExistsError):
        (base / "pgdata").symlink_to(scratch / "pgdata")
    return scratch, scratch


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | " + " ".join(log.read_text().splitlines()[-lines:])
    except OSError:
        return ""
