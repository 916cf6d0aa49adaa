"""The local executor runs real jobs in worker subprocesses: results, limits, GPU slot, deaths, timeouts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrations.executors import (
    Executor,
    ExecutorClosed,
    Handle,
    InvalidJobSpec,
    JobOutcome,
    JobSpec,
    LocalExecutor,
    UnknownJob,
    detect_gpus,
    local,
)

JOBS = "tests.integrations.test_executors_jobs"


def wait_for(executor: LocalExecutor, handle: Handle, limit: float = 20.0) -> JobOutcome:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        outcome = executor.poll(handle)
        if outcome is not None:
            return outcome
        time.sleep(0.02)
    raise AssertionError(f"job {handle.job_id} did not finish within {limit} s")


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1])
    )
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def executor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalExecutor]:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    ex = LocalExecutor(max_jobs=2, gpus=0, work_dir=tmp_path / "work", grace_s=0.5)
    yield ex
    ex.shutdown(wait=False)


def test_runs_a_job_in_a_subprocess_without_importing_it_here(
    tmp_path: Path, executor: LocalExecutor
) -> None:
    module = tmp_path / "jobs_mod" / "rushes_test_only_job.py"
    module.parent.mkdir()
    module.write_text("import os\ndef run(a, b):\n    return {'sum': a + b, 'pid': os.getpid()}\n")
    spec = JobSpec(
        id="add-1",
        kind="fix",
        entry_point="rushes_test_only_job:run",
        args={"a": 2, "b": 3},
        env={"PYTHONPATH": str(module.parent)},
        log_path=str(tmp_path / "logs" / "add-1.log"),
    )
    outcome = wait_for(executor, executor.submit(spec))
    assert outcome.ok, outcome.error
    assert outcome.result["sum"] == 5
    assert outcome.result["pid"] != os.getpid()
    assert outcome.exit_code == 0 and outcome.duration_s > 0
    assert "rushes_test_only_job" not in sys.modules
    assert "job add-1 ok" in (tmp_path / "logs" / "add-1.log").read_text()
    assert executor.poll(Handle("add-1", "local")) == outcome  # asking again gives the same answer
    assert isinstance(executor, Executor)


def test_never_runs_more_than_max_jobs_at_once(executor: LocalExecutor) -> None:
    handles = [
        executor.submit(
            JobSpec(id=f"s{i}", kind="train", entry_point=f"{JOBS}:sleep_and_record", args={"seconds": 0.8})
        )
        for i in range(4)
    ]
    assert executor.running() <= executor.capacity() == 2
    outcomes = [wait_for(executor, h) for h in handles]
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    intervals = [(o.result["start"], o.result["end"]) for o in outcomes]
    assert max_overlap(intervals) == 2
    assert all(o.result["cuda"] == "" for o in outcomes)  # CPU jobs never see a GPU


def test_one_gpu_job_at_a_time_while_cpu_jobs_go_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    ex = LocalExecutor(max_jobs=3, gpus=1, work_dir=tmp_path / "work")
    try:
        sleep = f"{JOBS}:sleep_and_record"
        gpu = [
            ex.submit(
                JobSpec(id=f"g{i}", kind="train", entry_point=sleep, args={"seconds": 0.8}, needs_gpu=True)
            )
            for i in range(2)
        ]
        cpu = ex.submit(JobSpec(id="c", kind="fix", entry_point=sleep, args={"seconds": 0.1}))
        g1, g2, c = wait_for(ex, gpu[0]), wait_for(ex, gpu[1]), wait_for(ex, cpu)
    finally:
        ex.shutdown(wait=False)
    assert g1.ok and g2.ok and c.ok
    assert g1.result["end"] <= g2.result["start"]  # never both on the GPU
    assert g1.result["cuda"] == g2.result["cuda"] == "0"
    assert c.result["cuda"] == ""
    assert c.result["start"] < g2.result["start"]  # the waiting GPU job does not hold up CPU work


def test_a_job_killed_by_sigkill_reports_the_signal(executor: LocalExecutor) -> None:
    outcome = wait_for(
        executor, executor.submit(JobSpec(id="k", kind="fix", entry_point=f"{JOBS}:kill_self"))
    )
    assert not outcome.ok
    assert "worker died with signal 9 (SIGKILL)" in outcome.error
    assert outcome.exit_code == -9
    assert "\n" not in outcome.error


def test_a_job_that_crashes_in_native_code_leaves_its_python_stack_in_its_log(
    executor: LocalExecutor,
) -> None:
    outcome = wait_for(executor, executor.submit(JobSpec(id="s", kind="fix", entry_point=f"{JOBS}:segfault")))
    assert not outcome.ok and outcome.exit_code == -11
    assert "worker died with signal 11 (SIGSEGV); see " in outcome.error
    log = Path(outcome.error.rsplit("see ", 1)[1]).read_text()
    assert "Fatal Python error: Segmentation fault" in log
    assert 'test_executors_jobs.py", line' in log and "in segfault" in log  # where it died


def test_timeout_kills_the_whole_process_group(tmp_path: Path, executor: LocalExecutor) -> None:
    pid_file = tmp_path / "child.pid"
    spec = JobSpec(
        id="t",
        kind="train",
        entry_point=f"{JOBS}:hang_with_child",
        args={"pid_file": str(pid_file)},
        timeout_s=1.0,
    )
    began = time.monotonic()
    outcome = wait_for(executor, executor.submit(spec))
    assert not outcome.ok
    assert "timed out after 1 s" in outcome.error
    assert time.monotonic() - began < 10
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the job's child process outlived the timeout"


def test_a_failing_job_gives_one_line_and_its_traceback_in_the_log(
    tmp_path: Path, executor: LocalExecutor
) -> None:
    log = tmp_path / "fail.log"
    spec = JobSpec(
        id="f",
        kind="fix",
        entry_point=f"{JOBS}:fail",
        args={"message": "no frames\nat all"},
        log_path=str(log),
    )
    outcome = wait_for(executor, executor.submit(spec))
    assert not outcome.ok and outcome.exit_code == 1
    assert outcome.error == "ValueError: no frames at all"
    text = log.read_text()
    assert "about to fail" in text and "Traceback" in text


def test_bad_entry_points_and_results_are_clear_errors(executor: LocalExecutor) -> None:
    missing = executor.submit(JobSpec(id="m", kind="fix", entry_point="no_such_package.mod:run"))
    not_json = executor.submit(JobSpec(id="j", kind="fix", entry_point=f"{JOBS}:not_json"))
    assert "cannot import module 'no_such_package.mod'" in wait_for(executor, missing).error
    assert "not JSON" in wait_for(executor, not_json).error
    with pytest.raises(InvalidJobSpec, match=r"package\.module:function"):
        JobSpec(id="x", kind="fix", entry_point="not an entry point")
    with pytest.raises(InvalidJobSpec, match="JSON"):
        JobSpec(id="x", kind="fix", entry_point="a.b:c", args={"p": Path("/x")})


def test_cancel_stops_running_and_waiting_jobs(executor: LocalExecutor) -> None:
    sleep = f"{JOBS}:sleep_and_record"
    running = [
        executor.submit(JobSpec(id=f"r{i}", kind="train", entry_point=sleep, args={"seconds": 30}))
        for i in range(2)
    ]
    waiting = executor.submit(JobSpec(id="w", kind="train", entry_point=sleep, args={"seconds": 30}))
    executor.cancel(waiting)
    assert "cancelled before it started" in wait_for(executor, waiting).error
    for handle in running:
        executor.cancel(handle)
    outcomes = [wait_for(executor, h, limit=10) for h in running]
    assert all(not o.ok and "cancelled" in o.error for o in outcomes)
    assert executor.running() == 0
    with pytest.raises(UnknownJob):
        executor.poll(Handle("never-submitted", "local"))


def test_shutdown_waits_for_jobs_then_refuses_new_ones(tmp_path: Path) -> None:
    ex = LocalExecutor(max_jobs=2, gpus=0, work_dir=tmp_path / "work")
    handle = ex.submit(JobSpec(id="a", kind="fix", entry_point=f"{JOBS}:add", args={"a": 1, "b": 1}))
    ex.shutdown(wait=True)
    assert ex.poll(handle) is not None and ex.poll(handle).result["sum"] == 2  # type: ignore[union-attr]
    with pytest.raises(ExecutorClosed, match="shut down"):
        ex.submit(JobSpec(id="b", kind="fix", entry_point=f"{JOBS}:add", args={"a": 1, "b": 1}))


def test_spec_and_outcome_round_trip_through_json() -> None:
    spec = JobSpec(
        id="j1",
        kind="train",
        entry_point="engine.train:run",
        args={"show": "MYSHOW"},
        needs_gpu=True,
        timeout_s=60,
    )
    assert JobSpec.from_json(spec.to_json()) == spec
    outcome = JobOutcome.failed("j1", "line one\nline two", exit_code=1, duration_s=1.5)
    assert JobOutcome.from_json(outcome.to_json()) == outcome and outcome.error == "line one line two"


def test_gpu_detection_follows_cuda_visible_devices(tmp_path: Path) -> None:
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": "1,-1,2"}) == ["1"]
    assert detect_gpus({}, proc_dir=tmp_path / "absent") == []


def test_executors_package_imports_neither_daemon_nor_engine() -> None:
    code = "import sys, integrations.executors; print(sorted({m.split('.')[0] for m in sys.modules} & {'daemon', 'engine', 'ray'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_worker_stops_when_the_daemon_that_started_it_dies(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker.pid"
    daemon_code = (
        "import time\n"
        "from integrations.executors import JobSpec, LocalExecutor\n"
        f"ex = LocalExecutor(max_jobs=1, gpus=0, work_dir={str(tmp_path / 'work')!r})\n"
        f"ex.submit(JobSpec(id='orphan', kind='train', entry_point='{JOBS}:record_pid_and_sleep',"
        f" args={{'pid_file': {str(pid_file)!r}, 'seconds': 60}}))\n"
        "time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parents[2]
    daemon = subprocess.Popen([sys.executable, "-c", daemon_code], cwd=root)
    try:
        deadline = time.monotonic() + 15
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        daemon.kill()  # the daemon crashes: no chance to stop its jobs
        daemon.wait()
        deadline = time.monotonic() + 5
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(worker), "an orphaned worker kept running after its daemon died"
    finally:
        daemon.kill()
        daemon.wait()
        if pid_file.exists() and pid_file.read_text() and alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)  # do not leave it behind if the test failed


def start_killable_daemon(work: Path, pid_file: Path) -> subprocess.Popen[bytes]:
    """A process that runs a local executor on `work` and starts one job that records its pid and sleeps."""
    daemon_code = (
        "import time\n"
        "from integrations.executors import JobSpec, LocalExecutor\n"
        f"ex = LocalExecutor(max_jobs=1, gpus=0, work_dir={str(work)!r})\n"
        f"ex.submit(JobSpec(id='fix-7-1', kind='fix', entry_point='{JOBS}:record_pid_and_sleep',"
        f" args={{'pid_file': {str(pid_file)!r}, 'seconds': 60}}))\n"
        "time.sleep(60)\n"
    )
    return subprocess.Popen([sys.executable, "-c", daemon_code], cwd=Path(__file__).resolve().parents[2])


def test_job_folders_a_killed_daemon_left_are_removed_when_the_next_one_starts_and_a_live_ones_kept(
    tmp_path: Path,
) -> None:
    work, pid_file = tmp_path / "work", tmp_path / "worker.pid"
    killed = start_killable_daemon(work, pid_file)
    try:
        deadline = time.monotonic() + 15
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        killed.kill()  # SIGKILL: the daemon cannot remove its job's folder
        killed.wait()
        deadline = time.monotonic() + 5
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = [p for p in work.rglob("spec.json")]
        assert len(left) == 1  # what a daemon killed mid-job leaves

        running = LocalExecutor(max_jobs=1, gpus=0, work_dir=work)  # the daemon started again
        handle = running.submit(
            JobSpec(id="fix-7-2", kind="fix", entry_point=f"{JOBS}:record_pid_and_sleep",
                    args={"pid_file": str(tmp_path / "again.pid"), "seconds": 60})
        )  # fmt: skip
        assert [p.parent.name for p in work.rglob("spec.json")] == ["000001-fix-7-2"]
        LocalExecutor(max_jobs=1, gpus=0, work_dir=work).shutdown()  # a second daemon on the same host
        assert [p.parent.name for p in work.rglob("spec.json")] == ["000001-fix-7-2"]  # a live one's is kept
        running.cancel(handle)
        wait_for(running, handle)
        running.shutdown()
        assert not list(work.rglob("spec.json"))
    finally:
        killed.kill()
        killed.wait()


def test_the_worker_reads_a_spec_from_stdin_and_writes_the_outcome(tmp_path: Path) -> None:
    spec = JobSpec(id="stdin", kind="fix", entry_point=f"{JOBS}:add", args={"a": 20, "b": 22})
    result = tmp_path / "outcome.json"
    command = [sys.executable, "-m", "integrations.executors.worker", "--spec", "-", "--result", str(result)]
    done = subprocess.run(command, input=spec.to_json(), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert JobOutcome.from_json(result.read_text()).result["sum"] == 42
    bad = subprocess.run(command, input="{not json", capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "not valid JSON" in bad.stderr


def test_a_job_worker_is_handed_no_secrets(
    tmp_path: Path, executor: LocalExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tracker's script key (or Kitsu password), the webhook secret and the secrets folder stay in the
    daemon: a fix or training job (and the ffmpeg it runs) reads the catalog and files, never the tracker.
    They used to be in every local worker's environment (the Ray executor already left them out)."""
    secrets = {
        "RUSHES_TRACKER__SCRIPT_KEY": "sg-key",
        "RUSHES_TRACKER__WEBHOOK__SECRET": "hook-s3cret",
        "RUSHES_SECRETS_DIR": str(tmp_path),
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RUSHES_HOME", str(tmp_path / "home"))
    module = tmp_path / "jobs_mod" / "rushes_test_env_job.py"
    module.parent.mkdir()
    module.write_text("import os\ndef run():\n    return {'env': dict(os.environ)}\n")
    spec = JobSpec(
        id="env-1",
        kind="fix",
        entry_point="rushes_test_env_job:run",
        env={"PYTHONPATH": str(module.parent)},
        log_path=str(tmp_path / "logs" / "env-1.log"),
    )
    outcome = wait_for(executor, executor.submit(spec))
    assert outcome.ok, outcome.error
    env = outcome.result["env"]
    assert env["RUSHES_HOME"] == str(tmp_path / "home")
    assert not set(secrets) & set(env)
    assert not {"sg-key", "hook-s3cret"} & set(env.values())


def test_a_host_whose_name_begins_another_hosts_leaves_that_hosts_job_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = 2**22 + 17  # above any pid this machine hands out (pid_max is at most 2**22)
    theirs = (
        tmp_path / f"run-render-{gone}-{os.getpid()}-abc123"
    )  # host "render-<digits>", on a shared data_dir
    dead = tmp_path / f"run-render-{gone}-0a1b2c"  # this host's, its process gone
    for folder in (theirs, dead):
        folder.mkdir()
    monkeypatch.setattr(local.socket, "gethostname", lambda: "render")
    local.sweep_dead_runs(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [theirs.name]
