"""JSON records of responses and errors, as ``get --json`` and ``batch`` print them.

A response record has ``response_code``, ``header`` (one value per name,
repeated headers joined by ", "), ``cookies``, ``performance_timing`` (ms),
``from_cache``, ``url`` (the final URL, after redirects) and the body as
``result`` (text, or the parsed JSON when ``expectDataType`` asked for an
object), ``result_base64`` (bytes) or ``path`` (saved to a file). An error
record has ``error: {code, message}``. Both have ``attempts`` (sent, retries
included; 0 for an error that ended the request before anything was sent).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import mimetypes
from pathlib import Path
from typing import Any

from netstack import HttpError, HttpResponse

__all__ = ["body_bytes", "error_record", "response_record", "save_body"]


def body_bytes(response: HttpResponse) -> bytes:
    """The body as bytes, whatever ``result`` holds."""
    result = response.result
    if isinstance(result, bytes):
        return result
    if isinstance(result, str):
        return result.encode()
    return json.dumps(result, ensure_ascii=False).encode()


def response_record(response: HttpResponse, *, path: Path | None = None) -> dict[str, Any]:
    """The JSON-ready record of ``response``; with ``path``, the body was saved there."""
    header = response.header
    record: dict[str, Any] = {
        "response_code": int(response.response_code),
        "header": {name: header[name] for name in header},
        "cookies": response.cookies,
        "performance_timing": dataclasses.asdict(response.performance_timing),
        "from_cache": response.from_cache,
        "url": response.url,
        "attempts": response.attempts,
    }
    if path is not None:
        record["path"] = str(path)
    elif isinstance(response.result, bytes):
        record["result_base64"] = base64.b64encode(response.result).decode("ascii")
    else:
        record["result"] = response.result
    return record


def error_record(error: BaseException) -> dict[str, Any]:
    """``{"error": {"code", "message"}, "attempts": n}``; anything but an HttpError is 2300999."""
    if not isinstance(error, HttpError):
        error = HttpError.of(2300999, repr(error))
    message = error.message
    if error.detail and error.detail not in message:
        message = f"{message} ({error.detail})"
    return {"error": {"code": error.code, "message": message}, "attempts": error.attempts}


def save_body(directory: Path, stem: str, response: HttpResponse) -> Path:
    """Write the body to ``directory/stem.<ext>`` (extension from the content-type)."""
    content_type = response.header.get("content-type", "").split(";")[0].strip()
    extension = mimetypes.guess_extension(content_type) if content_type else None
    path = directory / f"{stem}{extension or '.bin'}"
    path.write_bytes(body_bytes(response))
    return path
