"""The exit statuses of every `rushes` command, as scripts read them (docs/operations.md, "For scripts").

0 is success, also when there was nothing to do (a show added again, a daily excluded again, `prune` with
nothing spent, `jobs retry` of a job queued already). The others say what a script should do next."""

from __future__ import annotations

OK = 0
PROBLEMS = (
    1  # a check ran and found problems (`config check`, `tracker check`, a file `ingest` could not catalog)
)
BAD_INPUT = (
    2  # the command, an option, the config or the thing named is wrong: running it again will not help
)
INTERRUPTED = 130  # Ctrl-C (SIGINT); SIGTERM ends a command with 143
TRY_LATER = (
    75  # sysexits' EX_TEMPFAIL: the tracker or the catalog cannot be reached now (down, locked): retry
)
