"""Studio base models: a declared corpus, a resumable run, a show version that grows from the base, and
approved pairs trained on as weighted examples."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine import degrade, synth
from engine.model import ModelError, load_model
from engine.model.base import base_ref, load_base, read_run, unfinished
from engine.options import TrainOptions
from engine.train import TrainClip, TrainSettings, train
from engine.train.base import prepare_run, train_base
from engine.train.corpus import CorpusError, corpus_clips, declared_corpus
from engine.train.pairs import PairExample, PairPool
from engine.train.precision import base_settings
from engine.train.threads import ThreadGovernor, threads_for_load, use_cpu_threads
from tests import footage

HEADS = ["denoise", "upscale"]
DECLARED = "owned: shot by ACME for show X"


def _corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    for i, name in enumerate(("astronaut", "coffee", "chelsea")):
        footage.movie(folder / "show_x" / f"clip{i}.mp4", n=8, size=(96, 64), photo=name, seed=i)
    footage.sequence(folder / "plates", "plate", n=6, size=(96, 64))
    return folder


def _options(**kw: object) -> TrainOptions:
    return TrainOptions(**{"budget_seconds": 600, "device": "cpu", "resolution": 64, **kw})  # type: ignore[arg-type]


def _settings(tmp_path: Path, **kw: object) -> TrainSettings:
    base = {
        "max_steps": 4,
        "batch_size": 2,
        "crop": 32,
        "cache_dir": tmp_path / "cache",
        "checkpoint_seconds": 0.01,
    }
    return TrainSettings(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize("declaration", [None, "", "   "])
def test_a_corpus_without_a_declaration_is_refused_in_one_line(
    tmp_path: Path, declaration: str | None
) -> None:
    with pytest.raises(CorpusError) as info:
        declared_corpus([_corpus(tmp_path)], declaration)
    message = str(info.value)
    assert "\n" not in message and "declaration" in message and "--declare" in message
    assert not (tmp_path / "bases").exists()  # refused before anything is written


def test_the_corpus_lists_movies_and_image_sequences_with_content_hashes(tmp_path: Path) -> None:
    corpus = declared_corpus([_corpus(tmp_path)], DECLARED)
    clips = corpus_clips(corpus)
    names = [Path(c.id).name for c in clips]
    assert names == ["plate.%04d.png", "clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert len({c.content_hash for c in clips}) == 4 and all(len(c.content_hash) == 64 for c in clips)
    assert [c.content_hash for c in corpus_clips(corpus)] == [c.content_hash for c in clips]  # same bytes
    footage.movie(tmp_path / "corpus" / "show_x" / "clip0.mp4", n=8, size=(96, 64), photo="rocket")
    changed = corpus_clips(corpus)
    assert changed[1].content_hash != clips[1].content_hash and changed[2:] == clips[2:]


def test_a_base_manifest_lists_every_corpus_clip_with_hash_cuts_and_declaration(tmp_path: Path) -> None:
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options(holdout_fraction=0.0))
    result = train_base(folder, run, _options(), _settings(tmp_path), heads=HEADS)
    assert result.version is not None
    base = load_base(root, "ACME")
    m = base.manifest
    assert m.kind == "base" and m.declaration == DECLARED and m.version == "v1"
    assert m.corpus == [str((tmp_path / "corpus").resolve())]
    hashes = {c.content_hash for c in corpus_clips(declared_corpus(m.corpus, DECLARED))}
    assert {c.content_hash for c in m.clips + m.holdout} == hashes
    assert all(isinstance(c.cuts, list) and c.frames > 0 for c in m.clips)
    assert m.steps == {"denoise": 4, "upscale": 4}
    assert load_base(root, "ACME", "1").folder == load_base(root, "ACME", "v1").folder == base.folder
    for wrong, said in (("v2", "has no trained version v2 (its versions: v1)"), ("../x", "is not a version")):
        with pytest.raises(ModelError, match=re.escape(said)):
            load_base(root, "ACME", wrong)


def test_a_resumed_base_run_continues_from_its_checkpoint(tmp_path: Path) -> None:
    root, corpus = tmp_path / "bases", _corpus(tmp_path)
    folder, run = prepare_run(root, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0))
    calls = {"n": 0}

    def crash_after_3() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    first = train_base(folder, run, _options(), _settings(tmp_path), heads=HEADS, stop=crash_after_3)
    assert first.stopped and first.steps == {"denoise": 3, "upscale": 0}
    assert unfinished(root, "ACME") == folder
    with pytest.raises(CorpusError, match="--resume"):  # a new run would abandon the checkpoint
        prepare_run(root, "ACME", [corpus], DECLARED, _options())
    again, same_run = prepare_run(root, "ACME", [], None, _options(), resume=True)
    assert again == folder and same_run == run  # corpus and declaration come back from run.json
    seen: list[tuple[str, int]] = []
    second = train_base(
        again,
        same_run,
        _options(),
        _settings(tmp_path, progress_every=1),
        heads=HEADS,
        progress=lambda head, step, loss, elapsed: seen.append((head, step)),
    )
    assert second.resumed and second.version is not None
    assert [s for h, s in seen if h == "denoise"] == [4]  # went on from step 3, not from 0
    assert second.steps == {"denoise": 4, "upscale": 4}
    assert unfinished(root, "ACME") is None and load_base(root, "ACME").manifest.declaration == DECLARED


def test_a_base_run_keeps_its_native_size_cap_and_a_run_from_before_it_resumes_at_the_training_size(
    tmp_path: Path,
) -> None:
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options(native_resolution=80))
    assert read_run(folder).native_resolution == 80
    train_base(folder, run, _options(), _settings(tmp_path), heads=["upscale"])  # options' own cap: 1080
    assert load_base(root, "ACME").manifest.config["train"]["native_resolution"] == 80
    older, _ = prepare_run(root, "OLD", [_corpus(tmp_path)], DECLARED, _options())
    fields = json.loads((older / "run.json").read_text())
    del fields["native_resolution"]  # run.json as written before upscale trained at the footage's own size
    (older / "run.json").write_text(json.dumps(fields))
    _, resumed = prepare_run(root, "OLD", [], None, _options(), resume=True)
    assert resumed.native_resolution == 0


def test_resume_without_an_interrupted_run_says_so(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no interrupted run"):
        prepare_run(tmp_path / "bases", "ACME", [], None, _options(), resume=True)


def test_a_base_version_that_lost_its_manifest_is_never_trained_over(tmp_path: Path) -> None:
    """A finished version whose manifest.json a sync tool dropped read as an interrupted run: the next run took
    its folder and replaced the weights the shows grew from."""
    from engine.model.base import describe

    root, corpus = tmp_path / "bases", _corpus(tmp_path)
    folder, run = prepare_run(root, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0))
    train_base(folder, run, _options(), _settings(tmp_path), heads=["denoise"])
    weights = (folder / "weights.safetensors").read_bytes()
    (folder / "manifest.json").unlink()

    assert unfinished(root, "ACME") is None
    [row] = describe(root, "ACME")
    assert row["state"] == "refused" and "restore the manifest from a backup" in str(row["reason"])
    with pytest.raises(CorpusError, match="no interrupted run"):
        prepare_run(root, "ACME", [], None, _options(), resume=True)
    new, new_run = prepare_run(root, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0))
    assert new.name == "v2"
    train_base(new, new_run, _options(), _settings(tmp_path), heads=["denoise"])
    assert (folder / "weights.safetensors").read_bytes() == weights


def test_a_base_version_moved_out_of_service_never_has_its_number_given_to_another_base(
    tmp_path: Path,
) -> None:
    """The newest version moved away, the next run was numbered as it: shows grown from the first then named, as
    `ACME v1`, a base of another corpus and declaration (and a show pinned to ACME@v1 trained from it)."""
    root, corpus = tmp_path / "bases", _corpus(tmp_path)
    first, _ = prepare_run(root, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0))
    first.rename(tmp_path / "v1-out-of-service")

    second, _ = prepare_run(root, "ACME", [corpus], "licensed: stock library", _options(holdout_fraction=0.0))

    assert (first.name, second.name) == ("v1", "v2")
    assert not first.exists()


def test_a_base_version_a_run_trains_now_is_listed_as_training_not_to_resume(tmp_path: Path) -> None:
    """`rushes base list` said `unfinished (--resume)` of a run in progress; --resume was then refused."""
    from daemon.cli.base import _list_detail
    from engine.model.base import describe, lock_run

    root, corpus = tmp_path / "bases", _corpus(tmp_path)
    folder, _ = prepare_run(root, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0))
    lock = lock_run(folder)  # as the process training in it holds it
    assert lock is not None
    try:
        [row] = describe(root, "ACME")
        assert row["state"] == "training"
        assert (
            _list_detail(row)
            == f"training now (being trained by pid {os.getpid()} on {socket.gethostname()})"
        )
    finally:
        lock.release()
    [row] = describe(root, "ACME")
    assert (row["state"], _list_detail(row)) == ("unfinished", "unfinished (--resume)")


def test_a_show_version_grows_from_the_base_and_names_it(tmp_path: Path) -> None:
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options(holdout_fraction=0.0))
    train_base(folder, run, _options(), _settings(tmp_path), heads=["upscale"])
    base = load_base(root, "ACME")
    show_clips = [
        TrainClip(id=f"daily{i}", frames=synth.camera_move(synth.photo(p), 6, (80, 64), seed=i))
        for i, p in enumerate(("rocket", "astronaut", "coffee"))
    ]
    ref = base_ref("ACME", base)
    first = train(
        show_clips,
        _options(holdout_fraction=0.34),
        tmp_path / "show" / "v1",
        heads=["upscale"],
        settings=_settings(tmp_path, max_steps=1, learning_rate=1e-9),
        base=base,
        manifest_fields={"base": ref},
    )
    assert first.version is not None
    m = load_model(tmp_path / "show" / "v1").manifest
    assert m.base is not None and m.base.name == "ACME" and m.base.version == "v1"
    assert m.base.weights_sha256 == base.manifest.weights_sha256 and m.base.declaration == DECLARED
    assert m.base.seal == base.manifest.seal and m.base.seal.startswith("sha256:")  # the base as it was
    assert m.parent is None and "psnr" in first.parent_metrics["upscale"]  # scored against the base
    # it started from the base's weights: one step at a negligible learning rate leaves them in place
    w_base, w_show = base.model.state_dict(), first.version.model.state_dict()
    assert all(np.allclose(w_base[k].numpy(), w_show[k].numpy(), atol=1e-5) for k in w_show)


def test_approved_pairs_are_drawn_by_weight_and_listed(tmp_path: Path) -> None:
    clean = synth.camera_move(synth.photo("astronaut"), 4, (64, 48))
    noisy = degrade.add_noise(clean, 0.1)
    pairs = [
        PairExample(
            "publication:1:denoise", "denoise", noisy, clean, weight=2.0, before_hash="b", after_hash="a"
        ),
        PairExample("publication:2:regrade", "regrade", noisy, clean),
    ]
    pool = PairPool(pairs, resolution=48)
    rng = np.random.default_rng(0)
    draws = [pool.drawn("denoise", rng) for _ in range(2000)]
    assert 0.15 < np.mean(draws) < 0.25  # weight 2 -> a fifth of the denoise steps
    assert not any(pool.drawn("upscale", rng) for _ in range(50))
    from engine.heads import get_head

    batch = pool.batch(get_head("denoise"), rng, 3, 32, __import__("torch").device("cpu"))
    assert batch["target"].shape == (3, 3, 32, 32)
    records = {r.id: r for r in pool.records({"denoise": 40, "regrade": 40})}
    assert records["publication:1:denoise"].trained and records["publication:1:denoise"].weight == 2.0
    assert not records["publication:2:regrade"].trained  # listed, but this build cannot learn from it
    # a run whose denoise took no step (a short budget spent decoding) learned from none of its pairs
    assert not {r.id: r for r in pool.records({"denoise": 0})}["publication:1:denoise"].trained


def test_approved_pairs_reach_the_manifest_of_the_next_version(tmp_path: Path) -> None:
    clean = synth.camera_move(synth.photo("coffee"), 6, (80, 64))
    pair = PairExample(
        "publication:7:denoise", "denoise", degrade.add_noise(clean, 0.08), clean, 1.0, "bh", "ah"
    )
    clips = [
        TrainClip(id=f"daily{i}", frames=synth.camera_move(synth.photo(p), 6, (80, 64), seed=i))
        for i, p in enumerate(("rocket", "astronaut", "chelsea"))
    ]
    result = train(
        clips,
        _options(holdout_fraction=0.34),
        tmp_path / "v1",
        heads=["denoise"],
        settings=_settings(tmp_path),
        examples=[pair],
    )
    assert result.version is not None
    (record,) = load_model(tmp_path / "v1").manifest.examples
    assert (record.id, record.before_hash, record.after_hash, record.trained) == (
        "publication:7:denoise",
        "bh",
        "ah",
        True,
    )


def test_threads_follow_the_load() -> None:
    assert threads_for_load(cores=8, load=0.2) == 8
    assert threads_for_load(cores=8, load=5.0) == 3
    assert threads_for_load(cores=2, load=9.0) == 1
    now = {"t": 0.0}
    load = {"v": 7.0}
    gov = ThreadGovernor(every_s=60, clock=lambda: now["t"], load=lambda: load["v"], cores=8)
    assert gov.threads == 1
    load["v"] = 1.0 + 1  # our 1 thread plus one other process
    assert gov.tick() == 1  # not due yet
    now["t"] = 61.0
    assert gov.tick() == 7


def test_a_run_held_to_one_cpu_thread_draws_its_batches_on_one_opencv_thread_too() -> None:
    """A data-parallel worker given one CPU: OpenCV's pool (the batches' flow, resizes, grain) is held like
    torch's, so it does not spin on the cores the other workers train on."""
    torch_before, cv2_before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        use_cpu_threads(1)
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (1, 1)
        use_cpu_threads(2)
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)
    finally:
        torch.set_num_threads(torch_before)
        cv2.setNumThreads(cv2_before)


