"""A studio base model's corpus: folders of footage the studio owns, each corpus with a written declaration.

The declaration is the ownership or licence statement for the footage ("owned: shot by ACME for show X",
"licensed: CC-BY 4.0, Blender Foundation"); a corpus without one is refused before anything is read, so a
base manifest can never list clips nobody vouched for. One declaration covers every folder, or each folder
has its own (given in the folders' order), so owned and licensed footage keep their own statements. `corpus_clips` walks every folder (recursively,
in sorted order, so the same folders give the same clip list) for movies and image sequences, and hashes
each by content (a movie: its bytes; a sequence: every frame file's name and bytes, in frame order): the
hash is what the base manifest lists beside the clip's cuts, and what makes a changed file a new clip.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import fileseq

from engine.media.info import MediaError
from engine.media.sequences import IMAGE_EXTENSIONS, MOVIE_EXTENSIONS, find_sequence
from engine.train.dataset import DatasetError, TrainClip, content_hashes, hash_files

MIN_SEQUENCE_FRAMES = 3


class CorpusError(DatasetError):
    """A base corpus that cannot be used: undeclared, missing, or without footage."""


@dataclass(frozen=True)
class Corpus:
    folders: tuple[Path, ...]
    declarations: tuple[str, ...]  # one per folder, in the same order

    @property
    def declaration(self) -> str:
        """The corpus's declaration in one text: the one statement, or each folder's after its path."""
        if len(set(self.declarations)) == 1:
            return self.declarations[0]
        return "; ".join(
            f"{folder}: {text}" for folder, text in zip(self.folders, self.declarations, strict=True)
        )

    def by_folder(self) -> dict[str, str]:
        """Each corpus folder's declaration."""
        return {str(f): d for f, d in zip(self.folders, self.declarations, strict=True)}


def _texts(declaration: str | Sequence[str] | None) -> list[str]:
    given = [declaration] if declaration is None or isinstance(declaration, str) else list(declaration)
    return [" ".join((text or "").split()) for text in given]


def declared_corpus(folders: Sequence[str | Path], declaration: str | Sequence[str] | None) -> Corpus:
    """The corpus, or CorpusError (one line) when it has no declaration, no folder, a missing folder, a folder
    given twice or inside another, or several declarations that do not pair one to one with its folders."""
    texts = _texts(declaration)
    if not any(texts):
        raise CorpusError(
            "the corpus has no declaration: say who owns the footage or under which licence it is used, "
            "e.g. --declare 'owned: shot by ACME for show X'"
        )
    if not folders:
        raise CorpusError("the corpus names no folder: pass --corpus DIR (repeatable)")
    paths = tuple(Path(f).expanduser().resolve() for f in folders)
    for path in paths:
        if not path.is_dir():
            raise CorpusError(f"corpus folder {path} does not exist or is not a folder")
    if len(texts) == 1:
        texts = texts * len(paths)
    if len(texts) != len(paths):
        raise CorpusError(
            f"{len(texts)} declarations for {len(paths)} corpus folders: give one --declare for every folder, "
            "or one --declare per --corpus in the same order"
        )
    for path, text in zip(paths, texts, strict=True):
        if not text:
            raise CorpusError(f"corpus folder {path} has an empty declaration: say who owns its footage")
    _refuse_overlap(paths)
    return Corpus(paths, tuple(texts))


def _refuse_overlap(paths: Sequence[Path]) -> None:
    """CorpusError (one line) for a folder given twice or inside another: its clips would be read twice, each
    time under a declaration of its own."""
    for i, path in enumerate(paths):
        for other in paths[:i]:
            if path == other:
                raise CorpusError(f"corpus folder {path} is given twice: give each --corpus once")
            inner, outer = (path, other) if path.is_relative_to(other) else (other, path)
            if inner.is_relative_to(outer):
                raise CorpusError(
                    f"corpus folder {inner} is inside corpus folder {outer}: its clips would be read twice, "
                    f"under both folders' declarations; give one of the two, or move {inner} out"
                )


def readable_file(path: Path) -> bool:
    """Whether `path` is a regular file this process may read: a link whose target is gone, a link loop, a named
    pipe (whose open would wait for a writer forever) or a device is not, nor a file it may not read."""
    try:
        return stat.S_ISREG(path.stat().st_mode) and os.access(path, os.R_OK)
    except OSError:
        return False


UNREADABLE = "not a file it can read (a broken link, a pipe, no permission)"
LINKED_FOLDER = "link to a folder (not followed)"


