"""`rushes status [--json]`: shows, dailies (with the ids `rushes dailies exclude` takes), quarantined files with reasons, the recent fixes' Versions with
where their review movies are (each path whole on its own line, so it can be copied from any terminal), jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape

from daemon.cli.app import app, cells, fail, folding_table, out, printable, settings
from daemon.context import open_context


@app.command("status")
def status_cmd(
    show: Annotated[str | None, typer.Option("--show", "-s", help="Only this show.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    dailies: Annotated[
        int,
        typer.Option(
            "--dailies", min=0, help="The newest dailies (and quarantined files) listed per show; 0: all."
        ),
    ] = 20,
) -> None:
    """Shows, newest dailies, quarantined files, recent fixes with their Versions' movies, and jobs."""
    from daemon import status as status_data  # the catalog (SQLAlchemy): only once a command runs

    ctx = open_context(settings())
    try:
        data = status_data.collect(ctx.settings, ctx.catalog, show, dailies=dailies or None)
    finally:
        ctx.close()
    if show is not None and not data["shows"] and not data["invalid_shows"]:  # a typo is not an empty show
        raise fail(f"show {show!r} is not known (see `rushes show list`)")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    render(data)


def tracker_lines(reads: list[dict[str, Any]], now: datetime) -> list[str]:
    """A line per daemon machine: whether its reads of the tracker go through, or since when and why not."""
    lines = []
    for r in reads:
        who = f"tracker {r['tracker']} from {r['host']}"
        checked = datetime.fromisoformat(r["checked_at"])
        gone = f"; its daemon has not polled for {_span(now - checked)}: is it running?" if r["quiet"] else ""
        if r["problem"]:
            since = datetime.fromisoformat(r["since"])
            mend = (
                " (`rushes tracker check` says what to mend)"
                if r["problem"].startswith("cannot read")
                else ""
            )
            lines.append(
                f"{who}: since {since:%Y-%m-%d %H:%M} UTC ({_span(now - since)}), {r['problem']}; "
                f"fix requests wait until it goes through{mend}{gone}"
            )
        elif r["quiet"]:
            lines.append(
                f"{who}: reads went through {_span(now - checked)} ago; its daemon has not polled since: is it running?"
            )
        else:
            lines.append(f"{who}: reads go through (last {_span(now - checked)} ago)")
    return lines


def unfollowed_lines(projects: list[dict[str, Any]], now: datetime) -> list[str]:
    """A line per tracker project whose fix requests no show took: how many, since when, on which shots, and
    what to do (follow it by its code, which a rename keeps; then ask those tasks again)."""
    lines = []
    for p in projects:
        since = datetime.fromisoformat(p["since"])
        project = p["project"] + "".join(f" ({n})" for n in p["names"] if n != p["project"])
        shots = ", ".join(p["shots"][:5]) + (
            f" and {len(p['shots']) - 5} more" if len(p["shots"]) > 5 else ""
        )
        code = p["names"][0] if p["names"] else p["project"]
        by_code = " (its code, which a rename keeps)" if len(p["names"]) > 1 else ""
        asked = "1 fix request" if p["requests"] == 1 else f"{p['requests']} fix requests"
        lines.append(
            f"tracker {p['tracker']}: {asked} on project {project} since {since:%Y-%m-%d %H:%M} UTC "
            f"({_span(now - since)}), shot(s) {shots}, were not taken, as no show follows that project: set "
            f"`tracker_project: {code}`{by_code} on the show it belongs to, then set those tasks out of the fix "
            "status and back to ask again (nothing to do if another Rushes follows it)"
        )
    return lines


