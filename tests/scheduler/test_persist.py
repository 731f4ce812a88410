"""Resumable queues: shutdown(persist=PATH) writes waiting requests, a new process resumes them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from policy_servers import origins
from scheduler_fakes import FakeJob

from netstack import (
    ClientCert,
    HttpError,
    HttpProxy,
    HttpRequestOptions,
    MultiFormData,
    RequestMethod,
    RetryPolicy,
    Scheduler,
)
from netstack.scheduler.persist import read_queue, record, write_queue
from netstack.validation import resolve_options


def paused(**kwargs: object) -> tuple[Scheduler, threading.Event]:
    scheduler = Scheduler(max_workers=1, **kwargs)  # type: ignore[arg-type]
    gate = threading.Event()
    job = FakeJob("gate", host="gate-host", gate=gate)
    scheduler.jobs.submit(job)
    assert job.started.wait(10)
    return scheduler, gate


OPTIONS = [
    HttpRequestOptions(),
    HttpRequestOptions(
        method=RequestMethod.POST,
        extra_data=b"\x00\xffbinary",
        header={"Authorization": "Bearer t", "X-N": "1"},
        read_timeout=5000,
        priority=7,
        tag="crawl",
        retry=RetryPolicy(attempts=5, statuses=frozenset({503}), methods=frozenset({"POST"})),
    ),
    HttpRequestOptions(
        extra_data={"q": "x", "n": [1, 2]},
        using_proxy=HttpProxy("proxy.test", 3128, ("*.local",)),
        client_cert=ClientCert(cert_path="/c.pem", key_path="/k.pem", key_password="pw"),
        dns_servers=("1.1.1.1",),
        multi_form_data_list=(
            MultiFormData(name="f", content_type="application/octet-stream", data=b"\x01"),
        ),
        retry=0,
    ),
]


@pytest.mark.parametrize("options", OPTIONS)
def test_options_survive_the_round_trip(tmp_path: Path, options: HttpRequestOptions) -> None:
    resolved = resolve_options(options)
    path = tmp_path / "q.json"
    write_queue(path, [record("http://h/x", resolved, resolved.priority, resolved.tag)])
    [(url, mapping)] = read_queue(path)
    assert url == "http://h/x"
    assert resolve_options(mapping) == resolved


def test_read_queue_rejects_what_it_did_not_write(tmp_path: Path) -> None:
    cases = {"missing.json": None, "bad.json": "{", "other.json": json.dumps({"format": "x"})}
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(HttpError) as info:
            read_queue(tmp_path / name)
        assert info.value.code == 401


@pytest.mark.timeout(30)
def test_shutdown_persist_writes_waiting_requests_atomically_and_cancels_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue.json"
    path.write_text("old")
    scheduler, gate = paused()
    try:
        futures = [
            scheduler.submit("http://127.0.0.1:9/a", {"priority": 2, "tag": "t"}),
            scheduler.submit("http://127.0.0.1:9/b", {"priority": 9, "header": {"X-K": "v"}}),
            scheduler.submit("http://127.0.0.1:9/c"),
        ]
        futures[2].set_priority(5)
        scheduler.shutdown(wait=False, persist=path)
        assert all(f.cancelled() for f in futures)
    finally:
        gate.set()
        scheduler.shutdown()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name != "queue.json"]  # no temp file left
    document = json.loads(path.read_text())
    assert [(r["url"], r["priority"], r["tag"]) for r in document["requests"]] == [
        ("http://127.0.0.1:9/b", 9, None),
        ("http://127.0.0.1:9/c", 5, None),
        ("http://127.0.0.1:9/a", 2, "t"),
    ]
    assert document["requests"][0]["options"] == {"header": {"X-K": "v"}}
    stats = scheduler.stats()
    assert (stats.cancelled, stats.completed, stats.submitted) == (3, 1, 4)


@pytest.mark.timeout(30)
def test_when_the_file_cannot_be_written_nothing_is_lost(tmp_path: Path) -> None:
    with origins(1) as (origin,):
        scheduler, gate = paused()
        futures = [scheduler.submit(f"{origin.url}/ok?i={i}") for i in range(3)]
        with pytest.raises(FileNotFoundError):
            scheduler.shutdown(wait=False, persist=tmp_path / "missing-dir" / "q.json")
        gate.set()
        scheduler.shutdown(wait=True)
        assert [f.result(timeout=0).response_code for f in futures] == [200, 200, 200]


_RESUME = textwrap.dedent(
    """
    import json, sys
    import netstack

    with netstack.Scheduler(max_workers=1, max_per_host=1) as scheduler:
        futures = scheduler.resume(sys.argv[1])
        codes = [f.result(timeout=20).response_code for f in futures]
        tags = scheduler.stats().tags
    print(json.dumps({"codes": codes, "tags": {k: v.completed for k, v in tags.items()}}))
    """
)


@pytest.mark.timeout(60)
def test_a_new_process_resumes_the_persisted_queue_in_priority_order(tmp_path: Path) -> None:
    path = tmp_path / "queue.json"
    with origins(1) as (origin,):
        scheduler, gate = paused()
        try:
            for i, priority in enumerate([3, 1, 8, 3]):
                options = {"priority": priority, "tag": "resume-me" if i % 2 else None}
                scheduler.submit(f"{origin.url}/ok?i={i}", options)
            scheduler.shutdown(wait=False, persist=path)
        finally:
            gate.set()
            scheduler.shutdown()
        assert origin.count() == 0
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run(
            [sys.executable, "-c", _RESUME, str(path)],
            capture_output=True,
            text=True,
            timeout=50,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        seen = [parse_qs(urlsplit(p).query)["i"][0] for p in origin.paths()]
    assert json.loads(done.stdout) == {"codes": [200, 200, 200, 200], "tags": {"resume-me": 2}}
    assert seen == ["2", "0", "3", "1"]  # priority 8, then 3 (in submission order), then 1
