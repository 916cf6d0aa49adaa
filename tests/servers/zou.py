"""A real Kitsu API server (zou) on a free loopback port, for integration tests.

zou lives in its own virtualenv, `.venv-zou` in the repository root (installed by scripts/zou-venv.sh),
because its pinned Flask/SQLAlchemy stack would clash with ours. It needs a PostgreSQL database and a
Redis server, both given by the caller:

    zou = ZouServer.start(tmp_path, database_url="postgresql+psycopg://postgres@127.0.0.1:5432/zou", redis=redis)
    zou.url              # "http://127.0.0.1:PORT/api", what gazu and the Kitsu adapter take
    zou.admin_email, zou.admin_password
    zou.preview_folder   # where zou stores uploaded previews
    zou.stop()
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.servers.redis import RedisServer, ServerFailed, ServerMissing, free_port, log_tail, stop_process

REPO = Path(__file__).resolve().parents[2]
ZOU_VENV = REPO / ".venv-zou"
INSTALL_HINT = "zou is not installed in .venv-zou: run scripts/zou-venv.sh"

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "rushes-admin-password"

# One interpreter start instead of three `zou` commands: create the tables (alembic), the default
# task types and statuses, and an admin account.
BOOTSTRAP = f"""
import sys
from zou.cli import cli
for args in (["init-db"], ["init-data"], ["create-admin", "{ADMIN_EMAIL}", "--password", "{ADMIN_PASSWORD}"]):
    cli.main(args, prog_name="zou", standalone_mode=False)
"""


def database_env(database_url: str) -> dict[str, str]:
    """zou's DB_* variables from a SQLAlchemy URL such as postgresql+psycopg://user:pw@host:port/db."""
    parts = urlsplit(database_url)
    if not parts.hostname or not parts.path.strip("/"):
        raise ValueError(f"not a database URL with a host and a database name: {database_url!r}")
    return {
        "DB_HOST": parts.hostname,
        "DB_PORT": str(parts.port or 5432),
        "DB_USERNAME": unquote(parts.username or "postgres"),
        "DB_PASSWORD": unquote(parts.password or ""),
        "DB_DATABASE": parts.path.strip("/"),
    }


def zou_env(base: Path, database_url: str, redis: RedisServer) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DB_", "KV_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(database_env(database_url))
    env.update(
        {
            "KV_HOST": redis.host,
            "KV_PORT": str(redis.port),
            "SECRET_KEY": secrets.token_hex(32),
            "PREVIEW_FOLDER": str(base / "previews"),
            "TMP_DIR": str(base / "tmp"),
            "EVENT_HANDLERS_FOLDER": str(base / "event_handlers"),
            "PLUGIN_FOLDER": str(base / "plugins"),
            "MAIL_ENABLED": "false",
            "MAIL_CHECK_DELIVERABILITY": "false",  # offline: users' e-mail domains cannot be looked up
            "DEBUG": "false",
            "ENABLE_JOB_QUEUE": "false",
            "USER_LIMIT": "1000",
            "BCRYPT_LOG_ROUNDS": "4",
            "SCRIPT_NAME": "/api",  # gunicorn mounts the app under /api, as Kitsu's nginx does
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def wait_http_ok(url: str, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    return False


@dataclass
class ZouServer:
    url: str
    port: int
    admin_email: str
    admin_password: str
    preview_folder: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @staticmethod
    def check_installed(venv: Path = ZOU_VENV) -> None:
        """Raise ServerMissing with the fix when zou's venv or ffmpeg is missing."""
        if not (venv / "bin" / "python").exists() or not (venv / "bin" / "gunicorn").exists():
            raise ServerMissing(INSTALL_HINT)
        if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
            raise ServerMissing(
                "ffmpeg is not installed (zou transcodes previews with it): run scripts/system-deps.sh ffmpeg"
            )

    @classmethod
    def start(
        cls, base: Path, database_url: str, redis: RedisServer, venv: Path = ZOU_VENV, timeout: float = 60.0
    ) -> ZouServer:
        cls.check_installed(venv)
        python, gunicorn = venv / "bin" / "python", venv / "bin" / "gunicorn"
        base.mkdir(parents=True, exist_ok=True)
        for folder in ("previews", "tmp"):  # no event_handlers/ nor plugins/: zou would load them
            (base / folder).mkdir(exist_ok=True)
        env = zou_env(base, database_url, redis)
        init_log = base / "zou-init.log"
        with init_log.open("wb") as log:
            done = subprocess.run(
                [str(python), "-c", BOOTSTRAP],
                cwd=base,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=180,
            )
        if done.returncode != 0:
            raise ServerFailed(f"zou init-db/init-data/create-admin failed:\n{log_tail(init_log)}")
        port = free_port()
        log_path = base / "zou.log"
        args = [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread"]
        args += [
            "--threads",
            "4",
            "--timeout",
            "120",
            "--graceful-timeout",
            "3",
            # gunicorn closes a connection idle for 2 s by default. A client whose next request on it crosses
            # the close gets "Connection aborted" (a kitsu test, under load; seen against gunicorn alone once
            # in about 200 requests idle 2-3 s on a loaded box). Deployed zou sits behind nginx, which
            # keeps idle connections 75 s; here longer than any pause between the zou tests.
            "--keep-alive",
            "300",
            "--no-control-socket",
            "zou.app:app",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                args, cwd=base, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{port}/api"
        if not wait_http_ok(url + "/", process, timeout):
            stop_process(process)
            raise ServerFailed(f"zou did not answer on {url}:\n{log_tail(log_path)}")
        return cls(url, port, ADMIN_EMAIL, ADMIN_PASSWORD, base / "previews", process, log_path)

    def stop(self) -> None:
        """Quick shutdown (SIGINT): a graceful one would wait for the clients' keep-alive connections."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        stop_process(self.process, timeout=10.0)
