"""The wheel a studio installs from carries everything the installed Rushes reads, and says what it is.

A host that installs the wheel has no repository: a file of the packages missing from pyproject's package-data
globs (a template, a JSON schema, the example config) is missing there, and the wheel's version must be the one
`rushes version` prints (daemon.__version__). The wheel is built once, from a copy of the packages whose version
is bumped, as a release would bump it.
"""

from __future__ import annotations

import os
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
QUIET_PIP = {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}  # no look at PyPI for a newer pip, no line about it


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
        env={**os.environ, **QUIET_PIP},
    )
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("*.whl")
    return built


def _copy_source(dest: Path) -> Path:
    """What a build reads, copied into dest: pyproject.toml, README.md, LICENSE, the Makefile and the packages'
    tracked files (an untracked scratch file of the working tree is none of theirs)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md", "LICENSE", "Makefile"):
        shutil.copy2(REPO / name, dest / name)
    for name in _tracked(*PACKAGES):
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, dest / name)
    return dest


def _tracked(*paths: str) -> set[str]:
    """The files git tracks under `paths` that the working tree holds."""
    return {name for name in _git(REPO, "ls-files", "--", *paths).splitlines() if (REPO / name).is_file()}


def _no_git_env() -> dict[str, str]:
    """This process's environment without any GIT_* variable: a run under a git hook (or `git rebase -x`) sets
    GIT_DIR, GIT_INDEX_FILE and more, which would point the test's git at the Rushes repository, not its own."""
    return {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}


def _git(checkout: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        env=_no_git_env(),
    )
    return done.stdout.strip()


def _commit(checkout: Path, message: str) -> None:
    _git(checkout, "add", "-A")
    _git(
        checkout,
        *("-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"),
        *("commit", "-q", "--allow-empty", "-m", message),
    )


def _checkout(dest: Path) -> Path:
    """A git repository of what a build reads, committed."""
    checkout = _copy_source(dest)
    _git(checkout, "init", "-q")
    _commit(checkout, "release")
    return checkout


def _make_wheel(
    checkout: Path, python: str = sys.executable, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**_no_git_env(), **QUIET_PIP, **({"PATH": path} if path is not None else {})}
    return subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", "wheel", f"WHEEL_PYTHON={python}"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _version_in(wheel: Path) -> tuple[str, str]:
    """(the version its metadata says, the `__version__` its daemon/__init__.py sets: what `rushes version` prints)"""
    dist_info = wheel.name.split("-py3-")[0] + ".dist-info"
    metadata = Parser().parsestr(archive_text(wheel, f"{dist_info}/METADATA"))
    namespace: dict[str, object] = {}
    exec(archive_text(wheel, "daemon/__init__.py"), namespace)
    return metadata["Version"], str(namespace["__version__"])


def test_make_wheel_ships_the_committed_tree_alone(tmp_path: Path) -> None:
    """`pip wheel .` in a checkout shipped a module an earlier build had left in build/lib (one since removed from
    the source: a migration removed so would still run) and an untracked file the package-data globs match (a
    secrets.yaml dropped under daemon/). `make wheel` builds from `git archive HEAD`."""
    checkout = _checkout(tmp_path)
    stale = checkout / "build" / "lib" / "daemon" / "removed_since.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("")
    (checkout / "daemon" / "secrets.yaml").write_text("script_key: not-for-the-wheel\n")
    done = _make_wheel(checkout)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (checkout / "dist").glob("rushes-*.whl")
    names = _names(built)
    assert "daemon/cli/main.py" in names
    assert "daemon/removed_since.py" not in names and "daemon/secrets.yaml" not in names
    assert not (checkout / "build" / "wheel-src").exists()


