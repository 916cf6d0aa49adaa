"""Form uploads as shotgun_api3 sends them to a server without S3 direct uploads.

`Shotgun.upload()` posts multipart/form-data to `/upload/upload_file` (field `file`) or, for thumbnails,
to `/upload/publish_thumbnail` (field `thumb_image`), with the script name/key as form fields, and reads
back `1:<attachment id>`; `download_attachment()` GETs `/file_serve/attachment/<id>` with a `_session_id`
cookie obtained from `get_session_token`.
"""

from __future__ import annotations

import mimetypes
import urllib.parse
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

UPLOAD_FILE = "/upload/upload_file"
PUBLISH_THUMBNAIL = "/upload/publish_thumbnail"
SHARE_THUMBNAIL = "/upload/share_thumbnail"
FILE_SERVE = "/file_serve/attachment/"


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    content: bytes


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)


def parse_form(content_type: str, body: bytes) -> Form:
    """Parse a multipart/form-data or urlencoded body into text fields and files."""
    form = Form()
    if content_type.lower().startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                guessed = mimetypes.guess_type(filename)[0]
                form.files[name] = UploadedFile(filename, part.get_content_type() or guessed or "", data)
            else:
                form.fields[name] = data.decode("utf-8")
        return form
    for key, value in urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True):
        form.fields[key] = value
    return form


def ok_line(attachment_id: int) -> bytes:
    return f"1:{attachment_id}\n".encode()


def error_line(message: str) -> bytes:
    return f"0\n{message}\n".encode()


def not_ready_line(message: str) -> bytes:
    """share_thumbnail's answer while the source thumbnail is still transient."""
    return f"2\n{message}\n".encode()


def entity_ref(text: str) -> tuple[str, int]:
    """`Version_12` -> ("Version", 12), as share_thumbnail names entities."""
    entity_type, _, entity_id = text.strip().rpartition("_")
    if not entity_type or not entity_id.isdigit():
        raise ValueError(f"expected Type_id, got {text!r}")
    return entity_type, int(entity_id)