def test_a_corpus_without_footage_is_refused_before_a_version_exists(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    (empty / "notes" / "readme.txt").write_text("no footage here")
    with pytest.raises(CorpusError, match="hold no movies or image sequences"):
        prepare_run(tmp_path / "bases", "ACME", [empty], DECLARED, _options())
    assert not (tmp_path / "bases" / "ACME").exists()  # nothing to --resume later


def test_a_base_trains_in_float32_unless_its_settings_ask_for_bfloat16(tmp_path: Path) -> None:
    """bfloat16 bases scored lower on unseen clips than float32 ones (engine.train.precision): a base left at
    the default settings trains step for step as one set to float32, on any CPU; set to "on" it differs."""
    corpus = _corpus(tmp_path)
    weights = {}
    for label, kw in (("default", {}), ("off", {"cpu_bf16": "off"}), ("on", {"cpu_bf16": "on"})):
        folder, run = prepare_run(
            tmp_path / label, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0)
        )
        train_base(folder, run, _options(), _settings(tmp_path, **kw), heads=["upscale"])
        weights[label] = load_model(folder).model.state_dict()
    assert all(torch.equal(w, weights["off"][k]) for k, w in weights["default"].items())
    assert not all(torch.equal(w, weights["off"][k]) for k, w in weights["on"].items())
    assert (
        TrainSettings.model_validate(base_settings(TrainSettings()).model_dump()).cpu_bf16 == "off"
    )  # workers


