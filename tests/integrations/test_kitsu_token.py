"""Which 422 answers from zou make the Kitsu connection log in again: a token it cannot verify (after a redeploy
with another SECRET_KEY), not a call whose content it refuses, which is raised at once (a publish of two
requests would otherwise make its first part twice)."""

from __future__ import annotations

from integrations.trackers.kitsu.connection import token_refused


def test_a_token_zou_cannot_verify_is_a_reason_to_log_in_again() -> None:
    assert token_refused("Signature verification failed")
    assert token_refused("Not enough segments")


def test_a_call_whose_content_zou_refuses_is_not() -> None:
    assert not token_refused("Wrong task status id")
    assert not token_refused("")
