"""Fix-request text: what a coordinator types into the task's fix field or a note. Pure, no I/O.

    interpolate frames=1012-1016; regrade reference=1001
    #rushes cleanup mask=/masks/sh010_wire.png                      (a line of a note)
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
ALIASES = {
    "interp": "interpolate",
    "interpolation": "interpolate",
    "retime": "interpolate",
    "grade": "regrade",
    "regrading": "regrade",
    "denoising": "denoise",
    "de-noise": "denoise",
    "degrain": "denoise",
    "upres": "upscale",
    "up-res": "upscale",
    "uprez": "upscale",
    "upscaling": "upscale",
    "clean-up": "cleanup",
    "paintout": "cleanup",
    "paint-out": "cleanup",
}
# Words a person puts between two fixes ("denoise and regrade", "denoise + upscale"); read as a separator.
CONNECTORS = frozenset({"and", "&", "+", "plus", "then", "also"})
# What text pasted from a mail, a chat or a word processor carries: no-break, other unicode and invisible spaces
# (a word joiner, a byte-order mark at the start), typographic quotes, full-width punctuation from an East Asian
# input method. Read as plain spaces, quotes and punctuation.
_SPACES = re.compile(r"[\u00a0\u2000-\u200b\u202f\u205f\u2060\u3000\ufeff]")
_QUOTES = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\uff1d": "=",  # full-width = : ; ,
        "\uff1a": ":",
        "\uff1b": ";",
        "\uff0c": ",",
    }
)
_KEY = re.compile(r"[A-Za-z_][\w.]*")
# A word of a frame list: 1012, 1012-1016 (a dash as typed), or such words joined by commas.
_PART_RECT = re.compile(
    r"mask=\d+(?:,\d+){0,2}", re.IGNORECASE
)  # a rectangle's first numbers, its last to come
_NUMBERS = re.compile(r"\d+(?:,\d+)*")
_FRAMES_WORD = re.compile(r"\d+(?:[-\u2013\u2014]\d+)?(?:,\d+(?:[-\u2013\u2014]\d+)?)*")
# The longest fix text read (a field, or a note's `#rushes` lines): a request is a few clauses, a few hundred
# characters with its paths. Its words are split as a shell does (shlex), in time that grows with the square of a
# word's length: a 2 MB value held every show's intake for minutes while it was read.
MAX_TEXT = 10_000


@dataclass(frozen=True)
class FixSpec:
    kinds: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # one line each: unknown kinds, malformed parameters

    @property
    def empty(self) -> bool:
        return not self.kinds


def _kind(word: str, kinds: Collection[str]) -> str | None:
    word = word.strip().rstrip(":,").lower()
    word = ALIASES.get(word, word)
    return word if word in kinds else None


def _tokens(clause: str, kinds: Collection[str]) -> list[str]:
    """The clause's words, with `key = value`, `key: value` and `key:value` joined as key=value, the words of a
    frame list after `frames=` joined into its value (`frames=1012 1014` is frames=1012,1014), and the commas
    between words dropped (a comma inside a value, as in mask=10,20,64,48, stays)."""
    try:
        words = shlex.split(clause)
    except ValueError:
        words = clause.split()
    words = [w.rstrip(",") for w in words if w.strip(",")]
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        after = words[i + 1] if i + 1 < len(words) else None
        key = word.rstrip("=:")
        if (
            after is not None
            and key != word
            and _KEY.fullmatch(key)
            and word.count("=") + word.count(":") == 1
            and _kind(key, kinds) is None  # "denoise:" is a kind, not a key
        ):
            out.append(f"{key}={after}")  # "frames=" "1012" or "frames:" "1012"
            i += 2
        elif after is not None and after.startswith("=") and _KEY.fullmatch(word):
            value = after[1:] or (words[i + 2] if i + 2 < len(words) else "")
            out.append(f"{word}={value}")  # "frames" "=1012" or "frames" "=" "1012"
            i += 2 if after != "=" else 3
        elif "=" not in word and word.count(":") == 1 and _KEY.fullmatch(word.partition(":")[0]):
            k, _, v = word.partition(":")
            out.append(f"{k}={v}" if v else word)  # "frames:1012"
            i += 1
        elif out and out[-1].lower().startswith("frames=") and _FRAMES_WORD.fullmatch(word):
            out[-1] += f",{word}"  # "frames=1012 1014", "frames=1012, 1014": a list as people type it
            i += 1
        elif out and _PART_RECT.fullmatch(out[-1]) and _NUMBERS.fullmatch(word):
            out[-1] += f",{word}"  # "mask=120, 60, 60, 40": a rectangle as people type it
            i += 1
        else:
            out.append(word)
            i += 1
    return out


def parse_fix_text(text: str, kinds: Collection[str]) -> FixSpec:
    """Parse clauses like `interpolate frames=1012-1016; regrade reference=1001`, or as a person writes them:
    `Denoise, regrade reference: 1001`, `denoise and upscale`. Text longer than MAX_TEXT is not read: one
    problem says so."""
    if len(text) > MAX_TEXT:
        return FixSpec(
            problems=(
                f"the fix text is {len(text):,} characters long, more than the {MAX_TEXT:,} Rushes reads: write "
                "the fixes and their parameters in a few lines",
            )
        )
    found: list[str] = []
    params: dict[str, str] = {}
    problems: list[str] = []
    given: dict[tuple[str, str], str] = {}  # (kind, key) -> the value that kind was given first
    text = _SPACES.sub(" ", text).translate(_QUOTES)
    for clause in re.split(r"[;\n]", text):
        kind: str | None = None
        words = _tokens(_unbulleted(clause), kinds)
        skip = False
        for i, word in enumerate(words):
            after = words[i + 1] if i + 1 < len(words) else None
            if skip:
                skip = False
                continue
            named = _kind(word, kinds)
            if named is not None:
                kind = named
                if kind not in found:
                    found.append(kind)
                continue
            if word.lower() in CONNECTORS:
                continue
            if kind is None:
                problems.append(f"unknown fix kind '{word}' (use one of: {', '.join(kinds)})")
                break
            key, sep, value = word.partition("=")
            bare = not sep and _KEY.fullmatch(word) and after is not None and "=" not in after
            if bare and after is not None and _kind(after, kinds) is None:
                problems.append(f"'{word} {after}' after '{kind}' is not key=value: write {word}={after}")
                skip = True
                continue
            if not sep or not key:
                problems.append(f"'{word}' after '{kind}' is not key=value")
                continue
            key = key.strip().lower()
            first = given.setdefault((kind, key), value)
            if first != value:  # the later one silently won: `frames=1001-1005 frames=1010-1020` lost a range
                problems.append(f"{key}= is given twice for {kind} ({first}, {value}): give it once")
            elif key in params and params[key] != value:
                params[f"{kind}.{key}"] = value
            else:
                params[key] = value
    return FixSpec(tuple(found), params, tuple(dict.fromkeys(problems)))  # each said once


def parse_fix_field(value: Any, kinds: Collection[str]) -> FixSpec:
    """The task's fix field: text (clauses), a list value (one kind) or a list of kinds."""
    if value is None:
        return FixSpec()
    if isinstance(value, list | tuple):
        return merge(*(parse_fix_field(item, kinds) for item in value))
    return parse_fix_text(str(value), kinds)