def _span(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def _frames(d: dict[str, Any]) -> str:
    if d["first_frame"] is None:
        return "-"
    text = f"{d['first_frame']}-{d['last_frame']} ({d['frame_count']})"
    if d["missing_frames"]:
        text += f" missing {_ranges(d['missing_frames'])}"
    return text


def _ranges(numbers: list[int]) -> str:
    parts: list[str] = []
    for n in sorted(numbers):
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = parts[-1].split("-")[0] + f"-{n}"
        else:
            parts.append(str(n))
    return ",".join(parts)


def _print_reasons(requests: list[dict[str, Any]]) -> None:
    """Why a request failed, or the supervisor's note on a rejection: each whole on its own line (a reason in a
    table column wrapped a word a line)."""
    lines = []
    for r in requests:
        if r["error"]:
            lines.append(f"fix request {r['id']} {r['shot']} {r['state']}: {r['error']}")
        elif r["rejection_note"] and r["state"] != "approved":  # approved since: the note no longer stands
            lines.append(f"fix request {r['id']} {r['shot']} rejected: {r['rejection_note']}")
    _print_block("why:", lines)


def _print_movies(requests: list[dict[str, Any]]) -> None:
    """Each render of the recent fix requests: its tracker Version (id and code) and state, then its movies' full
    paths."""
    lines = []
    for r in requests:
        for p in r["publications"]:
            version = f"tracker Version {p['version']}" if p["version"] else "no tracker Version yet"
            code = f" {p['code']}" if p.get("code") else ""
            review = f", review {p['review']}" if p["state"] == "published" else ""
            lines.append(
                f"fix request {r['id']} {r['shot']} {p['kind']}: {version}{code} ({p['state']}{review})"
            )
            lines.append(f"  movie {p['movie']}")
            if p["before_after"]:
                lines.append(f"  before/after {p['before_after']}")
    _print_block("review movies:", lines)


def _print_more(show: dict[str, Any], listed: str, total: str, status: str) -> None:
    """Under a list cut to the newest: how many older ones there are and the command that lists them."""
    older = show[total] - len(show[listed])
    if older > 0:
        out.print(
            f"  and {older} older: `rushes dailies list --show {show['code']} --status {status}`",
            highlight=False,
            markup=False,
        )


def _print_block(title: str, lines: list[str]) -> None:
    """`title`, then each line indented and whole (never wrapped: a path or a reason stays copyable)."""
    if lines:
        out.print(title, highlight=False)
    for line in lines:  # a reason may hold a tracker user's text: its control characters escaped
        out.print(f"  {printable(line)}", highlight=False, markup=False, soft_wrap=True)


def render(data: dict[str, Any]) -> None:
    from daemon.status import job_state  # loaded already: it made `data`

    out.print(f"data in {data['data_dir']}  catalog {data['catalog']}", highlight=False)
    now = datetime.now(UTC)
    for line in tracker_lines(data["tracker_reads"], now) + unfollowed_lines(
        data["unfollowed_projects"], now
    ):
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    if not data["shows"] and not data["invalid_shows"]:
        out.print("no shows yet: add one with `rushes show add CODE --ingest DIR`")
    for bad in data["invalid_shows"]:  # left out of everything until its options are mended
        for problem in bad["problems"]:
            out.print(f"\nshow {bad['code']} is left out: {problem}", highlight=False, markup=False)
    for show in data["shows"]:
        _render_show(show)
    if data["jobs"]["recent"]:
        table = folding_table("job", "kind", "show", "state", "attempts", "error")
        for j in data["jobs"]["recent"]:
            table.add_row(
                *cells(j["id"], j["kind"], j["show"] or "-", job_state(j), j["attempts"], j["error"] or "")
            )
        out.print(table)


def _render_show(show: dict[str, Any]) -> None:
    """One show's part of `rushes status`: its heading, then its dailies, fix requests and quarantined files."""
    out.print(
        f"\n[bold]{show['code']}[/bold]  {show['dailies_total']} dailies, {_show_state(show)}", markup=True
    )
    for root in show["missing_roots"]:  # unmounted or moved: watched again once it is there
        out.print(f"  ingest folder missing: {root}", highlight=False, markup=False)
    if not show.get("wrapped_at"):
        out.print(f"  {window_line(show['training'])}", highlight=False, markup=False)
    if show["dailies"]:
        _render_dailies(show)
    if show["fix_requests"]:
        _render_requests(show["fix_requests"])
    if show["quarantined"]:
        table = folding_table("quarantined", "reason", title=None)
        for d in show["quarantined"]:
            table.add_row(*cells(d["path"], d["reason"] or "-"))
        out.print(table)
        _print_more(show, "quarantined", "quarantined_total", "quarantined")


def window_line(training: dict[str, Any]) -> str:
    """When the show's next training window opens: on its own wall clock when it names a zone, and in UTC."""
    zone = training["timezone"]
    where = f"in {zone}" if zone else "in the scheduling daemon's zone (no training.timezone)"
    head = f"training window: {training['cron']!r} for {training['hours']:g} h {where}"
    if training["next_window"] is None:
        return f"{head}; not scheduled yet (no daemon has run the scheduler on this catalog)"
    at = datetime.fromisoformat(training["next_window"])
    if training["next_window_local"]:
        local = datetime.fromisoformat(training["next_window_local"])
        return f"{head}; next opens {local:%Y-%m-%d %H:%M} ({local:%z}), {at:%Y-%m-%d %H:%M} UTC"
    return f"{head}; next opens {at:%Y-%m-%d %H:%M} UTC"


def _show_state(show: dict[str, Any]) -> str:
    """The model a show's fixes use, whether it is stale, and whether the show is wrapped (console markup)."""
    model = (
        f"model v{show['promoted_model']}"
        if show["promoted_model"]
        else "no trained model yet (fixes use the classical tools)"
    )
    if show["promoted_model_outdated"]:
        model += (
            ", made by an older Rushes and not used (fixes use the classical tools until "
            f"`rushes train --show {show['code']}`)"
        )
    if show["model_stale"] and show["promoted_model"]:
        model += " (stale: new dailies or reviews since training)"  # an approval makes it stale too
    if show.get("wrapped_at"):
        since = datetime.fromisoformat(show["wrapped_at"])
        note = f": {show['wrap_note']}" if show.get("wrap_note") else ""
        model += (
            f" (wrapped since {since:%Y-%m-%d %H:%M} UTC{escape(note)}; "
            "not watched or trained, its fix requests answered so)"
        )
    return model


def _render_dailies(show: dict[str, Any]) -> None:
    table = folding_table("daily", "shot", "take", "frames", "fps", "size", "timecode", "codec", "path")
    for d in show["dailies"]:  # by its id, which `rushes dailies exclude ID` takes
        table.add_row(
            *cells(
                d["id"],
                d["shot"] or "-",
                d["take"] or "-",
                _frames(d),
                d["fps"] or "-",
                f"{d['width']}x{d['height']}",
                d["timecode"] or "-",
                d["codec"] or "-",
                d["path"],
            )
        )
    out.print(table)
    for d in show["dailies"]:  # the filmmakers' decisions, which the table has no room for
        if d["excluded"]:
            out.print(
                f"  excluded from training: daily {d['id']} {d['path']} ({d['excluded']})",
                highlight=False,
                markup=False,
            )
    _print_more(show, "dailies", "dailies_total", "registered")


def _render_requests(requests: list[dict[str, Any]]) -> None:
    from daemon.status import request_state  # loaded already: it made the status

    table = folding_table("fix request", "shot", "kinds", "state", "tracker Versions")
    for r in requests:
        table.add_row(
            *cells(
                r["id"],
                r["shot"],
                ", ".join(r["kinds"]),
                request_state(r),
                ", ".join(map(str, r["versions"])),
            )
        )
    out.print(table)
    _print_reasons(requests)
    _print_movies(requests)
