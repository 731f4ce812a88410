"""``netstack worker --redis URL``: run the requests of a shared RedisQueue until SIGTERM.

A long-running process (see ``netstack.distributed.worker``): leases
requests, runs them with ``--workers`` threads, ``--per-host`` at most per
host across every worker of the queue, records each outcome in Redis.
SIGTERM or Ctrl-C stops it gracefully: running requests get ``--grace``
seconds to finish, the rest go back to the queue; none is lost.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final

from rich.console import Console

from netstack import HttpError
from netstack.cli.batch_flags import scheduler_options
from netstack.cli.common import EXIT_OK, EXIT_USAGE, report_error

__all__ = ["EXAMPLES", "add_arguments", "run"]

EXAMPLES: Final = """\
delivery is at least once: a worker killed mid-request (kill -9, a crash)
loses its lease after --lease seconds and the request runs again on another
worker; its outcome is recorded once. Needs the extra: pip install 'netstack[redis]'.

examples:
  netstack worker --redis redis://localhost:6379/0
  netstack -v worker --redis redis://queue.internal/0 --queue crawl --workers 64 --per-host 4
  netstack worker --redis redis://localhost/0 --cache      share one response cache in Redis
  netstack worker --redis redis+sentinel://10.0.0.5:26379,10.0.0.6:26379/primary --queue crawl
  netstack worker --redis redis://localhost/0 --retry 2 --delay 0.5 --block ads.example
"""


def _rate(text: str) -> float:
    """``"5"``, ``"5/s"`` or ``"0.5/s"`` -> starts per second per host."""
    try:
        rate = float(text.strip().removesuffix("/s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected R or R/s (a number), got {text!r}") from None
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``worker``."""
    parser.add_argument("--redis", required=True, metavar="URL", help="redis:// URL of the queue")
    parser.add_argument(
        "--queue", default="netstack", metavar="NAME", help="queue name (default netstack)"
    )
    parser.add_argument(
        "--workers", type=int, default=8, metavar="N", help="requests run at once (default 8)"
    )
    parser.add_argument(
        "--per-host",
        type=int,
        metavar="N",
        help="requests in flight per host across all workers (default: as set, else 8)",
    )
    parser.add_argument(
        "--prefetch",
        type=float,
        metavar="F",
        help=(
            "leases held beyond the threads, per thread (default 1.5): more keeps "
            "threads busy with fewer Redis calls; 0 leases only for free threads "
            "(strict priority order across workers)"
        ),
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a dead worker's requests run again after this (default 30)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, wait this long for running requests (default 30)",
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="a response cache shared by every worker, in the same Redis",
    )
    group = parser.add_argument_group(
        "policies for requests that travel without them (a producer's own win; "
        "give every worker the same)"
    )
    group.add_argument(
        "--retry", type=int, metavar="N", help="retry a failed idempotent request up to N times"
    )
    group.add_argument(
        "--delay", type=float, metavar="S", help="seconds between two request starts to one host"
    )
    group.add_argument(
        "--rate", type=_rate, metavar="R/s", help="request starts per second to one host, at most"
    )
    group.add_argument(
        "--allow", action="append", metavar="HOST", help="only these hosts (every redirect hop)"
    )
    group.add_argument(
        "--block", action="append", metavar="HOST", help="never these hosts (every redirect hop)"
    )
    parser.add_argument(
        "--health",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="log a health line this often, with -v (default 30)",
    )


def run(args: argparse.Namespace) -> int:
    """Run ``worker`` until SIGTERM/SIGINT; return the exit status."""
    console = Console(stderr=True)
    for name in ("workers", "per_host"):
        value = getattr(args, name)
        if value is not None and value < 1:
            console.print(f"[red]netstack: --{name.replace('_', '-')} must be >= 1[/]")
            return EXIT_USAGE
    from netstack.distributed.worker import Worker, run_until_signal

    try:
        cache = None
        if args.cache:
            from netstack.cache import HttpResponseCache
            from netstack.distributed import RedisStorage

            prefix = f"netstack:{{{args.queue}}}:cache"
            storage = RedisStorage(args.redis, prefix)
            cache = HttpResponseCache(storage=storage, write_through=True)
        policies = scheduler_options(args)
        worker = Worker(
            args.redis,
            args.queue,
            workers=args.workers,
            per_host=args.per_host,
            **({} if args.prefetch is None else {"prefetch": args.prefetch}),
            lease=args.lease,
            grace=args.grace,
            cache=cache,
            health_interval=args.health,
            **policies,
        )
    except HttpError as error:
        return report_error(console, error, where="worker")
    print(
        f"netstack worker {worker.token}: queue {args.queue!r}, {args.workers} workers, "
        f"{worker.per_host} per host; SIGTERM stops it gracefully",
        file=sys.stderr,
        flush=True,
    )
    counts = run_until_signal(worker)
    print(
        f"netstack worker {worker.token}: stopped; {counts.completed} completed, "
        f"{counts.failed} failed, {counts.returned} returned to the queue, "
        f"{counts.round_trips} round trips to Redis",
        file=sys.stderr,
        flush=True,
    )
    return EXIT_OK