def test_each_commits_wheel_has_its_own_version_and_rushes_version_says_it(tmp_path: Path) -> None:
    """The wheel was named by daemon.__version__ alone: a later commit's wheel had the same name and version, and
    `pip install` of it on a host that had the earlier one did nothing ("already installed")."""
    checkout = _checkout(tmp_path)
    release = _release_version()
    built: list[Path] = []
    for message in ("first", "second"):
        _commit(checkout, message)
        done = _make_wheel(checkout)
        assert done.returncode == 0, done.stdout + done.stderr
        version = f"{release}+g{_git(checkout, 'rev-parse', '--short', 'HEAD')}"
        wheel = checkout / "dist" / f"rushes-{version}-py3-none-any.whl"
        assert done.stdout.strip().splitlines()[-1] == f"dist/{wheel.name}"  # the name to install, printed
        assert _version_in(wheel) == (version, version)
        built.append(wheel)
    assert built[0].name != built[1].name
    assert _git(checkout, "status", "--porcelain", "--", "daemon") == ""  # stamped: the archived copy only


def test_make_wheel_leaves_one_rushes_wheel_in_dist(tmp_path: Path) -> None:
    """Each `make wheel` added its wheel to those of earlier builds in dist/, and deploy/ray-cluster.yaml refuses
    to start with more than one there."""
    checkout = _checkout(tmp_path)
    (checkout / "dist").mkdir()
    (checkout / "dist" / "rushes-0.0.1+gdeadbee-py3-none-any.whl").write_bytes(b"an earlier build")
    (checkout / "dist" / "other-1.0-py3-none-any.whl").write_bytes(b"not Rushes")
    _commit(checkout, "next")
    done = _make_wheel(checkout)
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = sorted(p.name for p in (checkout / "dist").glob("*.whl"))
    built = done.stdout.strip().splitlines()[-1].removeprefix("dist/")
    assert wheels == ["other-1.0-py3-none-any.whl", built]


def _release_version() -> str:
    namespace: dict[str, object] = {}
    exec((REPO / "daemon" / "__init__.py").read_text(encoding="utf-8"), namespace)
    return str(namespace["__version__"])


def test_make_wheel_refuses_changes_not_committed(tmp_path: Path) -> None:
    """It built HEAD whatever the working tree held: an edit not committed was silently left out of the wheel."""
    checkout = _checkout(tmp_path)
    with (checkout / "daemon" / "__init__.py").open("a", encoding="utf-8") as init:
        init.write("# an edit not committed\n")
    done = _make_wheel(checkout)
    assert done.returncode == 2
    said = [line for line in done.stderr.splitlines() if line.startswith("make wheel: ")]
    assert said == [
        "make wheel: tracked files have changes not committed (git status), which the wheel would leave out: "
        "commit them first"
    ]
    assert not (checkout / "dist").exists() and not (checkout / "build").exists()


def test_make_wheel_without_git_or_a_checkout_says_so_in_one_line(tmp_path: Path) -> None:
    no_repository = _copy_source(tmp_path / "copy")
    done = _make_wheel(no_repository)
    assert done.returncode == 2 and "is not a git checkout with a commit" in done.stderr
    empty = tmp_path / "no-tools"
    empty.mkdir()
    done = _make_wheel(_checkout(tmp_path / "checkout"), path=str(empty))  # make's shell finds no git
    assert done.returncode == 2
    assert (
        "make wheel: git not found: the wheel is built from the last commit of a Rushes checkout"
        in done.stderr
    )


def test_a_failed_make_wheel_leaves_no_build_copy(tmp_path: Path) -> None:
    checkout = _checkout(tmp_path)
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    done = _make_wheel(checkout, python=str(broken))
    assert done.returncode != 0
    assert (
        not (checkout / "build" / "wheel-src").exists()
        and not (checkout / "build" / "wheel-src.tar").exists()
    )


def archive_text(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode()


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def test_the_wheel_carries_every_file_of_the_packages_and_nothing_else(wheel: Path) -> None:
    names = _names(wheel)
    wanted = _tracked(*PACKAGES)  # an untracked scratch file is none of the packages' files
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