LICENSED = "licensed: CC-BY 4.0, Jane Doe"


def test_each_corpus_folder_keeps_its_own_declaration(tmp_path: Path) -> None:
    """`--corpus A --declare OWNED --corpus B --declare LICENSED` kept only the last declaration: the owned
    footage was listed as licensed, and nothing said so. Declarations pair with the folders in order now."""
    owned = _corpus(tmp_path)
    licensed = tmp_path / "licensed"
    footage.movie(licensed / "cc0.mp4", n=8, size=(96, 64), photo="rocket", seed=7)
    root = tmp_path / "bases"
    folder, run = prepare_run(
        root, "ACME", [owned, licensed], [DECLARED, LICENSED], _options(holdout_fraction=0.0)
    )
    train_base(folder, run, _options(), _settings(tmp_path, max_steps=1), heads=["denoise"])
    m = load_base(root, "ACME").manifest
    assert m.declarations == {str(owned.resolve()): DECLARED, str(licensed.resolve()): LICENSED}
    assert m.declaration == f"{owned.resolve()}: {DECLARED}; {licensed.resolve()}: {LICENSED}"
    assert base_ref("ACME", load_base(root, "ACME")).declaration == m.declaration  # what a show records

    with pytest.raises(CorpusError) as info:
        declared_corpus([owned, licensed, owned], [DECLARED, LICENSED])
    assert str(info.value) == (
        "2 declarations for 3 corpus folders: give one --declare for every folder, or one --declare per "
        "--corpus in the same order"
    )
    one = declared_corpus([owned, licensed], [DECLARED])  # one declaration covers every folder
    assert one.declarations == (DECLARED, DECLARED) and one.declaration == DECLARED


