"""Fix-request text: what a coordinator types into the task's fix field or a note. Pure, no I/O.

    interpolate frames=1012-1016; regrade reference=1001
    #rushes cleanup mask=/masks/sh010_wire.png frames=1001-1010     (a line of a note)
    ["interpolate", "denoise"]                                      (a list field: kinds only)

Clauses are separated by `;` or new lines. A clause is a kind (interpolate, regrade, denoise, upscale,
cleanup) followed by `key=value` parameters (a value may be "quoted"). Parameters merge into one flat
dict; when two kinds give the same key different values, the later one is kept as `kind.key`.

The known kinds are not listed here: they belong to the engine, and the caller passes them in (`kinds`).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

NOTE_TAG = "#rushes"
ALIASES = {"interp": "interpolate", "retime": "interpolate", "grade": "regrade", "upres": "upscale"}


@dataclass(frozen=True)
class FixSpec:
    kinds: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # one line each: unknown kinds, malformed parameters

    @property
    def empty(self) -> bool:
        return not self.kinds


def _kind(word: str, kinds: Collection[str]) -> str | None:
    word = word.strip().lower()
    word = ALIASES.get(word, word)
    return word if word in kinds else None


def _tokens(clause: str) -> list[str]:
    try:
        return shlex.split(clause)
    except ValueError:
        return clause.split()


def parse_fix_text(text: str, kinds: Collection[str]) -> FixSpec:
    """Parse clauses like `interpolate frames=1012-1016; regrade reference=1001`."""
    found: list[str] = []
    params: dict[str, str] = {}
    problems: list[str] = []
    for clause in re.split(r"[;\n]", text):
        words = _tokens(clause.strip())
        if not words:
            continue
        kind = _kind(words[0], kinds)
        if kind is None:
            problems.append(f"unknown fix kind '{words[0]}' (use one of: {', '.join(kinds)})")
            continue
        if kind not in found:
            found.append(kind)
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if not sep or not key:
                problems.append(f"'{word}' after '{kind}' is not key=value")
                continue
            key = key.strip().lower()
            if key in params and params[key] != value:
                params[f"{kind}.{key}"] = value
            else:
                params[key] = value
    return FixSpec(tuple(found), params, tuple(problems))


def parse_fix_field(value: Any, kinds: Collection[str]) -> FixSpec:
    """The task's fix field: text (clauses), a list value (one kind) or a list of kinds."""
    if value is None:
        return FixSpec()
    if isinstance(value, list | tuple):
        return merge(*(parse_fix_field(item, kinds) for item in value))
    return parse_fix_text(str(value), kinds)


def parse_note(body: str, kinds: Collection[str]) -> FixSpec:
    """The `#rushes ...` lines of a note body; other lines are ignored."""
    specs = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith(NOTE_TAG):
            specs.append(parse_fix_text(stripped[len(NOTE_TAG) :], kinds))
    return merge(*specs)


def merge(*specs: FixSpec) -> FixSpec:
    kinds: list[str] = []
    params: dict[str, str] = {}
    problems: list[str] = []
    for spec in specs:
        kinds.extend(k for k in spec.kinds if k not in kinds)
        for key, value in spec.params.items():
            params.setdefault(key, value)
        problems.extend(spec.problems)
    return FixSpec(tuple(kinds), params, tuple(problems))
