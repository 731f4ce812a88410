"""The ``netstack`` command: ``get``, ``batch``, ``worker``, ``demo`` and ``serve``.

``main`` is the console script's entry point (``netstack.cli:main``). Each
command lives in its own module; logging is configured here, for this
process only, from ``-v``/``--log-json`` (see :mod:`netstack.cli.logs`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from netstack import __version__

__all__ = ["main"]

_DESCRIPTION = """\
HTTP requests scheduled on a thread pool: priorities, per-host limits,
an RFC 9111 response cache.

examples:
  netstack demo                                   an offline tour (no network needed)
  netstack get -i https://example.org/            one request
  netstack batch urls.jsonl > results.jsonl       many, from JSON Lines
  netstack worker --redis redis://host/0          run a shared Redis queue's requests
  netstack serve                                  a local origin on 127.0.0.1:8000 to try it on

Run `netstack COMMAND --help` for a command's flags and more examples.
"""

_DEMO_EXAMPLES = """\
It starts an origin on 127.0.0.1 (slow, cacheable and large endpoints), keeps
the workers busy, submits requests of mixed priorities, then submits the same
batch again. The report shows that higher priorities started and finished
first, and that the second pass came from the response cache. No network
access is needed; it takes a few seconds.

examples:
  netstack demo
  netstack demo --requests 60
  netstack -vv demo 2> events.log      every request's state change, on stderr
"""


def _logging_flags(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="logs on stderr: -v failures, -vv every request event",
    )
    parser.add_argument(
        "--log-json", action="store_true", default=default, help="logs as JSON, one object a line"
    )


def _parser() -> argparse.ArgumentParser:
    from netstack.cli import batch, get, serve, worker

    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="netstack", description=_DESCRIPTION, formatter_class=formatter
    )
    parser.add_argument("--version", action="version", version=f"netstack {__version__}")
    _logging_flags(parser, default=None)
    # The flags are accepted after the command too; SUPPRESS keeps the top-level value.
    common = argparse.ArgumentParser(add_help=False)
    _logging_flags(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    get_parser = commands.add_parser(
        "get",
        parents=[common],
        formatter_class=formatter,
        epilog=get.EXAMPLES,
        help="one request, the body to stdout",
        description="One request, the body to stdout.",
    )
    get.add_arguments(get_parser)
    batch_parser = commands.add_parser(
        "batch",
        parents=[common],
        formatter_class=formatter,
        epilog=batch.EXAMPLES,
        help="many requests from JSON Lines, results as JSON Lines",
        description="Many requests from JSON Lines (a file or stdin), results as JSON Lines.",
    )
    batch.add_arguments(batch_parser)
    batch_parser.add_argument(
        "--redis",
        metavar="URL",
        help="enqueue the lines into a shared Redis queue for `netstack worker`s, then exit",
    )
    batch_parser.add_argument(
        "--queue", default="netstack", metavar="NAME", help="with --redis: the queue name"
    )
    worker_parser = commands.add_parser(
        "worker",
        parents=[common],
        formatter_class=formatter,
        epilog=worker.EXAMPLES,
        help="run the requests of a shared Redis queue until SIGTERM",
        description="Run the requests of a shared Redis queue until SIGTERM.",
    )
    worker.add_arguments(worker_parser)
    demo_parser = commands.add_parser(
        "demo",
        parents=[common],
        formatter_class=formatter,
        epilog=_DEMO_EXAMPLES,
        help="an offline tour against a loopback origin",
        description="An offline tour: priorities and the response cache, in one table.",
    )
    demo_parser.add_argument(
        "--requests", type=int, default=24, metavar="N", help="requests per pass (default 24)"
    )
    serve_parser = commands.add_parser(
        "serve",
        parents=[common],
        formatter_class=formatter,
        epilog=serve.EXAMPLES,
        help="a local origin to try netstack on (the README's tour uses it)",
        description="A local origin on 127.0.0.1 with httpbin-style endpoints, until Ctrl-C.",
    )
    serve.add_arguments(serve_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``netstack`` console script; returns the exit status."""
    from netstack import extras

    if not extras.available("cli"):
        print(f"netstack: {extras.install_hint('cli')}", file=sys.stderr)
        return 2
    args = _parser().parse_args(argv)
    from netstack.cli import logs

    logs.configure(args.verbose or 0, json=bool(args.log_json))
    try:
        if args.command == "get":
            from netstack.cli import get

            return get.run(args)
        if args.command == "batch":
            from netstack.cli import batch, enqueue

            if args.redis and args.state:
                print("netstack: --state does not apply with --redis", file=sys.stderr)
                return 2
            return enqueue.run(args) if args.redis else batch.run(args)
        if args.command == "worker":
            from netstack.cli import worker

            return worker.run(args)
        if args.command == "serve":
            from netstack.cli import serve

            return serve.run(args)
        from netstack.cli import demo

        if args.requests < 1:
            print("netstack: --requests must be >= 1", file=sys.stderr)
            return 2
        return demo.run(sys.stdout, requests=args.requests)
    except BrokenPipeError:  # `netstack ... | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes stdout
        return 0
    except KeyboardInterrupt:
        print("netstack: interrupted", file=sys.stderr)
        return 130
