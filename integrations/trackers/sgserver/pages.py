"""Pages for people: `/versions` lists the Versions on the local server, newest first, as a small HTML table
(project, shot, task, code, status, description, the uploaded review movie as a link, the movie's path on
disk), then the Notes on tasks with the task's status now (where Rushes says why it did not do a request), so
the demo and a first fix can be browsed without a ShotGrid site. Read only; no sign-in needed on
loopback, like downloads; bound elsewhere it wants a session (its movie links are signed download urls).
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

from integrations.trackers.sgserver.service import Service

FIELDS = [
    "project",
    "entity",
    "sg_task",
    "code",
    "sg_status_list",
    "description",
    "sg_uploaded_movie",
    "sg_path_to_movie",
]
STYLE = (
    "body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}"
    "td.d{white-space:pre-wrap;max-width:40em}code{font-size:12px;word-break:break-all}"
)


def versions_page(service: Service, base_url: str) -> bytes:
    found = service.read(
        {"type": "Version", "return_fields": FIELDS, "sorts": [{"field_name": "id", "direction": "desc"}]},
        base_url,
    )
    rows = "".join(_row(v) for v in found["entities"])
    empty = "" if rows else '<tr><td colspan="9">no Versions yet</td></tr>'
    head = "".join(
        f"<th>{h}</th>"
        for h in ("id", "project", "shot", "task", "code", "status", "description", "movie", "path")
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Versions</title><style>{STYLE}</style></head>"
        f"<body><h1>Versions</h1><table><tr>{head}</tr>{rows}{empty}</table>{_notes(service, base_url)}"
        "</body></html>"
    )
    return page.encode("utf-8")


def _notes(service: Service, base_url: str) -> str:
    """The Notes on tasks, newest first, each with its tasks' status now."""
    fields = ["note_links", "tasks", "subject", "content"]
    order = [{"field_name": "id", "direction": "desc"}]
    every = service.read({"type": "Note", "return_fields": fields, "sorts": order}, base_url)["entities"]
    notes = [n for n in every if n.get("tasks")]
    if not notes:
        return ""
    tasks = service.read({"type": "Task", "return_fields": ["sg_status_list"]}, base_url)["entities"]
    status = {t["id"]: str(t.get("sg_status_list") or "") for t in tasks}
    head = "".join(f"<th>{h}</th>" for h in ("id", "shot", "task", "task status now", "subject", "content"))
    rows = "".join(_note_row(n, status) for n in notes)
    return f"<h1>Notes on tasks</h1><table><tr>{head}</tr>{rows}</table>"


def _note_row(note: dict[str, Any], status: dict[int, str]) -> str:
    tasks = [t for t in note.get("tasks") or [] if isinstance(t, dict)]
    cells = [
        str(note["id"]),
        ", ".join(_name(link) for link in note.get("note_links") or []),
        ", ".join(_name(t) for t in tasks),
        html.escape(", ".join(status.get(t["id"], "") for t in tasks)),
        html.escape(str(note.get("subject") or "")),
        html.escape(str(note.get("content") or "")),
    ]
    classes = ["", "", "", "", "", " class='d'"]
    return "<tr>" + "".join(f"<td{c}>{x}</td>" for c, x in zip(classes, cells, strict=True)) + "</tr>"


def _safe_link(url: str) -> bool:
    """Whether `url` may be a link on the page: http(s), or a path on this server."""
    scheme = urlsplit(url.strip()).scheme.lower()
    return bool(url) and (scheme in ("http", "https") or (not scheme and url.startswith("/")))


def _name(link: Any) -> str:
    return html.escape(str(link.get("name") or "")) if isinstance(link, dict) else ""


def _row(v: dict[str, Any]) -> str:
    movie = v.get("sg_uploaded_movie")
    url = str(movie.get("url") or "") if isinstance(movie, dict) else ""
    name = html.escape(str(movie.get("name") or "movie")) if isinstance(movie, dict) else ""
    # a link only to the web or a path of this server: a `javascript:` URL any API user may store ran in the
    # browser of whoever clicked it on this page, which needs no login
    link = f"<a href='{html.escape(url, quote=True)}'>{name}</a>" if _safe_link(url) else html.escape(url)
    cells = [
        str(v["id"]),
        _name(v.get("project")),
        _name(v.get("entity")),
        _name(v.get("sg_task")),
        html.escape(str(v.get("code") or "")),
        html.escape(str(v.get("sg_status_list") or "")),
        html.escape(str(v.get("description") or "")),
        link,
        f"<code>{html.escape(str(v.get('sg_path_to_movie') or ''))}</code>",
    ]
    classes = ["", "", "", "", "", "", " class='d'", "", ""]
    return "<tr>" + "".join(f"<td{c}>{x}</td>" for c, x in zip(classes, cells, strict=True)) + "</tr>"
