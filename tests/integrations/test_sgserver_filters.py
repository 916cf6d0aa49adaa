"""The local ShotGrid server's filter semantics on plain records (no server): what a script's `find` gets back."""

from __future__ import annotations

from typing import Any

from integrations.trackers.sgserver import filters

SHOTS = [
    {"id": 1, "code": "sh010", "sg_status_list": "ip"},
    {"id": 2, "code": "sh020", "sg_status_list": "fix"},
    {"id": 3, "code": "sh030", "sg_status_list": "rev"},
]


def find(group: dict[str, Any]) -> list[str]:
    return [
        shot["code"]
        for shot in SHOTS
        if filters.matches(group, lambda path, shot=shot: shot.get(path), lambda link: str(link.get("name")))
    ]


def condition(path: str, relation: str, *values: Any) -> dict[str, Any]:
    return {"path": path, "relation": relation, "values": list(values)}


def test_in_matches_any_of_its_values_and_not_in_none_of_them() -> None:
    both = condition("sg_status_list", "in", "fix", "rev")
    assert find({"logical_operator": "and", "conditions": [both]}) == ["sh020", "sh030"]
    neither = condition("sg_status_list", "not_in", "fix", "rev")
    assert find({"logical_operator": "and", "conditions": [neither]}) == ["sh010"]


def test_an_empty_group_matches_every_record_whichever_its_operator() -> None:
    assert find({"logical_operator": "and", "conditions": []}) == ["sh010", "sh020", "sh030"]
    assert find({"logical_operator": "or", "conditions": []}) == ["sh010", "sh020", "sh030"]
    nested = {"logical_operator": "and", "conditions": [{"logical_operator": "or", "conditions": []}]}
    assert find(nested) == ["sh010", "sh020", "sh030"]
