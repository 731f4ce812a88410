"""The benchmark report: netstack against its peers, plus every focused benchmark.

    pip install -e '.[bench]'
    python benchmarks/run.py            # the full run, for docs/benchmarks.md
    python benchmarks/run.py --quick    # a short run that proves the harness works

Part 1 starts a local origin in its own process (nginx when it is installed,
see ``benchmarks/nginx.py`` for how; else ``benchmarks/origin.py``, an asyncio
keep-alive server, and the report says FALLBACK), so its CPU is not counted,
pins the client and the server to different cores where there are two, and
drives it at the same concurrency with netstack, urllib3 on
a ThreadPoolExecutor, requests-futures, httpx (sync client in threads) and
aiohttp (see ``benchmarks/peers.py``). Each round measures every client once,
in a rotated order so machine noise hits all alike; the table gives medians
over rounds of throughput, client CPU per request (``time.process_time`` of
this process, all threads) and p50/p99 latency.

Part 2 runs the focused benchmarks (``benchmarks/bench_*.py``) as
subprocesses and quotes their output verbatim.

It writes docs/benchmarks.md (machine, versions, the exact command, the
tables) and docs/benchmarks.png (a bar chart).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from benchmarks.nginx import pin_client, static_origin  # noqa: E402
from benchmarks.origin import BODY  # noqa: E402
from benchmarks.peers import CLIENTS, Client  # noqa: E402

#: Focused benchmarks: script -> arguments for a --quick run (full runs use their defaults).
FOCUSED: dict[str, list[str]] = {
    "bench_cpu": ["--requests", "500", "--rounds", "2"],
    "bench_crawl": ["--pages", "2000", "--rounds", "2"],
    "bench_instructions": ["--small", "50", "--large", "100"],
    "bench_queue": ["--queued", "10000", "--rounds", "2"],
    "bench_priority": ["--backlog", "1000", "--rounds", "2"],
    "bench_cache": ["--hits", "100", "--rounds", "2"],
    "bench_stream": ["--size-mib", "64", "--rounds", "1"],
    "bench_http2": ["--requests", "500", "--rounds", "1"],
    "bench_redis": ["--sequential", "50", "--batch", "500"],
    "bench_scale": ["--queued", "20000", "--hosts", "100", "--measured", "200",
                    "--requests", "300", "--rounds", "1"],
}  # fmt: skip
VERSIONS = (
    "netstack", "urllib3", "requests", "requests-futures", "httpx", "aiohttp",
    "requests-cache", "CacheControl", "hishel", "matplotlib",
)  # fmt: skip


@dataclass(frozen=True)
class Round:
    """One client's figures in one round."""

    throughput: float  # requests per second
    cpu_us: float  # client CPU per request, microseconds
    p50_ms: float
    p99_ms: float


# -- the origin ----------------------------------------------------------------


@contextlib.contextmanager
def _origin() -> Iterator[tuple[str, str]]:
    """(base URL, label): ``BODY`` as the static file /item, from nginx when installed."""
    with tempfile.TemporaryDirectory() as site:
        Path(site, "item").write_bytes(BODY)
        with static_origin(Path(site)) as origin:
            yield origin.base, origin.label


# -- part 1: peers -------------------------------------------------------------


def _measure(client_type: type[Client], url: str, requests: int, concurrency: int) -> Round:
    client = client_type()
    client.open(url, concurrency)
    try:
        client.run(concurrency * 4)  # warm up: connections open, threads started
        cpu, wall = time.process_time(), time.perf_counter()
        latencies = client.run(requests)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        client.close()
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Round(requests / wall, cpu / requests * 1e6, cuts[49] * 1e3, cuts[98] * 1e3)


