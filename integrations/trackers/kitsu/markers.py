"""What Rushes writes into Kitsu comments so it can recognise them again (Kitsu has no custom fields on
comments): a publish carries a `rushes-key: <idempotency key>` line, a note ends with `_rushes-note_`.
Neither is ever read back as a fix request."""

from __future__ import annotations

import re

from integrations.trackers.base import VersionSpec

KEY_LINE = "rushes-key:"
NOTE_TAG = "_rushes-note_"
KEY_PATTERN = re.compile(rf"^\s*{re.escape(KEY_LINE)}\s*(\S.*?)\s*$", re.MULTILINE)
CODE_PATTERN = re.compile(r"\s*\*\*([^\n]+?)\*\*[ \t]*$", re.MULTILINE)  # a code may hold a space


def key_of(text: str | None) -> str | None:
    """The idempotency key a publish comment carries, or None."""
    found = KEY_PATTERN.search(text or "")
    return found.group(1) if found else None


def by_rushes(text: str | None) -> bool:
    """Whether a comment is Rushes' own: a publish (its key line) or a note (its tag)."""
    return key_of(text) is not None or NOTE_TAG in (text or "")


def code_of(text: str | None) -> str | None:
    """The Version code a publish comment opens with (`**SQ01_SH010_rushes_denoise_r3**`), or None."""
    found = CODE_PATTERN.match(text or "")
    return found.group(1) if found else None


def version_text(spec: VersionSpec) -> str:
    """The text of a publish comment: code, description, frame range, paths, and the key line."""
    lines = [f"**{spec.code}**", "", spec.description.strip(), ""]
    lines.append(f"frames {spec.first_frame}-{spec.last_frame}")
    if spec.frames_path:
        lines.append(f"frames path: {spec.frames_path}")
    lines.append(f"movie: {spec.movie_path.name}")
    lines.append(f"{KEY_LINE} {spec.idempotency_key}")
    return "\n".join(lines)


def note_text(subject: str, body: str) -> str:
    return f"**{subject}**\n\n{body}\n\n{NOTE_TAG}"
