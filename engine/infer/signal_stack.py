"""Each thread keeps an alternate signal stack that stays mapped, whatever OpenVINO does with its own.

OpenVINO's CPU plugin (2026.4 is the one pinned here) gives the thread that first compiles a model an
alternate signal stack of its own (`sigaltstack`, sized for AMX tile state) and unmaps that stack when the
plugin is destroyed. It puts the thread's previous stack back only when the plugin is destroyed on that same
thread. Python destroys the plugin with the last reference to its compiled models, on whichever thread drops
it (a garbage collection, a cache eviction), so the thread that compiled can be left standing on a stack that
is no longer mapped. The next signal delivered to that thread whose handler runs on the alternate stack
(every handler set from Python: CPython installs them with SA_ONSTACK) cannot be delivered, and the kernel
kills the process with SIGSEGV without running any handler, faulthandler's included. The test suite's
workers died that way on the SIGCHLD of a finished child; a fix worker would die the same way on the
SIGTERM that asks it to stop.

`kept_signal_stack()` wraps a call that may compile: when the call has changed the thread's alternate stack,
the thread is given one this module owns instead (at least as large, never freed while its thread may
use it), so whatever OpenVINO unmaps later is a stack no thread stands on. Linux only (elsewhere it does
nothing): `stack_t`'s layout below is Linux's.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MIN_SIZE = 64 * 1024  # generous for a signal frame with AVX-512 or AMX state and a handler's own stack
SS_DISABLE = 2


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@dataclass(frozen=True)
class AltStack:
    """A thread's alternate signal stack: where it starts, its size, and whether it is enabled."""

    address: int
    size: int
    enabled: bool


_owned: dict[int, ctypes.Array[ctypes.c_char]] = {}  # thread ident -> the stack given to that thread
_lock = threading.Lock()


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def current() -> AltStack | None:
    """This thread's alternate signal stack (None where this module does nothing)."""
    if _LIBC is None:
        return None
    stack = _StackT()
    if _LIBC.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return AltStack(int(stack.ss_sp or 0), int(stack.ss_size), not stack.ss_flags & SS_DISABLE)


def give_own_stack(size: int) -> AltStack | None:
    """Install a stack this module owns, of at least `size` bytes, as this thread's alternate stack."""
    if _LIBC is None:
        return None
    buffer = ctypes.create_string_buffer(max(size, MIN_SIZE))
    stack = _StackT(ctypes.addressof(buffer), 0, len(buffer))
    if _LIBC.sigaltstack(ctypes.byref(stack), None) != 0:
        return None
    with _lock:  # the thread's previous stack of ours (if any) is no longer its stack: it may go
        _owned[threading.get_ident()] = buffer
    return current()


@contextmanager
def kept_signal_stack() -> Iterator[None]:
    """Run the block; if it changed this thread's alternate signal stack, give the thread one of ours."""
    before = current()
    try:
        yield
    finally:
        after = current()
        if before is not None and after is not None and after != before:
            give_own_stack(max(before.size, after.size))
