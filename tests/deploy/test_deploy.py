"""What ships in deploy/ and the example config (daemon/rushes.example.yaml) starts: the systemd unit passes `systemd-analyze verify`, every example
config passes `rushes config check`, and the compose file wires PostgreSQL, a Ray head, a Ray worker and two
daemons together. (No container runtime here: the images are not built in the suite.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted([*REPO.glob("daemon/*.example.yaml"), *REPO.glob("deploy/*.example.yaml")])


def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail(
            "systemd-analyze not found: run `make system-deps` (Debian package systemd)", pytrace=False
        )
    rushes = Path(sys.executable).with_name("rushes")
    assert rushes.exists(), f"{rushes}: install the package (pip install -e .) so its console script exists"
    unit = (REPO / "deploy" / "rushes.service").read_text()
    assert "ExecStart=/opt/rushes/.venv/bin/rushes daemon" in unit
    # Verified as installed, with the console script where this test's venv has it.
    copy = tmp_path / "rushes.service"
    copy.write_text(unit.replace("/opt/rushes/.venv/bin/rushes", str(rushes)))
    result = subprocess.run(
        [analyze, "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
    )
    problems = [line for line in (result.stdout + result.stderr).splitlines() if "rushes.service" in line]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_example_config_passes_config_check(example: Path, tmp_path: Path) -> None:
    env = {**os.environ, "RUSHES_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    env.pop("RUSHES_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "config", "check", str(example)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{example}: ok")


def test_the_compose_file_runs_two_daemons_on_postgresql_with_a_ray_head_and_worker() -> None:
    compose: dict[str, Any] = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "ray-head", "ray-worker", "rushes-1", "rushes-2"} <= set(services)
    head = " ".join(services["ray-head"]["command"])
    assert "--head" in head and "--ray-client-server-port=10001" in head and "--num-cpus=0" in head
    assert "--address=ray-head:6379" in " ".join(services["ray-worker"]["command"])
    cluster = yaml.safe_load((REPO / "deploy" / "cluster.example.yaml").read_text())
    assert cluster["executor"] == {
        **cluster["executor"],
        "kind": "ray",
        "ray_address": "ray://ray-head:10001",
    }
    ports = set()
    for name in ("rushes-1", "rushes-2"):
        daemon = services[name]
        assert daemon["command"] == ["daemon"]
        assert daemon["environment"]["RUSHES_CATALOG_URL"].startswith("postgresql+psycopg://")
        assert set(daemon["depends_on"]) == {"db", "ray-head"}
        assert any(
            v.endswith(":/etc/rushes/rushes.yaml:ro") and "cluster.example.yaml" in v
            for v in daemon["volumes"]
        )
        ports |= set(daemon["ports"])
    assert len(ports) == 2, "each daemon publishes its own health port"
    mounts = {
        name: {v.split(":")[-2] if v.endswith(":ro") else v.split(":")[-1] for v in services[name]["volumes"]}
        for name in ("ray-head", "ray-worker", "rushes-1", "rushes-2")
    }
    assert all({"/var/lib/rushes", "/mnt/dailies"} <= m for m in mounts.values()), "same paths on every node"


def test_the_daemon_runs_with_no_capabilities_under_systemd_and_in_compose() -> None:
    """The unit kept the root-free user's default capability set and kernel access; compose's daemons and Ray
    nodes ran with Docker's default capabilities and could gain privileges."""
    unit = (REPO / "deploy" / "rushes.service").read_text().splitlines()
    for line in (
        "User=rushes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
        "ProtectKernelModules=yes",
        "UMask=0027",
    ):
        assert line in unit, f"deploy/rushes.service lacks {line}"
    services = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())["services"]
    for name in ("ray-head", "ray-worker", "rushes-1", "rushes-2"):
        assert services[name]["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in services[name]["security_opt"], name


def test_the_example_ray_cluster_starts_no_dashboard_open_to_the_network() -> None:
    """deploy/ray-cluster.yaml started the Ray dashboard on 0.0.0.0: its job API, with no authentication, ran
    any command on the cluster as `rushes` for anyone on the studio network."""
    cluster = yaml.safe_load((REPO / "deploy" / "ray-cluster.yaml").read_text())
    head = " ".join(cluster["head_start_ray_commands"])
    assert "--include-dashboard=false" in head and "--dashboard-host" not in head
    assert "--include-dashboard=false" in " ".join(
        yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())["services"]["ray-head"]["command"]
    )
