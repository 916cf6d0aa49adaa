"""The running daemon stops listing a quarantined file once it is renamed (to a name the template reads) or
deleted, within a minute, not only at the nightly reconcile scan (the first-fix walkthrough renamed one and
still saw it in `rushes status`)."""

from __future__ import annotations

from pathlib import Path

from daemon.catalog.dailies import quarantine, quarantined
from daemon.service import FORGET_GONE_EVERY_S, Daemon
from daemon.settings import Settings, ShowConfig


def test_a_quarantined_file_renamed_away_stops_being_listed_within_a_minute(tmp_path: Path) -> None:
    daemon = Daemon(Settings(data_dir=tmp_path / "home", shows=[ShowConfig(code="QS")]))
    try:
        odd = tmp_path / "A003C012.mp4"
        odd.write_bytes(b"a movie under a camera's name")
        with daemon.catalog.session() as s:
            quarantine(
                s, "QS", str(odd), 29, 1.0, "A003C012.mp4 does not match the template {shot}_{take}.{ext}"
            )
        odd.rename(tmp_path / "sh040_1.mp4")  # the coordinator renames it; the watcher takes the new name

        daemon.forget_gone_now_and_then()
        with daemon.catalog.session(readonly=True) as s:
            assert len(quarantined(s, "QS")) == 1  # just started: the start's reconcile looked already
        daemon._forgot_at -= FORGET_GONE_EVERY_S
        daemon.forget_gone_now_and_then()
        with daemon.catalog.session(readonly=True) as s:
            assert quarantined(s, "QS") == []
    finally:
        daemon.executor.shutdown(wait=False)
        daemon.ctx.close()