def test_a_resumed_run_keeps_its_declaration_and_refuses_another(tmp_path: Path) -> None:
    """`--resume --declare OTHER` trained on and wrote the first declaration into the manifest, silently."""
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options())
    train_base(folder, run, _options(), _settings(tmp_path), heads=HEADS, stop=lambda: True)
    with pytest.raises(CorpusError) as info:
        prepare_run(root, "ACME", [], LICENSED, _options(), resume=True)
    assert str(info.value) == (
        f"base ACME v1 was started declared {DECLARED!r}; resume it with the same --declare, or none "
        "(another declaration is a new run: train it once this one is finished)"
    )
    again, same = prepare_run(root, "ACME", [_corpus(tmp_path)], [DECLARED], _options(), resume=True)
    assert (again, same) == (folder, run)


def test_a_corpus_file_that_cannot_be_read_is_skipped_with_its_reason_and_listed(tmp_path: Path) -> None:
    """One corrupt movie in a corpus stopped the whole base run (after hashing every file) and left an
    "interrupted run" behind; now it is set aside, named with its reason in the manifest, and the run goes on."""
    corpus = _corpus(tmp_path)
    bad = corpus / "show_x" / "broken.mov"
    bad.write_bytes(b"not a movie at all" * 200)
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [corpus], DECLARED, _options(holdout_fraction=0.0))
    result = train_base(folder, run, _options(), _settings(tmp_path, max_steps=1), heads=["denoise"])
    assert result.version is not None
    m = load_base(root, "ACME").manifest
    (skipped,) = m.skipped
    assert skipped.id == str(bad.resolve()) and len(skipped.content_hash) == 64
    assert skipped.reason == "cannot be decoded: not a media file (FFmpeg found no known format)"
    assert str(bad.resolve()) not in {c.id for c in m.clips + m.holdout} and len(m.clips) == 4


