"""What each kind of a request reads of its parameters: what tells two requests for the same fix apart."""

from __future__ import annotations

from daemon.stages.request_params import asked_of, own_params, params_for
from engine.heads import get_head
from engine.kinds import HEAD_ORDER, PARAM_KEYS


def test_the_poller_knows_the_keys_each_head_reads() -> None:
    assert {kind: get_head(kind).params_type.keys for kind in HEAD_ORDER} == PARAM_KEYS


def test_a_kind_depends_on_its_own_keys_and_the_daemons_and_reads_takes_as_people_do() -> None:
    params = {"frames": "1012-1016", "quality": "best", "take": "02", "upscale.quality": "default", "x": "1"}
    assert params_for("upscale", params)["quality"] == "default"  # the prefixed key is upscale's own
    assert asked_of("regrade", params) == asked_of("regrade", {"take": "2"})  # neither frames nor quality
    assert asked_of("denoise", params) == {"quality": "best", "take": (0, 2, "")}  # every kind that reads it
    assert asked_of("denoise", {"upscale.quality": "best"}) == asked_of("denoise", {})  # upscale's alone
    assert asked_of("interpolate", params) == {"frames": "1012-1016", "quality": "best", "take": (0, 2, "")}
    assert asked_of("interpolate", {"frames": "1003"}) != asked_of("interpolate", {})  # frames=auto
    assert asked_of("regrade", {"reference": " 1001 "}) == asked_of("regrade", {"reference": "1001"})


def test_a_kinds_own_parameters_are_its_heads_keys_and_the_daemons_as_written() -> None:
    params = {"reference": "1001", "quality": "best", "deliver": "exr", "upscale.quality": "default"}
    assert own_params("upscale", params) == {"quality": "default", "deliver": "exr"}
    assert own_params("regrade", params) == {"reference": "1001", "deliver": "exr"}
    assert own_params("denoise", params) == {"quality": "best", "deliver": "exr"}
    assert own_params("cleanup", params) == {"deliver": "exr"}
