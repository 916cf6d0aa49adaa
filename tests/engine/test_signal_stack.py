"""A process that compiled OpenVINO models still takes its signals after they are dropped on another thread
(engine/infer/signal_stack.py: OpenVINO would leave the compiling thread on an unmapped signal stack, and the
next signal killed the process with SIGSEGV, no handler run)."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.infer import signal_stack

REPO = Path(__file__).resolve().parents[2]

# A child compiles a float and an int8 net through the runtime on its main thread, drops them on another
# thread (as a garbage collection there would), then has a Python handler take SIGUSR1 and SIGCHLD.
CHILD = textwrap.dedent(
    """\
    import faulthandler, gc, signal, subprocess, sys, threading
    import numpy as np, torch
    from engine.infer import runtime

    faulthandler.enable()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3, padding=1))
    frame = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    with runtime.using(backend="openvino", min_pixels=0, threads=1):
        compiled = runtime.compiled_array_fn(net, net, frame)
        assert compiled is not None, "openvino did not compile the net"
        compiled(frame)
        int8 = runtime.quantized_array_fn(net, net, [frame], lambda run: (run(frame) is not None, "taken"))
        assert int8 is not None, "openvino did not compile the int8 net"
        int8(frame)
    del compiled, int8

    def drop():
        runtime.clear_cache()
        gc.collect()

    dropper = threading.Thread(target=drop)
    dropper.start()
    dropper.join()
    taken = []
    signal.signal(signal.SIGUSR1, lambda *_: taken.append("SIGUSR1"))
    signal.signal(signal.SIGCHLD, lambda *_: taken.append("SIGCHLD"))
    signal.raise_signal(signal.SIGUSR1)
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print("taken", sorted(set(taken)))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack's stack_t is Linux's here")
def test_signals_still_reach_a_process_whose_openvino_models_were_dropped_on_another_thread() -> None:
    run = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"the process ended with {run.returncode}: {run.stderr[-2000:]}"
    assert "taken ['SIGCHLD', 'SIGUSR1']" in run.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack's stack_t is Linux's here")
def test_a_call_that_swaps_the_signal_stack_leaves_the_thread_on_one_of_ours() -> None:
    foreign = ctypes.create_string_buffer(16384)  # a library's stack, which it may free or unmap later
    before = signal_stack.current()
    assert before is not None
    with signal_stack.kept_signal_stack():
        stack = signal_stack._StackT(ctypes.addressof(foreign), 0, len(foreign))
        assert (
            signal_stack._LIBC is not None and signal_stack._LIBC.sigaltstack(ctypes.byref(stack), None) == 0
        )
        assert signal_stack.current() == signal_stack.AltStack(ctypes.addressof(foreign), len(foreign), True)
    after = signal_stack.current()
    assert after is not None and after.enabled
    assert not ctypes.addressof(foreign) <= after.address < ctypes.addressof(foreign) + len(foreign)
    assert after.size >= max(before.size, len(foreign), signal_stack.MIN_SIZE)
    del foreign  # what the library frees is no longer this thread's stack
    with signal_stack.kept_signal_stack():  # a call that leaves the stack alone changes nothing
        pass
    assert signal_stack.current() == after