def parse_note(body: str, kinds: Collection[str]) -> FixSpec:
    """The `#rushes ...` lines of a note body, read as one request's clauses (a key given twice for a kind is a
    problem, and each kind keeps its own: two lines once kept the first line's value for both, silently);
    other lines are ignored."""
    tagged = []
    for line in body.splitlines():
        stripped = _unbulleted(line)
        if stripped.lower().startswith(NOTE_TAG):
            tagged.append(stripped[len(NOTE_TAG) :])
    return parse_fix_text("\n".join(tagged), kinds) if tagged else FixSpec()


def parse_comment(body: str, kinds: Collection[str]) -> FixSpec:
    """A comment that is the request itself (Kitsu): its `#rushes` lines; without any, its lines that start
    with a fix kind, the others being prose ("Dropped frames here."); with neither, the whole text, so that
    what could not be read is said."""
    tagged = parse_note(body, kinds)
    if not tagged.empty or tagged.problems:
        return tagged
    lines = [line for line in body.splitlines() if _kind(_first_word(line), kinds) is not None]
    return parse_fix_text("\n".join(lines) if lines else body, kinds)


def _unbulleted(line: str) -> str:
    """The line without its markdown bullet or quote mark (Kitsu's comments are markdown)."""
    return _SPACES.sub(" ", line).strip().lstrip("-*>\u2022 ")


def _first_word(line: str) -> str:
    words = _unbulleted(line).split(maxsplit=1)
    return words[0] if words else ""


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