def test_a_run_that_stopped_before_its_first_checkpoint_does_not_block_a_new_one(tmp_path: Path) -> None:
    """`rushes base train --device cuda` on a machine without a GPU (or any failure before the first step) left
    an "interrupted run" with nothing in it, and every new run was refused with "continue it with --resume"."""
    root = tmp_path / "bases"
    folder, _ = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options(device="cuda"))
    assert unfinished(root, "ACME") == folder  # what a run refused by its device leaves behind
    again, run = prepare_run(root, "ACME", [_corpus(tmp_path)], LICENSED, _options())
    assert again == folder and read_run(folder) == run and run.declaration == LICENSED
    train_base(folder, run, _options(), _settings(tmp_path), heads=HEADS, stop=lambda: True)
    with pytest.raises(CorpusError) as info:  # a checkpoint is work: kept until resumed or deleted
        prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options())
    assert str(info.value) == (
        f"base ACME has an interrupted run in v1: continue it with --resume, or delete {folder} to start over"
    )


def test_a_base_of_two_clips_counts_two_corpus_clips_not_their_held_out_tails_again(tmp_path: Path) -> None:
    """With fewer than 3 clips the last frames of each are held out; `rushes base list` and every show grown
    from the base counted those tails as more corpus clips ("4 corpus clip(s)" for a corpus of two files)."""
    from engine.model.base import corpus_clip_count

    corpus = tmp_path / "two"
    for i, photo in enumerate(("astronaut", "coffee")):
        footage.movie(corpus / f"clip{i}.mp4", n=12, size=(96, 64), photo=photo, seed=i)
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [corpus], DECLARED, _options())
    train_base(folder, run, _options(), _settings(tmp_path, max_steps=1), heads=["denoise"])
    base = load_base(root, "ACME")
    assert base.manifest.holdout_mode == "tails" and len(base.manifest.holdout) == 2
    assert corpus_clip_count(base.manifest) == 2 and base_ref("ACME", base).clips == 2
    whole = _corpus(tmp_path)  # four clips: one held out whole
    folder, run = prepare_run(root, "FOUR", [whole], DECLARED, _options(holdout_fraction=0.25))
    train_base(folder, run, _options(), _settings(tmp_path, max_steps=1), heads=["denoise"])
    four = load_base(root, "FOUR").manifest
    assert four.holdout_mode == "clips" and corpus_clip_count(four) == 4


