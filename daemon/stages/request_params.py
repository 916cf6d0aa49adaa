"""A fix request's parameters as each of its kinds reads them (torch-free: the poller reads them too).

A request holds one set of parameters for all its kinds (`frames=1012-1016 quality=best`), a key meant for one
kind only prefixed by it (`upscale.quality=best`). `params_for` is what one kind is handed; `asked_of` is what
that kind's fix depends on, takes compared as people read them, so two requests can be told to ask for the same
fix (daemon.stages.withdrawals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.kinds import PARAM_KEYS

DAEMON_KEYS = ("deliver", "take")  # fix parameters the daemon reads itself (the heads read the others)


def params_for(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A request's parameters for one kind: the plain ones and those prefixed "<kind>."."""
    return {k.split(".", 1)[-1]: v for k, v in params.items() if "." not in k or k.startswith(kind + ".")}


def own_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Of a request's parameters, those a fix of `kind` reads (its head's keys and the daemon's), as written:
    what its Version's description lists (an upscale asked beside `regrade reference=1001` has none)."""
    return {k: v for k, v in params_for(kind, params).items() if k in (*PARAM_KEYS[kind], *DAEMON_KEYS)}


def unread_params(kinds: Sequence[str], params: Mapping[str, Any]) -> list[str]:
    """What a request asks that none of its `kinds` would read, one problem each: a key only other kinds read
    (`denoise frames=1001-1005` denoised the whole shot, and its Version did not say so), a key every kind that
    reads it has its own of (`denoise frames=1001-1005; interpolate frames=1010-1020`), or one prefixed with a kind
    not asked, with no kind, or with a kind that does not read it. A key no kind reads is each head's to refuse."""
    problems = []
    for key, value in params.items():
        scope, _, name = key.rpartition(".")
        if scope:
            problems += _scoped_problem(kinds, scope, name, value)
            continue
        if name in DAEMON_KEYS:
            continue
        readers = [kind for kind in PARAM_KEYS if name in PARAM_KEYS[kind]]
        asked = [kind for kind in kinds if kind in readers]
        if readers and not asked:
            problems.append(
                f"{name}= is read by {' and '.join(readers)}, not by {' or '.join(kinds)}: ask {readers[0]} too, "
                f"or drop {name}="
            )
        elif asked and all(f"{kind}.{name}" in params for kind in asked):
            problems.append(
                f"{name}={value} reaches no fix: {' and '.join(asked)} take their own {name}=; drop it"
            )
    return problems


def _scoped_problem(kinds: Sequence[str], scope: str, name: str, value: Any) -> list[str]:
    """The problem of a key prefixed with `scope` (`upscale.quality`), if any."""
    if scope not in PARAM_KEYS:
        return [f"{scope}.{name}=: {scope} is not a fix kind (use one of: {', '.join(PARAM_KEYS)})"]
    if scope not in kinds:
        return [
            f"{scope}.{name}= is for {scope}, which this request does not ask: ask {scope} too, or drop it"
        ]
    if name not in (*PARAM_KEYS[scope], *DAEMON_KEYS):
        return [f"{scope} does not read {name}= ({name}={value} given to {scope}); drop it"]
    return []


def take_key(take: str) -> tuple[int, int, str]:
    """Takes compared and ordered as people read them: "02" is take 2, and take 10 comes after take 9."""
    text = take.strip()
    return (0, int(text), "") if text.isdigit() else (1, 0, text.casefold())


def asked_of(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What a fix of `kind` depends on in a request's `params`: the keys its head and the daemon read (others,
    such as another kind's `quality`, do not change it), the take as `take_key` reads it."""
    asked: dict[str, Any] = {k: str(v).strip() for k, v in own_params(kind, params).items()}
    if "take" in asked:
        asked["take"] = take_key(asked["take"])
    return asked


__all__ = ["DAEMON_KEYS", "asked_of", "own_params", "params_for", "take_key", "unread_params"]
