"""Whose status a Kitsu task holds when Rushes answers a request it did not do: the task leaves the review status
for the failed one only where this request's own publish set it (its movie then refused), never where another
request's Version waits or a person commented since. (Comments as zou lists them, newest first; the answer itself
runs against a real zou in tests/integrations/test_kitsu_network_faults.py.)"""

from __future__ import annotations

from integrations.trackers.kitsu.markers import KEY_LINE, note_text
from integrations.trackers.kitsu.writes import _set_by_own_publish

OWN = ("publish:shotgrid:event:7:denoise",)


def publish(key: str) -> dict[str, str]:
    return {"text": f"**SQ01_SH010_rushes_denoise_r7**\n\n{KEY_LINE} {key}"}


def test_the_status_is_this_requests_only_where_its_own_publish_is_the_newest_of_rushes_comments() -> None:
    assert _set_by_own_publish([publish(OWN[0])], OWN)
    assert _set_by_own_publish([{"text": note_text("Rushes", "plate delivered again")}, publish(OWN[0])], OWN)
    assert not _set_by_own_publish([publish("publish:kitsu:comment:9:upscale"), publish(OWN[0])], OWN)
    assert not _set_by_own_publish([{"text": "Looks good, thanks"}, publish(OWN[0])], OWN)
    assert not _set_by_own_publish([{"text": None}, publish(OWN[0])], OWN)  # a status change without text
    assert not _set_by_own_publish([], OWN)
