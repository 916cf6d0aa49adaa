"""The docs' commands are the commands that work: every ```sh block of README.md and docs/*.md is checked.

In each block: `export NAME=VALUE` lines set the environment of the lines after them (within the fixture
home), `. .venv/bin/activate` is taken as done, and every `rushes ...` command (several on a line are split at
`;` and `&&`) is parsed by the real command line with `--help` appended: an unknown command or option fails
here, as it would for a reader, without starting long work. The quick read-only ones (`QUICK`) also run for
real against a fixture home that has the shows the docs use. Any other shell line cannot be checked: its block
must say why in an HTML comment on the line before the fence, `<!-- not-run: reason -->`, and such blocks are
listed by `test_blocks_that_are_not_run_say_why`.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from daemon.cli.main import _register, app

_register()

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```\s*(\w*)\s*$")
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.*?)\s*-->$")
SHELL = {"sh", "bash", "shell", "console"}
# read-only commands that finish at once: run for real too (the leading command words)
QUICK = {
    ("status",),
    ("model", "list"),
    ("show", "list"),
    ("jobs", "list"),
    ("version",),
    ("config", "schema"),
}
SHOWS = ("MYSHOW", "DEMO")  # the show codes the docs use, present in the fixture home
GLOBAL_OPTIONS = {"--config", "-c"}


@dataclass
class Block:
    doc: str
    line: int  # 1-based line of the opening fence
    lines: list[str]
    not_run: str | None = None  # the reason, when marked

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass
class Command:
    block: Block
    text: str
    env: dict[str, str] = field(default_factory=dict)


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks(path: Path) -> Iterator[Block]:
    text = path.read_text().splitlines()
    i = 0
    while i < len(text):
        opened = FENCE.match(text[i])
        if opened is None or not text[i].startswith("```"):
            i += 1
            continue
        end = next((j for j in range(i + 1, len(text)) if text[j].strip() == "```"), len(text))
        if opened.group(1) in SHELL:
            before = next((t.strip() for t in reversed(text[:i]) if t.strip()), "")
            marked = NOT_RUN.match(before)
            yield Block(str(path.relative_to(REPO)), i + 1, text[i + 1 : end], marked and marked.group(1))
        i = end + 1


ALL_BLOCKS = [b for p in doc_files() for b in blocks(p)]


def commands(block: Block, home: Path) -> tuple[list[Command], list[str]]:
    """The block's `rushes` commands with the environment its exports built, and the lines it cannot run."""
    env = {"RUSHES_HOME": str(home), "HOME": str(home.parent)}
    found: list[Command] = []
    unrunnable: list[str] = []
    for raw in joined(block.lines):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name.strip()] = _expand(value.strip().strip("'\""), env)
            continue
        if line in (". .venv/bin/activate", "source .venv/bin/activate"):
            continue
        for part in re.split(r"\s*(?:;|&&)\s*", line):
            if part.startswith("rushes ") or part == "rushes":
                found.append(Command(block, part, dict(env)))
            elif part and not part.startswith("#"):
                unrunnable.append(part)
    return found, unrunnable


def joined(lines: list[str]) -> list[str]:
    """Lines continued with a trailing backslash, joined."""
    out: list[str] = []
    carry = ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            carry += line.rstrip()[:-1] + " "
            continue
        out.append(carry + line)
        carry = ""
    return [*out, carry] if carry else out


def _expand(text: str, env: dict[str, str]) -> str:
    for name in sorted(env, key=len, reverse=True):
        text = text.replace(f"${name}", env[name]).replace(f"${{{name}}}", env[name])
    return text.replace("~", env["HOME"], 1) if text.startswith("~") else text


def argv(command: Command) -> list[str]:
    words = shlex.split(_expand(command.text, command.env), comments=True)
    return [_expand(w, command.env) for w in words[1:]]


def command_path(args: list[str]) -> tuple[str, ...]:
    """The leading command words (global options and their values skipped)."""
    words: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in GLOBAL_OPTIONS:
            i += 2
            continue
        if args[i].startswith("-"):
            break
        words.append(args[i])
        i += 1
    return tuple(words)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs") / "home"
    for code in SHOWS:
        result = CliRunner().invoke(app, ["show", "add", code], env=clean_env(folder))
        assert result.exit_code == 0, result.output
    return folder


def clean_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str | None]:
    """RUSHES_* of the caller unset (None), then the fixture home and the block's exports."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RUSHES_")}
    env.update({"RUSHES_HOME": str(home), "RUSHES_LOG_LEVEL": "error"})
    env.update(extra or {})
    return env


RUN_BLOCKS = [b for b in ALL_BLOCKS if b.not_run is None]


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.where for b in RUN_BLOCKS])
def test_every_rushes_command_in_the_docs_parses_and_the_quick_ones_run(block: Block, home: Path) -> None:
    found, unrunnable = commands(block, home)
    assert not unrunnable, (
        f"{block.where}: cannot check {unrunnable}: make the block `rushes` commands only, or put "
        "`<!-- not-run: reason -->` on the line before its fence"
    )
    for command in found:
        args = argv(command)
        env = clean_env(home, {k: v for k, v in command.env.items() if k.startswith("RUSHES_")})
        env["RUSHES_HOME"] = str(home)  # every block runs in the fixture home, whatever it exports
        parsed = CliRunner().invoke(app, [*args, "--help"], env=env)
        assert parsed.exit_code == 0, f"{block.where}: `{command.text}` does not parse:\n{parsed.output}"
        if command_path(args) in QUICK:
            ran = CliRunner().invoke(app, args, env=env)
            assert ran.exit_code == 0, f"{block.where}: `{command.text}` failed:\n{ran.output}"


def test_blocks_that_are_not_run_say_why() -> None:
    skipped = [b for b in ALL_BLOCKS if b.not_run is not None]
    for b in skipped:
        assert b.not_run, f"{b.where}: `<!-- not-run: -->` needs a reason"
        print(f"not run: {b.where}: {b.not_run}")  # listed with `pytest -s`
    assert RUN_BLOCKS, "no command block of the docs was checked"


def test_the_docs_test_catches_an_option_that_does_not_exist(home: Path) -> None:
    bad = Block("x.md", 1, ["rushes daemon --no-such-option"])
    [command], _ = commands(bad, home)
    assert CliRunner().invoke(app, [*argv(command), "--help"]).exit_code != 0
    assert commands(Block("x.md", 1, ["make demo"]), home)[1] == ["make demo"]
    [continued], _ = commands(Block("x.md", 1, ["rushes show add X \\", "  --name Y"]), home)
    assert argv(continued) == ["show", "add", "X", "--name", "Y"]