def unread_kind(path: Path) -> str:
    """What a corpus file no clip takes is, as `rushes base train`'s `not read:` line counts it."""
    if path.is_symlink() and path.is_dir():
        return LINKED_FOLDER
    if not readable_file(path):
        return UNREADABLE
    return path.suffix.lower() or "(no extension)"


def _sequences(folder: Path, names: list[str]) -> list[tuple[str, list[Path]]]:
    """(pattern, frame files) for each image sequence of MIN_SEQUENCE_FRAMES or more frames in `folder`."""
    images = [n for n in names if Path(n).suffix.lower() in IMAGE_EXTENSIONS and readable_file(folder / n)]
    out = []
    for seq in fileseq.FileSequence.yield_sequences_in_list([str(folder / n) for n in images]):
        frame_set = seq.frameSet()
        if frame_set is None or len(frame_set) < MIN_SEQUENCE_FRAMES:
            continue
        digits = f"%0{seq.zfill()}d" if seq.zfill() > 1 else "%d"
        pattern = f"{seq.dirname()}{seq.basename()}{digits}{seq.extension()}"
        files = find_sequence(pattern).files
        out.append((pattern, [files[n] for n in sorted(files) if readable_file(files[n])]))
    return out


def corpus_media(corpus: Corpus) -> list[tuple[str, list[Path]]]:
    """(clip id, its files) for every movie and image sequence under the corpus folders, without reading
    them; CorpusError when there is none."""
    found: list[tuple[str, list[Path]]] = []
    for root in corpus.folders:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            folder = Path(dirpath)
            names = sorted(n for n in filenames if not n.startswith("."))
            found += [
                (str(folder / n), [folder / n])
                for n in names
                if Path(n).suffix.lower() in MOVIE_EXTENSIONS and readable_file(folder / n)
            ]
            found += _sequences(folder, names)
    if not found:
        folders = ", ".join(str(f) for f in corpus.folders)
        raise CorpusError(f"the corpus folders ({folders}) hold no movies or image sequences")
    return found


def corpus_unread(corpus: Corpus) -> list[Path]:
    """The files under the corpus folders that no clip takes (neither a movie nor a frame of an image sequence
    of MIN_SEQUENCE_FRAMES or more, or not a file it can read; hidden files aside), and the links to folders,
    which are not followed (a loop, or a folder read twice), in walking order: what a base is not trained on."""
    taken = {str(f) for _, files in corpus_media(corpus) for f in files}
    unread: list[Path] = []
    for root in corpus.folders:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            folder = Path(dirpath)
            names = sorted(n for n in filenames if not n.startswith("."))
            linked = [folder / n for n in dirnames if not n.startswith(".") and (folder / n).is_symlink()]
            unread += linked + [folder / n for n in names if str(folder / n) not in taken]
    return unread


def listed_files(clip_id: str) -> list[Path]:
    """The files of a clip as a base manifest names it (a movie's path, a sequence's pattern); [] when gone."""
    path = Path(clip_id)
    if path.suffix.lower() in MOVIE_EXTENSIONS:
        return [path] if path.is_file() else []
    try:
        files = find_sequence(clip_id).files
    except MediaError:
        return []
    return [files[n] for n in sorted(files)]


def listed_changes(listed: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(changed, gone): the clips of `listed` (clip id -> content hash, as a base manifest lists its corpus)
    whose files now hash otherwise, and those no longer on disk. Reads every byte, so it takes as long as
    hashing the corpus did."""
    changed, gone = [], []
    for clip_id, expected in listed.items():
        files = listed_files(clip_id)
        if not files:
            gone.append(clip_id)
        elif hash_files(files) != expected:
            changed.append(clip_id)
    return changed, gone


def corpus_clips(corpus: Corpus) -> list[TrainClip]:
    """Every movie and image sequence under the corpus folders, hashed by content; CorpusError when none.
    Byte-identical copies (the same plate in two folders of an archive) are one group, held out together: a copy
    held out while its twin trained scored the base on pictures it had learned. Each file is read once."""
    hashed = [(clip_id, *content_hashes(files)) for clip_id, files in corpus_media(corpus)]
    copies = Counter(raw for _, _, raw in hashed)
    return [
        TrainClip(
            id=clip_id,
            content_hash=named,
            path=Path(clip_id),
            group=f"copies:{raw[:16]}" if copies[raw] > 1 else "",
        )
        for clip_id, named, raw in hashed
    ]
