"""Which 422 answers from zou make the Kitsu connection log in again: a token it cannot verify (after a redeploy
with another SECRET_KEY), not a call whose content it refuses, which is raised at once (a publish of two
requests would otherwise make its first part twice)."""

from __future__ import annotations

from gazu.exception import ValidationException

from integrations.trackers.kitsu.connection import token_refused


def test_a_token_zou_cannot_verify_is_a_reason_to_log_in_again() -> None:
    assert token_refused(ValidationException("data/projects/open", "Signature verification failed"))
    assert token_refused(ValidationException("data/user", "Not enough segments"))


def test_a_call_whose_content_zou_refuses_is_not() -> None:
    assert not token_refused(ValidationException("actions/tasks/1/comment", "Wrong task status id"))
    assert not token_refused(ValidationException("pictures/preview-files/2", "No additional information"))
