"""A show's model grows from a studio base: the CLI trains the base on a declared corpus, the show's first
version starts from it, and every later version's manifest still traces its weights to the base's declared
corpus; excluded dailies stay out and approved pairs go in, both listed in the manifest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from daemon.catalog import dailies as daily_repo
from daemon.catalog import fixes, models_repo
from daemon.catalog import shows as show_repo
from daemon.cli.main import _register
from daemon.context import open_context
from daemon.jobs.outcomes import Permanent
from daemon.jobs.payloads import TrainReport
from daemon.settings import load_settings
from daemon.stages.training import run_training
from engine import synth
from engine.media import write_movie
from engine.model import load_manifest
from engine.train import Stage, TrainSettings
from tests import footage
from tests.homes import own_home, rushes

_register()

DECLARED = "licensed: CC-BY 4.0, test photos of scikit-image"
TINY = TrainSettings(max_steps=1, batch_size=2, crop=32, checkpoint_seconds=0.01)


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def _corpus(tmp_path: Path) -> Path:
    for i, photo in enumerate(("chelsea", "rocket", "coffee")):
        footage.movie(tmp_path / "archive" / f"old{i}.mp4", n=6, size=(96, 64), photo=photo, seed=i)
    return tmp_path / "archive"


def _show(tmp_path: Path) -> Path:
    dailies = tmp_path / "dailies"
    for i, photo in enumerate(("astronaut", "coffee", "chelsea", "rocket")):
        footage.movie(dailies / f"SH{i:03d}_v1.mp4", n=6, size=(96, 64), photo=photo, seed=10 + i)
    assert rushes("show", "add", "TST", "--ingest", str(dailies))[0] == 0
    assert rushes("ingest", str(dailies), "--show", "TST")[0] == 0
    return dailies


def _approve(tmp_path: Path, daily_path: str) -> None:
    """A supervisor approved a denoise fix of `daily_path` (the after: a clean render of the same shot)."""
    after = tmp_path / "renders" / "fixed.mp4"
    after.parent.mkdir(parents=True)
    write_movie(after, synth.camera_move(synth.photo("astronaut"), 6, (96, 64), seed=10), 24)
    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session() as s:
            request, _ = fixes.add_fix_request(s, "TST", "req-1", "SH000", ["denoise"])
            pub, _ = fixes.add_publication(
                s, request.id, "denoise", "pub-1", str(after), source_path=daily_path
            )
            fixes.mark_published(s, pub.id, 501)
            fixes.set_review(s, pub.id, "approved")
    finally:
        ctx.close()


def _base_train(corpus: Path, *extra: str) -> tuple[int, str]:
    """`rushes base train` of base ACME on `corpus`, declared: its exit status and output."""
    return rushes("base", "train", "--name", "ACME", "--corpus", str(corpus), "--declare", DECLARED, *extra)


def _train_base(corpus: Path, *extra: str) -> str:
    """`rushes base train` of base ACME on `corpus` for one step: its output (the command must succeed)."""
    code, output = _base_train(corpus, "--max-steps", "1", *extra)
    assert code == 0, output
    return output


def _train(base: str | None = None, afresh: bool = False) -> TrainReport:
    ctx = open_context(load_settings(None))
    try:
        return run_training(
            ctx.settings, ctx.catalog, "TST", job_id=None, base=base, train_settings=TINY, afresh=afresh
        )
    finally:
        ctx.close()


def test_show_versions_trace_their_weights_to_the_base_corpus_and_its_declaration(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    output = _train_base(corpus)
    assert "base ACME v1: 2 clip(s) trained, 1 held out" in output
    code, output = rushes("base", "show", "ACME", "--json")
    base = json.loads(output)["manifest"]
    assert base["kind"] == "base" and base["declaration"] == DECLARED
    assert sorted(Path(c["id"]).name for c in base["clips"] + base["holdout"]) == [
        "old0.mp4",
        "old1.mp4",
        "old2.mp4",
    ]

    dailies = _show(tmp_path)
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:
        rows = {Path(d.path).name: (d.id, d.path, d.content_hash) for d in daily_repo.list_dailies(s, "TST")}
    ctx.close()
    excluded_id, _, excluded_hash = rows["SH003_v1.mp4"]
    code, output = rushes("dailies", "exclude", str(excluded_id), "--reason", "actor's likeness not cleared")
    assert code == 0 and "excluded from training" in output
    _approve(tmp_path, rows["SH000_v1.mp4"][1])

    first = _train(base="ACME")
    v1 = load_manifest(str(first.folder))
    assert v1.base is not None and (v1.base.name, v1.base.version) == ("ACME", "v1")
    assert v1.base.weights_sha256 == base["weights_sha256"] and v1.base.declaration == DECLARED
    trained = {c.content_hash for c in v1.clips + v1.holdout}
    assert excluded_hash not in trained and len(trained) == 3  # the excluded daily is never trained on
    assert [(e.content_hash, e.reason) for e in v1.exclusions] == [
        (excluded_hash, "actor's likeness not cleared")
    ]
    (pair,) = v1.examples
    assert pair.id.startswith("publication:") and pair.head == "denoise" and pair.trained and pair.weight > 0

    second = _train()  # no --base: v2 grows from its parent and keeps the lineage
    v2 = load_manifest(str(second.folder))
    assert v2.parent == "v1" and v2.base == v1.base
    code, output = rushes("model", "show", "v2", "--show", "TST")  # as `rushes model list` writes it
    assert code == 0 and output == rushes("model", "show", "2", "--show", "TST")[1]
    assert rushes("model", "show", "second", "--show", "TST") == (
        2,
        "error: 'second' is not a version: write it as v3 or 3 (see `rushes model list`)\n",
    )
    assert "grown from base ACME v1" in output and f"base corpus declared: {DECLARED}" in output
    assert "excluded daily:" in output and "actor's likeness not cleared" in output
    assert "approved pair publication:" in output
    held_out = output.split("scored on the held-out clip(s):\n", 1)[1]  # named, not only counted
    assert (
        all(f"  {c.id}  {c.frames} frames  {c.content_hash}" in held_out for c in v2.holdout) and v2.holdout
    )

    assert rushes("dailies", "include", str(excluded_id))[0] == 0
    code, output = rushes("status", "--json")
    (show,) = json.loads(output)["shows"]
    assert len(show["dailies"]) == 4 and all(d["excluded"] is None for d in show["dailies"])
    assert dailies.is_dir()


def test_a_directors_exclusions_show_where_dailies_are_listed_and_are_never_lost_silently(
    tmp_path: Path,
) -> None:
    """`rushes dailies list` and `rushes status` did not show which dailies are kept out of training, excluding a
    daily again replaced its reason without a word ("likeness not cleared" gone from every later manifest), and
    including a daily that was never excluded said it "is trained on again"."""
    _show(tmp_path)
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:
        ids = {Path(d.path).name: d.id for d in daily_repo.list_dailies(s, "TST")}
    ctx.close()
    kept, trained = ids["SH003_v1.mp4"], ids["SH001_v1.mp4"]
    assert rushes("dailies", "exclude", str(kept), "--reason", "likeness not cleared")[0] == 0
    code, output = rushes("dailies", "list", "--show", "TST")
    assert code == 0
    (line,) = [row for row in output.splitlines() if row.startswith(f"{kept}\t")]
    assert line.endswith("\texcluded from training: likeness not cleared")
    code, output = rushes("status")
    assert f"excluded from training: daily {kept} " in output and "(likeness not cleared)" in output

    code, output = rushes("dailies", "exclude", str(kept), "--reason", "music not cleared")
    assert code == 0
    assert output == (
        f"daily {kept} excluded from training: SH003_v1.mp4 (music not cleared; it was excluded already, for:"
        " likeness not cleared)\nno model version of TST learned from it\n"
    )
    assert rushes("dailies", "include", str(trained)) == (
        0,
        f"daily {trained} was not excluded: SH001_v1.mp4 is trained on already\n",
    )
    assert rushes("dailies", "include", str(kept)) == (0, f"daily {kept} is trained on again: SH003_v1.mp4\n")


def test_a_base_named_for_a_show_that_has_a_model_is_refused_not_ignored(tmp_path: Path) -> None:
    """`rushes train --show TST --base ACME` on a show with a version already trained its next version from
    that version and said nothing of ACME, nor of a base that does not exist: the director believed it grown
    from the studio's base. Each is one line now, before any training."""
    _show(tmp_path)
    first = _train()  # from scratch
    with pytest.raises(Permanent, match="no trained base named 'NOPE'"):
        _train(base="NOPE")
    _train_base(_corpus(tmp_path))
    with pytest.raises(Permanent) as refused:
        _train(base="ACME")
    assert str(refused.value) == (
        f"base ACME starts only a show's first version, and TST has v{first.version} already (grown from scratch,"
        " with no base): its next version grows from that one; train without --base, or add --afresh to start the"
        " show afresh from this base"
    )
    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session(readonly=True) as s:
            assert [v.version for v in models_repo.list_versions(s, "TST")] == [first.version]
    finally:
        ctx.close()


