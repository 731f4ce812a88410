"""Uploads: extra_data (str, bytes, mapping) and multipart with files streamed from disk.

Checked by what the loopback server received, through the public API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest
from tls_helpers import EchoServer, Seen, echo_server

import netstack
from netstack import HttpError, MultiFormData
from netstack.errors import READ_LOCAL_FILE
from netstack.multipart import multipart_body


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with echo_server() as record:
        yield record


@pytest.fixture(scope="module")
def scheduler() -> Iterator[netstack.Scheduler]:
    with netstack.Scheduler(max_workers=4, name="uploads") as sched:
        yield sched


def post(scheduler: netstack.Scheduler, url: str, options: dict[str, Any], **events: Any) -> Any:
    http = netstack.create_http(scheduler)
    for name, callback in events.items():
        http.on(name, callback)
    return http.request(url, {"method": "POST", "usingCache": False, **options}).result(30)


def test_str_is_sent_as_utf8(scheduler: netstack.Scheduler, server: EchoServer) -> None:
    post(scheduler, server.url + "/echo", {"extraData": "héllo"})
    assert server.requests[-1].body == "héllo".encode()


def test_bytes_are_sent_raw(scheduler: netstack.Scheduler, server: EchoServer) -> None:
    post(scheduler, server.url + "/echo", {"extraData": b"\x00\xff\x01"})
    assert server.requests[-1].body == b"\x00\xff\x01"


def test_mapping_is_json_by_default(scheduler: netstack.Scheduler, server: EchoServer) -> None:
    post(scheduler, server.url + "/echo", {"extraData": {"a": 1, "b": ["x", "ü"]}})
    seen = server.requests[-1]
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"a": 1, "b": ["x", "ü"]}


def test_mapping_is_urlencoded_when_the_content_type_says_so(
    scheduler: netstack.Scheduler, server: EchoServer
) -> None:
    header = {"content-type": "application/x-www-form-urlencoded"}
    post(scheduler, server.url + "/echo", {"extraData": {"a": "1 2", "b": True}, "header": header})
    assert server.requests[-1].body == b"a=1+2&b=true"


def _parts(seen: Seen) -> list[Any]:
    head = f"Content-Type: {seen.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + seen.body)
    return list(message.iter_parts())  # type: ignore[attr-defined]


def test_multipart_with_data_and_streamed_file_parts(
    scheduler: netstack.Scheduler, server: EchoServer, tmp_path: Path
) -> None:
    content = os.urandom(3 * 1024 * 1024 + 5)
    path = tmp_path / "local-name.bin"
    path.write_bytes(content)
    progress: list[tuple[int, int]] = []
    parts = [
        MultiFormData(name="title", content_type="text/plain", data="a title"),
        MultiFormData(name="meta", content_type="application/json", data={"k": "v"}),
        MultiFormData(
            name="file",
            content_type="application/octet-stream",
            remote_file_name="remote.bin",
            file_path=str(path),
        ),
    ]
    resp = post(
        scheduler,
        server.url + "/echo",
        {"header": {"content-type": "multipart/form-data"}, "multiFormDataList": parts},
        dataSendProgress=lambda info: progress.append((info.send_size, info.total_size)),
    )
    assert resp.response_code == 200
    seen = server.requests[-1]
    assert seen.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert int(seen.headers["Content-Length"]) == len(seen.body)
    assert "Transfer-Encoding" not in seen.headers
    title, meta, file = _parts(seen)
    assert (title.get_param("name", header="content-disposition"), title.get_content()) == (
        "title",
        "a title",
    )
    assert json.loads(meta.get_payload(decode=True)) == {"k": "v"}
    assert file.get_filename() == "remote.bin"
    assert file.get_content_type() == "application/octet-stream"
    assert file.get_payload(decode=True) == content
    # dataSendProgress follows the bytes as they go out, ending at the total
    assert len(progress) > 10
    assert progress[-1] == (len(seen.body), len(seen.body))
    assert [sent for sent, _ in progress] == sorted(sent for sent, _ in progress)


def test_file_name_defaults_to_the_local_basename(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"png")
    body = multipart_body([MultiFormData(name="f", content_type="", file_path=str(path))], "B")
    data = b"".join(body)
    assert len(data) == len(body)
    assert b'filename="photo.png"' in data
    assert b"Content-Type: image/png" in data


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_file_is_2300026(
    scheduler: netstack.Scheduler, server: EchoServer, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "absent.bin" if kind == "missing" else tmp_path
    parts = [MultiFormData(name="f", content_type="text/plain", file_path=str(path))]
    with pytest.raises(HttpError) as info:
        post(
            scheduler,
            server.url + "/echo",
            {"header": {"content-type": "multipart/form-data"}, "multiFormDataList": parts},
        )
    assert info.value.code == READ_LOCAL_FILE


def test_files_are_streamed_not_read_whole(server: EchoServer, tmp_path: Path) -> None:
    """A 40 MB upload keeps the client's traced peak far below the file's size."""
    path = tmp_path / "big.bin"
    with open(path, "wb") as file:
        file.truncate(40 * 1024 * 1024)
    script = textwrap.dedent(
        f"""
        import tracemalloc, netstack
        tracemalloc.start()
        with netstack.Scheduler(max_workers=1) as s:
            part = netstack.MultiFormData(name="f", content_type="x/y", file_path={str(path)!r})
            r = netstack.create_http(s).request({server.url + "/echo"!r}, {{"method": "POST",
                "header": {{"content-type": "multipart/form-data"}}, "multiFormDataList": [part]}}
            ).result(60)
        print(r.response_code, tracemalloc.get_traced_memory()[1])
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    ).stdout.split()
    assert int(out[0]) == 200
    assert int(out[1]) < 8 * 1024 * 1024, out
    assert len(server.requests[-1].body) > 40 * 1024 * 1024
