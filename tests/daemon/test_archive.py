"""A show's record for its archive (daemon.archive, `rushes show export`): every model version's sealed manifest
and lineage, every daily with its hash and exclusion, and every fix request with the Version it published, from
which daily and by which model version; all of them, where `rushes status` shows the newest 50 requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from daemon.catalog import Catalog, fixes
from daemon.catalog import dailies as daily_repo
from daemon.catalog.models_repo import add_version, promote
from daemon.cli.main import _register
from daemon.context import open_context
from daemon.settings import load_settings
from daemon.stages.training import run_training
from engine.model import ClipRecord, Manifest, ShowModel, save_model
from engine.train import TrainSettings
from tests import footage
from tests.homes import own_home, rushes

_register()


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def test_the_export_holds_every_version_daily_and_published_fix_and_a_manifest_whose_weights_are_gone(
    home: Path, tmp_path: Path
) -> None:
    dailies = tmp_path / "dailies"
    dailies.mkdir()
    footage.movie(dailies / "sh010_1.mp4", n=3, size=(48, 32))
    footage.movie(dailies / "sh020_1.mp4", n=3, size=(48, 32), seed=1)
    assert rushes("show", "add", "ARC", "--ingest", str(dailies))[0] == 0
    assert rushes("ingest", str(dailies), "--show", "ARC")[0] == 0
    catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
    with catalog.session() as s:
        first, second = daily_repo.list_dailies(s, "ARC")
        daily_repo.exclude_daily(s, second.id, "likeness not cleared")
        source, source_hash = first.path, first.content_hash
    assert source_hash is not None
    folder = home / "models" / "ARC" / "v1"
    clip = ClipRecord(id=f"daily:{first.id}", content_hash=source_hash, frames=3)
    saved = save_model(folder, ShowModel.fresh(["denoise"]), Manifest(show="ARC", version="v1", clips=[clip]))
    with catalog.session() as s:  # as training and a day of fixes record them
        add_version(s, "ARC", str(folder), version=1, metrics={"seal": saved.manifest.seal})
        promote(s, "ARC", 1)
        for n in range(60):  # the first made before publications recorded their daily's content hash
            request, _ = fixes.add_fix_request(
                s, "ARC", f"shotgrid:event:{n}", "sh010", ["denoise"], task_id=n
            )
            publication, _ = fixes.add_publication(
                s,
                request.id,
                "denoise",
                f"pub-{n}",
                f"/renders/{n}.mp4",
                source_path=source,
                source_hash=source_hash if n else None,
                model_version=1,
            )
            fixes.mark_published(s, publication.id, 1000 + n)
    catalog.dispose()

    out = tmp_path / "ARC-archive.json"
    code, said = rushes("show", "export", "ARC", "--output", str(out))
    assert code == 0 and said.startswith(
        "show ARC: 1 model version(s), 2 daily row(s), 60 fix request(s) with 60 published Version(s) written to"
    ), said
    record: dict[str, Any] = json.loads(out.read_text())
    assert len(record["fix_requests"]) == 60  # all of them: `rushes status` lists 50
    for request in (record["fix_requests"][0], record["fix_requests"][59]):
        [fix] = request["fixes"]
        assert (fix["model_version"], fix["source_path"], fix["source_daily"], fix["source_hash"]) == (
            1,
            source,
            first.id,
            source_hash,
        )
    assert record["fix_requests"][59]["fixes"][0]["tracker_version"] == "1059"
    assert {d["path"]: d["excluded"] for d in record["dailies"]} == {
        source: None,
        str(dailies / "sh020_1.mp4"): "likeness not cleared",
    }
    [version] = record["model_versions"]
    assert version["promoted"] and version["seal"] == saved.manifest.seal
    assert version["manifest"]["clips"] == [
        {"id": f"daily:{first.id}", "content_hash": source_hash, "frames": 3, "cuts": []}
    ]
    assert version["weights_problem"] is None

    (folder / "weights.safetensors").unlink()  # weights freed: the manifest is still the record
    code, text = rushes("show", "export", "ARC")
    assert code == 0
    [version] = json.loads(text)["model_versions"]
    assert version["manifest"]["clips"][0]["content_hash"] == source_hash
    assert "has no weights.safetensors" in version["weights_problem"]

    code, said = rushes("show", "export", "ARC", "--output", str(out))  # never over an earlier export
    assert code == 2 and f"--output {out} exists" in said
    nowhere = out.parent / "no-such-folder" / "ARC.json"
    code, said = rushes("show", "export", "ARC", "--output", str(nowhere))  # a script's typo: no traceback
    assert code == 2 and said.count("\n") == 1 and "its folder" in said and "does not exist" in said


DECLARED = "owned: shot by the studio for the archive test"


def test_the_export_holds_the_base_a_version_grew_from_with_its_declared_corpus(
    home: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "archive"
    for i, photo in enumerate(("chelsea", "rocket", "coffee")):
        footage.movie(corpus / f"old{i}.mp4", n=6, size=(96, 64), photo=photo, seed=i)
    code, said = rushes(
        "base", "train", "--name", "ACME", "--corpus", str(corpus), "--declare", DECLARED, "--max-steps", "1"
    )
    assert code == 0, said
    dailies = tmp_path / "dailies"
    for i, photo in enumerate(("astronaut", "coffee", "chelsea")):
        footage.movie(dailies / f"SH{i:03d}_v1.mp4", n=6, size=(96, 64), photo=photo, seed=10 + i)
    assert rushes("show", "add", "ARC", "--ingest", str(dailies))[0] == 0
    assert rushes("ingest", str(dailies), "--show", "ARC")[0] == 0
    ctx = open_context(load_settings(None))
    try:
        tiny = TrainSettings(max_steps=1, batch_size=2, crop=32, checkpoint_seconds=0.01)
        run_training(ctx.settings, ctx.catalog, "ARC", job_id=None, base="ACME", train_settings=tiny)
    finally:
        ctx.close()

    code, text = rushes("show", "export", "ARC")
    assert code == 0
    record = json.loads(text)
    [version] = record["model_versions"]
    assert (version["manifest"]["base"]["name"], version["manifest"]["base"]["version"]) == ("ACME", "v1")
    [base] = record["bases"]
    assert (base["name"], base["version"], base["problem"]) == ("ACME", "v1", "")
    assert base["manifest"]["declaration"] == DECLARED
    corpus_clips = base["manifest"]["clips"] + base["manifest"]["holdout"]
    assert sorted(Path(c["id"]).name for c in corpus_clips) == ["old0.mp4", "old1.mp4", "old2.mp4"]
    assert all(c["content_hash"] for c in corpus_clips)


def test_a_version_made_before_manifests_were_sealed_keeps_its_manifest_as_written_in_the_export(
    home: Path, tmp_path: Path
) -> None:
    # its manifest was exported as null, the show's archive not saying what the Versions it rendered learned from
    assert rushes("show", "add", "OLD")[0] == 0
    clip = ClipRecord(id="daily:1", content_hash="blake2b:" + "ab" * 32, frames=3)
    for number in (1, 2):
        folder = home / "models" / "OLD" / f"v{number}"
        saved = save_model(
            folder, ShowModel.fresh(["denoise"]), Manifest(show="OLD", version=f"v{number}", clips=[clip])
        )
        written = json.loads((folder / "manifest.json").read_text())
        del written[
            "seal"
        ]  # as a Rushes before seals wrote it (v1), or a seal deleted since it was recorded (v2)
        (folder / "manifest.json").write_text(json.dumps(written))
        catalog = Catalog(f"sqlite:///{home / 'catalog.sqlite'}")
        with catalog.session() as s:
            add_version(
                s,
                "OLD",
                str(folder),
                version=number,
                metrics={"seal": saved.manifest.seal} if number == 2 else {},
            )
        catalog.dispose()

    code, text = rushes("show", "export", "OLD")
    assert code == 0, text
    old, deleted = json.loads(text)["model_versions"]
    assert old["manifest"] is None and "it has no seal" in old["manifest_problem"]
    assert old["unsealed_manifest"]["clips"] == [clip.model_dump(mode="json")]
    assert deleted["manifest"] is None and deleted["unsealed_manifest"] is None  # it was sealed: edited since
