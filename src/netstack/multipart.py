"""multipart/form-data bodies whose file parts stream from disk.

:func:`multipart_body` turns ``multi_form_data_list`` into a
:class:`MultipartBody`: an iterable of byte chunks with its exact size known
up front (so the request carries a ``Content-Length``, never chunked coding,
and ``dataSendProgress`` counts real bytes). Part headers are rendered by
urllib3's ``RequestField``, the layout is that of urllib3's
``encode_multipart_formdata``; only the file contents differ: each file is
stat'ed and opened when the body is built (an unreadable one is 2300026 at
once) and read 64 KiB at a time while the body goes out. Iterating again
(a 307/308 redirect, a retry on a stale connection) reads the files again.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Iterator, Sequence
from typing import Final

from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary

from netstack.errors import READ_LOCAL_FILE, HttpError
from netstack.options import MultiFormData

__all__ = ["MultipartBody", "multipart_body"]

_CHUNK: Final = 64 * 1024


class _File:
    """A file part's contents: a path and the size it had when the body was built."""

    __slots__ = ("path", "size")

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size


class MultipartBody:
    """A re-iterable multipart body: ``len()`` is its exact size in bytes."""

    __slots__ = ("_segments", "_size", "content_type")

    def __init__(self, segments: list[bytes | _File], boundary: str) -> None:
        self._segments = segments
        self._size = sum(len(s) if isinstance(s, bytes) else s.size for s in segments)
        #: The Content-Type header value, boundary included.
        self.content_type = f"multipart/form-data; boundary={boundary}"

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        files = sum(isinstance(s, _File) for s in self._segments)
        return f"<MultipartBody {self._size} bytes, {files} file(s)>"

    def __iter__(self) -> Iterator[bytes]:
        pending = b""
        for segment in self._segments:
            if isinstance(segment, bytes):
                pending += segment
                continue
            if pending:
                yield pending
                pending = b""
            yield from _read_file(segment)
        if pending:
            yield pending


def _read_file(part: _File) -> Iterator[bytes]:
    left = part.size
    try:
        with open(part.path, "rb") as file:
            while left > 0:
                chunk = file.read(min(_CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                yield chunk
    except OSError as exc:
        raise HttpError.of(READ_LOCAL_FILE, f"{part.path}: {exc.strerror or exc}") from exc
    if left:
        raise HttpError.of(READ_LOCAL_FILE, f"{part.path}: shrank while it was being sent")


def multipart_body(parts: Sequence[MultiFormData], boundary: str | None = None) -> MultipartBody:
    """The body for ``parts``; 2300026 when a ``file_path`` cannot be opened and read."""
    boundary = boundary or choose_boundary()
    segments: list[bytes | _File] = []
    for part in parts:
        content: bytes | _File
        if part.data is not None:
            if isinstance(part.data, bytes):
                content = part.data
            elif isinstance(part.data, str):
                content = part.data.encode("utf-8")
            else:
                content = json.dumps(part.data, ensure_ascii=False).encode("utf-8")
            filename = part.remote_file_name
        else:
            path = part.file_path or ""
            content = _open_file(path)
            filename = part.remote_file_name or os.path.basename(path)
        field = RequestField(name=part.name, data=b"", filename=filename)
        guessed = mimetypes.guess_type(filename)[0] if filename else None
        field.make_multipart(
            content_type=part.content_type or guessed or "application/octet-stream"
        )
        segments.append(f"--{boundary}\r\n".encode("latin-1"))
        segments.append(field.render_headers().encode("utf-8"))
        segments.append(content)
        segments.append(b"\r\n")
    segments.append(f"--{boundary}--\r\n".encode("latin-1"))
    return MultipartBody(segments, boundary)


def _open_file(path: str) -> _File:
    """Check now that ``path`` is a readable regular file, and note its size."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            file.read(1)  # a directory or an unreadable device fails here, not mid-upload
    except OSError as exc:
        raise HttpError.of(
            READ_LOCAL_FILE, f"{path or '(no file_path)'}: {exc.strerror or exc}"
        ) from exc
    return _File(path, size)
