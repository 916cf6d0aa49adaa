"""Which of a tracker shot's names are its own (integrations.trackers.shotnames)."""

from integrations.trackers.shotnames import ShotNames, ShotPlace, shot_names


def test_a_shot_alone_in_its_project_owns_every_name() -> None:
    assert shot_names(ShotPlace("SH010", "SQ01"), []) == ShotNames(("SQ01_SH010",), ())


def test_a_bare_name_another_sequence_repeats_is_shared_and_the_sequence_name_is_its_own() -> None:
    names = shot_names(ShotPlace("SH010", "SQ02"), [ShotPlace("SH010", "SQ01")])
    assert names == ShotNames(("SQ02_SH010",), ("SH010",))


def test_a_sequence_name_another_episode_repeats_is_shared_and_only_the_episode_name_is_its_own() -> None:
    names = shot_names(ShotPlace("SH010", "SQ010", "E01"), [ShotPlace("SH010", "sq010", "E02")])
    assert names == ShotNames(("E01_SQ010_SH010",), ("SQ010_SH010", "SH010"))


def test_a_shot_outside_any_sequence_has_no_qualified_name_of_its_own() -> None:
    names = shot_names(ShotPlace("SH010"), [ShotPlace("SH010", "SQ01")])
    assert names == ShotNames((), ("SH010",))
