"""A redirect's Location as servers really send it: raw UTF-8, escapes, a mix, or junk.

A raw-socket server answers ``/start`` with the exact Location bytes under
test and records the request line of the hop that follows: non-ASCII bytes
are percent-encoded once (``/d\\xc3\\xa9j\\xc3\\xa0`` is ``/d%C3%A9j%C3%A0``, as
curl sends it), escapes already there are kept, and a Location that is not a
URL is 2300003.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netstack import HttpError, Scheduler
from netstack.errors import BAD_URL
from servers.raw import RawServer, raw_server, read_request, response


class LocationServer:
    """Answers ``/start`` with ``Location: <location>``, anything else with 200."""

    def __init__(self) -> None:
        self.location = b"/"
        self.lines: list[bytes] = []
        self.server: RawServer | None = None

    def handle(self, conn: socket.socket, _: int) -> None:
        with conn:  # closed after its last answer, so a pooled client never waits on it
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        for _ in range(1000):
            head = read_request(conn)
            if not head:
                return
            line = head.split(b"\r\n", 1)[0]
            self.lines.append(line)
            if line.startswith(b"GET /start "):
                conn.sendall(
                    b"HTTP/1.1 302 Found\r\nLocation: "
                    + self.location
                    + b"\r\nContent-Length: 0\r\n\r\n"
                )
            else:
                conn.sendall(response(b"landed"))

    def follow(self, scheduler: Scheduler, location: bytes) -> bytes:
        """The request target of the hop after ``/start`` (raises the request's error)."""
        assert self.server is not None
        self.location = location
        self.lines.clear()
        scheduler.submit(self.server.url("/start")).result(timeout=20)
        assert len(self.lines) == 2, self.lines
        return self.lines[1].split(b" ")[1]


@pytest.fixture(scope="module")
def origin() -> Iterator[LocationServer]:
    peer = LocationServer()
    with raw_server(peer.handle) as server:
        peer.server = server
        yield peer


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    with Scheduler(max_workers=2) as scheduler:
        yield scheduler


@pytest.mark.parametrize(
    ("location", "target"),
    [
        (b"/d\xc3\xa9j\xc3\xa0", b"/d%C3%A9j%C3%A0"),  # raw UTF-8, last byte 0xa0
        (b"/d%C3%A9j%C3%A0", b"/d%C3%A9j%C3%A0"),  # already encoded: kept
        (b"/d%c3%a9j\xc3\xa0", b"/d%C3%A9j%C3%A0"),  # mixed (urllib3 writes hex upper case)
        (b"/d\xc3\xa9j\xc3\xa0?q=\xc3\xa9&r=%C3%A9", b"/d%C3%A9j%C3%A0?q=%C3%A9&r=%C3%A9"),
        (b"/caf\xe9", b"/caf%E9"),  # not UTF-8 (latin-1): the byte as it came
        (b"  /trail\xc2\xa0  ", b"/trail%C2%A0"),  # only spaces around it are dropped
        (b"\xc3\xa9t\xc3\xa9", b"/%C3%A9t%C3%A9"),  # relative to /start
        # A "%" that starts no escape is sent as %25; the escapes beside it stay as they came
        (b"/p/%%41", b"/p/%25%41"),
        (b"/p/100%?q=%zz&r=%C3%A9", b"/p/100%25?q=%25zz&r=%C3%A9"),
        (b"/p/%0", b"/p/%250"),
        (b"/p/%\xc2\xa0%41", b"/p/%25%C2%A0%41"),
    ],
)
def test_a_location_is_requested_with_its_bytes_percent_encoded_once(
    origin: LocationServer, scheduler: Scheduler, location: bytes, target: bytes
) -> None:
    assert origin.follow(scheduler, location) == target


def test_an_absolute_location_with_raw_utf8_reaches_the_same_bytes(
    origin: LocationServer, scheduler: Scheduler
) -> None:
    assert origin.server is not None
    absolute = origin.server.url("/d\xe9j\xe0").encode("utf-8")
    assert origin.follow(scheduler, absolute) == b"/d%C3%A9j%C3%A0"


@pytest.mark.parametrize(
    "location",
    [
        b"http://[::1/",
        b"http://[::1",
        b"http://127.0.0.1:1\\@a1.example/",
        b"http://a@b@127.0.0.1/",
        b"http://b\xff.example/",  # a host that is not UTF-8
        b"http://127.1/",
    ],
)
def test_a_location_that_is_not_a_url_is_2300003(
    origin: LocationServer, scheduler: Scheduler, location: bytes
) -> None:
    with pytest.raises(HttpError) as caught:
        origin.follow(scheduler, location)
    assert caught.value.code == BAD_URL
    assert len(origin.lines) == 1  # nothing followed


path_bytes = st.lists(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=4).map(
        lambda t: t.encode("utf-8")
    )
    | st.sampled_from([b"%C3%A9", b"%2F", b"%25", b"a-b_c.d~", b"%e2%82%ac"])
    | st.binary(min_size=1, max_size=2).filter(lambda b: all(c >= 0x80 for c in b)),
    min_size=1,
    max_size=5,
).map(b"".join)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=path_bytes)
def test_any_location_path_arrives_as_the_same_bytes_in_ascii(
    origin: LocationServer, scheduler: Scheduler, raw: bytes
) -> None:
    """Percent-decoded, the request target is the Location's bytes; escapes sent stay as sent."""
    unsafe = set(b' "<>\\^`{|}#?')  # urllib3 encodes these itself, or they end the path
    if any(c in unsafe or c < 0x21 or c == 0x7F for c in raw):
        return
    target = origin.follow(scheduler, b"/p/" + raw)
    assert target.isascii()
    assert unquote_to_bytes(target) == unquote_to_bytes(b"/p/" + raw)
    for escape in re.findall(rb"%[0-9A-Fa-f]{2}", raw):
        assert escape.upper() in target.upper()  # never encoded twice


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/p/%%41", b"/p/%25%41"),
        ("/p/100%?q=%zz&r=%C3%A9#frag%", b"/p/100%25?q=%25zz&r=%C3%A9"),
        ("/p/\u00e9%41%", b"/p/%C3%A9%41%25"),  # not plain ASCII: the slow path
    ],
)
def test_a_submitted_url_sends_a_lone_percent_as_25_and_keeps_its_escapes(
    origin: LocationServer, scheduler: Scheduler, path: str, target: bytes
) -> None:
    assert origin.server is not None
    origin.lines.clear()
    scheduler.submit(origin.server.url(path)).result(timeout=20)
    assert origin.lines[0].split(b" ")[1] == target
