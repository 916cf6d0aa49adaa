"""Run the official shotgun_api3 live-server tests, unmodified, against a fresh `rushes tracker serve`.

1. Fetch the shotgun-api3 source distribution from PyPI once (`pip download --no-binary :all: --no-deps`),
   into the ignored folder `.sg-client/` of the repository, and extract its `tests/test_api.py`,
   `test_api_long.py` and `test_proxy.py` into `.sg-client/suite/client_tests/`.
2. Beside them put Rushes' own fixture module (tests/sg_client_suite/base.py), a generated `config`, and
   the two JPEG files the upload tests read (made here from a scikit-image photo).
3. Start `rushes tracker serve` on a free port with an empty data folder, wait for /healthz, run pytest on
   the three modules (JUnit XML), stop the server, and print `sg-client-suite: passed P of T` plus one line
   per test that did not pass. `--json FILE` writes the figures and the failing test ids.

Nothing of the client's is kept in the repository; the download is cached in `.sg-client/`.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VERSION = "3.10.3"
MODULES = ("test_api.py", "test_api_long.py", "test_proxy.py")
SCRIPT, KEY = "client-suite", "client-suite-key-0b7e"


@dataclass
class Outcome:
    passed: int = 0
    total: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def fetch(cache: Path) -> Path:
    """The extracted suite folder (the package `client_tests` lives in it), downloading once."""
    archive = cache / f"shotgun_api3-{VERSION}.tar.gz"
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"]
        done = subprocess.run([*cmd, f"shotgun-api3=={VERSION}", "-d", str(cache)], check=False)
        if done.returncode != 0 or not archive.exists():
            raise SystemExit(
                f"sg-client-suite: could not download shotgun-api3=={VERSION} from PyPI; "
                "run `make sg-client-suite` where PyPI can be reached"
            )
    suite = cache / "suite"
    package = suite / "client_tests"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for name in MODULES:
            member = tar.extractfile(f"shotgun_api3-{VERSION}/tests/{name}")
            if member is None:
                raise SystemExit(f"sg-client-suite: {name} is missing from the shotgun-api3 {VERSION} sdist")
            (package / name).write_bytes(member.read())
    (package / "__init__.py").write_text("")
    shutil.copy(REPO / "tests" / "sg_client_suite" / "base.py", package / "base.py")
    _images(package)
    (suite / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return suite


def _images(folder: Path) -> None:
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.astronaut()).resize((128, 128))
    photo.save(folder / "sg_logo.jpg", quality=85)
    photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "Noëlご.jpg", quality=85)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUSHES_TRACKER__SCRIPT_KEY": KEY}
    code = "from daemon.cli.main import main; main()"
    args = ["tracker", "serve", "--port", str(port), "--data", str(data_dir), "--script-name", SCRIPT]
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sg-client-suite: the server exited at start; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)  # polling a condition (the port answering), bounded by the deadline
    proc.kill()
    raise SystemExit(f"sg-client-suite: the server did not answer within 60 s; see {log}")


def write_config(package: Path, port: int) -> None:
    config = configparser.ConfigParser(interpolation=None)
    config["server"] = {"url": f"http://127.0.0.1:{port}", "script_name": SCRIPT, "api_key": KEY}
    config["data"] = {
        "human_login": "client.suite",
        "human_password": "client-suite-password-1",
        "human_name": "Client Suite",
        "project_name": "Client Suite Project",
        "asset_code": "client_suite_asset",
        "version_code": "client_suite_version",
        "shot_code": "client_suite_shot",
        "playlist_code": "client_suite_playlist",
        "task_content": "client suite task",
    }
    with (package / "config").open("w", encoding="utf-8") as fh:
        config.write(fh)


def read_report(report: Path) -> Outcome:
    outcome = Outcome()
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}".removeprefix("client_tests.")
        outcome.total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            outcome.failed.append(name)
        elif case.find("skipped") is not None:
            outcome.skipped.append(name)
        else:
            outcome.passed += 1
    return outcome


def run(cache: Path, extra: list[str]) -> Outcome:
    suite = fetch(cache)
    port = free_port()
    write_config(suite / "client_tests", port)
    with tempfile.TemporaryDirectory(prefix="sg-client-suite-") as tmp:
        server = start_server(Path(tmp) / "data", port, cache / "server.log")
        started = time.monotonic()
        try:
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "http_proxy", "HTTP_PROXY")}
            report = Path(tmp) / "report.xml"
            modules = [f"client_tests/{m}" for m in MODULES]
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                *modules,
                "-q",
                "-o",
                "timeout=120",
                f"--junitxml={report}",
            ]
            with (cache / "pytest.log").open("wb") as log:
                subprocess.run([*cmd, *extra], cwd=suite, env=env, stdout=log, stderr=log, check=False)
            outcome = read_report(report)
        finally:
            server.terminate()
            server.wait(timeout=10)
        outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=REPO / ".sg-client")
    parser.add_argument("--json", type=Path, help="write the figures and failing test ids here")
    parser.add_argument("--fetch-only", action="store_true", help="download and extract, run nothing")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k name)")
    args = parser.parse_args(argv)
    if args.fetch_only:
        print(f"sg-client-suite: shotgun-api3 {VERSION} tests ready in {fetch(args.cache)}")
        return 0
    outcome = run(args.cache, args.pytest_args)
    for name in outcome.failed:
        print(f"not passed: {name}")
    print(
        f"sg-client-suite: passed {outcome.passed} of {outcome.total} "
        f"({len(outcome.skipped)} skipped) in {outcome.seconds} s; log {args.cache / 'pytest.log'}"
    )
    if args.json:
        args.json.write_text(json.dumps(asdict(outcome), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
