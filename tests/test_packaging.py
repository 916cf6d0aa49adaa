"""The wheel a studio installs from carries everything the installed Rushes reads, and says what it is.

A host that installs the wheel has no repository: a file of the packages missing from pyproject's package-data
globs (a template, a JSON schema, the example config) is missing there, and the wheel's version must be the one
`rushes version` prints (daemon.__version__). The wheel is built once, from a copy of the packages whose version
is bumped, as a release would bump it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("daemon", "engine", "integrations")
BUMPED = "9.8.7"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of pyproject.toml, README.md, LICENSE and the packages, with daemon.__version__
    bumped to BUMPED."""
    source = _copy_source(tmp_path_factory.mktemp("source"))
    init = source / "daemon" / "__init__.py"
    text = init.read_text(encoding="utf-8")
    assert '__version__ = "' in text
    init.write_text(
        "\n".join(
            f'__version__ = "{BUMPED}"' if line.startswith("__version__") else line
            for line in text.splitlines()
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            str(source),
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=source,
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("*.whl")
    return built


def _copy_source(dest: Path) -> Path:
    """What a build reads, copied into dest: pyproject.toml, README.md, LICENSE, the Makefile and the packages."""
    for name in ("pyproject.toml", "README.md", "LICENSE", "Makefile"):
        shutil.copy2(REPO / name, dest / name)
    for package in PACKAGES:
        shutil.copytree(REPO / package, dest / package, ignore=_SKIP)
    return dest


def test_make_wheel_ships_the_committed_tree_alone(tmp_path: Path) -> None:
    """`pip wheel .` in a checkout shipped a module an earlier build had left in build/lib (one since removed from
    the source: a migration removed so would still run) and an untracked file the package-data globs match (a
    secrets.yaml dropped under daemon/). `make wheel` builds from `git archive HEAD`."""
    checkout = _copy_source(tmp_path)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(checkout), *args], check=True, capture_output=True, timeout=60)

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "release")
    stale = checkout / "build" / "lib" / "daemon" / "removed_since.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    (checkout / "daemon" / "secrets.yaml").write_text("script_key: not-for-the-wheel\n")
    done = subprocess.run(
        ["make", "--no-print-directory", "wheel", f"WHEEL_PYTHON={sys.executable}"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (checkout / "dist").glob("rushes-*.whl")
    names = _names(built)
    assert "daemon/cli/main.py" in names
    assert "daemon/removed_since.py" not in names and "daemon/secrets.yaml" not in names
    assert not (checkout / "build" / "wheel-src").exists()


def archive_text(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode()


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_every_file_of_the_packages_and_nothing_else(wheel: Path) -> None:
    names = _names(wheel)
    wanted = {
        path.relative_to(REPO).as_posix()
        for package in PACKAGES
        for path in (REPO / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }
    missing = sorted(wanted - names)
    assert not missing, f"not in the wheel (add their pattern to [tool.setuptools.package-data]): {missing}"
    dist_info = f"rushes-{BUMPED}.dist-info/"
    extra = sorted(name for name in names - wanted if not name.startswith(dist_info))
    assert not extra, f"in the wheel but not a file of the packages: {extra}"
    assert "daemon/rushes.example.yaml" in names  # `rushes config example`


def test_the_wheel_version_is_the_one_rushes_version_prints(wheel: Path) -> None:
    assert wheel.name == f"rushes-{BUMPED}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        metadata = Parser().parsestr(archive.read(f"rushes-{BUMPED}.dist-info/METADATA").decode())
        entry_points = archive.read(f"rushes-{BUMPED}.dist-info/entry_points.txt").decode()
    assert metadata["Version"] == BUMPED
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"  # Apache-2.0 asks that its text go with every copy
    assert "Apache License" in archive_text(wheel, f"rushes-{BUMPED}.dist-info/licenses/LICENSE")
    assert metadata["Requires-Python"] == ">=3.11"
    assert "rushes = daemon.cli.main:main" in entry_points


# `pip install rushes`, `'rushes[ray]'`, `rushes==0.1.0` among the arguments of one pip command: the name
# alone, not a wheel file or a path
_BY_NAME = re.compile(
    r"\bpip install\b[^\n`;&|]*?(?<![\w/.-])['\"]?rushes(?:\[[\w,]+\])?(?:==[\w.]+)?['\"]?(?=[\s`)]|$)"
)

_FROM_AN_INDEX = re.compile(r"--find-links|--index-url")  # the studio's own wheels or index: fine by name


def _install_docs() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *sorted((REPO / "deploy").iterdir())]


def test_no_doc_installs_rushes_by_name_from_pypi() -> None:
    """Rushes is not on PyPI: `pip install 'rushes[ray]'`, as the docs told a Ray node's installer, found no such
    distribution (or, once someone registers the name, would install theirs). The docs name the wheel file."""
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _install_docs()
        if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _BY_NAME.search(line) and not _FROM_AN_INDEX.search(line)
    ]
    assert not found, "install the wheel file (deploy/README.md, 'Installing from the wheel'):\n" + "\n".join(
        found
    )
