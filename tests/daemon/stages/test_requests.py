"""The requests stage against an in-memory tracker: a coordinator's fix request becomes one catalogued request
and one FixJob per known kind, exactly once across re-polls and outages; text that cannot be read runs
nothing and is answered on the task, as is a fix that ends for good; requests on a project no show follows
run nothing and are listed by `rushes status`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from daemon.catalog import Catalog, Job, cursors, fixes
from daemon.catalog import jobs as job_repo
from daemon.jobs.payloads import AnswerJob, FixJob
from daemon.jobs.runner import Lane
from daemon.settings import Settings, ShowConfig
from daemon.stages.answering import answer, job_ended, plain
from daemon.stages.requests import poll_fix_requests
from daemon.trackers import FIX_KINDS
from integrations.executors.spec import JobOutcome
from integrations.trackers.base import TrackerError
from integrations.trackers.memory import MemoryTracker
from tests.daemon.jobs.ended import Finished
from tests.daemon.stages.conftest import SHOW

SHOWS = [ShowConfig(code=SHOW, tracker_project=SHOW)]


def fix_jobs(catalog: Catalog) -> list[tuple[str, FixJob]]:
    with catalog.session(readonly=True) as s:
        jobs = job_repo.list_jobs(s, kind="fix", limit=None)
        return sorted(((j.key, FixJob.from_json(j.payload)) for j in jobs), key=lambda item: item[0])


def test_a_request_becomes_one_fix_job_per_kind_and_a_re_poll_adds_nothing(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    task = tracker.add_task(SHOW, "sh010")
    asked = tracker.tag(task, "denoise", "upscale", quality="best")
    result = poll_fix_requests(tracker, catalog, SHOWS)
    assert (result.seen, result.new) == (1, 1)
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert (request.shot, request.kinds, request.params) == (
            "sh010",
            ["denoise", "upscale"],
            asked.params,
        )
        assert request.task_id == str(task) and request.state == "open"
        request_id = request.id
    assert fix_jobs(catalog) == [
        (f"fix:{asked.key}:denoise", FixJob(request_id, "denoise", asked.key)),
        (f"fix:{asked.key}:upscale", FixJob(request_id, "upscale", asked.key)),
    ]
    again = poll_fix_requests(tracker, catalog, SHOWS)
    assert (again.seen, again.new) == (0, 0)
    assert len(fix_jobs(catalog)) == 2


def test_a_request_read_again_from_the_start_is_not_queued_twice(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    with catalog.session() as s:  # e.g. a cursor lost: the tracker hands the same event over again
        cursors.set_cursor(s, f"{tracker.name}:fix", "0")
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 0
    assert len(fix_jobs(catalog)) == 1


def test_an_outage_leaves_the_cursor_where_it_was_and_the_next_poll_catches_up(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    tracker.tag(tracker.add_task(SHOW, "sh010"), "regrade")
    tracker.fail_next()
    with pytest.raises(TrackerError):
        poll_fix_requests(tracker, catalog, SHOWS)
    assert fix_jobs(catalog) == []
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    assert [job.fix_kind for _, job in fix_jobs(catalog)] == ["regrade"]


def answer_jobs(catalog: Catalog) -> list[AnswerJob]:
    with catalog.session(readonly=True) as s:
        jobs = job_repo.list_jobs(s, kind="answer", limit=None)
        assert all(j.max_attempts == 50 for j in jobs)  # as a publish: it waits out a tracker outage of hours
        return [AnswerJob.from_json(j.payload) for j in jobs]


def test_text_that_cannot_be_read_runs_nothing_and_is_answered_on_the_task(
    catalog: Catalog, tracker: MemoryTracker, settings: Settings
) -> None:
    unknown = tracker.add_task(SHOW, "sh010")
    tracker.tag(unknown, "sharpen")
    tracker.tag(tracker.add_task(SHOW, "sh020"), "denoise", "sharpen")  # nothing of it is guessed either
    garbled = tracker.add_task(SHOW, "sh030")
    tracker.tag(garbled, "interpolate", problems=("'frames' after 'interpolate' is not key=value",))
    nothing = tracker.tag(tracker.add_task(SHOW, "sh040"))
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 4
    assert fix_jobs(catalog) == []
    with catalog.session(readonly=True) as s:
        by_shot = {r.shot: (r.state, r.error or "") for r in fixes.list_fix_requests(s, SHOW)}
    assert {state for state, _ in by_shot.values()} == {"failed"}
    assert by_shot["sh010"][1] == (
        "unknown fix kind(s) sharpen (use one of: interpolate, regrade, denoise, upscale, cleanup)"
    )
    assert by_shot["sh030"][1] == "'frames' after 'interpolate' is not key=value"
    assert by_shot["sh040"][1].startswith("no fix is named (use one of: interpolate")

    answers = answer_jobs(catalog)
    assert len(answers) == 4 and poll_fix_requests(tracker, catalog, SHOWS).new == 0  # once each
    for job in answers:
        answer(settings, catalog, tracker, job)
    said = tracker.answers[f"answer:{nothing.key}:request"]
    assert said.task_id == nothing.task_id and said.body.splitlines()[:2] == [
        "Rushes did not do the fix request on sh040: no fix is named (use one of: interpolate, regrade, "
        "denoise, upscale, cleanup).",
        "Correct the request, then set the task to 'fix' again.",
    ]
    assert tracker.tasks[garbled].status == tracker.tasks[unknown].status == "hld"  # out of the fix status


def test_a_kitsu_request_that_cannot_be_read_is_answered_with_how_to_ask_again_on_kitsu(
    catalog: Catalog, settings: Settings
) -> None:
    # "set the task to 'fix' again" on Kitsu: the coordinator edited the comment and set the status from the menu,
    # and got a second refusal (the comment that sets the status is the one read)
    kitsu = MemoryTracker(name="kitsu", comments=True)
    task = kitsu.add_task(SHOW, "sh010")
    kitsu.tag(task, "denoize")
    assert poll_fix_requests(kitsu, catalog, SHOWS).new == 1
    [job] = answer_jobs(catalog)
    answer(settings, catalog, kitsu, job)
    [said] = kitsu.answers.values()
    assert said.body.splitlines()[1] == (
        "Correct the request, then post it again as a new comment that sets the task to 'fix'."
    )


def test_a_parameter_none_of_the_asked_fixes_reads_is_answered_not_dropped(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    """`denoise frames=1001-1005` denoised the whole shot (only interpolate reads frames=) and its Version did
    not say so; `denoise upscale.quality=best` dropped the quality without a word."""
    tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise", frames="1001-1005")
    tracker.tag(tracker.add_task(SHOW, "sh020"), "denoise", **{"upscale.quality": "best"})
    tracker.tag(tracker.add_task(SHOW, "sh030"), "denoise", "interpolate", frames="1001-1005", quality="best")
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 3
    with catalog.session(readonly=True) as s:
        by_shot = {r.shot: (r.state, r.error or "") for r in fixes.list_fix_requests(s, SHOW)}
    assert by_shot["sh010"] == (
        "failed",
        "frames= is read by interpolate, not by denoise: ask interpolate too, or drop frames=",
    )
    assert by_shot["sh020"] == (
        "failed",
        "upscale.quality= is for upscale, which this request does not ask: ask upscale too, or drop it",
    )
    assert by_shot["sh030"][0] == "open"  # a key one of the asked fixes reads is that fix's
    assert sorted(job.fix_kind for _, job in fix_jobs(catalog)) == ["denoise", "interpolate"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "denoise frames=1001-1005; interpolate frames=1010-1020",
            "frames=1001-1005 reaches no fix: interpolate",
        ),
        (
            "interpolate frames=1010-1020; denoise frames=1001-1005",
            "denoise does not read frames= (frames=1001-1005",
        ),
        ("denoise v2.quality=best", "v2.quality=: v2 is not a fix kind"),
    ],
)
def test_a_key_written_beside_a_fix_that_does_not_read_it_is_a_problem_whatever_the_order(
    text: str, problem: str
) -> None:
    from daemon.stages.request_params import unread_params
    from integrations.trackers.notes import parse_fix_text

    spec = parse_fix_text(text, FIX_KINDS)
    [said] = unread_params(spec.kinds, spec.params)
    assert said.startswith(problem)
    fine = parse_fix_text(
        "interpolate frames=1012-1016 take=2 deliver=exr; regrade reference=1001", FIX_KINDS
    )
    assert unread_params(fine.kinds, fine.params) == []


def test_a_fix_that_ends_for_good_fails_its_request_and_is_answered_once(
    catalog: Catalog, tracker: MemoryTracker, settings: Settings
) -> None:
    task = tracker.add_task(SHOW, "sh010")
    asked = tracker.tag(task, "denoise", "interpolate", frames="1100-1110")
    poll_fix_requests(tracker, catalog, SHOWS)
    refused = "frames 1100-1110 lie outside the shot's frames 1001-1024: name frames of this shot"
    outcomes = {"interpolate": JobOutcome.failed("fix", f"Permanent: {refused}", retryable=False)}

    def start(job: Job) -> Finished:
        kind = FixJob.from_json(job.payload).fix_kind
        return Finished(outcomes.get(kind, JobOutcome.failed("fix", "the file server is not answering")))

    lane = Lane(catalog, "fix", ["fix"], start, concurrency=2, backoff=lambda _n: 60.0, on_dead=job_ended)
    lane.tick()
    lane.tick()
    assert answer_jobs(catalog) == [AnswerJob(1, refused, asked.key, "interpolate")]  # denoise may pass yet
    with catalog.session(readonly=True) as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert (request.state, request.error) == ("failed", refused)
    tracker.tasks[task].status = "fix"
    answer(settings, catalog, tracker, answer_jobs(catalog)[0])
    answer(settings, catalog, tracker, answer_jobs(catalog)[0])  # a retry after a lost reply: one note
    assert list(tracker.answers) == [f"answer:{asked.key}:interpolate"]
    assert tracker.answers[f"answer:{asked.key}:interpolate"].body.startswith(
        f"Rushes did not do the interpolate fix of sh010: {refused}.\n"
    )
    assert tracker.tasks[task].status == "hld"


def test_the_answer_to_a_request_the_coordinator_already_asked_again_leaves_the_task_to_the_new_one(
    catalog: Catalog, tracker: MemoryTracker, settings: Settings
) -> None:
    """The old request's failed kind was answered by moving the task from fix to hld: the new request waiting on
    the task then looked taken back (dropped by the withdrawal check), or its Version was published beside a
    task left on hold with a note about the request it replaced."""
    task = tracker.add_task(SHOW, "sh010")
    asked = tracker.tag(task, "interpolate", frames="1100-1110")
    poll_fix_requests(tracker, catalog, SHOWS)
    refused = "frames 1100-1110 lie outside the shot's frames 1001-1024: name frames of this shot"
    outcome = JobOutcome.failed("fix", f"Permanent: {refused}", retryable=False)
    lane = Lane(catalog, "fix", ["fix"], lambda _job: Finished(outcome), on_dead=job_ended)
    lane.tick()
    lane.tick()
    [old_answer] = answer_jobs(catalog)
    tracker.tag(task, "upscale")  # asked again, the task still in fix
    poll_fix_requests(tracker, catalog, SHOWS)
    answer(settings, catalog, tracker, old_answer)
    said = tracker.answers[f"answer:{asked.key}:interpolate"]
    assert said.keep_status and said.body.startswith(
        f"Rushes did not do the interpolate fix of sh010: {refused}."
    )
    assert tracker.tasks[task].status == "fix"  # the new request's
    with catalog.session(readonly=True) as s:
        assert [r.state for r in fixes.list_fix_requests(s, SHOW)] == ["open", "failed"]


def test_the_answer_to_a_request_beside_an_older_one_still_waiting_leaves_the_task_to_it(
    catalog: Catalog, settings: Settings
) -> None:
    """On Kitsu a second comment adds to the first: the second, refused at once, was answered by moving the task
    to the failed status, and the first, still queued, was then dropped as taken back."""
    from daemon.stages.withdrawals import drop_withdrawn

    kitsu_like = MemoryTracker(comments=True)
    task = kitsu_like.add_task(SHOW, "sh010")
    kitsu_like.tag(task, "denoise")
    poll_fix_requests(kitsu_like, catalog, SHOWS)
    kitsu_like.tag(task, "sharpen")
    poll_fix_requests(kitsu_like, catalog, SHOWS)
    [refused] = answer_jobs(catalog)
    answer(settings, catalog, kitsu_like, refused)
    assert kitsu_like.tasks[task].status == "fix"  # the denoise's
    drop_withdrawn(kitsu_like, catalog)
    with catalog.session(readonly=True) as s:
        assert sorted((r.kinds, r.state) for r in fixes.list_fix_requests(s, SHOW)) == [
            ([], "failed"),
            (["denoise"], "open"),
        ]


def test_a_fix_whose_attempts_ran_out_is_answered_without_asking_to_correct_the_request(
    catalog: Catalog, tracker: MemoryTracker, settings: Settings
) -> None:
    """With a file server away for its every attempt nothing in the request is wrong: the note says to ask
    again as it is once that is mended, not to correct it."""
    task = tracker.add_task(SHOW, "sh010")
    asked = tracker.tag(task, "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    away = "the file server holding /mnt/dailies/MYSHOW did not answer within 30 s"
    lane = Lane(
        catalog,
        "fix",
        ["fix"],
        lambda _job: Finished(JobOutcome.failed("fix", f"TimeoutError: {away}")),
        backoff=lambda _n: 0.0,
        on_dead=job_ended,
    )
    for _ in range(12):  # five attempts, then dead-lettered
        lane.tick()
    [job] = answer_jobs(catalog)
    assert job == AnswerJob(1, away, asked.key, "denoise", mended_elsewhere=True)
    answer(settings, catalog, tracker, job)
    assert tracker.answers[f"answer:{asked.key}:denoise"].body.splitlines()[:2] == [
        f"Rushes did not do the denoise fix of sh010: {away}.",
        "Nothing in the request needs correcting: once that is mended, set the task to 'fix' again.",
    ]


def test_a_fix_of_a_shot_with_no_daily_yet_is_answered_without_asking_to_correct_the_request(
    catalog: Catalog, tracker: MemoryTracker, settings: Settings
) -> None:
    """A fix asked on a shot whose daily has not reached the ingest folders is refused at once, but nothing in
    the request is wrong: the note says to ask again as it is once the daily is there."""
    task = tracker.add_task(SHOW, "SH040")
    asked = tracker.tag(task, "denoise")
    poll_fix_requests(tracker, catalog, SHOWS)
    missing = (
        "shot SH040 of DEMO has no readable daily to fix yet: its movie or sequence must reach one of the "
        "show's ingest folders first"
    )
    outcome = JobOutcome.failed("fix", f"NotYet: {missing}", retryable=False)
    lane = Lane(catalog, "fix", ["fix"], lambda _job: Finished(outcome), on_dead=job_ended)
    lane.tick()  # started
    lane.tick()  # finished: dead-lettered at its first attempt
    [job] = answer_jobs(catalog)
    assert job == AnswerJob(1, missing, asked.key, "denoise", mended_elsewhere=True)
    answer(settings, catalog, tracker, job)
    assert tracker.answers[f"answer:{asked.key}:denoise"].body.splitlines()[1] == (
        "Nothing in the request needs correcting: once that is mended, set the task to 'fix' again."
    )


def test_a_field_of_pasted_prose_is_answered_in_one_short_line(
    catalog: Catalog, tracker: MemoryTracker, settings: Settings
) -> None:
    words = tuple(f"'{w}' after 'denoise' is not key=value" for w in ["lorem"] * 5000)
    tracker.tag(tracker.add_task(SHOW, "sh010"), "denoise", problems=words)
    poll_fix_requests(tracker, catalog, SHOWS)
    [job] = answer_jobs(catalog)
    assert len(job.reason) == 600 and job.reason.endswith("…")
    answer(settings, catalog, tracker, job)
    assert len(tracker.answers[job.key()].body) < 800


def test_a_workers_error_reads_without_its_exception_class() -> None:
    assert plain("TimeoutError: the file server did not answer") == "the file server did not answer"
    assert (
        plain("frames 3 lie outside the shot's frames 1001-1004")
        == "frames 3 lie outside the shot's frames 1001-1004"
    )


def test_a_request_from_a_project_no_show_follows_runs_nothing_and_status_says_so_until_a_show_follows_it(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    """A project renamed in the tracker (or a `tracker_project` typed wrong) is followed by no show: its requests
    run nothing and nobody answers them (another Rushes may follow it), but `rushes status` says how many were
    seen on it since when, and what to set; once a show follows the project, the line goes."""
    from datetime import timedelta

    from daemon.cli.status import unfollowed_lines
    from daemon.stages.requests import record_fix_request
    from daemon.status import unfollowed_note, unfollowed_records

    first = tracker.tag(tracker.add_task("OTHER", "sh010"), "denoise")
    tracker.tag(tracker.add_task("OTHER", "sh020"), "upscale")
    result = poll_fix_requests(tracker, catalog, SHOWS)
    assert (result.seen, result.new) == (2, 0)
    assert fix_jobs(catalog) == [] and answer_jobs(catalog) == []
    with catalog.session() as s:  # read again (a webhook and the poller): counted once
        assert record_fix_request(s, first, SHOWS, tracker=tracker.name) == 0
    with catalog.session(readonly=True) as s:
        [seen] = unfollowed_records(s, SHOWS)
        followed = unfollowed_records(s, [*SHOWS, ShowConfig(code="OTH", tracker_project="Other")])
    assert (seen["tracker"], seen["project"], seen["requests"], seen["shots"]) == (
        "memory",
        "OTHER",
        2,
        ["sh010", "sh020"],
    )
    since = datetime.fromisoformat(seen["since"])
    assert unfollowed_lines([seen], since + timedelta(minutes=30)) == [
        f"tracker memory: 2 fix requests on project OTHER since {since:%Y-%m-%d %H:%M} UTC (30 min), shot(s) "
        "sh010, sh020, were not taken, as no show follows that project: set `tracker_project: OTHER` on the show "
        "it belongs to, then set those tasks out of the fix status and back to ask again (nothing to do if "
        "another Rushes follows it)"
    ]
    assert unfollowed_note([seen]) == (
        f"fix requests on tracker project(s) no show follows were not taken: OTHER (2 since {seen['since']}); "
        "`rushes status` says what to do"
    )
    assert followed == [] and unfollowed_note(followed) is None  # a show follows it now (in another case)


def test_a_fix_status_naming_no_fix_on_a_project_no_show_follows_is_not_listed(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    """On a project Rushes does not work on, the fix status may be the studio's own ("fix needed", for an artist):
    a task set to it naming no Rushes fix is no request lost, and `rushes status` does not list its project."""
    from daemon.status import unfollowed_records

    tracker.tag(tracker.add_task("OTHER", "sh010"), problems=("nothing names a fix",))
    tracker.tag(tracker.add_task("ELSE", "sh020"), "sharpen", problems=("sharpen is not a fix Rushes does",))
    poll_fix_requests(tracker, catalog, SHOWS)
    with catalog.session(readonly=True) as s:
        assert unfollowed_records(s, SHOWS) == []


def test_a_renamed_project_is_named_with_its_code_which_a_rename_keeps() -> None:
    from daemon.cli.status import unfollowed_lines

    seen = {
        "tracker": "kitsu",
        "project": "MRS",
        "names": ["MRS", "Mars Patrol S2"],
        "requests": 1,
        "since": "2026-12-07T09:00:00+00:00",
        "last": "2026-12-07T09:00:00+00:00",
        "shots": [f"SH0{n}0" for n in range(1, 8)],
    }
    [line] = unfollowed_lines([seen], datetime(2026, 12, 7, 12, tzinfo=UTC))
    assert line.startswith(
        "tracker kitsu: 1 fix request on project MRS (Mars Patrol S2) since 2026-12-07 09:00 UTC (3 h), shot(s) "
        "SH010, SH020, SH030, SH040, SH050 and 2 more, were not taken, as no show follows that project: set "
        "`tracker_project: MRS` (its code, which a rename keeps) on the show it belongs to"
    )


def test_a_project_spelled_in_another_case_in_the_config_is_still_the_shows() -> None:
    from daemon.shows import show_for

    shows = [
        ShowConfig(code="MRS", tracker_project="Mars Base"),
        ShowConfig(code="mars", tracker_project="MARS"),
    ]

    assert show_for("MARS BASE", shows) == shows[0]
    assert show_for("MARS", shows) == shows[1]  # exact before another case: the show whose project is MARS
    assert show_for("Venus", shows) is None


def test_a_project_named_like_another_shows_code_is_the_show_that_follows_it() -> None:
    """Show ABC follows project ALPHA; show BRV follows project ABC: ABC's requests are BRV's (rendered from BRV's
    dailies, published on BRV's shot), never ABC's, whose code only happens to be that project's."""
    from daemon.shows import show_for

    abc, brv = ShowConfig(code="ABC", tracker_project="ALPHA"), ShowConfig(code="BRV", tracker_project="ABC")
    assert show_for("ABC", [abc, brv]) == brv
    assert show_for("abc", [abc, brv]) == brv
    assert show_for("ALPHA", [abc, brv]) == abc
    assert show_for("BRV", [abc, brv]) is None  # BRV follows ABC, not its own code
    # a show following its code by default gives way to one that names the project
    plain = ShowConfig(code="ABC")
    assert show_for("ABC", [plain, brv]) == brv
    assert show_for("ABC", [plain]) == plain


def test_a_show_following_its_project_by_name_takes_requests_that_carry_its_code(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    """`rushes tracker check` finds a show's `tracker_project` by the project's code or its name, so the
    requests must too: a ShotGrid project "My Show" coded MS is followed by `tracker_project: My Show`, and its
    requests (which name it MS) are that show's, not logged as an unknown project and left in fix."""
    from daemon.shows import show_for
    from daemon.stages.requests import record_fix_request

    shows = [ShowConfig(code=SHOW, tracker_project="My Show")]
    assert show_for("MS", shows, ("MS", "My Show")) == shows[0]
    assert show_for("MS", shows, ("MS", "my show")) == shows[0]  # in another case, as ever
    assert show_for("MS", shows) is None  # a project known by its code alone is another show's
    asked = tracker.tag(tracker.add_task("MS", "sh010"), "denoise")
    with catalog.session() as s:
        request = replace(asked, project_names=("MS", "My Show"))
        assert record_fix_request(s, request, shows, tracker=tracker.name) == 1
    with catalog.session(readonly=True) as s:
        assert [r.shot for r in fixes.list_fix_requests(s, SHOW)] == ["sh010"]


def test_a_request_names_the_shot_as_its_dailies_do_in_another_case_or_qualified_by_its_sequence(
    catalog: Catalog,
) -> None:
    from daemon.catalog.dailies import DailyFacts, register_daily
    from daemon.stages.requests import record_fix_request
    from integrations.trackers.base import FixRequest

    with catalog.session() as s:
        for shot in ("sh010", "SQ01_SH0010", "SQ02_SH0010"):  # files named by Kitsu's sequence and shot
            facts = DailyFacts(
                path=f"/in/{shot}_1.mov", size_bytes=1, mtime=1.0, content_hash=shot, shot=shot
            )
            register_daily(s, SHOW, facts)

    def asked(key: str, code: str, *qualified: str) -> str:
        request = FixRequest(key, SHOW, 1, code, 1, ("denoise",), qualified_codes=qualified)
        with catalog.session() as s:
            record_fix_request(s, request, SHOWS, tracker="kitsu")
            return next(r.shot for r in fixes.list_fix_requests(s, SHOW) if r.request_key == key)

    assert asked("a", "SH010") == "sh010"  # ShotGrid's code, the files' lower case
    assert asked("b", "SH0010", "SQ02_SH0010") == "SQ02_SH0010"  # Kitsu's shot of sequence SQ02
    assert asked("c", "sh030") == "sh030"  # no daily yet: the tracker's code, found when one comes


def test_a_shot_whose_name_others_share_is_fixed_only_from_dailies_named_by_its_sequence(
    catalog: Catalog,
) -> None:
    """An episodic show's SH010 in SQ01 and SQ02, the dailies named sh010 alone: SQ02's request was rendered from
    SQ01's plate and published on SQ02's shot. It is answered instead, naming the files it needs."""
    from daemon.catalog.dailies import DailyFacts, register_daily
    from daemon.stages.requests import record_fix_request
    from integrations.trackers.base import FixRequest

    def register(shot: str) -> None:
        with catalog.session() as s:
            facts = DailyFacts(
                path=f"/in/{shot}_1.mov", size_bytes=1, mtime=1.0, content_hash=shot, shot=shot
            )
            register_daily(s, SHOW, facts)

    def asked(key: str) -> tuple[str, str, list[str]]:
        request = FixRequest(
            key, SHOW, 2, "sh010", 2, ("denoise",), qualified_codes=("SQ02_sh010",), shared_codes=("sh010",)
        )
        with catalog.session() as s:
            record_fix_request(s, request, SHOWS, tracker="shotgrid")
            row = next(r for r in fixes.list_fix_requests(s, SHOW) if r.request_key == key)
            return row.shot, row.state, [job.key for job in job_repo.list_jobs(s, kind="fix", limit=None)]

    register("sh010")
    shot, state, jobs = asked("a")
    assert (shot, state, jobs) == ("sh010", "failed", [])
    [answered] = answer_jobs(catalog)
    assert answered.reason == (
        "the project has more than one shot that the name sh010 fits and this shot's dailies go by that name, so "
        "Rushes cannot tell which are this shot's: name this shot's dailies by a name no other shot has "
        "(SQ02_sh010_1.mov), then ask again"
    )
    assert answered.mended_elsewhere  # the files are named again, not the request corrected
    register("sq02_SH010")  # named by its sequence (in another case): surely its
    assert asked("b") == ("sq02_SH010", "open", ["fix:b:denoise"])


def test_a_shot_whose_sequence_qualified_name_another_episode_shares_is_fixed_only_from_episode_named_dailies(
    catalog: Catalog,
) -> None:
    """A series' E01 and E02 each with SQ010's SH010, the dailies named SQ010_SH010 in each episode's folder:
    E01's request was rendered from E02's plate (the newest) and published on E01's shot. It is answered
    instead, asking for the name no other shot has; a daily named by it is fixed."""
    from daemon.catalog.dailies import DailyFacts, register_daily
    from daemon.stages.requests import record_fix_request
    from integrations.trackers.base import FixRequest

    def register(folder: str, shot: str) -> None:
        with catalog.session() as s:
            facts = DailyFacts(
                path=f"/in/{folder}/{shot}_1.mov",
                size_bytes=1,
                mtime=1.0,
                content_hash=folder + shot,
                shot=shot,
            )
            register_daily(s, SHOW, facts)

    def asked(key: str) -> tuple[str, str]:
        request = FixRequest(
            key,
            SHOW,
            1,
            "SH010",
            1,
            ("denoise",),
            qualified_codes=("E01_SQ010_SH010",),
            shared_codes=("SQ010_SH010", "SH010"),
        )
        with catalog.session() as s:
            record_fix_request(s, request, SHOWS, tracker="kitsu")
            row = next(r for r in fixes.list_fix_requests(s, SHOW) if r.request_key == key)
            return row.shot, row.state

    register("E01", "SQ010_SH010")
    register("E02", "SQ010_SH010")
    assert asked("a") == ("SQ010_SH010", "failed")
    [answered] = answer_jobs(catalog)
    assert "the name SQ010_SH010 fits" in answered.reason
    assert "by a name no other shot has (E01_SQ010_SH010_1.mov)" in answered.reason
    register("E01", "E01_SQ010_SH010")
    assert asked("b") == ("E01_SQ010_SH010", "open")


def test_a_request_on_a_wrapped_show_runs_nothing_and_is_answered_that_the_show_is_wrapped(
    catalog: Catalog, tracker: MemoryTracker
) -> None:
    """A coordinator who tags a task of a wrapped show hears why nothing comes, on the task; once the show is
    reopened, asking again is a new request, and it is taken."""
    from daemon.catalog.shows import reopen_show, wrap_show

    with catalog.session() as s:
        wrap_show(s, SHOW, "delivered", datetime(2026, 12, 1, tzinfo=UTC))
    task = tracker.add_task(SHOW, "sh010")
    tracker.tag(task, "denoise")
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    assert fix_jobs(catalog) == []
    [answered] = answer_jobs(catalog)
    assert answered.reason == (
        f"show {SHOW} is wrapped in Rushes since 2026-12-01, so nothing was done: once the pipeline team reopens "
        f"it (`rushes show reopen {SHOW}`), set this task out of the fix status and back to ask again"
    )
    with catalog.session() as s:
        [request] = fixes.list_fix_requests(s, SHOW)
        assert request.state == "failed"
        reopen_show(s, SHOW)
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 0  # not taken later
    tracker.tag(task, "denoise")  # asked again
    assert poll_fix_requests(tracker, catalog, SHOWS).new == 1
    assert [job.fix_kind for _, job in fix_jobs(catalog)] == ["denoise"]
