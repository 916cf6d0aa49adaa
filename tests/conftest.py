"""Shared fixtures: a real PostgreSQL server for the session, and a migrated catalog on SQLite and PostgreSQL.

The suite runs in parallel (`make test`: pytest-xdist, `--dist loadgroup`): every session fixture starts its own
servers on free ports under the worker's own temporary folder, so each worker may hold one. To start the heavy
ones once, the tests of one module stay on one worker (module-scoped fixtures are built once), and the tests
that share a costly server are grouped across modules: every test using the Ray cluster on one worker, every
test using zou on one worker. Modules marked `slow` are handed out first, so the long end-to-end tests do not
start last and leave the other workers idle.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.catalog import Catalog
from tests.servers.postgres import INSTALL_HINT, PostgresServer, PostgresUnavailable, find_bin_dir

_db_numbers = itertools.count(1)

# Session fixtures whose server is too costly to start on more than one worker: the group their tests share.
SHARED_SERVERS = {"ray_cluster": "ray", "zou_server": "zou"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test's xdist group (its shared server's, else its module's); slow modules first."""
    for item in items:
        if any(mark.name == "xdist_group" for mark in item.iter_markers()):
            continue
        fixtures = getattr(item, "fixturenames", ())
        group = next((g for f, g in SHARED_SERVERS.items() if f in fixtures), None)
        if group is not None:
            item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group(group or item.nodeid.split("::")[0]))
        if getattr(config.option, "loadgroup", False):  # an xdist worker of a `--dist loadgroup` run
            _suffix_group(item)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before pytest-xdist's own; optional: xdist may be off
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadgroup` with a scheduler that a crashed worker cannot hang (tests/parallel_run.py)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.parallel_run import CrashSafeLoadGroupScheduling

    return CrashSafeLoadGroupScheduling(config, log)  # type: ignore[arg-type]


@pytest.hookimpl(trylast=True)  # after pytest's faulthandler plugin, which points it at descriptor 2
def pytest_configure(config: pytest.Config) -> None:
    """The controller of a parallel run names each failure as it comes in, and each worker keeps its fatal-signal
    stacks in a file of its own for it (tests/parallel_run.py)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        from tests.parallel_run import write_faults_to_file

        write_faults_to_file(str(workerinput["workerid"]))
    elif getattr(config.option, "numprocesses", None):
        from tests.parallel_run import FailuresAsTheyCome

        config.pluginmanager.register(FailuresAsTheyCome(config), "failures-as-they-come")


FRESH = "RUSHES_TEST_FRESH_INTERPRETER"  # set in the new process, which then runs the test itself


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A test marked `fresh_interpreter` runs alone in a new pytest process, its output shown if it fails: one that
    forks without exec must not inherit a test worker's threads (a Ray Client's gRPC threads, left by the tests
    before it, once made a forked batch worker die of a segmentation fault)."""
    if pyfuncitem.get_closest_marker("fresh_interpreter") is None or os.environ.get(FRESH):
        return None
    nodeid = pyfuncitem.nodeid
    group = pyfuncitem.get_closest_marker("xdist_group")
    if group is not None:  # the id without the suffix _suffix_group gave it
        nodeid = nodeid.removesuffix(f"@{group.args[0] if group.args else group.kwargs.get('name')}")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-rs", "-o", "addopts=", "-p", "no:cacheprovider", nodeid],
            cwd=pyfuncitem.config.rootpath,
            env={**os.environ, FRESH: "1", "PYTEST_ADDOPTS": ""},  # not in parallel workers again
            capture_output=True,
            text=True,
            timeout=540,
        )
    except subprocess.TimeoutExpired as late:
        pytest.fail(
            f"{nodeid} ran over 540 s in a fresh interpreter:\n{late.stdout!s:.6000}{late.stderr!s:.2000}"
        )
    if done.returncode != 0:
        pytest.fail(f"{nodeid} failed in a fresh interpreter:\n{done.stdout[-6000:]}{done.stderr[-2000:]}")
    outcome = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if "skipped" in outcome and "passed" not in outcome:
        pytest.skip(f"skipped in a fresh interpreter: {done.stdout[-1000:]}")
    return True


def _suffix_group(item: pytest.Item) -> None:
    """Put the group in the test's id ("path::test@group"), which is what xdist's loadgroup scheduler reads.
    pytest-xdist does it by setting `item._nodeid`, which pytest 9.2 no longer reads (the id lives in
    `item._id`), so without this every test was its own group: the Ray tests ran on every worker, each
    starting a Ray cluster of its own."""
    from _pytest.nodeid import NodeId

    mark = item.get_closest_marker("xdist_group")
    nodeid = item.nodeid
    if mark is not None and "@" not in nodeid.rpartition("]")[2]:
        item._id = NodeId.parse(f"{nodeid}@{mark.args[0]}")  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL server. RUSHES_TEST_PG=off skips the tests that need it; missing PostgreSQL
    programs fail them, because every catalog test must also pass on PostgreSQL."""
    if os.environ.get("RUSHES_TEST_PG", "").lower() in ("off", "0", "no", "false"):
        pytest.skip("PostgreSQL tests are off (RUSHES_TEST_PG=off)")
    try:
        find_bin_dir()
    except PostgresUnavailable:
        pytest.fail(f"PostgreSQL server programs not found: {INSTALL_HINT}", pytrace=False)
    server = PostgresServer.start(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file in tmp_path, or a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    return server.create_database(f"catalog_{os.getpid()}_{next(_db_numbers)}")


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    """A catalog migrated to head, on each backend in turn."""
    cat = Catalog(catalog_url)
    cat.migrate()
    yield cat
    cat.dispose()