def test_a_resumed_base_run_trains_for_the_rest_of_its_budget_not_the_whole_of_it_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 90 s run stopped after 35 s trained 84 s more when resumed (its progress bar at "0:00:00 left" the
    while): each resume had the whole budget again."""
    import engine.train.base as base_module

    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options(budget_seconds=90))
    checkpoint = folder / "checkpoint"
    checkpoint.mkdir()
    progress = {"denoise": {"step": 40, "elapsed": 20.0}, "upscale": {"step": 9, "elapsed": 15.0}}
    (checkpoint / "state.json").write_text(json.dumps({"progress": progress}))
    for tensors in ("weights", "optimizer"):  # read before a run resumes (check_checkpoint)
        save_file({}, str(checkpoint / f"{tensors}.safetensors"))
    budgets: list[float] = []

    def fake_train(clips: object, options: TrainOptions, *args: object, **kw: object) -> None:
        budgets.append(options.budget_seconds)

    monkeypatch.setattr(base_module, "train", fake_train)
    train_base(folder, run, _options(), _settings(tmp_path), heads=HEADS)
    (budget,) = budgets
    assert 50 <= budget <= 55  # 90 less the 35 s trained (less the moment it took to list the corpus)


def test_the_corpus_files_a_base_does_not_read_are_named(tmp_path: Path) -> None:
    """A folder of camera raw files (.r3d), stills and notes beside the movies trained on the movies alone, and
    nothing said the rest was never read."""
    from engine.train.corpus import corpus_unread

    folder = _corpus(tmp_path)
    (folder / "show_x" / "A001C003.r3d").write_bytes(b"raw")
    (folder / "show_x" / "A001C004.R3D").write_bytes(b"raw")
    (folder / "readme.txt").write_text("notes")
    (folder / ".DS_Store").write_bytes(b"")
    footage.sequence(
        folder / "stills", "still", n=2, size=(96, 64)
    )  # two frames: not a sequence it trains on
    unread = corpus_unread(declared_corpus([folder], DECLARED))
    root = folder.resolve()
    assert unread == [
        root / "readme.txt",
        root / "show_x" / "A001C003.r3d",
        root / "show_x" / "A001C004.R3D",
        root / "stills" / "still.1001.png",
        root / "stills" / "still.1002.png",
    ]


def test_links_gone_looping_or_to_folders_and_a_pipe_in_a_corpus_are_named_not_read_and_nothing_hangs(
    tmp_path: Path,
) -> None:
    """A clip moved off the volume left its link behind: `base train` died with a traceback (its --resume too);
    a named pipe called .mov held it forever, deaf to SIGTERM; a linked reel folder was never read or named."""
    from daemon.cli.base import unread_line
    from engine.train.corpus import corpus_unread

    folder = _corpus(tmp_path)
    (folder / "moved.mov").symlink_to(tmp_path / "gone" / "clip.mov")
    (folder / "loop.mov").symlink_to(folder / "loop.mov")
    os.mkfifo(folder / "capture.mov")
    elsewhere = tmp_path / "reel2"
    footage.movie(elsewhere / "clip9.mp4", n=8, size=(96, 64))
    (folder / "reel2").symlink_to(elsewhere, target_is_directory=True)
    corpus = declared_corpus([folder], DECLARED)

    clips = corpus_clips(corpus)  # hashed without a traceback, without waiting on the pipe

    root = folder.resolve()
    assert sorted(Path(c.id).name for c in clips) == ["clip0.mp4", "clip1.mp4", "clip2.mp4", "plate.%04d.png"]
    unread = corpus_unread(corpus)
    assert unread == [root / "reel2", root / "capture.mov", root / "loop.mov", root / "moved.mov"]
    line = unread_line(unread)
    assert line is not None and line.startswith(
        "not read: 4 corpus entries, neither movies nor image sequences of 3 frames or more that it can read (3 "
        "not a file it can read (a broken link, a pipe, no permission), 1 link to a folder (not followed)), e.g. "
    )
    assert line.endswith("give a linked folder's target as a --corpus of its own (with its declaration)")


def test_the_corpus_a_base_lists_can_be_hashed_again_to_show_it_is_what_was_trained_on(
    tmp_path: Path,
) -> None:
    from engine.train.corpus import listed_changes

    corpus = declared_corpus([_corpus(tmp_path)], DECLARED)
    listed = {c.id: c.content_hash for c in corpus_clips(corpus)}
    assert listed_changes(listed) == ([], [])
    movie, sequence = tmp_path / "corpus" / "show_x" / "clip1.mp4", tmp_path / "corpus" / "plates"
    movie.write_bytes(movie.read_bytes() + b"\0")
    next(sequence.iterdir()).unlink()  # a frame gone: the sequence hashes otherwise
    (tmp_path / "corpus" / "show_x" / "clip2.mp4").unlink()
    changed, gone = listed_changes(listed)
    root = (tmp_path / "corpus").resolve()
    assert changed == [str(root / "plates" / "plate.%04d.png"), str(root / "show_x" / "clip1.mp4")]
    assert gone == [str(root / "show_x" / "clip2.mp4")]


def test_a_run_in_progress_is_not_taken_over_by_a_new_run_or_a_resume(tmp_path: Path) -> None:
    """A run still decoding its corpus has no checkpoint yet: a second `rushes base train --name ACME` meanwhile
    rewrote its run.json and both trained into v1. Its process now holds v1's run lock for the whole run."""
    from engine.train.base import claim_run

    root = tmp_path / "bases"
    with claim_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options()) as (folder, run):
        assert (folder / "run.lock").read_text().startswith(f"pid {os.getpid()} on ")
        for resume in (False, True):
            with pytest.raises(CorpusError) as info:
                prepare_run(root, "ACME", [_corpus(tmp_path)], LICENSED, _options(), resume=resume)
            assert str(info.value) == (
                f"base ACME v1 is being trained by a run in progress (pid {os.getpid()} on "
                f"{socket.gethostname()}): wait for it to end, or stop it (Ctrl-C or SIGTERM checkpoints it) "
                "and continue it with --resume"
            )
        assert read_run(folder) == run and sorted(p.name for p in (root / "ACME").iterdir()) == [
            ".issued",
            "v1",
        ]
    again, new = prepare_run(root, "ACME", [_corpus(tmp_path)], LICENSED, _options())  # it ended, unfinished
    assert again == folder and new.declaration == LICENSED


def test_a_new_run_in_a_folder_left_before_its_first_checkpoint_trains_on_the_whole_corpus(
    tmp_path: Path,
) -> None:
    """A run killed at its first step (out of memory) left checkpoint/clips.json behind; the next run took the
    folder and trained on those clips alone, the rest of the corpus never read."""
    root = tmp_path / "bases"
    folder, _ = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options())
    first = corpus_clips(declared_corpus([_corpus(tmp_path)], DECLARED))[0]
    (folder / "checkpoint").mkdir()
    (folder / "checkpoint" / "clips.json").write_text(json.dumps([first.id]))
    again, run = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options(holdout_fraction=0.0))
    assert again == folder
    train_base(folder, run, _options(), _settings(tmp_path, max_steps=1), heads=["denoise"])
    assert len(load_base(root, "ACME").manifest.clips) == 4


