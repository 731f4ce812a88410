"""A loopback origin whose answers a test scripts per path, recording every request.

``origin.script("/a", status=200, headers=[...], body=b"...", delay=0.2)``
sets what ``/a`` answers (a callable may decide per request);
``origin.requests`` lists every request seen (method, path, headers, when),
and ``origin.max_in_flight[key]`` the most requests for a key (the path and
the request's ``Accept-Language``, ``"/a|fr"``) that were being answered at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Seen:
    """One request as the origin received it."""

    method: str
    path: str
    headers: dict[str, str]
    at: float

    @property
    def key(self) -> str:
        """The path and the variant-selecting header this origin's tests use."""
        return f"{self.path}|{self.headers.get('Accept-Language', '')}"


@dataclass
class Answer:
    """What a path answers."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes = b""
    delay: float = 0.0


Script = Answer | Callable[[Seen, int], Answer]
"""An answer, or a function of the request and how many came for its path before."""


@dataclass
class ScriptedOrigin:
    """The origin's state; ``url`` is its base URL once running."""

    url: str = ""
    scripts: dict[str, Script] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(
        self,
        path: str,
        status: int = 200,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        delay: float = 0.0,
    ) -> None:
        self.scripts[path] = Answer(status, headers, body, delay)

    def seen(self, path: str, method: str | None = None) -> list[Seen]:
        with self.lock:
            return [r for r in self.requests if r.path == path and method in (None, r.method)]

    def answer(self, seen: Seen) -> Answer:
        with self.lock:
            count = sum(1 for r in self.requests if r.path == seen.path)
            self.requests.append(seen)
            self.in_flight[seen.key] += 1
            self.max_in_flight[seen.key] = max(
                self.max_in_flight[seen.key], self.in_flight[seen.key]
            )
        script = self.scripts.get(seen.path, Answer(404, (), b"no script"))
        return script(seen, count) if callable(script) else script

    def done(self, key: str) -> None:
        with self.lock:
            self.in_flight[key] -= 1


def _handler(state: ScriptedOrigin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen = Seen(self.command, self.path, dict(self.headers.items()), time.monotonic())
            answer = state.answer(seen)
            try:
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response_only(answer.status)
                names = {name.lower() for name, _ in answer.headers}
                for name, value in answer.headers:
                    self.send_header(name, value)
                if "content-length" not in names and answer.status not in (204, 304):
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD" and answer.status not in (204, 304):
                    self.wfile.write(answer.body)
            finally:
                state.done(seen.key)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = handle_one
        do_BREW = do_OPTIONS = do_PURGE = handle_one

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running_origin() -> Iterator[ScriptedOrigin]:
    """Start a scripted origin on 127.0.0.1; stop it on exit."""
    state = ScriptedOrigin()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
