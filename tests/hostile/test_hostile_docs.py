"""Every `rushes ...` command shown in the README and docs/ parses: no unknown command, no unknown option,
no stray argument (the docs once showed `rushes daemon --config F` when only `rushes --config F daemon` ran).

Commands are parsed by the real click tree of the CLI, without running them; placeholders (FILE, ID) that
fail type conversion and required options a prose mention leaves out are accepted.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from daemon.cli.main import _register, app

_register()
REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
INLINE = re.compile(r"`(rushes [^`]+)`")
SYNOPSIS = ("[", "…", "|", "COMMAND", "...")


def documented_commands() -> list[tuple[str, str]]:
    """(where, command line) for each `rushes ...` in code blocks and inline code of the docs."""
    found: list[tuple[str, str]] = []
    for doc in DOCS:
        in_block = False
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_block = not in_block
                continue
            where = f"{doc.relative_to(REPO)}:{number}"
            if in_block and line.startswith("rushes "):
                for part in line.split("#", 1)[0].split(";"):
                    if part.strip():
                        found.append((where, part.strip()))
            elif not in_block:
                found.extend(
                    (where, text) for text in INLINE.findall(line) if not any(s in text for s in SYNOPSIS)
                )
    return found


def parse(line: str) -> None:
    """Parse a command line down to its leaf command, as `rushes` would, without invoking anything.
    (typer carries its own copy of click, so groups are recognised by what they do, not by class.)"""
    args = shlex.split(line)[1:]
    command: Any = get_command(app)
    ctx = command.make_context("rushes", args)
    while hasattr(command, "resolve_command"):
        rest = [*ctx._protected_args, *ctx.args]
        if not rest:
            return
        _, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None
        command = sub
        ctx = command.make_context(command.name, rest, parent=ctx)


def usage_problem(exc: Exception) -> bool:
    """A usage error that means the documented command cannot run (not a placeholder or an omitted option)."""
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    return "UsageError" in kinds and not kinds & {"MissingParameter", "BadParameter"}


COMMANDS = documented_commands()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) >= 20
    assert any(line == "rushes daemon --config rushes.yaml" for _, line in COMMANDS)


@pytest.mark.parametrize(("where", "line"), COMMANDS, ids=[f"{w} {c}" for w, c in COMMANDS])
def test_a_documented_command_parses(where: str, line: str) -> None:
    try:
        parse(line)
    except Exception as exc:  # placeholders (ID) and prose mentions without required options are fine
        if usage_problem(exc):
            pytest.fail(f"{where}: `{line}` does not run: {exc}")
        if "UsageError" not in {cls.__name__ for cls in type(exc).__mro__}:
            raise
