"""The local ShotGrid server's filter and paging semantics without HTTP: what a script's `find` gets back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integrations.trackers.sgserver import filters
from integrations.trackers.sgserver.service import Service
from integrations.trackers.sgserver.storage import Storage

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


@pytest.mark.parametrize("shots", [4, 5])
def test_paging_info_counts_a_last_partial_page_and_no_page_after_a_full_last_one(
    tmp_path: Path, shots: int
) -> None:
    storage = Storage(tmp_path / "db.sqlite3")
    try:
        service = Service(storage)
        for n in range(shots):
            service.create(
                {"type": "ApiUser", "id": 1}, "Shot", [{"field_name": "code", "value": f"s{n}"}], [], ""
            )

        def page(number: int, **info: bool) -> dict[str, Any]:
            paging = {"entities_per_page": 2, "current_page": number}
            return service.read({"type": "Shot", "paging": paging, **info}, "http://sg.invalid")

        pages = -(-shots // 2)  # 4 shots: 2 pages; 5 shots: 3, the last holding one
        assert page(1, return_paging_info=True)["paging_info"] == {
            "entity_count": shots,
            "current_page": 1,
            "page_count": pages,
        }
        assert [len(page(n)["entities"]) for n in range(1, pages + 2)] == [2] * (shots // 2) + [1] * (
            shots % 2
        ) + [0]
        has_next = [
            page(n, return_paging_info_without_counts=True)["paging_info"]["has_next_page"]
            for n in (1, pages)
        ]
        assert has_next == [True, False]
    finally:
        storage.close()
