"""The wire protocol: `POST /api3/json` with {"method_name", "params": [auth, params]} and the form uploads.

Answers are {"results": ...}; faults are {"exception": true, "message", "error_code"} with HTTP 200, so the
unmodified client raises `AuthenticationFault` for error code 102 and `Fault` otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from integrations.trackers.sgserver import activity, site, summaries, upload, webhooks
from integrations.trackers.sgserver.service import (
    ERR_GENERIC,
    SERVER_VERSION,
    Link,
    Service,
    ServiceFault,
)

Handler = Callable[[Service, Link, dict[str, Any], str], Any]


def info(page_size: int = 500) -> dict[str, Any]:
    return {
        "version": list(SERVER_VERSION),
        "full_version": [*SERVER_VERSION, 0],
        "s3_uploads_enabled": False,
        "s3_direct_uploads_enabled": False,
        "api_max_entities_per_page": page_size,
        "user_authentication_method": "default",
        "rushes_local_server": True,
    }


def _need(p: dict[str, Any], key: str) -> Any:
    if key not in p:
        raise ServiceFault(f"API request is missing '{key}'")
    return p[key]


def _create(s: Service, u: Link, p: dict[str, Any], b: str) -> Any:
    return s.create(
        u, str(_need(p, "type")), list(_need(p, "fields")), list(p.get("return_fields") or ["id"]), b
    )


def _update(s: Service, u: Link, p: dict[str, Any], b: str) -> Any:
    return s.update(u, str(_need(p, "type")), int(_need(p, "id")), list(_need(p, "fields")), b)


_METHODS: dict[str, Handler] = {
    "read": lambda s, u, p, b: s.read(p, b, u),
    "create": _create,
    "update": _update,
    "delete": lambda s, u, p, b: s.delete(u, str(_need(p, "type")), int(_need(p, "id"))),
    "revive": lambda s, u, p, b: s.revive(u, str(_need(p, "type")), int(_need(p, "id"))),
    "schema_read": lambda s, u, p, b: s.schema_read(p.get("project")),
    "schema_entity_read": lambda s, u, p, b: s.schema_entity_read(),
    "schema_field_read": lambda s, u, p, b: s.schema_field_read(
        str(_need(p, "type")), p.get("field_name"), p.get("project")
    ),
    "schema_field_create": lambda s, u, p, b: s.schema_field_create(
        str(_need(p, "type")), str(_need(p, "data_type")), list(_need(p, "properties"))
    ),
    "schema_field_update": lambda s, u, p, b: s.schema_field_update(
        str(_need(p, "type")), str(_need(p, "field_name")), list(_need(p, "properties")), p.get("project")
    ),
    "schema_field_delete": lambda s, u, p, b: s.schema_field_delete(
        str(_need(p, "type")), str(_need(p, "field_name"))
    ),
    "get_session_token": lambda s, u, p, b: s.session_token(u),
    "summarize": summaries.summarize,
    "query_display_name_cache": summaries.text_search,
    "activity_stream": activity.activity_stream,
    "note_thread_contents": activity.note_thread,
    "follow": activity.follow,
    "unfollow": activity.unfollow,
    "followers": activity.followers,
    "following": activity.following,
    "preferences_read": site.preferences_read,
    "work_schedule_read": site.work_schedule_read,
    "work_schedule_update": site.work_schedule_update,
    "update_project_last_accessed_by_current_user": site.last_accessed,
    "export_page": site.export_page,
    "webhook_create": webhooks.webhook_create,
    "webhook_read": webhooks.webhook_read,
    "webhook_delete": webhooks.webhook_delete,
    "webhook_deliveries_read": webhooks.webhook_deliveries_read,
}


def fault(message: str, code: int = ERR_GENERIC) -> dict[str, Any]:
    return {"exception": True, "message": message, "error_code": code}


def _request(body: bytes) -> tuple[str, list[Any]]:
    """(method, params) of a request body; ServiceFault when it is not the client's JSON shape."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        raise ServiceFault(
            "API request is not valid JSON: send {'method_name': ..., 'params': [...]}"
        ) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("method_name"), str):
        raise ServiceFault("API request needs a JSON object with a 'method_name' string")
    params = payload.get("params") or []
    if not isinstance(params, list) or (params and not isinstance(params[0], dict)):
        raise ServiceFault("API request 'params' must be a list: [auth dict, method params]")
    if len(params) > 1 and not isinstance(params[1], dict | list):
        raise ServiceFault("API request 'params'[1] must be an object (or a list for batch)")
    return payload["method_name"], params


