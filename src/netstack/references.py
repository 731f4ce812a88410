"""URI reference resolution (RFC 3986 section 5.2), for ``Location`` and ``Content-Location``.

``urllib.parse.urljoin`` resolves through ``urlparse``, which splits RFC 2396
*parameters* (``;...``) off the last path segment and drops an empty one, so
``urljoin(base, "/p/;")`` is ``.../p/``: the server's ``;`` is lost. RFC 3986
has no parameters; :func:`resolve` follows its algorithm over ``urlsplit``,
so every character of the path stays where the server put it. (An empty
query, a bare trailing ``?``, is still dropped: ``urlsplit`` cannot tell it
from none.) ValueError for what ``urlsplit`` refuses (``http://[::1/``).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["resolve"]


def resolve(base: str, reference: str) -> str:
    """``reference`` resolved against the absolute URL ``base``, as RFC 3986 5.2.2 says."""
    ref = urlsplit(reference)
    if ref.scheme and not ref.netloc:
        return reference  # "http:g": nothing to take from the base (RFC 3986, strict)
    if ref.scheme:
        return urlunsplit(
            (ref.scheme, ref.netloc, _remove_dot_segments(ref.path), ref.query, ref.fragment)
        )
    root = urlsplit(base)
    if ref.netloc:
        netloc, path, query = ref.netloc, _remove_dot_segments(ref.path), ref.query
    else:
        netloc = root.netloc
        if not ref.path:
            path, query = root.path, ref.query if "?" in reference else root.query
        elif ref.path.startswith("/"):
            path, query = _remove_dot_segments(ref.path), ref.query
        else:
            path, query = _remove_dot_segments(_merge(root.netloc, root.path, ref.path)), ref.query
    return urlunsplit((root.scheme, netloc, path, query, ref.fragment))


def _merge(netloc: str, base_path: str, path: str) -> str:
    """RFC 3986 5.2.3: a relative path against the base's."""
    if netloc and not base_path:
        return "/" + path
    return base_path[: base_path.rfind("/") + 1] + path


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4: ``.`` and ``..`` segments resolved (above the root is the root)."""
    if "." not in path:
        return path
    segments = path.split("/")
    out: list[str] = []
    for segment in segments:
        if segment == "..":
            if len(out) > 1 or (out and out[0]):
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." is "/a/", a directory
    resolved = "/".join(out)
    if path.startswith("/") and not resolved.startswith("/"):
        resolved = "/" + resolved
    return resolved