def compare(url: str, requests: int, rounds: int, concurrency: int) -> dict[str, list[Round]]:
    """Every client once per round, the order rotated each round."""
    results: dict[str, list[Round]] = {c.name: [] for c in CLIENTS}
    for number in range(rounds):
        order = CLIENTS[number % len(CLIENTS) :] + CLIENTS[: number % len(CLIENTS)]
        for client_type in order:
            measured = _measure(client_type, url, requests, concurrency)
            results[client_type.name].append(measured)
            print(
                f"  round {number + 1}/{rounds} {client_type.name:30s} "
                f"{measured.throughput:9,.0f} req/s {measured.cpu_us:7.1f} us CPU/req "
                f"p50 {measured.p50_ms:6.2f} ms p99 {measured.p99_ms:6.2f} ms",
                flush=True,
            )
    return results


def medians(results: dict[str, list[Round]]) -> dict[str, Round]:
    return {
        name: Round(
            statistics.median(r.throughput for r in rounds),
            statistics.median(r.cpu_us for r in rounds),
            statistics.median(r.p50_ms for r in rounds),
            statistics.median(r.p99_ms for r in rounds),
        )
        for name, rounds in results.items()
    }


def peers_table(table: dict[str, Round]) -> str:
    ours = table[CLIENTS[0].name]
    lines = [
        "| client | requests/s | client CPU µs/request | p50 ms | p99 ms "
        "| throughput vs netstack | CPU vs netstack |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in table.items():
        lines.append(
            f"| {name} | {r.throughput:,.0f} | {r.cpu_us:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.throughput / ours.throughput:.2f}x | {r.cpu_us / ours.cpu_us:.2f}x |"
        )
    return "\n".join(lines)


def headline(table: dict[str, Round], concurrency: int) -> str:
    ours, raw = table[CLIENTS[0].name], table["urllib3 + ThreadPoolExecutor"]
    like = table["urllib3 + ThreadPoolExecutor, 60 s timeouts"]
    best = max((r.throughput, n) for n, r in table.items() if n != CLIENTS[0].name)
    return (
        f"At {concurrency} requests in flight on loopback, netstack serves "
        f"{ours.throughput:,.0f} requests/s for {ours.cpu_us:.0f} µs of client CPU per "
        f"request: {ours.cpu_us / like.cpu_us:.2f}x the CPU of raw urllib3 on a "
        f"ThreadPoolExecutor with the same 60 s timeouts ({ours.cpu_us / raw.cpu_us:.2f}x "
        f"urllib3 without timeouts), and {ours.throughput / best[0]:.2f}x the throughput of "
        f"the fastest peer ({best[1]})."
    )


def chart(table: dict[str, Round], path: Path, concurrency: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    colors = ["#d62728" if n == CLIENTS[0].name else "#7f7f7f" for n in names]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    panels = (
        ("requests/s (higher is better)", [table[n].throughput for n in names]),
        ("client CPU µs/request (lower is better)", [table[n].cpu_us for n in names]),
        ("p99 latency, ms (lower is better)", [table[n].p99_ms for n in names]),
    )
    for axis, (title, values) in zip(axes, panels, strict=True):
        bars = axis.barh(names, values, color=colors)
        axis.bar_label(bars, fmt="%.0f" if values[0] > 100 else "%.2f", padding=3, fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.invert_yaxis()
        axis.margins(x=0.2)
    for axis in axes[1:]:
        axis.set_yticklabels([])
    figure.suptitle(f"netstack and its peers, {concurrency} requests in flight, loopback origin")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


# -- part 2: focused benchmarks ------------------------------------------------


def focused(quick: bool, timeout: float) -> list[tuple[str, str, str]]:
    """(script, command, output) for every benchmarks/bench_*.py, run as a subprocess."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    out = []
    scripts = sorted(p.stem for p in (ROOT / "benchmarks").glob("bench_*.py"))
    for name in scripts:
        args = FOCUSED.get(name, []) if quick else []
        command = [sys.executable, f"benchmarks/{name}.py", *args]
        shown = shlex.join(["python", f"benchmarks/{name}.py", *args])
        print(f"running {shown}", flush=True)
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                check=False,
            )  # fmt: skip
            text = done.stdout.rstrip()
            if done.returncode != 0:
                text += f"\n[exit status {done.returncode}]\n" + done.stderr.strip()[-2000:]
        except subprocess.TimeoutExpired:
            text = f"[timed out after {timeout:.0f} s]"
        print(f"  {time.perf_counter() - started:.1f} s", flush=True)
        out.append((name, shown, text))
    return out


# -- the report ----------------------------------------------------------------


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> str:
    found = []
    for name in VERSIONS:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            if name == "netstack":
                import netstack

                found.append(f"netstack {netstack.__version__} (source tree)")
    return ", ".join(found)


def report(
    args: argparse.Namespace,
    origin: str,
    table: dict[str, Round],
    sections: list[tuple[str, str, str]],
    png: Path,
) -> str:
    command = shlex.join(["python", "benchmarks/run.py", *sys.argv[1:]])
    out = [
        "# Benchmarks",
        "",
        "Written by `benchmarks/run.py`; do not edit by hand.",
        "" if not args.quick else "\n**A `--quick` run: too short to quote.**",
        "",
        "## Machine",
        "",
        f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores",
        f"- OS: {platform.platform()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()}",
        f"- Libraries: {_versions()}",
        f"- Origin: {origin}",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Command: `{command}`",
        "",
        "Regimes: every figure below names its origin. nginx (1 worker, static files, "
        "`access_log off`) answers faster than the clients ask, so client CPU is what is "
        "measured; a FALLBACK origin (`benchmarks/origin.py`, Python asyncio) is slower than "
        "the clients, so its figures measure waiting as much as parsing. Install nginx for "
        "the real figures: `sudo apt-get install nginx-light` (Debian/Ubuntu), `dnf install "
        "nginx` (Fedora), `brew install nginx` (macOS); only the binary is used. The client "
        "and the server are pinned to different cores where the machine has two.",
        "",
        "## netstack and its peers",
        "",
        headline(table, args.concurrency),
        "",
        f"{args.requests:,} GET requests a round, {args.concurrency} in flight (a closed loop: "
        f"a request starts when one ends), medians of {args.rounds} rounds; every client is "
        "warmed up first and measured in a rotated order each round. Client CPU is "
        "`time.process_time()` of the benchmark process (every thread); the origin runs in "
        "its own process. Latency runs from a request's start to its end. netstack always "
        "has timeouts (60 s connect and read by default, as @ohos.net.http says); urllib3 runs "
        "twice, with its default (none) and with those timeouts, the like-for-like peer: "
        "a socket with a timeout costs CPU of its own (CPython polls before every send "
        "and recv and releases the GIL twice). requests has no default timeout, httpx "
        "5 s, aiohttp 5 minutes in total.",
        "",
        peers_table(table),
        "",
        f"![netstack and its peers]({png.name})",
        "",
        "## Focused benchmarks",
        "",
        "Each runs as its own process; its output is quoted verbatim.",
    ]
    for name, shown, text in sections:
        out += ["", f"### {name}", "", f"`{shown}`", "", "```", text, "```"]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run (minutes, not hours)")
    parser.add_argument("--requests", type=int, help="requests per client per round")
    parser.add_argument("--rounds", type=int, help="rounds (medians are reported)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--png", type=Path, help="default: benchmarks.png next to --out")
    parser.add_argument("--skip-focused", action="store_true", help="only the peer comparison")
    args = parser.parse_args()
    args.requests = args.requests or (500 if args.quick else 5000)
    args.rounds = args.rounds or (2 if args.quick else 5)
    png = args.png or args.out.with_suffix(".png")

    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    pinning = pin_client()
    with _origin() as (base, label):
        origin = f"{label}; {pinning}"
        print(f"origin: {origin}", flush=True)
        results = compare(f"{base}/item", args.requests, args.rounds, args.concurrency)
    if cores is not None:
        os.sched_setaffinity(0, cores)  # the focused benchmarks split the cores themselves
    table = medians(results)
    sections = [] if args.skip_focused else focused(args.quick, 600 if args.quick else 7200)
    chart(table, png, args.concurrency)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(args, origin, table, sections, png), encoding="utf-8")
    print(headline(table, args.concurrency))
    print(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