def handle_rpc(service: Service, body: bytes, base_url: str) -> dict[str, Any]:
    """One JSON-RPC request in, one JSON-able answer out: never raises, whatever the request holds."""
    method = "request"
    try:
        method, params = _request(body)
        if method == "info":
            return info(service.page_size)
        user = service.authenticate(params[0] if params else {})
        if method == "batch":
            calls = params[1] if len(params) > 1 else []
            if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
                raise ServiceFault("API batch() expects a list of request dicts")
            return {"results": service.batch(user, calls, base_url)}
        handler = _METHODS.get(method)
        if handler is None:
            raise ServiceFault(f"API method '{method}' is not supported by the Rushes local server")
        args = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
        return {"results": handler(service, user, args, base_url)}
    except ServiceFault as exc:
        return fault(str(exc), exc.code)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return fault(f"API {method}() bad request: {type(exc).__name__} {exc}")
    except RecursionError:
        return fault(f"API {method}() bad request: the request is nested too deeply")


def handle_share(service: Service, content_type: str, body: bytes) -> bytes:
    """`/upload/share_thumbnail`: give `entities` the thumbnail of `source_entity` (`1:<attachment id>`;
    `2` while the source thumbnail is still transient; `0\n<why>` otherwise)."""
    try:
        form = upload.parse_form(content_type, body)
        user = service.authenticate(form.fields)
        source = upload.entity_ref(form.fields["source_entity"])
        targets = [upload.entity_ref(t) for t in form.fields["entities"].split(",") if t.strip()]
        field = (
            "filmstrip_image"
            if form.fields.get("filmstrip_thumbnail", "") in ("1", "True", "true")
            else "image"
        )
        attachment_id = service.share_thumbnail(user, source, targets, field)
        if attachment_id is None:
            return upload.not_ready_line("source_entity image is a transient thumbnail that cannot be shared")
        return upload.ok_line(attachment_id)
    except ServiceFault as exc:
        return upload.error_line(str(exc))
    except (KeyError, ValueError) as exc:
        return upload.error_line(f"bad share_thumbnail form: {exc}")


def handle_upload(service: Service, path: str, content_type: str, body: bytes) -> bytes:
    """`/upload/upload_file` and `/upload/publish_thumbnail`: answer `1:<attachment id>` or `0\\n<why>`."""
    try:
        form = upload.parse_form(content_type, body)
        user = service.authenticate(form.fields)
        thumbnail = path == upload.PUBLISH_THUMBNAIL
        file = form.files.get("thumb_image" if thumbnail else "file")
        if file is None or not file.content:
            return upload.error_line("no file in the upload form")
        attachment_id = service.attach(
            user,
            form.fields["entity_type"],
            int(form.fields["entity_id"]),
            file.filename,
            file.content_type or "application/octet-stream",
            file.content,
            form.fields.get("field_name"),
            form.fields.get("display_name"),
            thumbnail,
            form.fields.get("tag_list"),
            "filmstrip_image" if form.fields.get("filmstrip", "").lower() in ("true", "1") else "image",
            form.fields.get("created_at") or None,  # the client's datetime.isoformat(): naive is taken as UTC
        )
        return upload.ok_line(attachment_id)
    except ServiceFault as exc:
        return upload.error_line(str(exc))
    except (KeyError, ValueError) as exc:
        return upload.error_line(f"bad upload form: {exc}")
