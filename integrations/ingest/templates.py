"""Path templates: map a root-relative path to a shot, take, show, date and extension.

Syntax: literal text, `/` between folders, and fields in braces:
- `{shot}` (required), `{take}`, `{show}`, `{date}`, `{ext}`: one path part each (no `/`);
  `{ext}` holds letters and digits only. A field used twice must hold the same text both times
  (`{shot}/{shot}.####.{ext}`).
- `{name:regex}` narrows a field, e.g. `{shot:[A-Z]{2}\\d{3}}` or `{date:\\d{8}}`.
- `{*}` matches any text inside one path part and keeps none of it.
- Sequence templates hold exactly one frame token: `####` (any number of `#`), `@`..., `%04d` or `%d`.
  It marks where the frame number goes; the padding width is not enforced, and a sequence pattern
  written with any of these forms matches a template written with any other.

A template matches the end of the relative path at a folder boundary, so folders above it are free:
`{shot}_{take}.{ext}` matches `sh010_2.mov` and `day3/cam_a/sh010_2.mov`. Start it with `/` to anchor
it at the root. When the template has no `{take}` the match's take is None (the daemon picks its own
default); show and date are None likewise. Field values are case-sensitive, as written on disk.

A show may give several templates of a kind (a naming change mid-show: the old names and the new): they are
tried in the order given, and the first that matches reads the path.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

FIELDS = ("shot", "take", "show", "date", "ext")
_DEFAULT_REGEX = {
    "shot": r"[^/]+",  # greedy: "ep1_sh010_3.mov" with {shot}_{take} gives shot ep1_sh010, take 3
    "take": r"[^/]+?",
    "show": r"[^/]+?",
    "date": r"[^/]+?",
    "ext": r"[A-Za-z0-9]+",
}
_FRAME_TOKEN = re.compile(r"#+|@+|%0?\d*d")
_FRAME_REGEX = r"(?:#+|@+|%0?\d*d)"


@dataclass(frozen=True)
class Match:
    shot: str
    take: str | None = None
    show: str | None = None
    date: str | None = None
    ext: str = ""


class PathTemplate:
    """One compiled template; `match(rel)` returns a Match or None."""

    def __init__(self, template: str, *, sequence: bool) -> None:
        self.template = template
        self.sequence = sequence
        self.regex = re.compile(_compile(template, sequence=sequence))

    def match(self, rel_path: str | PurePath) -> Match | None:
        text = rel_path.as_posix() if isinstance(rel_path, PurePath) else rel_path
        found = self.regex.search(text)
        if found is None:
            return None
        groups = found.groupdict()
        ext = groups.get("ext") or PurePath(text).suffix.lstrip(".")
        take = groups.get("take")
        return (
            Match(  # one form of each accented letter: a Mac writes names decomposed (NFD), trackers composed
                shot=unicodedata.normalize("NFC", groups["shot"]),
                take=None if take is None else unicodedata.normalize("NFC", take),
                show=groups.get("show"),
                date=groups.get("date"),
                ext=ext,
            )
        )

    def __repr__(self) -> str:
        return f"PathTemplate({self.template!r}, sequence={self.sequence})"


class TemplateChoice:
    """Templates of one kind tried in order; the first that matches reads the path."""

    def __init__(self, templates: str | Sequence[str], *, sequence: bool) -> None:
        given = [templates] if isinstance(templates, str) else list(templates)
        if not given:
            name = "sequence_template" if sequence else "path_template"
            raise ValueError(
                f"{name} is an empty list; give at least one template, e.g. {{shot}}_{{take}}.{{ext}}"
            )
        self.templates = tuple(PathTemplate(t, sequence=sequence) for t in given)

    def named(self) -> str:
        """As a reason names them: `template '{shot}_{take}.{ext}'`, or `templates 'A' or 'B'`."""
        word = "template" if len(self.templates) == 1 else "templates"
        return f"{word} " + " or ".join(repr(t.template) for t in self.templates)

    def match(self, rel_path: str | PurePath) -> Match | None:
        for template in self.templates:
            found = template.match(rel_path)
            if found is not None:
                return found
        return None


class Templates:
    """The movie and sequence templates of one IngestOptions (each one template, or several tried in order)."""

    def __init__(self, path_template: str | Sequence[str], sequence_template: str | Sequence[str]) -> None:
        self.movie = TemplateChoice(path_template, sequence=False)
        self.sequence = TemplateChoice(sequence_template, sequence=True)

    def match_movie(self, rel_path: str | PurePath) -> Match | None:
        """Match a movie path relative to its root, e.g. `SHOW/20240101/sh010_2.mov`."""
        return self.movie.match(rel_path)

    def match_sequence(self, rel_pattern: str | PurePath) -> Match | None:
        """Match a sequence pattern relative to its root, e.g. `sh010/sh010.####.exr`."""
        return self.sequence.match(rel_pattern)


def _compile(template: str, *, sequence: bool) -> str:
    name = "sequence_template" if sequence else "path_template"

    def fail(problem: str) -> ValueError:
        return ValueError(f"{name} {template!r}: {problem}")

    if not template.strip():
        raise fail("is empty; write one such as {shot}_{take}.{ext}")
    anchored = template.startswith("/")
    body = template.lstrip("/")
    parts: list[str] = []
    seen: set[str] = set()
    frames = 0
    i = 0
    while i < len(body):
        char = body[i]
        if char == "{":
            end = _closing_brace(body, i)
            if end < 0:
                raise fail(f"the brace at position {i + 1} is never closed")
            field, _, custom = body[i + 1 : end].partition(":")
            parts.append(_field_regex(field.strip(), custom, seen, fail))
            i = end + 1
            continue
        if char == "}":
            raise fail(f"the brace at position {i + 1} closes nothing")
        token = _FRAME_TOKEN.match(body, i) if char in "#@%" else None
        if token is not None:
            if not sequence:
                raise fail("a frame token such as #### belongs in sequence_template, not in path_template")
            frames += 1
            parts.append(_FRAME_REGEX)
            i = token.end()
            continue
        parts.append(re.escape(char))
        i += 1
    if "shot" not in seen:
        raise fail("has no {shot} field; add one, e.g. {shot}_{take}.{ext}")
    if sequence and frames != 1:
        found = "none" if frames == 0 else str(frames)
        raise fail(f"needs exactly one frame token such as ####, %04d or @ (found {found})")
    prefix = "^" if anchored else r"(?:^|/)"
    pattern = prefix + "".join(parts) + "$"
    try:  # a field's own regex may compile alone and not within the whole: a (?i) flag, a group named shot
        re.compile(pattern)
    except re.error as error:
        raise fail(
            f"the fields' regexes do not fit together: {error}; use (?i:...) for a flag, no named groups"
        ) from None
    return pattern


def _closing_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _field_regex(field: str, custom: str, seen: set[str], fail: Callable[[str], ValueError]) -> str:
    if field == "*":
        return r"[^/]*?"
    if field not in FIELDS:
        raise fail(f"unknown field {{{field}}}; use {{shot}}, {{take}}, {{show}}, {{date}}, {{ext}} or {{*}}")
    if field in seen:
        return f"(?P={field})"
    seen.add(field)
    regex = custom or _DEFAULT_REGEX[field]
    try:
        re.compile(regex)
    except re.error as error:
        raise fail(f"the regex of {{{field}}} is invalid: {error}") from None
    return f"(?P<{field}>{regex})"
