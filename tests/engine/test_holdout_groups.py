"""Held-out clips are scored on pictures training never saw: a shot's deliveries and takes (v001 and v002 of one
plate, near the same pictures) are held out together or trained on together, never split between the two."""

from __future__ import annotations

import numpy as np

from engine.model.manifest import ClipRecord
from engine.train.dataset import LoadedClip, holdout_parts, split_holdout


def clip(name: str, group: str) -> LoadedClip:
    frames = np.zeros((6, 8, 8, 3), np.uint8)
    return LoadedClip(ClipRecord(id=name, content_hash=name, frames=6, cuts=[]), frames, None, group)


def test_a_shots_deliveries_are_held_out_together_or_trained_on_together() -> None:
    clips = [
        clip("sh010_v001", "sh010"),
        clip("sh010_v002", "sh010"),  # the plate delivered again: near the same pictures
        clip("sh020_1", "sh020"),
        clip("sh020_2", "sh020"),
        clip("sh030_1", "sh030"),
        clip("sh040_1", "sh040"),
    ]
    for seed in range(20):
        split = split_holdout(clips, 0.34, seed=seed)
        held = {r.id.split("_")[0] for r in split.holdout_records}
        trained = {r.id.split("_")[0] for r in split.train_records}
        assert split.mode == "clips" and held and not held & trained, seed


def test_clips_of_shots_of_their_own_are_chosen_as_before_groups_were_known() -> None:
    lengths = [6, 7, 8, 9, 10]
    for seed in range(10):
        hold = set(np.random.default_rng(seed).permutation(5)[: round(5 * 0.34)].tolist())
        _, parts = holdout_parts(lengths, 0.34, seed, groups=["a", "b", "", "c", ""])
        assert {p.clip for p in parts if p.held} == hold
