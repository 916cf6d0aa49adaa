"""Executors run jobs elsewhere (local worker subprocesses, or a Ray cluster) behind one interface.

This package never imports daemon or engine: a job's entry point is a "package.module:function" string
resolved only inside the worker.
"""

from integrations.executors.base import (
    Executor,
    ExecutorClosed,
    ExecutorError,
    ExecutorUnavailable,
    Handle,
    UnknownJob,
)
from integrations.executors.local import LocalExecutor, detect_gpus
from integrations.executors.spec import InvalidJobSpec, JobOutcome, JobSpec

__all__ = [
    "Executor",
    "ExecutorClosed",
    "ExecutorError",
    "ExecutorUnavailable",
    "Handle",
    "InvalidJobSpec",
    "JobOutcome",
    "JobSpec",
    "LocalExecutor",
    "UnknownJob",
    "detect_gpus",
]
