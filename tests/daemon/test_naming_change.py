"""A naming change mid-show: dailies start arriving as `TO-sh030-v002.mp4` while the show's template reads
`sh020_1.mp4`. The coordinator gives the show the new template beside the old one, and nothing catalogued is lost:
`rushes show add` refuses templates that would quarantine catalogued dailies, and a daily quarantined so comes
back as the same daily once the templates read it again."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli.main import _register
from tests import footage
from tests.homes import own_home, rushes

_register()

OLD = "{shot}_{take}.{ext}"
NEW = "{show}-{shot}-v{take}.{ext}"


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return own_home(monkeypatch, tmp_path)


def dailies(show: str = "TO") -> dict[str, dict[str, object]]:
    """The show's catalogued and quarantined dailies by file name, as `rushes dailies list --json` gives them."""
    code, output = rushes("dailies", "list", "--show", show, "--status", "all", "--json")
    assert code == 0, output
    return {Path(str(d["path"])).name: d for d in json.loads(output)}


def a_show_with_a_daily_in_the_old_naming(tmp_path: Path) -> tuple[Path, int]:
    inbox = tmp_path / "inbox"
    footage.movie(inbox / "sh020_1.mp4", n=4, size=(64, 48))
    assert rushes("show", "add", "TO", "--ingest", str(inbox))[0] == 0
    assert rushes("ingest", str(inbox), "--show", "TO")[0] == 0
    daily = int(dailies()["sh020_1.mp4"]["id"])  # type: ignore[call-overload]
    assert rushes("dailies", "exclude", str(daily), "--reason", "likeness not cleared")[0] == 0
    footage.movie(inbox / "TO-sh030-v002.mp4", n=4, size=(64, 48), photo="coffee")  # the new naming
    return inbox, daily


def test_the_new_naming_is_read_beside_the_old_and_the_new_template_alone_is_refused(tmp_path: Path) -> None:
    inbox, daily = a_show_with_a_daily_in_the_old_naming(tmp_path)
    assert rushes("ingest", str(inbox), "--show", "TO")[0] == 0
    assert dailies()["TO-sh030-v002.mp4"]["status"] == "quarantined"

    refused = subprocess.run(  # as a user meets it: one line, exit status 2
        [sys.executable, "-m", "daemon", "show", "add", "TO", "--path-template", NEW],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2 and refused.stderr.splitlines() == [
        "error: the new templates do not read 1 of TO's catalogued dailies (sh020_1.mp4), which the next scan "
        "would quarantine, out of training and fixes: give the templates they were read by too, tried in order "
        f"(--path-template '{OLD}' --path-template '{NEW}'), or add --quarantine-unread to quarantine them"
    ]
    assert rushes("ingest", str(inbox), "--show", "TO")[0] == 0
    assert dailies()["sh020_1.mp4"]["status"] == "registered"  # nothing was changed

    code, output = rushes("show", "add", "TO", "--path-template", OLD, "--path-template", NEW)
    assert code == 0, output
    assert f"movies: {OLD}, then {NEW}," in output
    assert rushes("ingest", str(inbox), "--show", "TO")[0] == 0
    found = dailies()
    assert (found["sh020_1.mp4"]["id"], found["sh020_1.mp4"]["status"]) == (daily, "registered")
    new = found["TO-sh030-v002.mp4"]
    assert (new["status"], new["shot"]) == ("registered", "sh030")


def test_a_daily_quarantined_by_a_template_change_comes_back_as_the_same_daily_when_it_is_read_again(
    tmp_path: Path,
) -> None:
    inbox, daily = a_show_with_a_daily_in_the_old_naming(tmp_path)
    assert rushes("show", "add", "TO", "--path-template", NEW, "--quarantine-unread")[0] == 0
    assert rushes("ingest", str(inbox), "--show", "TO")[0] == 0
    assert dailies()["sh020_1.mp4"]["status"] == "quarantined"

    assert rushes("show", "add", "TO", "--path-template", OLD, "--path-template", NEW)[0] == 0
    assert rushes("ingest", str(inbox), "--show", "TO")[0] == 0

    back = dailies()["sh020_1.mp4"]
    assert (back["id"], back["status"], back["shot"]) == (daily, "registered", "sh020")
    assert back["excluded"] == "likeness not cleared"  # its exclusion was not lost with the quarantine
