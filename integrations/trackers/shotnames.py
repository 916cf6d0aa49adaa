"""The names a tracker's shot goes by in its dailies' file names, and which of them another shot has too.

Shot names repeat within a project: SH010 in every sequence, and in an episodic series SQ010_SH010 in every
episode. Files are named by the bare name, by the name qualified by the sequence, or by the episode and the
sequence as well. A name that another shot of the project also goes by cannot tell whose dailies are whose;
the daemon matches dailies by the names no other shot has and asks for such names where the files use one
that is shared. Pure: the adapters read the places, this decides.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ShotPlace:
    """A shot's name and where it sits: its sequence's and its episode's names ("" where it has none)."""

    shot: str
    sequence: str = ""
    episode: str = ""

    def qualified(self) -> tuple[str, ...]:
        """Its names qualified by its sequence (and episode), most specific first: EP02_SQ010_SH010,
        SQ010_SH010."""
        if not self.shot or not self.sequence:
            return ()
        by_sequence = f"{self.sequence}_{self.shot}"
        return (f"{self.episode}_{by_sequence}", by_sequence) if self.episode else (by_sequence,)


@dataclass(frozen=True)
class ShotNames:
    """`unique`: its qualified names no other shot of the project goes by, most specific first. `shared`: its
    names (qualified or bare, most specific first) that another shot goes by too."""

    unique: tuple[str, ...]
    shared: tuple[str, ...]


def shot_names(place: ShotPlace, others: Iterable[ShotPlace]) -> ShotNames:
    """Which of the shot's names are its own, given the other shots of the project named as it is (names are
    compared in any case, as dailies are matched)."""
    taken = {name.casefold() for other in others for name in (other.shot, *other.qualified()) if name}
    mine = place.qualified()
    unique = tuple(name for name in mine if name.casefold() not in taken)
    shared = tuple(name for name in (*mine, place.shot) if name and name.casefold() in taken)
    return ShotNames(unique, shared)
