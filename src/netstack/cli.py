"""The ``netstack`` command.

``netstack demo`` runs a self-contained, offline tour (see ``netstack.demo``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netstack", description="HTTP requests scheduled on a thread pool."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="an offline tour against a loopback origin")
    demo.add_argument("--requests", type=int, default=24, help="queued requests in pass 1")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``netstack`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from netstack.demo import run

        return run(sys.stdout, requests=args.requests)
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":
    sys.exit(main())