def test_a_skipped_corpus_file_stays_in_the_manifest_of_a_resumed_run(tmp_path: Path) -> None:
    """A timed run set an undecodable file aside, stopped at a checkpoint and was resumed: the resumed run
    trained on the clips it started with (the file not among them), nothing failed again, and the manifest
    said `skipped: []`. The skipped files are kept in the checkpoint and come back with it."""
    corpus = _corpus(tmp_path)
    bad = corpus / "show_x" / "broken.mov"
    bad.write_bytes(b"not a movie at all" * 200)
    root = tmp_path / "bases"
    folder, run = prepare_run(
        root, "ACME", [corpus], DECLARED, _options(budget_seconds=3, holdout_fraction=0)
    )
    calls = {"n": 0}

    def stop_after_2() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    timed = _settings(tmp_path, max_steps=None)
    first = train_base(folder, run, _options(), timed, heads=["denoise"], stop=stop_after_2)
    assert first.stopped and (folder / "checkpoint" / "state.json").is_file()
    again, same = prepare_run(root, "ACME", [], None, _options(), resume=True)
    second = train_base(again, same, _options(), timed, heads=["denoise"])
    assert second.resumed and second.version is not None
    (skipped,) = load_base(root, "ACME").manifest.skipped
    assert skipped.id == str(bad.resolve()) and len(skipped.content_hash) == 64
    assert skipped.reason == "cannot be decoded: not a media file (FFmpeg found no known format)"


