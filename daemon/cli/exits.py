"""The exit statuses of every `rushes` command, as scripts read them (docs/operations.md, "For scripts").

0 is success, also when there was nothing to do (a show added again, a daily excluded again, `prune` with
nothing spent, `ingest` of an empty folder, `jobs retry` of a job queued already). The others say what a script should do next."""

from __future__ import annotations

OK = 0
# a check ran and found problems (`config check`, `tracker check`, `tracker setup`, a file `ingest` could not read)
PROBLEMS = 1
# the command, an option, the config or the thing named is wrong: running it again as it is will not help
BAD_INPUT = 2
# sysexits' EX_SOFTWARE: an unexpected error, its traceback on stderr (a bug to report)
BUG = 70
# sysexits' EX_TEMPFAIL: the tracker or the catalog cannot be reached now (down, locked): run it again later
TRY_LATER = 75
# Ctrl-C (SIGINT)
INTERRUPTED = 130
# whoever read its output stopped reading (`rushes dailies list | head -1`), as the shell counts SIGPIPE (128 + 13)
PIPE_CLOSED = 141
# SIGTERM (a farm manager's, systemd's), as the shell counts it (128 + 15)
TERMINATED = 143
