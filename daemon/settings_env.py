"""The environment's and the secrets folder's layers of the settings, as nested dicts to merge over the YAML file.

`RUSHES_<KEY>` sets a top-level key and `RUSHES_<PARENT>__<KEY>` a nested one (names are case-insensitive); the
value of a key that holds a list, a mapping or a block of options is JSON, any other is the text as given (the
model converts it). A variable whose first part names no setting (`RUSHES_HOME`, `RUSHES_CONFIG`) is ignored. A secrets folder holds one file per key, named like the key
without the prefix (`tracker__script_key`), its text stripped of surrounding whitespace.

`merged(low, high)` lays `high` over `low` key by key, so a variable that sets one nested key keeps its siblings
from the file. This is what pydantic-settings did here, written out: importing it cost a tenth of a second of
every command's start (issue 12).
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

PREFIX = "RUSHES_"
NESTED = "__"


class EnvValueError(ValueError):
    """A variable or secrets file whose value cannot be read: one line naming it."""


def environment_layer(model: type[BaseModel], environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings `environ`'s RUSHES_* variables set, nested."""
    layer: dict[str, Any] = {}
    for name, value in environ.items():
        if name.upper().startswith(PREFIX):
            _put(layer, model, name, name[len(PREFIX) :], value)
    return layer


def secrets_layer(model: type[BaseModel], folder: Path) -> dict[str, Any]:
    """The settings the files of a secrets folder set, nested."""
    layer: dict[str, Any] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            try:
                text = path.read_text().strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise EnvValueError(f"secrets file {path} cannot be read ({exc})") from None
            _put(layer, model, f"secrets file {path}", path.name, text)
    return layer


def merged(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """`high` over `low`: mappings merged key by key, anything else replaced."""
    out = dict(low)
    for key, value in high.items():
        below = out.get(key)
        if isinstance(value, Mapping) and isinstance(below, Mapping):
            out[key] = merged(below, value)
        else:
            out[key] = value
    return out


def _put(layer: dict[str, Any], model: type[BaseModel], source: str, key: str, value: str) -> None:
    path = [part for part in key.lower().split(NESTED)]
    if not path or path[0] not in model.model_fields or not all(path):
        return
    node = layer
    for part in path[:-1]:
        child = node.get(part)
        node[part] = child if isinstance(child, dict) else {}
        node = node[part]
    new = _decoded(source, value) if _is_structured(_annotation(model, path)) else value
    old = node.get(path[-1])
    # a whole block as JSON beside variables for its keys: the keys' own variables win
    node[path[-1]] = merged(new, old) if isinstance(new, dict) and isinstance(old, dict) else new


def _annotation(model: type[BaseModel], path: list[str]) -> Any:
    """The type of the field at `path` (None where the path leaves the known options)."""
    current: Any = model
    for part in path:
        fields = _model_fields(current)
        if fields is None or part not in fields:
            return None
        current = fields[part].annotation
    return current


def _model_fields(annotation: Any) -> dict[str, Any] | None:
    for candidate in (annotation, *_union_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return dict(candidate.model_fields)
    return None


def _union_args(annotation: Any) -> tuple[Any, ...]:
    origin = get_origin(annotation)
    return get_args(annotation) if origin in (Union, types.UnionType) else ()


def _is_structured(annotation: Any) -> bool:
    """A list, a mapping or a block of options (also as `X | None`): given as JSON in a variable."""
    if annotation is None:
        return False
    if any(_is_structured(arg) for arg in _union_args(annotation)):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return get_origin(annotation) in (list, dict, tuple, set, frozenset) or annotation in (list, dict)


def _decoded(source: str, value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        raise EnvValueError(
            f"{source}: not valid JSON (a list or a block of options is given as JSON)"
        ) from None