def test_listing_the_bases_checks_each_manifest_seal_without_hashing_the_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rushes base list` hashed the weights of every version of every base (gigabytes each); the docs say
    only `base show` does. The list checks each manifest's seal, and names an edited one."""
    import engine.model.version as version_module
    from engine.model import Manifest, save_model
    from engine.model.base import describe
    from engine.model.show import ShowModel

    root = tmp_path / "bases"
    for v in ("v1", "v2"):
        save_model(root / "ACME" / v, ShowModel.fresh(["denoise"]), Manifest(version=v, kind="base"))
    manifest = root / "ACME" / "v2" / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"seed": 0', '"seed": 1'))

    def no_hashing(path: Path) -> str:
        raise AssertionError(f"{path} was hashed")

    monkeypatch.setattr(version_module, "sha256_file", no_hashing)
    first, second = describe(root, "ACME")
    assert first["state"] == "trained" and second["state"] == "refused"
    assert str(second["reason"]).startswith(f"{manifest} is refused: its seal does not match its content")


def test_a_corpus_folder_given_twice_or_inside_another_is_refused_in_one_line(tmp_path: Path) -> None:
    """`--corpus A --declare OWNED --corpus A --declare LICENSED` (or A and a folder inside it) read every clip
    of A twice and listed each under both declarations, so nobody could tell which statement covered it."""
    owned = _corpus(tmp_path)
    with pytest.raises(CorpusError) as info:
        declared_corpus([owned, tmp_path / "corpus" / "."], [DECLARED, LICENSED])
    assert str(info.value) == f"corpus folder {owned.resolve()} is given twice: give each --corpus once"
    inner = (owned / "plates").resolve()
    for folders in ([owned, inner], [inner, owned]):
        with pytest.raises(CorpusError) as info:
            declared_corpus(folders, [DECLARED, LICENSED])
        assert str(info.value) == (
            f"corpus folder {inner} is inside corpus folder {owned.resolve()}: its clips would be read twice, "
            f"under both folders' declarations; give one of the two, or move {inner} out"
        )
    assert not (tmp_path / "bases").exists()


def test_a_base_run_whose_corpus_changed_while_it_was_stopped_is_not_resumed(tmp_path: Path) -> None:
    """A clip replaced by other content under its name and one deleted while the run was stopped: the resumed
    run trained on the new file and listed only it, so the manifest named neither the old content nor the deleted
    clip its weights had learned from. It is refused now, naming both; a clip added meanwhile is left for the
    next run, as before."""
    corpus = _corpus(tmp_path)
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [corpus], DECLARED, _options())
    first = train_base(folder, run, _options(), _settings(tmp_path), heads=HEADS, stop=lambda: True)
    assert first.stopped
    replaced, deleted = corpus / "show_x" / "clip0.mp4", corpus / "show_x" / "clip1.mp4"
    footage.movie(replaced, n=8, size=(96, 64), photo="rocket", seed=9)
    deleted.unlink()
    again, same = prepare_run(root, "ACME", [], None, _options(), resume=True)
    with pytest.raises(CorpusError) as info:
        train_base(again, same, _options(), _settings(tmp_path), heads=HEADS)
    assert str(info.value) == (
        f"base ACME v1 cannot be resumed: its corpus changed since it started ({replaced} holds other content; "
        f"{deleted} is gone) and its checkpoint learned from the files as they were; delete {folder} and train "
        "again"
    )


def _show_clips() -> list[TrainClip]:
    """Three in-memory clips of a show, as its dailies reach training."""
    return [
        TrainClip(id=f"daily:{i}", content_hash=f"blake2b:{i}", frames=footage.frames(8, (96, 64), seed=i))
        for i in range(3)
    ]


def test_a_run_whose_clips_changed_while_it_was_stopped_starts_afresh(tmp_path: Path) -> None:
    """A show's run stopped, then one of its dailies excluded (or gone): the resumed run went on from weights that
    had learned from it while its manifest listed it nowhere. It starts afresh now; unchanged, it resumes."""
    clips, out = _show_clips(), tmp_path / "v1"
    assert train(
        clips, _options(), out, heads=["denoise"], settings=_settings(tmp_path), stop=lambda: True
    ).stopped
    resumed = train(
        clips, _options(), out, heads=["denoise"], settings=_settings(tmp_path), stop=lambda: True
    )
    assert resumed.resumed
    fresh = train(clips[1:], _options(), out, heads=["denoise"], settings=_settings(tmp_path))
    assert not fresh.resumed and fresh.version is not None
    assert "daily:0" not in {c.id for c in fresh.version.manifest.clips + fresh.version.manifest.holdout}


def _cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


CHECKPOINT_DAMAGE = {
    "weights cut short": lambda folder: _cut_short(folder / "weights.safetensors"),
    "optimizer emptied": lambda folder: (folder / "optimizer.safetensors").write_bytes(b""),
    "state emptied": lambda folder: (folder / "state.json").write_text(""),
    "clips list emptied": lambda folder: (folder / "clips.json").write_text(""),
    "another net's weights": lambda folder: (folder / "weights.safetensors").write_bytes(
        (folder.parent / "other.safetensors").read_bytes()
    ),
}


@pytest.mark.parametrize("damage", list(CHECKPOINT_DAMAGE))
def test_a_show_run_whose_checkpoint_cannot_be_read_starts_afresh(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint file cut short by a full disk or emptied by a copy stopped every later run of the show with a
    SafetensorError or JSONDecodeError traceback naming no file: the nightly training never ran again."""
    clips, out = _show_clips(), tmp_path / "v1"
    assert train(
        clips, _options(), out, heads=["denoise"], settings=_settings(tmp_path), stop=lambda: True
    ).stopped
    save_file({"denoise.nope": torch.zeros(3)}, str(out / "other.safetensors"))
    CHECKPOINT_DAMAGE[damage](out / "checkpoint")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="engine.train.loop"):
        fresh = train(clips, _options(), out, heads=["denoise"], settings=_settings(tmp_path))
    assert not fresh.resumed and fresh.version is not None and fresh.steps == {"denoise": 4}
    said = [r.getMessage() for r in caplog.records if "starts afresh" in r.getMessage()]
    assert len(said) == 1 and str(out / "checkpoint") in said[0], said


def test_a_base_run_whose_checkpoint_cannot_be_read_is_refused_naming_the_file(tmp_path: Path) -> None:
    root = tmp_path / "bases"
    folder, run = prepare_run(root, "ACME", [_corpus(tmp_path)], DECLARED, _options())
    assert train_base(folder, run, _options(), _settings(tmp_path), heads=HEADS, stop=lambda: True).stopped
    _cut_short(folder / "checkpoint" / "weights.safetensors")
    again, same = prepare_run(root, "ACME", [], None, _options(), resume=True)
    with pytest.raises(CorpusError) as info:
        train_base(again, same, _options(), _settings(tmp_path), heads=HEADS)
    said = str(info.value)
    assert "\n" not in said and str(folder / "checkpoint" / "weights.safetensors") in said
    assert said.endswith(f"delete {folder / 'checkpoint'} to train the run again from its start")


def test_byte_identical_copies_in_a_corpus_are_one_group_held_out_together(tmp_path: Path) -> None:
    """The same plate in two folders of an archive: one copy was held out while its twin trained, so the base
    was scored on pictures it had learned."""
    import shutil

    corpus = _corpus(tmp_path)
    shutil.copy(corpus / "show_x" / "clip0.mp4", corpus / "plates" / "same_as_clip0.mp4")
    groups = {Path(c.id).name: c.group for c in corpus_clips(declared_corpus([corpus], DECLARED))}
    assert groups["clip0.mp4"] == groups["same_as_clip0.mp4"] != ""
    assert groups["clip1.mp4"] == groups["clip2.mp4"] == groups["plate.%04d.png"] == ""  # others: their own
