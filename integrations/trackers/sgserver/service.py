"""What the local server does: entity CRUD with ShotGrid semantics, the event log, schema, auth, files.

Values are stored as the client sends them, normalised (links as {"type", "id"}), and rendered on the way
out (links gain "name", uploaded files gain a download "url"). Every write appends EventLogEntry rows in
the same transaction, shaped like the hosted service's (event_type "Shotgun_Task_Change", meta with
old_value/new_value, or added/removed for a multi-entity field).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from integrations.trackers.sgserver import auth, filters, mirror, presets, schema
from integrations.trackers.sgserver.faults import Faults
from integrations.trackers.sgserver.schema import FieldDef, Schema
from integrations.trackers.sgserver.storage import Row, Storage

if TYPE_CHECKING:
    from integrations.trackers.sgserver.webhooks import WebhookHub

SERVER_VERSION = [8, 5, 0]
ERR_GENERIC = 100
ERR_AUTH = 102
NO_EVENTS = {"EventLogEntry"}
AUTO_FIELDS = {"id", "created_at", "updated_at", "created_by", "updated_by", "cached_display_name"}

# Write-only: stored as salted hashes, answered as None, refused in filters.
SECRET_FIELDS = {"password_proxy", "salted_password"}
# Data types the hosted service refuses in filters.
UNFILTERABLE = {"password", "serializable", "pivot_column"}
LAST_ACCESSED = "last_accessed_by_current_user"
# Not in the schema, answered for retired entities (`retired_only`), as the hosted service does.
RETIREMENT_DATE = "retirement_date"
AUTHORED = {"Note", "Reply"}
TRANSIENT_THUMBNAIL = "/images/status/transient/thumbnail_pending.png"

Link = dict[str, Any]


class ServiceFault(Exception):
    """Answered as {"exception": true, "message": ..., "error_code": ...}: the client raises Fault."""

    def __init__(self, message: str, code: int = ERR_GENERIC) -> None:
        super().__init__(message)
        self.code = code


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _link(value: Any) -> Link:
    return {"type": str(value["type"]), "id": int(value["id"])}


class Reader:
    """Resolves values (dotted paths too) and link names for one request, caching rows it loads."""

    def __init__(
        self,
        storage: Storage,
        base_url: str,
        sign: Callable[[int], str] | None = None,
        name_field: Callable[[str], str] = Schema.default().name_field,
    ) -> None:
        self.storage = storage
        self._name_field = name_field
        self.base_url = base_url
        self._sign = sign
        self.user: Link | None = None  # the requester, for per-user fields
        self.clock: Callable[[], float] = time.monotonic
        self._rows: dict[tuple[str, int], Row | None] = {}

    def row(self, entity_type: str, entity_id: int) -> Row | None:
        key = (entity_type, int(entity_id))
        if key not in self._rows:
            self._rows[key] = self.storage.get(entity_type, int(entity_id))
        return self._rows[key]

    def live(self, link: dict[str, Any]) -> bool:
        """False for a link to a retired (or missing) entity."""
        row = self.row(str(link["type"]), int(link["id"]))
        return row is not None and not row.retired

    def forget(self, entity_type: str, entity_id: int) -> None:
        """Drop a row written since it was read (a batch shares one reader across its calls)."""
        self._rows.pop((entity_type, int(entity_id)), None)

    def name_of(self, link: dict[str, Any]) -> str:
        row = self.row(str(link["type"]), int(link["id"]))
        if row is None:
            return ""
        return str(row.data.get(self._name_field(row.type)) or "")

    def raw(self, row: Row, path: str) -> Any:
        """The stored value at `path` (`code`, `entity.Shot.code`, `entity.Shot.sg_sequence.Sequence.code`)."""
        field, _, rest = path.partition(".")
        if field == "id":
            value: Any = row.id
        elif field == "type":
            value = row.type
        elif field == RETIREMENT_DATE:
            value = row.data.get("_retired_at") if row.retired else None
        elif field == LAST_ACCESSED:
            who = f"{self.user['type']}:{self.user['id']}" if self.user else ""
            value = (row.data.get("_last_accessed") or {}).get(who)
        else:
            value = row.data.get(field)
        if not rest:
            return value
        wanted_type, _, deeper = rest.partition(".")
        if not deeper:
            raise ServiceFault(f"API read() invalid field path '{path}': use field.EntityType.field")
        links = value if isinstance(value, list) else [value]
        found = []
        for link in links:
            if isinstance(link, dict) and link.get("type") == wanted_type:
                target = self.row(wanted_type, int(link["id"]))
                if target is not None and not target.retired:  # a retired entity reads as no link
                    found.append(self.raw(target, deeper))
        if isinstance(value, list):
            return found
        return found[0] if found else None

    def render(self, fdef: FieldDef | None, value: Any) -> Any:
        if value is None and fdef is not None and fdef.data_type == "checkbox":
            return bool(fdef.default_value)  # the hosted service never answers None for a checkbox
        if value is None or fdef is None:
            return value
        # a link to a retired entity reads as no link, as on the hosted service (the event log's
        # `entity` of a retired shot is None while it stays retired)
        if fdef.data_type == "entity" and isinstance(value, dict):
            return {**_link(value), "name": self.name_of(value)} if self.live(value) else None
        if fdef.data_type == "multi_entity" and isinstance(value, list):
            return [{**_link(v), "name": self.name_of(v)} for v in value if self.live(v)]
        if fdef.data_type == "url" and isinstance(value, dict) and value.get("link_type") == "upload":
            return {**value, "url": self.file_url(int(value["id"]))}
        if fdef.data_type == "image":
            return self.image_url(value)
        return value

    def image_url(self, value: Any) -> Any:
        """What an image field answers: the image's URL, the transient placeholder while its thumbnail is
        processed (a pending marker, kept across a restart of the server), None when there is none."""
        if isinstance(value, dict) and "pending" in value:
            ready = self.clock() >= float(value.get("ready_at", 0))
            return self.file_url(int(value["pending"])) if ready else self.transient_url()
        if isinstance(value, int):
            return self.file_url(value)
        return value

    def transient_url(self) -> str:
        """The placeholder the hosted service answers while a thumbnail is being processed."""
        return f"{self.base_url}{TRANSIENT_THUMBNAIL}"

    def file_url(self, attachment_id: int) -> str:
        """A signed download URL (like the hosted service's signed storage URLs): no cookie needed."""
        url = f"{self.base_url}/file_serve/attachment/{attachment_id}"
        return f"{url}?sig={self._sign(attachment_id)}" if self._sign else url


class Service:
    def __init__(
        self,
        storage: Storage,
        faults: Faults | None = None,
        page_size: int = 500,
        types: Schema | None = None,
    ) -> None:
        self.storage = storage
        self.schema = types or Schema.default()
        self.page_size = page_size
        self.faults = faults or Faults()
        self._sessions: dict[str, Link] = {}
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self._credentials = auth.CredentialCache()
        self.clock: Callable[[], float] = time.time  # injectable: thumbnail processing is timed on it
        self.thumbnail_delay = 0.3
        self._pending: list[tuple[str, int, str, Link, dict[str, Any]]] = []
        self.webhooks: WebhookHub | None = None  # set by the server: webhook deliveries
        self._custom: dict[str, dict[str, FieldDef]] | None = None

    def sign(self, attachment_id: int) -> str:
        return hmac.new(self._secret, str(attachment_id).encode(), hashlib.sha256).hexdigest()[:32]

    def signature_ok(self, attachment_id: int, signature: str) -> bool:
        return hmac.compare_digest(self.sign(attachment_id), signature)

    def reader(self, base_url: str, user: Link | None = None) -> Reader:
        found = Reader(self.storage, base_url, self.sign, self.schema.name_field)
        found.user, found.clock = user, self.clock
        return found

    # ---- auth -------------------------------------------------------------------------------------

    def add_script(self, script_name: str, script_key: str) -> Link:
        with self.storage.transaction():
            for row in self.storage.rows("ApiUser"):
                if row.data.get("firstname") == script_name:
                    stored = str(row.data.get("salted_password", ""))
                    if not (auth.is_current(stored) and self._credentials.verify(stored, script_key)):
                        row.data["salted_password"] = auth.hash_secret(script_key)
                        self.storage.write("ApiUser", row.id, row.data)
                    return {"type": "ApiUser", "id": row.id}
            entity_id = self.storage.next_id("ApiUser")
            data = {
                "firstname": script_name,
                "salted_password": auth.hash_secret(script_key),
                "created_at": now_text(),
            }
            self.storage.insert("ApiUser", entity_id, data)
            return {"type": "ApiUser", "id": entity_id}

    def authenticate(self, params: dict[str, Any]) -> Link:
        """The user a request acts as: session token, login/password or script name/key, then sudo."""
        user = self._credentials_user(params)
        sudo = params.get("sudo_as_login")
        if not sudo:
            return user
        if user["type"] != "ApiUser":
            raise ServiceFault(f"The user does not have permission to 'sudo': {sudo}", ERR_AUTH)
        target = self._human(str(sudo))
        if target is None:
            raise ServiceFault(f"sudo_as_login failed: no active HumanUser has the login '{sudo}'", ERR_AUTH)
        return {"type": "HumanUser", "id": target.id}

    def _human(self, login: str) -> Row | None:
        for row in self.storage.rows("HumanUser"):
            if row.data.get("login") == login and row.data.get("sg_status_list", "act") == "act":
                return row
        return None

    def _credentials_user(self, params: dict[str, Any]) -> Link:
        token = params.get("session_token")
        if token:
            with self._lock:
                user = self._sessions.get(str(token))
            if user is None:
                raise ServiceFault("Authentication failed: the session token is not valid.", ERR_AUTH)
            return user
        login, password = params.get("user_login"), params.get("user_password")
        if login and password:
            row = self._human(str(login))
            if row is None or not self._credentials.verify(
                str(row.data.get("password_proxy") or ""), password
            ):
                raise ServiceFault(f"Can't authenticate user '{login}'.", ERR_AUTH)
            return {"type": "HumanUser", "id": row.id}
        name, key = params.get("script_name"), params.get("script_key")
        if name and key:
            for row in self.storage.rows("ApiUser"):
                stored = str(row.data.get("salted_password", ""))
                if row.data.get("firstname") == name and self._credentials.verify(stored, str(key)):
                    return {"type": "ApiUser", "id": row.id}
        raise ServiceFault(
            "Can't authenticate script '%s': the script name or key is not valid." % (name or ""), ERR_AUTH
        )

    def session_token(self, user: Link) -> dict[str, Any]:
        token = secrets.token_hex(16)
        with self._lock:
            self._sessions[token] = user
        return {"session_id": token}

    def session_user(self, token: str) -> Link | None:
        with self._lock:
            return self._sessions.get(token)

    def seed_site(self, template_project: bool = True) -> None:
        """What a new hosted site holds, once per database: a few pages (the client's tests read
        Page.last_accessed) and, unless `template_project` is False, the "Template Project"."""
        if "Page" not in self.schema.types:
            return
        with self.storage.transaction():
            if self.storage.rows("Page", retired=None):
                return
            stamp = now_text()
            if template_project and "Project" in self.schema.types:
                project = {
                    "name": "Template Project",
                    "is_template": True,
                    "archived": False,
                    "sg_status": "Active",
                }
                project.update(created_at=stamp, updated_at=stamp)
                self.storage.insert("Project", self.storage.next_id("Project"), project)
            for name, category in (("Projects", "project"), ("My Tasks", "tracking"), ("Media", "media")):
                page = {
                    "name": name,
                    "ui_category": category,
                    "page_type": "dashboard",
                    "last_accessed": stamp,
                }
                page.update(created_at=stamp, updated_at=stamp)
                self.storage.insert("Page", self.storage.next_id("Page"), page)

    # ---- schema -----------------------------------------------------------------------------------

    def fields(self, entity_type: str) -> dict[str, FieldDef]:
        found = self.schema.fields(entity_type)
        if not found:
            raise ServiceFault(f"API entity type '{entity_type}' does not exist")
        found.update(self._custom_fields().get(entity_type, {}))
        return found

    def _custom_fields(self) -> dict[str, dict[str, FieldDef]]:
        """The stored custom (and updated built-in) fields by entity type, read once until they change."""
        with self._lock:
            if self._custom is None:
                custom: dict[str, dict[str, FieldDef]] = {}
                for etype, name, data_type, properties in self.storage.custom_fields():
                    custom.setdefault(etype, {})[name] = schema.custom_field(data_type, properties)
                self._custom = custom
            return self._custom

    def _fields_changed(self) -> None:
        with self._lock:
            self._custom = None

    def field(self, entity_type: str, path: str) -> FieldDef:
        """The definition of the last field of a (dotted) path; ServiceFault when any step is unknown."""
        field, _, rest = path.partition(".")
        fields = self.fields(entity_type)
        if field == "type":
            return FieldDef("entity_type", "Type", editable=False)
        if field == RETIREMENT_DATE and not rest and field not in fields:
            return FieldDef("date_time", "Date Retired", editable=False)
        if field not in fields:
            raise ServiceFault(f"API read() {entity_type}.{field} doesn't exist")
        if not rest:
            return fields[field]
        next_type, _, deeper = rest.partition(".")
        return self.field(next_type, deeper)

    def schema_entity_read(self) -> dict[str, Any]:
        return {name: schema.entity_wire(t.display_name, t.visible) for name, t in self.schema.types.items()}

    def schema_field_read(
        self, entity_type: str, field_name: str | None = None, project: Any = None
    ) -> dict[str, Any]:
        fields = self.fields(entity_type)
        if field_name is not None:
            if field_name not in fields:
                raise ServiceFault(f"API schema_field_read() {entity_type}.{field_name} doesn't exist")
            fields = {field_name: fields[field_name]}
        pid = _project_id(project)
        return {name: schema.field_wire(entity_type, name, fdef, pid) for name, fdef in fields.items()}

    def schema_read(self, project: Any = None) -> dict[str, Any]:
        return {etype: self.schema_field_read(etype, None, project) for etype in self.schema.types}

    def schema_field_create(self, entity_type: str, data_type: str, properties: list[dict[str, Any]]) -> str:
        if data_type not in schema.CREATABLE:
            raise ServiceFault(
                f"API schema_field_create() '{data_type}' is not a data type a field can be created with;"
                f" use one of {', '.join(sorted(schema.CREATABLE))}"
            )
        props = {str(p["property_name"]): p.get("value") for p in properties}
        fields = self.fields(entity_type)
        name = schema.custom_field_name(str(props.get("name") or "field"), set(fields))
        self.storage.save_field(entity_type, name, data_type, props)
        self._fields_changed()
        return name

    def schema_field_update(
        self, entity_type: str, field_name: str, properties: list[dict[str, Any]], project: Any = None
    ) -> bool:
        fdef = self.fields(entity_type).get(field_name)
        if fdef is None:
            raise ServiceFault(f"API schema_field_update() {entity_type}.{field_name} doesn't exist")
        props = {str(p["property_name"]): p.get("value") for p in properties}
        if "visible" in props:
            if not fdef.custom:
                raise ServiceFault(
                    f"API schema_field_update() {entity_type}.{field_name}: built-in fields stay visible"
                )
            shown = bool(props.pop("visible"))
            pid = _project_id(project)
            if pid is None:
                props["visible"] = shown
            else:
                props["visible_by_project"] = {
                    **(fdef.properties.get("visible_by_project") or {}),
                    str(pid): shown,
                }
        updated = schema.with_properties(fdef, props)
        stored = {
            **updated.properties,
            "name": updated.name,
            "valid_values": list(updated.valid_values),
            "valid_types": list(updated.valid_types),
            "default_value": updated.default_value,
            "builtin": not fdef.custom,
        }
        self.storage.save_field(entity_type, field_name, updated.data_type, stored)
        self._fields_changed()
        return True

    def schema_field_delete(self, entity_type: str, field_name: str) -> bool:
        fdef = self.fields(entity_type).get(field_name)
        if fdef is None or not fdef.custom:
            raise ServiceFault(f"API schema_field_delete() {entity_type}.{field_name} is not a custom field")
        self.storage.delete_field(entity_type, field_name)
        self._fields_changed()
        return True

    # ---- writes -----------------------------------------------------------------------------------

    def _normalize(self, entity_type: str, field: str, fdef: FieldDef, value: Any) -> Any:
        where = f"{entity_type}.{field}"
        if value is None:
            return None
        kind = fdef.data_type
        if kind == "entity":
            return self._checked_link(where, fdef, value)
        if kind == "multi_entity":
            if not isinstance(value, list):
                raise ServiceFault(f"API {where} expects a list of entities")
            return [self._checked_link(where, fdef, v) for v in value]
        if kind == "status_list" and value not in fdef.valid_values:
            raise ServiceFault(
                f"API {where} value '{value}' is not a valid status; valid: {', '.join(fdef.valid_values)}"
            )
        if kind == "list" and fdef.valid_values and value not in fdef.valid_values:
            raise ServiceFault(
                f"API {where} value '{value}' is not in the list; valid: {', '.join(fdef.valid_values)}"
            )
        if kind in ("number", "duration", "timecode") and not isinstance(value, int):
            raise ServiceFault(f"API {where} expects an integer, got {value!r}")
        if kind == "checkbox":
            return bool(value)
        if kind == "date":
            return _date_text(where, value)
        if kind == "date_time":
            return _datetime_text(where, value)
        if kind == "password" or field in SECRET_FIELDS:
            return auth.hash_secret(str(value))
        if kind in ("float", "percent", "currency") and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise ServiceFault(f"API {where} expects a number, got {value!r}")
        if kind == "tag_list" and not isinstance(value, list):
            raise ServiceFault(f"API {where} expects a list of tag names, got {value!r}")
        if kind == "url" and isinstance(value, dict):
            if "local_path" in value:
                return {**value, "link_type": "local"}
            if value.get("link_type") == "upload":
                return value
            return {**value, "link_type": "web"}
        return value

    def _checked_link(self, where: str, fdef: FieldDef, value: Any) -> Link:
        if not isinstance(value, dict) or "type" not in value or "id" not in value:
            raise ServiceFault(f"API {where} expects an entity dict with 'type' and 'id', got {value!r}")
        link = _link(value)
        if fdef.valid_types and link["type"] not in fdef.valid_types:
            raise ServiceFault(
                f"API {where} cannot link a {link['type']}; valid: {', '.join(fdef.valid_types)}"
            )
        if self.storage.get(link["type"], link["id"]) is None:
            raise ServiceFault(f"API {where}: {link['type']} {link['id']} does not exist")
        return link

    def _project_of(self, entity_type: str, entity_id: int, data: dict[str, Any]) -> Link | None:
        if entity_type == "Project":
            return {"type": "Project", "id": entity_id}
        project = data.get("project")
        return _link(project) if isinstance(project, dict) else None

    def _event(
        self,
        user: Link,
        entity_type: str,
        entity_id: int,
        data: dict[str, Any],
        suffix: str,
        meta: dict[str, Any],
        attribute: str | None = None,
        description: str = "",
    ) -> None:
        if entity_type in NO_EVENTS:
            return
        event_id = self.storage.next_id("EventLogEntry")
        event = {
            "event_type": f"Shotgun_{entity_type}_{suffix}",
            "attribute_name": attribute,
            "meta": {"entity_type": entity_type, "entity_id": entity_id, **meta},
            "entity": {"type": entity_type, "id": entity_id},
            "project": self._project_of(entity_type, entity_id, data),
            "user": user,
            "description": description,
            "session_uuid": None,
            "created_at": now_text(),
            "created_by": user,
        }
        self.storage.insert("EventLogEntry", event_id, event)

    def _change_events(
        self,
        user: Link,
        entity_type: str,
        entity_id: int,
        data: dict[str, Any],
        changes: list[tuple[str, FieldDef, Any, Any]],
        in_create: bool,
        reader: Reader,
    ) -> None:
        for field, fdef, old, new in changes:
            meta: dict[str, Any] = {
                "type": "attribute_change",
                "attribute_name": field,
                "field_data_type": fdef.data_type,
            }
            if fdef.data_type == "multi_entity":
                # what joined and what left, not the whole lists (as the hosted service logs them):
                # each event stays small however many links the field holds
                added, removed = mirror.added_and_removed(old, new)
                meta["added"] = [reader.render(schema.LINK, v) for v in added]
                meta["removed"] = [reader.render(schema.LINK, v) for v in removed]
                what = f"added {len(added)}, removed {len(removed)}"
            else:
                meta["old_value"] = reader.render(fdef, old)
                meta["new_value"] = reader.render(fdef, new)
                what = f'from "{old}" to "{new}"'
            if in_create:
                meta["in_create"] = True
            description = f'changed "{fdef.name or field}" {what} on {entity_type} {entity_id}'
            self._event(user, entity_type, entity_id, data, "Change", meta, field, description)

    def create(
        self,
        user: Link,
        entity_type: str,
        field_list: list[dict[str, Any]],
        return_fields: list[str],
        base: str,
        reader: Reader | None = None,
    ) -> dict[str, Any]:
        fields = self.fields(entity_type)
        reader = reader or self.reader(base)
        with self.storage.transaction():
            data: dict[str, Any] = {}
            for item in field_list:
                name = str(item["field_name"])
                if name not in fields:
                    raise ServiceFault(f"API create() {entity_type}.{name} doesn't exist")
                if name in AUTO_FIELDS:
                    continue
                data[name] = self._normalize(entity_type, name, fields[name], item.get("value"))
            for name, fdef in fields.items():
                if name not in data and fdef.default_value is not None and fdef.data_type == "status_list":
                    data[name] = fdef.default_value
            if entity_type in AUTHORED and data.get("user") is None:
                data["user"] = user  # the author of a note or reply is whoever creates it
            if entity_type == "HumanUser" and not data.get("name"):
                # a person's name is made of their first and last names, as the hosted service makes it
                data["name"] = (
                    " ".join(str(data[k]) for k in ("firstname", "lastname") if data.get(k)) or None
                )
            stamp = now_text()
            data.update(created_at=stamp, updated_at=stamp, created_by=user, updated_by=user)
            entity_id = self.storage.next_id(entity_type)
            self.storage.insert(entity_type, entity_id, data)
            reader.forget(entity_type, entity_id)
            self._event(user, entity_type, entity_id, data, "New", {"type": "new_entity"}, None, "created")
            changes = [
                (n, fields[n], None, v) for n, v in data.items() if n not in AUTO_FIELDS and v is not None
            ]
            self._change_events(user, entity_type, entity_id, data, changes, True, reader)
            self._mirror(user, entity_type, entity_id, changes, reader)
        row = Row(entity_type, entity_id, False, data)
        wanted = [str(i["field_name"]) for i in field_list] + list(return_fields or [])
        return self.record(row, wanted, reader)

    def update(
        self,
        user: Link,
        entity_type: str,
        entity_id: int,
        field_list: list[dict[str, Any]],
        base: str,
        reader: Reader | None = None,
    ) -> dict[str, Any]:
        fields = self.fields(entity_type)
        reader = reader or self.reader(base)
        with self.storage.transaction():
            row = self.storage.get(entity_type, int(entity_id))
            if row is None or row.retired:
                raise ServiceFault(f"API update() {entity_type} {entity_id} does not exist")
            changes: list[tuple[str, FieldDef, Any, Any]] = []
            for item in field_list:
                name = str(item["field_name"])
                fdef = fields.get(name)
                if fdef is None:
                    raise ServiceFault(f"API update() {entity_type}.{name} doesn't exist")
                if not fdef.editable and name not in ("image",):
                    raise ServiceFault(f"API update() {entity_type}.{name} is not editable")
                old = row.data.get(name)
                new = self._normalize(entity_type, name, fdef, item.get("value"))
                mode = item.get("multi_entity_update_mode", "set")
                if fdef.data_type == "multi_entity" and mode in ("add", "remove"):
                    new = _merge_links(old or [], new or [], mode)
                if new != old:
                    row.data[name] = new
                    changes.append((name, fdef, old, new))
            if changes:
                row.data.update(updated_at=now_text(), updated_by=user)
                self.storage.write(entity_type, row.id, row.data)
                reader.forget(entity_type, row.id)
                self._change_events(user, entity_type, row.id, row.data, changes, False, reader)
                self._mirror(user, entity_type, row.id, changes, reader)
        return self.record(row, [str(i["field_name"]) for i in field_list], reader)

    def _mirror(
        self,
        user: Link,
        entity_type: str,
        entity_id: int,
        changes: list[tuple[str, FieldDef, Any, Any]],
        reader: Reader,
    ) -> None:
        """The other side of each paired link field that changed (mirror.py), with its change events."""
        me = {"type": entity_type, "id": entity_id}
        for field, fdef, old, new in changes:
            if fdef.data_type not in ("entity", "multi_entity"):
                continue
            added, removed = mirror.added_and_removed(old, new)
            for link, joined in [(a, True) for a in added] + [(r, False) for r in removed]:
                other = mirror.partner(entity_type, field, str(link["type"]), self._has_field)
                if other is not None:
                    self._mirror_one(user, link, other, me, joined, reader)

    def _has_field(self, entity_type: str, field: str) -> bool:
        return field in self.fields(entity_type)

    def _mirror_one(self, user: Link, link: Link, field: str, me: Link, joined: bool, reader: Reader) -> None:
        row = self.storage.get(str(link["type"]), int(link["id"]))
        if row is None or row.retired:
            return
        fdef = self.fields(row.type)[field]
        multi = fdef.data_type == "multi_entity"
        old = row.data.get(field)
        new = mirror.with_link(old, me, multi) if joined else mirror.without_link(old, me, multi)
        if new == old:
            return
        row.data[field] = new
        self.storage.write(row.type, row.id, row.data)
        reader.forget(row.type, row.id)
        self._change_events(user, row.type, row.id, row.data, [(field, fdef, old, new)], False, reader)
        if not multi and joined and isinstance(old, dict):
            # the entity left its previous owner: a shot put in another sequence leaves the old one's shots
            back = mirror.partner(row.type, field, str(old["type"]), self._has_field)
            if back is not None:
                self._mirror_one(user, old, back, {"type": row.type, "id": row.id}, False, reader)

    def delete(self, user: Link, entity_type: str, entity_id: int) -> bool:
        return self._retire(user, entity_type, entity_id, True)

    def revive(self, user: Link, entity_type: str, entity_id: int) -> bool:
        return self._retire(user, entity_type, entity_id, False)

    def _retire(self, user: Link, entity_type: str, entity_id: int, retire: bool) -> bool:
        self.fields(entity_type)
        with self.storage.transaction():
            row = self.storage.get(entity_type, int(entity_id))
            if row is None:
                raise ServiceFault(
                    f"API {'delete' if retire else 'revive'}() {entity_type} {entity_id} does not exist"
                )
            if row.retired == retire:
                return False
            self.storage.set_retired(entity_type, row.id, retire)
            row.data["_retired_at"] = now_text() if retire else None
            self.storage.write(entity_type, row.id, row.data)
            kind, suffix = ("entity_retirement", "Retirement") if retire else ("entity_revival", "Revival")
            self._event(
                user, entity_type, row.id, row.data, suffix, {"type": kind, "class_name": entity_type}
            )
        return True

    def batch(self, user: Link, calls: list[dict[str, Any]], base: str) -> list[Any]:
        results: list[Any] = []
        reader = self.reader(base)  # one for the whole batch: the names it renders are read once
        with self.storage.transaction():
            for call in calls:
                kind, entity_type = call.get("request_type"), str(call.get("type"))
                if kind == "create":
                    fields, returned = call.get("fields") or [], call.get("return_fields") or []
                    results.append(self.create(user, entity_type, fields, returned, base, reader))
                elif kind == "update":
                    fields, entity_id = call.get("fields") or [], int(call["id"])
                    results.append(self.update(user, entity_type, entity_id, fields, base, reader))
                elif kind == "delete":
                    results.append(self.delete(user, entity_type, int(call["id"])))
                    reader.forget(entity_type, int(call["id"]))
                else:
                    raise ServiceFault(f"API batch() invalid request_type '{kind}'")
        return results

    # ---- reads ------------------------------------------------------------------------------------

    def record(self, row: Row, wanted: list[str], reader: Reader) -> dict[str, Any]:
        record: dict[str, Any] = {"type": row.type, "id": row.id}
        for path in wanted:
            if path in ("type", "id"):
                continue
            try:
                fdef = self.field(row.type, path)
            except ServiceFault:
                continue  # like ShotGrid, unknown return fields are left out quietly
            secret = fdef.data_type == "password" or path.rpartition(".")[2] in SECRET_FIELDS
            record[path] = None if secret else reader.render(fdef, reader.raw(row, path))
        return record

    def check_filter(self, entity_type: str, group: Any) -> None:
        """Fault (as the hosted service does) for a filter tree it would refuse."""
        try:
            conditions = filters.leaf_conditions(group)
        except filters.FilterError as exc:
            raise ServiceFault(f"API read() {exc}") from None
        for condition in conditions:
            path = str(condition["path"])
            fdef = self.field(entity_type, path)
            values = condition.get("values")
            if fdef.data_type in UNFILTERABLE or path.rpartition(".")[2] in SECRET_FIELDS:
                raise ServiceFault(
                    f"API read() {entity_type}.{path} ({fdef.data_type}) cannot be filtered on"
                )
            if fdef.data_type == "image" and values not in (None, [None], []):
                raise ServiceFault(f"API read() {entity_type}.{path}: image fields filter only against None")
            try:
                filters.check_relation(str(condition.get("relation")), values)
            except filters.FilterError as exc:
                raise ServiceFault(f"API read() {entity_type}.{path}: {exc}") from None

    def select(
        self,
        entity_type: str,
        group: Any,
        reader: Reader,
        include_archived: bool = True,
        retired: bool = False,
    ) -> list[Row]:
        """The rows of `entity_type` matching the filter tree (validated first)."""
        self.fields(entity_type)
        group = group or {"logical_operator": "and", "conditions": []}
        self.check_filter(entity_type, group)
        bounds = filters.id_bounds(group)
        rows = self.storage.rows(entity_type, retired, bounds.min_id, bounds.ids)
        if entity_type == "EventLogEntry":
            rows = [r for r in rows if self.faults.event_visible(r.id)]
        if not include_archived:
            rows = [r for r in rows if not self._archived(r, reader)]
        try:
            return [r for r in rows if filters.matches(group, _getter(reader, r), reader.name_of)]
        except filters.FilterError as exc:
            raise ServiceFault(f"API read() {exc}") from exc

    def _archived(self, row: Row, reader: Reader) -> bool:
        project = self._project_of(row.type, row.id, row.data)
        if project is None:
            return False
        found = reader.row("Project", int(project["id"]))
        return bool(found and found.data.get("archived"))

    def read(self, params: dict[str, Any], base: str, user: Link | None = None) -> dict[str, Any]:
        entity_type = str(params["type"])
        reader = self.reader(base, user)
        retired = params.get("return_only", "active") == "retired"
        include_archived = params.get("include_archived_projects", True) is not False
        found = self.select(entity_type, params.get("filters"), reader, include_archived, retired)
        if "additional_filter_presets" in params:
            try:
                found = presets.apply(params["additional_filter_presets"], found)
            except presets.PresetError as exc:
                raise ServiceFault(f"API read() {exc}") from None
        for sort in reversed(params.get("sorts") or []):
            field = str(sort["field_name"])
            self.field(entity_type, field)
            found.sort(key=_sort_key(reader, field), reverse=sort.get("direction") == "desc")
        paging = params.get("paging") or {}
        per_page = int(paging.get("entities_per_page") or 500)
        page = max(1, int(paging.get("current_page") or 1))
        chunk = found[(page - 1) * per_page : page * per_page]
        wanted = list(params.get("return_fields") or ["id"])
        entities = [self.record(r, wanted, reader) for r in chunk]
        result: dict[str, Any] = {"entities": entities}
        if params.get("return_paging_info_without_counts"):
            result["paging_info"] = {"has_next_page": page * per_page < len(found)}
        elif params.get("return_paging_info"):
            result["paging_info"] = {
                "entity_count": len(found),
                "current_page": page,
                "page_count": -(-len(found) // per_page),
            }
        return result

    # ---- files ------------------------------------------------------------------------------------

    def attach(
        self,
        user: Link,
        entity_type: str,
        entity_id: int,
        filename: str,
        content_type: str,
        content: bytes,
        field_name: str | None,
        display_name: str | None,
        thumbnail: bool,
        tag_list: str | None = None,
        thumbnail_field: str = "image",
        created_at: str | None = None,
    ) -> int:
        """Store an uploaded file as an Attachment linked to the entity; set `field_name` (or image) to it."""
        fields = self.fields(entity_type)
        if field_name is not None and not thumbnail:
            fdef = fields.get(field_name)
            if fdef is None or fdef.data_type != "url":
                raise ServiceFault(f"API upload {entity_type}.{field_name} is not a File/Link field")
        with self.storage.transaction():
            target = self.storage.get(entity_type, int(entity_id))
            if target is None or target.retired:
                raise ServiceFault(f"API upload {entity_type} {entity_id} does not exist")
            attachment_id = self.storage.next_id("Attachment")
            self.storage.save_file(attachment_id, filename, content_type, content)
            link = {"type": entity_type, "id": int(entity_id)}
            stored = {
                "link_type": "upload",
                "type": "Attachment",
                "id": attachment_id,
                "name": display_name or filename,
                "content_type": content_type,
            }
            data = {
                "this_file": stored,
                "filename": filename,
                "file_size": len(content),
                "display_name": display_name or filename,
                "attachment_links": [] if thumbnail else [link],
                "project": self._project_of(entity_type, int(entity_id), target.data),
                "tag_list": [t.strip() for t in (tag_list or "").split(",") if t.strip()],
                "created_at": _datetime_text("upload() created_at", created_at) if created_at else now_text(),
                "created_by": user,
            }
            self.storage.insert("Attachment", attachment_id, data)
            self._event(
                user, "Attachment", attachment_id, data, "New", {"type": "new_entity"}, None, "uploaded"
            )
            if thumbnail:
                self._set_thumbnail(user, entity_type, int(entity_id), thumbnail_field, attachment_id)
            elif field_name is not None:
                self.update(
                    user, entity_type, int(entity_id), [{"field_name": field_name, "value": stored}], ""
                )
        return attachment_id

    def _set_thumbnail(
        self, user: Link, entity_type: str, entity_id: int, field: str, attachment_id: int
    ) -> None:
        """Like the hosted service: the field shows the transient placeholder until the thumbnail is
        "processed" (`thumbnail_delay` seconds on `clock`), then the image; one change event each."""
        pending = {"pending": attachment_id, "ready_at": self.clock() + self.thumbnail_delay}
        value: Any = pending if self.thumbnail_delay > 0 else attachment_id
        self.update(user, entity_type, entity_id, [{"field_name": field, "value": value}], "")
        if self.thumbnail_delay > 0:
            with self._lock:
                self._pending.append((entity_type, entity_id, field, user, pending))

    def share_thumbnail(
        self, user: Link, source: tuple[str, int], targets: list[tuple[str, int]], field: str
    ) -> int | None:
        """Set `field` of every target to the source's thumbnail; None while that one is transient."""
        row = self.storage.get(*source)
        if row is None or row.retired:
            raise ServiceFault(f"share_thumbnail: {source[0]} {source[1]} does not exist")
        value = row.data.get(field)
        if isinstance(value, dict) and "pending" in value:
            if self.clock() < float(value.get("ready_at", 0)):
                return None
            value = int(value["pending"])
        if not isinstance(value, int):
            raise ServiceFault(f"share_thumbnail: {source[0]} {source[1]} has no {field} to share")
        with self.storage.transaction():
            for entity_type, entity_id in targets:
                self.update(user, entity_type, entity_id, [{"field_name": field, "value": value}], "")
        return value

    def settle_thumbnails(self, base: str) -> None:
        """Finish the thumbnails whose processing time has passed: store the image, log the change."""
        now = self.clock()
        with self._lock:
            done = [p for p in self._pending if p[4]["ready_at"] <= now]
            self._pending = [p for p in self._pending if p[4]["ready_at"] > now]
        reader = self.reader(base)
        for entity_type, entity_id, field, user, pending in done:
            with self.storage.transaction():
                row = self.storage.get(entity_type, entity_id)
                if row is None or row.data.get(field) != pending:
                    continue
                row.data[field] = pending["pending"]
                self.storage.write(entity_type, entity_id, row.data)
                meta = {
                    "type": "attribute_change",
                    "attribute_name": field,
                    "field_data_type": "image",
                    "old_value": reader.transient_url(),
                    "new_value": reader.file_url(int(pending["pending"])),
                }
                self._event(user, entity_type, entity_id, row.data, "Change", meta, field, "thumbnail ready")

    def file(self, attachment_id: int) -> tuple[str, str, bytes] | None:
        return self.storage.load_file(attachment_id)


def _project_id(project: Any) -> int | None:
    if project is None:
        return None
    if (
        not isinstance(project, dict)
        or project.get("type") != "Project"
        or not isinstance(project.get("id"), int)
    ):
        raise ServiceFault(
            f"API schema call: project must be {{'type': 'Project', 'id': int}}, got {project!r}"
        )
    return int(project["id"])


def _date_text(where: str, value: Any) -> str:
    """A date field's value as the client sends a `datetime.date`: `YYYY-MM-DD`."""
    try:
        if isinstance(value, str) and len(value) == 10:
            return datetime.strptime(value, "%Y-%m-%d").strftime("%Y-%m-%d")
    except ValueError:
        pass
    raise ServiceFault(f"API {where} expects a date (datetime.date or 'YYYY-MM-DD'), got {value!r}")


def _datetime_text(where: str, value: Any) -> str:
    """A date_time field's value in UTC, `YYYY-MM-DDTHH:MM:SSZ`, as the client sends a datetime; an ISO
    text with an offset is converted, one without is taken as UTC."""
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
    if moment is None or "T" not in value:
        raise ServiceFault(
            f"API {where} expects a date and time (datetime.datetime or 'YYYY-MM-DDTHH:MM:SSZ'), "
            f"got {value!r}"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _getter(reader: Reader, row: Row) -> Callable[[str], Any]:
    return lambda path: reader.raw(row, path)


def _merge_links(old: list[Link], new: list[Link], mode: str) -> list[Link]:
    new_keys = {(v["type"], v["id"]) for v in new}
    if mode == "remove":
        return [v for v in old if (v["type"], v["id"]) not in new_keys]
    old_keys = {(v["type"], v["id"]) for v in old}
    return old + [v for v in new if (v["type"], v["id"]) not in old_keys]


def _sort_key(reader: Reader, field: str) -> Callable[[Row], tuple[int, Any]]:
    def key(row: Row) -> tuple[int, Any]:
        value = reader.raw(row, field)
        if isinstance(value, dict) and "type" in value:
            value = reader.name_of(value).lower()
        elif isinstance(value, list):
            value = len(value)
        elif isinstance(value, str):
            value = value.lower()
        if value is None:
            return (1, 0)
        if isinstance(value, bool | int | float):
            return (0, (0, float(value), ""))
        return (0, (1, 0.0, str(value)))

    return key
