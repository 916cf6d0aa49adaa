import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from engine.model import (
    Manifest,
    ModelError,
    ShowModel,
    load_manifest,
    load_model,
    promotable,
    save_model,
    verify_version,
)
from engine.model.seal import sealed


def _saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = ShowModel.fresh(["denoise", "upscale"])
    for p in model.net("denoise").parameters():
        torch.nn.init.normal_(p, std=0.01)
    save_model(tmp_path / "v1", model, Manifest(show="demo", version="v1"))
    return tmp_path / "v1"


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    loaded = load_model(folder)
    assert loaded.version == "v1" and loaded.manifest.heads == ["denoise", "upscale"]
    assert set(json.loads((folder / "manifest.json").read_text())) >= {
        "weights_sha256",
        "clips",
        "code_version",
    }
    torch.manual_seed(0)
    again = ShowModel.fresh(["denoise", "upscale"])
    for p in again.net("denoise").parameters():
        torch.nn.init.normal_(p, std=0.01)
    for key, value in again.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    assert all(k.split(".", 1)[0] in ("denoise", "upscale") for k in loaded.model.state_dict())


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    data = bytearray((folder / "weights.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (folder / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(folder)


def test_a_pickle_is_refused_and_never_unpickled(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    torch.save({"x": torch.zeros(2)}, folder / "weights.safetensors")  # a pickle under the right name
    with pytest.raises(ModelError, match="pickle"):
        load_model(folder)
    folder2 = _saved(tmp_path / "b")
    torch.save({"x": torch.zeros(2)}, folder2 / "extra.pt")
    with pytest.raises(ModelError, match="pickle"):
        load_model(folder2)


def test_missing_folder_and_manifest_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no manifest\.json"):
        load_model(tmp_path / "empty")


def test_promotion_needs_the_baseline_beaten_and_the_parent_matched() -> None:
    metrics = {
        "denoise": {"psnr": 33.0, "baseline_best": 30.0},
        "upscale": {"psnr": 29.0, "baseline_best": 30.0},  # loses to lanczos
        "cleanup": {"psnr": 25.0, "baseline_best": 20.0},  # worse than its parent
    }
    parent = {"denoise": {"psnr": 32.0}, "cleanup": {"psnr": 26.0}}
    assert promotable(metrics, parent) == {"denoise": True, "upscale": False, "cleanup": False}
    assert promotable(metrics, None)["cleanup"] is True


def _edit(folder: Path, change: Callable[[dict[str, Any]], None], *, reseal: bool = False) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    if reseal:
        data = sealed(data)
    path.write_text(json.dumps(data, indent=2))


def test_any_edit_to_a_manifest_is_refused_by_its_seal(tmp_path: Path) -> None:
    folder = _saved(tmp_path)
    load_model(folder)
    clip = {"id": "daily:1", "content_hash": "blake2b:" + "0" * 64, "frames": 24, "cuts": []}
    _edit(folder, lambda m: m["clips"].append(clip))
    with pytest.raises(ModelError, match="seal does not match") as refused:
        verify_version(folder)
    assert "\n" not in str(refused.value)
    _edit(folder, lambda m: m.pop("seal"))
    with pytest.raises(ModelError, match="has no seal"):
        load_manifest(folder)
    (folder / "manifest.json").write_text('{"version": "v1", ')
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(folder)
    (folder / "manifest.json").write_text(
        '{"version": "v1", "seed": NaN, "seal": "x"}'
    )  # Python's json reads it
    with pytest.raises(ModelError, match="not valid JSON"):  # was a ValueError traceback from every command
        load_manifest(folder)


def test_a_resealed_parent_breaks_the_childs_hash_chain(tmp_path: Path) -> None:
    parent = _saved(tmp_path)
    child = tmp_path / "v2"
    save_model(child, ShowModel.fresh(["denoise"]), Manifest(show="demo", version="v2", parent="v1"))
    assert load_manifest(child).parent_seal == load_manifest(parent).seal
    load_model(child)
    # Someone edits the parent's training clips and recomputes its seal: the parent alone looks fine ...
    _edit(parent, lambda m: m.update(seed=1234), reseal=True)
    load_manifest(parent)
    # ... but the child recorded the old seal, so loading the child is refused.
    with pytest.raises(ModelError, match="hash chain is broken"):
        load_model(child)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metrics", {"denoise": {"psnr": 99.0, "baseline_best": 20.0}}),  # scores raised to force its use
        ("weights_sha256", "0" * 64),  # the weights swapped and the hash edited to match
        ("sources", {"denoise": "trained"}),
        ("steps", {"denoise": 5000}),
    ],
)
def test_every_field_a_manifest_claims_is_under_its_seal(tmp_path: Path, field: str, value: Any) -> None:
    folder = _saved(tmp_path)
    _edit(folder, lambda m: m.update({field: value}))
    with pytest.raises(ModelError, match="seal does not match"):
        verify_version(folder)


def test_a_manifest_edited_and_resealed_is_refused_against_the_seal_recorded_when_it_was_trained(
    tmp_path: Path,
) -> None:
    folder = _saved(tmp_path)
    recorded = load_manifest(folder).seal
    verify_version(folder, expected_seal=recorded)
    _edit(folder, lambda m: m.update(metrics={"denoise": {"psnr": 99.0}}), reseal=True)
    verify_version(folder)  # alone, the resealed manifest looks whole
    with pytest.raises(ModelError, match="not the one recorded when it was trained"):
        verify_version(folder, expected_seal=recorded)


def test_weights_and_checkpoints_take_the_umask_as_every_other_file_so_the_group_can_read_them(
    tmp_path: Path,
) -> None:
    """safetensors wrote its files 0600 whatever the umask: a render node or an artist in the daemon's group (as
    docs/operations.md asks) could not read a model's weights, while its manifest beside them was 0640."""
    from engine.train.checkpoint import CheckpointState, save_checkpoint

    before = os.umask(0o027)
    try:
        folder = _saved(tmp_path)
        model = load_model(folder).model
        optims = {h: torch.optim.Adam(model.net(h).parameters()) for h in model.heads}
        save_checkpoint(tmp_path / "checkpoint", model, optims, CheckpointState(0, list(model.heads), {}))
    finally:
        os.umask(before)
    written = [folder / "weights.safetensors", folder / "manifest.json", *(tmp_path / "checkpoint").iterdir()]
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written} == {p.name: "0o640" for p in written}