def test_a_show_grows_from_the_base_version_it_pins_not_the_newest(tmp_path: Path) -> None:
    """The studio trained ACME v2 and has not checked it yet: a show that names ACME@v1 grows from v1."""
    corpus = _corpus(tmp_path)
    for _ in range(2):
        _train_base(corpus)
    _show(tmp_path)
    with pytest.raises(Permanent, match=r"base 'ACME' has no trained version v3 \(its versions: v1, v2\)"):
        _train(base="ACME@v3")

    first = _train(base="ACME@v1")

    grown = load_manifest(str(first.folder)).base
    assert grown is not None and (grown.name, grown.version) == ("ACME", "v1")
    code, output = rushes("base", "show", "ACME", "--version", "v1", "--json")
    assert code == 0 and grown.weights_sha256 == json.loads(output)["manifest"]["weights_sha256"]
    second = _train(base="ACME@v1")  # the base it grew from, named again: its next version, no refusal
    assert load_manifest(str(second.folder)).base == grown
    with pytest.raises(Permanent, match="base ACME@v2 starts only a show's first version"):
        _train(base="ACME@v2")


def _console(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUSHES_")}
    env["RUSHES_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_an_undeclared_corpus_and_an_unknown_base_are_one_line_each(tmp_path: Path, home: Path) -> None:
    corpus = _corpus(tmp_path)
    result = _console("base", "train", "--name", "ACME", "--corpus", str(corpus), home=home)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: the corpus has no declaration") and "--declare" in line
    assert not (home / "bases" / "ACME").exists()

    result = _console("base", "show", "NOPE", home=home)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no trained base named 'NOPE'" in result.stderr


def test_piped_base_training_logs_steps_per_second_loss_and_time_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from daemon.cli.base import TrainProgress

    with TrainProgress("base ACME v1", budget_s=3600, done_s=600, max_steps=None, heads=5) as bar:
        assert bar.bar is None  # not a terminal: plain lines, no rich bar
        bar.update("denoise", 120, 0.0123, 30.0)
        bar.update("denoise", 130, 0.0120, 31.0)  # within LOG_EVERY_S of the last line: not printed
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert (
        "base ACME v1: denoise step 120" in lines[0] and "steps/s" in lines[0] and "loss 0.0123" in lines[0]
    )
    left = lines[0].rsplit(", ", 1)[1]
    assert left in ("0:49:59 left", "0:50:00 left")  # 10 of the 60 minutes were spent before the resume


def test_the_trace_from_a_show_version_to_its_base_says_when_the_base_is_tampered_or_gone(
    tmp_path: Path, home: Path
) -> None:
    """`rushes model show` named the base a version grew from whether or not it was still there, and `rushes
    base show` printed a base whose weights had been swapped with the manifest's sha256 as if they matched;
    `rushes base list` stopped with a traceback on one edited manifest. Each says what broke the trace now."""
    _train_base(_corpus(tmp_path), "--resolution", "64", "--head", "denoise")
    _show(tmp_path)
    version = str(_train(base="ACME").version)
    base = (home / "bases" / "ACME" / "v1").resolve()
    code, output = rushes("model", "show", version, "--show", "TST")
    assert code == 0 and f"  base verified in {base}: its seal and weights are the ones recorded" in output

    weights = base / "weights.safetensors"
    tampered = bytearray(weights.read_bytes())
    tampered[-1] ^= 0xFF
    weights.write_bytes(bytes(tampered))
    code, output = rushes("model", "show", version, "--show", "TST")
    assert code == 0 and (
        f"the trace to the base is broken: base ACME v1 is refused: {weights} does not match the sha256 in its "
        "manifest (tampered or corrupt); retrain or restore it"
    ) in " ".join(output.split())  # as printed, wrapped at the console's width
    code, output = rushes("base", "show", "ACME")
    assert code == 2 and "does not match the sha256 in its manifest" in " ".join(output.split())
    code, output = rushes("base", "list")  # the seal alone: `base list` does not hash every base's weights
    assert code == 0 and " ".join(output.split()).startswith("ACME v1 3 clip(s)")
    manifest = base / "manifest.json"
    manifest.write_text(manifest.read_text().replace(DECLARED, "owned: ours"))
    code, output = rushes("base", "list")
    said = " ".join(output.split())
    assert code == 0 and said.startswith(f"ACME v1 refused: {manifest} is refused: its seal")

    (home / "bases" / "ACME").rename(home / "bases" / "ACME-old")
    code, output = rushes("model", "show", version, "--show", "TST", "--json")
    trace = json.loads(output)["base_trace"]
    assert trace == {
        "folder": None,
        "verified": False,
        "problem": f"base ACME v1 is no longer at {base} (moved or deleted): restore it there to trace these "
        "weights to its corpus",
    }


def test_base_training_says_in_one_line_which_corpus_files_it_does_not_read(tmp_path: Path) -> None:
    from daemon.cli.base import unread_line

    unread = [tmp_path / name for name in ("readme.txt", "A001.r3d", "A002.R3D", "s.1001.png", "x")]
    for path in unread:
        path.write_bytes(b"kept in the archive")
    assert unread_line(unread) == (
        "not read: 5 corpus entries, neither movies nor image sequences of 3 frames or more that it can read "
        f"(2 .r3d, 1 (no extension), 1 .png, 1 .txt), e.g. {tmp_path / 'readme.txt'}; convert what should be "
        "trained on (a camera's raw to ProRes or EXR)"
    )
    assert unread_line([]) is None


def test_base_show_check_corpus_hashes_the_corpus_again_and_names_what_changed(tmp_path: Path) -> None:
    """Nothing showed that the footage on disk is still what a base was trained on: its manifest's hashes were
    all there was. `--check-corpus` hashes every listed clip again."""
    corpus = _corpus(tmp_path)
    _train_base(corpus, "--resolution", "64", "--head", "denoise")
    code, output = rushes("base", "show", "ACME", "--check-corpus")
    assert code == 0 and output.splitlines()[-1] == "corpus check: all 3 clip(s) on disk hash as listed"
    (corpus / "old1.mp4").unlink()
    code, output = rushes("base", "show", "ACME", "--check-corpus", "--json")
    assert code == 1
    assert json.loads(output)["corpus_check"] == {
        "clips": 3,
        "changed": [],
        "gone": [str((corpus / "old1.mp4").resolve())],
    }


def test_base_train_holds_its_version_folder_while_it_trains_and_a_second_one_is_refused(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second `rushes base train --name ACME` while the first still decoded its corpus took over v1: it
    rewrote its run.json and both trained into it. The first now holds v1's run lock until it ends."""
    import daemon.cli.base as cli_base
    from engine.model.base import lock_run

    train_here, held = cli_base._train_here, []

    def training(folder: Path, *args: Any) -> str:
        held.append(lock_run(folder) is None)  # taken by the command training in it
        return train_here(folder, *args)

    monkeypatch.setattr(cli_base, "_train_here", training)
    corpus = str(_corpus(tmp_path))
    args = ["--corpus", corpus, "--declare", DECLARED, "--max-steps", "1", "--head", "denoise"]
    code, output = rushes("base", "train", "--name", "ACME", *args, "--resolution", "64")
    assert code == 0 and held == [True], output

    running = home / "bases" / "ACME" / "v2"  # a run that has not written its first checkpoint yet
    running.mkdir()
    (running / "run.json").write_text((home / "bases" / "ACME" / "v1" / "run.json").read_text())
    lock = lock_run(running)
    assert lock is not None
    with lock:
        for extra in ([], ["--resume"]):
            code, output = rushes("base", "train", "--name", "ACME", *args, *extra)
            assert code == 75 and " ".join(output.split()) == (  # passes when that run ends: try later
                f"error: base ACME v2 is being trained by a run in progress (pid {os.getpid()} on "
                f"{socket.gethostname()}): wait for it to end, or stop it (Ctrl-C or SIGTERM checkpoints it) and "
                "continue it with --resume"
            )
    assert held == [True]


def test_rushes_train_while_another_run_trains_the_show_is_try_later_not_bad_input(tmp_path: Path) -> None:
    # exit 2 told a cron wrapper the command was wrong and would fail again as it is; the other run's end clears it
    from daemon.stages.training import CLI_RUN, reserve_version
    from engine.model.base import lock_run

    _show(tmp_path)
    ctx = open_context(load_settings(None))
    try:
        _, folder = reserve_version(ctx.catalog, ctx.settings, "TST", CLI_RUN, None)
    finally:
        ctx.close()
    folder.mkdir(parents=True)
    first = lock_run(folder)
    assert first is not None
    with first:
        code, output = rushes("train", "--show", "TST", "--budget", "30s")
    assert code == 75 and "TST v1 is being trained by another run" in output


def test_a_version_in_service_before_is_put_back_and_the_next_training_grows_from_it(tmp_path: Path) -> None:
    """The supervisors find a new version's fixes worse: there was no way back to last week's version (moving the
    new one's folder away made every fix fail and the next training start from scratch). `rushes model promote`
    puts it back; the next version grows from it. A version whose lineage learned from a daily excluded since is
    not put back."""
    _show(tmp_path)
    first = load_manifest(str(_train().folder))
    _train()
    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session() as s:
            models_repo.promote(s, "TST", 2)  # last night's version, in service now
    finally:
        ctx.close()

    assert rushes("model", "promote", "v1", "--show", "TST") == (
        0,
        "TST v1 is in service again in place of v2: fixes use it from their next render, and the next training "
        "grows from it\n",
    )
    rows = json.loads(rushes("model", "list", "--show", "TST", "--json")[1])
    assert [(r["version"], r["promoted"]) for r in rows] == [(1, True), (2, False)]
    assert rushes("model", "promote", "v1", "--show", "TST") == (
        0,
        "TST v1 is in service already: nothing to do\n",
    )
    assert load_manifest(str(_train().folder)).parent == "v1"

    def put_back_meanwhile(_stage: Stage) -> None:  # the lead goes back while the nightly trains
        ctx = open_context(load_settings(None))
        try:
            with ctx.catalog.session() as s:
                models_repo.promote(s, "TST", 1)
        finally:
            ctx.close()

    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session() as s:
            models_repo.promote(s, "TST", 3)
        late = run_training(
            ctx.settings, ctx.catalog, "TST", job_id=None, train_settings=TINY, on_stage=put_back_meanwhile
        )
    finally:
        ctx.close()
    rows = json.loads(rushes("model", "list", "--show", "TST", "--json")[1])
    assert not late.promoted and [r["version"] for r in rows if r["promoted"]] == [1]  # the choice stands

    # the same when the training yielded to a fix (or its daemon stopped) and resumed after the put-back
    from daemon.stages.training import reserve_version

    ctx = open_context(load_settings(None))
    try:
        with ctx.catalog.session() as s:
            models_repo.promote(s, "TST", 3)
        reserve_version(ctx.catalog, ctx.settings, "TST", 7, None)  # its first attempt, then it yields
        with ctx.catalog.session() as s:
            models_repo.promote(s, "TST", 1)
        resumed = run_training(ctx.settings, ctx.catalog, "TST", job_id=7, train_settings=TINY)
    finally:
        ctx.close()
    rows = json.loads(rushes("model", "list", "--show", "TST", "--json")[1])
    assert not resumed.promoted and [r["version"] for r in rows if r["promoted"]] == [1]

    code, output = rushes("model", "promote", "v9", "--show", "TST")
    assert code == 2 and "show TST has no model v9" in output
    withdrawn = first.clips[0]
    assert rushes("dailies", "exclude", _daily_of(withdrawn.id), "--reason", "contract withdrawn")[0] == 0
    code, output = rushes("model", "promote", "v2", "--show", "TST")
    assert code == 2 and " ".join(output.split()) == (
        f"error: TST v2 cannot be put back: v2 learned from {withdrawn.id}, excluded since: contract withdrawn"
    )


def _daily_of(clip_id: str) -> str:
    """The daily id in a manifest's clip id (`daily:ID:SHOT:NAME`)."""
    return clip_id.split(":")[1]


def test_a_daily_excluded_after_a_version_learned_from_it_is_not_carried_into_the_next_version(
    tmp_path: Path,
) -> None:
    """An actor's contract withdrawn: the daily was excluded after v1 trained on it. v2 used to grow from v1's
    weights (and keep them for a head), so it still carried the daily while its manifest listed it as
    excluded; now v2 starts afresh from the base the lineage started from, is promoted in v1's place and says
    why, and the version after it grows from it as usual."""
    _train_base(_corpus(tmp_path))
    _show(tmp_path)
    v1 = load_manifest(str(_train(base="ACME").folder))
    withdrawn = v1.clips[0]
    code, output = rushes("dailies", "exclude", _daily_of(withdrawn.id), "--reason", "contract withdrawn")
    assert code == 0 and " ".join(output.split()).endswith(
        "TST versions that learned from it: v1 (promoted); those grown from them carry it too. Fixes use the "
        "promoted version until the next training, which starts afresh without it (v1 learned from "
        f"{withdrawn.id}, excluded since: contract withdrawn): run `rushes train --show TST` now to stop using it"
    )

    second = _train()
    v2 = load_manifest(str(second.folder))
    assert second.promoted and v2.parent is None and v2.base == v1.base
    assert v2.fresh_start == f"v1 learned from {withdrawn.id}, excluded since: contract withdrawn"
    assert withdrawn.content_hash not in {c.content_hash for c in v2.clips + v2.holdout}
    assert all(not source.startswith("parent:") for source in v2.sources.values())
    code, output = rushes("model", "show", "v2", "--show", "TST")
    assert code == 0 and f"started afresh, not grown from the promoted version: {v2.fresh_start}" in output
    code, output = rushes("model", "list", "--show", "TST", "--json")
    assert [(r["version"], r["parent"], r["promoted"]) for r in json.loads(output)] == [
        (1, None, False),
        (2, None, True),
    ]

    v3 = load_manifest(str(_train().folder))
    assert v3.parent == "v2" and v3.fresh_start == ""


def test_a_daily_the_base_learned_from_a_copy_of_is_carried_by_no_show_grown_from_that_base(
    tmp_path: Path,
) -> None:
    """An actor withdrew consent for a take the studio had archived too (the same file in the base's corpus). The
    next version of a show grown from that base used to start from it again, carrying the take while its manifest
    listed it as excluded, and another show grown from it was told nothing. Now both start from scratch and say
    why, and a corpus holding a copy of the take, under any name, is refused before a base trains on it."""
    corpus, dailies = _corpus(tmp_path), _show(tmp_path)
    (corpus / "SH001_v1.mp4").write_bytes((dailies / "SH001_v1.mp4").read_bytes())
    _train_base(corpus)
    other = tmp_path / "other"
    footage.movie(other / "OT000_v1.mp4", n=6, size=(96, 64), photo="rocket", seed=30)
    footage.movie(other / "OT001_v1.mp4", n=6, size=(96, 64), photo="chelsea", seed=31)
    assert rushes("show", "add", "OTH", "--ingest", str(other))[0] == 0
    assert rushes("ingest", str(other), "--show", "OTH")[0] == 0
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:
        (daily_id,) = [d.id for d in daily_repo.list_dailies(s, "TST") if d.path.endswith("SH001_v1.mp4")]
    ctx.close()

    def train(show: str, base: str | None = None) -> Any:
        ctx = open_context(load_settings(None))
        try:
            report = run_training(
                ctx.settings, ctx.catalog, show, job_id=None, base=base, train_settings=TINY
            )
            return load_manifest(str(report.folder))
        finally:
            ctx.close()

    assert train("OTH", "ACME").base is not None and train("TST", "ACME").base is not None
    assert rushes("dailies", "exclude", str(daily_id), "--reason", "consent withdrawn")[0] == 0
    for show in ("OTH", "TST"):
        train(show)
        code, output = rushes("model", "show", "v2", "--show", show, "--json")
        manifest = json.loads(output)["manifest"]
        assert manifest["base"] is None, show
        assert (
            f"base ACME v1 learned from {corpus / 'SH001_v1.mp4'}, daily {daily_id} of show TST, excluded since: "
            "consent withdrawn"
        ) in manifest["fresh_start"]
        assert "trained from scratch, not from that base" in manifest["fresh_start"]

    (corpus / "SH001_v1.mp4").rename(corpus / "reel7.mp4")
    code, output = _base_train(corpus, "--max-steps", "1")
    assert code == 2 and output.startswith(
        f"error: corpus folder {corpus} holds {corpus / 'reel7.mp4'}, a copy of daily {daily_id} of show TST"
    )


def test_excluding_a_daily_that_only_the_base_learned_from_names_the_base(tmp_path: Path) -> None:
    """A take the studio archived (and its base learned from) delivered to the show after its first version: the
    show's versions never trained on it, yet they carry it through the base; the exclusion says which base."""
    corpus, dailies = _corpus(tmp_path), _show(tmp_path)
    _train_base(corpus)
    _train(base="ACME")
    (dailies / "SH009_v1.mp4").write_bytes((corpus / "old1.mp4").read_bytes())
    assert rushes("ingest", str(dailies), "--show", "TST")[0] == 0
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:
        (late,) = [d.id for d in daily_repo.list_dailies(s, "TST") if d.path.endswith("SH009_v1.mp4")]
    ctx.close()
    code, output = rushes("dailies", "exclude", str(late), "--reason", "consent withdrawn")
    said = " ".join(output.split())
    assert (
        code == 0
        and "no model version of TST trained on it, but base ACME v1, which its promoted version " in said
    )
    assert "Fixes use the promoted version until the next training, which starts afresh without it" in said


def test_dailies_excluded_while_a_version_trains_on_them_keep_that_version_from_use(tmp_path: Path) -> None:
    """The exclusions came while the show's first training read the dailies: that version used to be promoted
    and fixes used it; now it is kept, unpromoted, and the next version, without them, is the one used."""
    _show(tmp_path)
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:
        ids = {Path(d.path).name: d.id for d in daily_repo.list_dailies(s, "TST")}
    withdrawn = [
        ids["SH000_v1.mp4"],
        ids["SH001_v1.mp4"],
    ]  # one held-out clip of 4: one of them is trained on

    def exclude_once_training(stage: Stage) -> None:
        if stage.name == "train":
            with ctx.catalog.session() as s:
                for daily_id in withdrawn:
                    daily_repo.exclude_daily(s, daily_id, "contract withdrawn")

    try:
        during = run_training(
            ctx.settings, ctx.catalog, "TST", base=None, train_settings=TINY, on_stage=exclude_once_training
        )
    finally:
        ctx.close()
    assert during.version == 1 and not during.promoted
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:  # the next window trains without them
        assert show_repo.require_show(s, "TST").model_stale
    ctx.close()
    assert {_daily_of(c.id) for c in load_manifest(str(during.folder)).clips} & {str(i) for i in withdrawn}
    after = _train()
    manifest = load_manifest(str(after.folder))
    assert after.promoted and manifest.parent is None
    assert sorted(_daily_of(e.id) for e in manifest.exclusions) == sorted(str(i) for i in withdrawn)


def test_a_corpus_holding_an_excluded_daily_or_the_data_folder_is_refused_in_one_line(
    tmp_path: Path, home: Path
) -> None:
    """A base trained on a folder holding a show's ingest folder learned from the dailies excluded there
    (likeness not cleared), and so did every show grown from it; a folder holding Rushes' data folder learned
    from its renders. Both are refused before anything is read; the show's folder with the daily moved out
    trains."""
    dailies = _show(tmp_path)
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:
        (daily,) = [d for d in daily_repo.list_dailies(s, "TST") if d.path.endswith("SH003_v1.mp4")]
    ctx.close()
    assert rushes("dailies", "exclude", str(daily.id), "--reason", "likeness not cleared")[0] == 0
    one_step = ("--declare", DECLARED, "--max-steps", "1")
    code, output = rushes("base", "train", "--name", "ACME", "--corpus", str(dailies), *one_step)
    assert (code, output) == (
        2,
        f"error: corpus folder {dailies} holds daily {daily.id} of show TST, {daily.path}, excluded from training "
        "(likeness not cleared): move it out of the corpus, or give folders without it\n",
    )
    code, output = rushes("base", "train", "--name", "ACME", "--corpus", str(tmp_path), *one_step)
    assert code == 2 and output.startswith(
        f"error: corpus folder {tmp_path} holds Rushes' data folder {home}"
    )
    renders = (
        home / "renders" / "TST"
    )  # the show's fixes: Rushes' own output, not footage the studio declared
    renders.mkdir(parents=True, exist_ok=True)
    code, output = rushes("base", "train", "--name", "ACME", "--corpus", str(renders), *one_step)
    assert code == 2 and output.startswith(
        f"error: corpus folder {renders} is inside Rushes' data folder {home}"
    )
    assert not (home / "bases" / "ACME").exists()

    Path(daily.path).rename(tmp_path / "withdrawn.mp4")
    assert "base ACME v1: 2 clip(s) trained, 1 held out" in _train_base(dailies)


def test_model_list_says_which_versions_manifests_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest edited by hand (an exclusion taken out of the record) was listed by `rushes model list` as
    promoted with 0 clips, as if nothing were wrong; only `rushes model show` refused it. It is named as refused
    now, and so is one edited and re-sealed."""
    from engine.model.seal import sealed

    _show(tmp_path)
    folder = Path(str(_train().folder))
    manifest = folder / "manifest.json"
    original = manifest.read_text()
    data = json.loads(original)
    manifest.write_text(json.dumps({**data, "exclusions": [], "clips": data["clips"][1:]}))
    code, output = rushes("model", "list", "--show", "TST", "--json")
    (row,) = json.loads(output)
    assert code == 0 and row["refused"] == (
        f"{manifest} is refused: its seal does not match its content (the manifest was edited after it was "
        "written); restore it or retrain"
    )
    from daemon.cli import app as cli_app

    monkeypatch.setattr(
        cli_app.out, "_width", 1000
    )  # the row on one line (an xdist worker's console: 80 wide)
    code, output = rushes("model", "list", "--show", "TST")
    said = " ".join(output.replace("│", " ").split())
    assert code == 0 and f"TST v1 - yes - refused: {manifest} is refused: its seal" in said

    manifest.write_text(json.dumps(sealed({**data, "clips": data["clips"][1:]})))
    (row,) = json.loads(rushes("model", "list", "--show", "TST", "--json")[1])
    assert (
        row["refused"] == "its seal is not the one recorded when it was trained (it was edited and re-sealed)"
    )
    manifest.write_text(original)
    (row,) = json.loads(rushes("model", "list", "--show", "TST", "--json")[1])
    assert row["refused"] is None and row["clips"] == len(data["clips"])


def test_a_show_leaves_a_base_whose_corpus_clip_was_withdrawn_by_starting_afresh_from_the_new_base(
    tmp_path: Path,
) -> None:
    """A clip of the base's corpus withdrawn: the studio trained ACME v2 without it, but every show version
    grown from v1 carried it on, and `rushes train --base ACME@v2` was refused with no way forward. `--afresh`
    starts the show's next version from v2 as a first version, promoted, and its manifest says so."""
    corpus = _corpus(tmp_path)
    _train_base(corpus)
    _show(tmp_path)
    v1 = load_manifest(str(_train(base="ACME").folder))
    (corpus / "old0.mp4").rename(tmp_path / "withdrawn.mp4")
    _train_base(corpus)
    with pytest.raises(Permanent, match="add --afresh to start the show afresh from this base"):
        _train(base="ACME@v2")

    second = _train(base="ACME@v2", afresh=True)
    v2 = load_manifest(str(second.folder))
    assert second.promoted and v2.parent is None and v2.base is not None and v2.base.version == "v2"
    assert v2.fresh_start == "asked to start afresh (rushes train --afresh) rather than from v1"
    code, output = rushes("base", "show", "ACME", "--version", "v2", "--json")
    listed = json.loads(output)["manifest"]
    assert code == 0 and str(corpus / "old0.mp4") not in {
        c["id"] for c in listed["clips"] + listed["holdout"]
    }
    assert v1.base is not None and v1.base.version == "v1"


def test_a_resume_given_other_heads_or_settings_is_refused_and_one_given_none_trains_the_runs_own(
    tmp_path: Path, home: Path
) -> None:
    """`--resume --head upscale` after a denoise run dropped its checkpoint without a word and trained from the
    start (its spent seconds taken off the budget all the same); `--resume --resolution 128 --seed 5` finished
    with a manifest saying 256 and 0."""
    from engine.options import TrainOptions
    from engine.train.base import prepare_run, train_base

    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64)
    folder, run = prepare_run(home / "bases", "ACME", [_corpus(tmp_path)], DECLARED, options)
    stopped = train_base(folder, run, options, TrainSettings(max_steps=3, batch_size=2, crop=32,
                         checkpoint_seconds=0.01), heads=["denoise"], stop=lambda: True)  # fmt: skip
    assert stopped.stopped
    for given, said in (
        (
            ["--head", "upscale"],
            "error: base ACME v1 was started with --head denoise: resume it with the same",
        ),
        (
            ["--resolution", "128", "--seed", "5", "--budget", "1h"],
            "error: base ACME v1 was started with --budget 600s, --resolution 64, --seed 0: resume it with the same",
        ),
    ):
        code, output = rushes("base", "train", "--name", "ACME", "--resume", *given)
        assert code == 2 and " ".join(output.split()).startswith(said), output
    code, output = rushes(
        "base", "train", "--name", "ACME", "--resume", "--max-steps", "2", "--resolution", "64"
    )
    assert code == 0, output
    assert load_manifest(folder).steps == {"denoise": 2}  # its own head, from its checkpoint


def test_a_version_whose_promoted_parent_is_damaged_starts_afresh_from_its_lineages_base_and_says_why(
    tmp_path: Path,
) -> None:
    """v1's weights cut short on the shared volume: v2 trained from scratch, left the ACME base its lineage grew
    from, and its manifest's fresh_start said nothing (a JSON log line was the only sign)."""
    _train_base(_corpus(tmp_path))
    _show(tmp_path)
    first = _train(base="ACME")
    weights = Path(str(first.folder)) / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    second = _train()
    manifest = load_manifest(str(second.folder))
    assert manifest.base is not None and (manifest.base.name, manifest.base.version) == ("ACME", "v1")
    assert manifest.fresh_start.startswith("the promoted version could not be used (")
    assert str(weights) in manifest.fresh_start and manifest.parent is None


def test_a_resume_whose_checkpoint_state_was_emptied_is_one_line_naming_the_folder_to_delete(
    tmp_path: Path, home: Path
) -> None:
    from engine.options import TrainOptions
    from engine.train.base import prepare_run, train_base

    options = TrainOptions(budget_seconds=600, device="cpu", resolution=64)
    folder, run = prepare_run(home / "bases", "ACME", [_corpus(tmp_path)], DECLARED, options)
    settings = TrainSettings(max_steps=3, batch_size=2, crop=32, checkpoint_seconds=0.01)
    assert train_base(folder, run, options, settings, heads=["denoise"], stop=lambda: True).stopped
    (folder / "checkpoint" / "state.json").write_text("")
    code, output = rushes("base", "train", "--name", "ACME", "--resume")
    said = " ".join(output.split())
    assert code == 2 and said.startswith("error: base ACME v1 cannot be resumed: checkpoint file "), output
    assert said.endswith(f"delete {folder / 'checkpoint'} to train the run again from its start")


def test_a_daily_included_again_while_a_version_trains_leaves_the_show_to_train_again(tmp_path: Path) -> None:
    """`rushes dailies include` during a training: the run, which started without the daily, marked the show
    current, so no window trained on it again until some other daily landed."""
    _show(tmp_path)
    ctx = open_context(load_settings(None))
    with ctx.catalog.session() as s:
        daily_id = daily_repo.list_dailies(s, "TST")[0].id
        daily_repo.exclude_daily(s, daily_id, "likeness not cleared")

    def include_once_training(stage: Stage) -> None:
        if stage.name == "train":
            with ctx.catalog.session() as s:
                daily_repo.include_daily(s, daily_id)

    try:
        during = run_training(
            ctx.settings, ctx.catalog, "TST", base=None, train_settings=TINY, on_stage=include_once_training
        )
        assert str(daily_id) in {_daily_of(e.id) for e in load_manifest(str(during.folder)).exclusions}
        with ctx.catalog.session() as s:  # the next window trains with it
            assert show_repo.require_show(s, "TST").model_stale
    finally:
        ctx.close()


def test_an_empty_budget_for_a_base_is_refused_not_read_as_the_default(tmp_path: Path) -> None:
    code, output = _base_train(_corpus(tmp_path), "--budget=")
    assert code == 2 and "--budget '' is not a duration" in " ".join(output.split()), output
    assert not (tmp_path / "home" / "bases").exists() or not any(
        (tmp_path / "home" / "bases").rglob("run.json")
    )
