"""``netstack get URL``: one request, the body to stdout (curl's everyday shape).

Flags become request options: ``-X`` method, ``-H`` header,
``-d`` extraData (``@file`` reads bytes, ``@-`` stdin; ``-d`` without ``-X``
means POST), ``--priority``, ``--timeout`` (read and connect, ms),
``--http2`` (usingProtocol), ``--cacert`` (caPath), ``--proxy``
(usingProxy), ``--cert``/``--key``/``--cert-type``/``--key-password``
(clientCert), ``--max-limit``, ``--max-redirs`` (maxRedirects). Without
``--json`` the body is asked for as bytes and written untouched, to stdout or
to ``-o FILE``. A URL without a scheme gets ``http://`` (as HTTPie does);
``-f`` makes a 4xx or 5xx answer exit 22 without writing the body (as curl).
"""

from __future__ import annotations

import argparse
import http
import json
import re
import sys
from typing import IO, TYPE_CHECKING, Any, Final, cast
from urllib.parse import urlsplit

from rich.console import Console
from rich.markup import escape

from netstack import (
    CertType,
    ClientCert,
    HttpDataType,
    HttpError,
    HttpProtocol,
    HttpProxy,
    HttpResponse,
    Scheduler,
    create_http,
)
from netstack.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    close_cache,
    open_cache,
    report_error,
)
from netstack.cli.logs import logger
from netstack.cli.records import body_bytes, response_record

if TYPE_CHECKING:
    from netstack.options import OptionsInput

__all__ = [
    "EXAMPLES",
    "EXIT_HTTP_ERROR",
    "add_arguments",
    "build_options",
    "parse_header",
    "parse_proxy",
    "run",
    "with_scheme",
]

EXAMPLES = """\
examples:
  netstack get https://example.org/                      the body to stdout
  netstack get -i https://example.org/                   status line and headers too
  netstack get --json https://example.org/ | jq .performance_timing
  netstack get -X PUT -H 'Content-Type: text/plain' -d 'hello' https://example.org/put
  netstack get -d @payload.json https://example.org/post  POST a file's bytes
  netstack get --cache-dir ~/.cache/ns https://example.org/   a second run answers from the cache
  netstack get --timeout 2000 --proxy http://proxy:3128 --http2 https://example.org/
  netstack get 127.0.0.1:8000/get                        no scheme: http:// is assumed
  netstack get -f -o page.html https://example.org/      save the body; exit 22 on 4xx/5xx

exit status: 0 a response (any HTTP status; with -f, below 400), 1 the request
failed (its HttpError code and message on stderr), 2 bad input (HttpError
401), 22 with -f, a 4xx or 5xx response, 130 Ctrl-C.
"""

#: curl's exit status for "HTTP page not retrieved" (``-f`` and a status >= 400).
EXIT_HTTP_ERROR: Final = 22


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``get``."""
    parser.add_argument("url", help="the URL to request")
    parser.add_argument(
        "-X",
        "--request",
        dest="method",
        metavar="METHOD",
        help="the method (default GET, or POST with -d)",
    )
    parser.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header; repeatable",
    )
    parser.add_argument(
        "-d",
        "--data",
        metavar="DATA",
        help="the body (extraData); @FILE sends a file's bytes, @- stdin",
    )
    parser.add_argument("--priority", type=int, metavar="N", help="1..1000 (default 1)")
    parser.add_argument(
        "-i",
        "--include",
        action="store_true",
        help="print the status line and headers before the body",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the whole HttpResponse as JSON (body as text or base64)",
    )
    parser.add_argument(
        "--cache-dir", metavar="DIR", help="use a persistent response cache in DIR, flushed on exit"
    )
    parser.add_argument(
        "--timeout",
        type=int,
        metavar="MS",
        help="read and connect timeout in milliseconds (0: none)",
    )
    parser.add_argument(
        "--http2", action="store_true", help="ask for HTTP/2 (ALPN, falls back to HTTP/1.1)"
    )
    parser.add_argument("--cacert", metavar="FILE", help="PEM CA bundle (default: certifi's)")
    parser.add_argument("--proxy", metavar="[http://]HOST:PORT", help="send through this proxy")
    parser.add_argument("--cert", metavar="FILE", help="client certificate")
    parser.add_argument("--key", metavar="FILE", help="client certificate's private key")
    parser.add_argument(
        "--cert-type",
        choices=[t.value for t in CertType],
        default="PEM",
        help="client certificate format (default PEM)",
    )
    parser.add_argument("--key-password", metavar="PASSWORD", help="the key's password")
    parser.add_argument(
        "--max-limit",
        type=int,
        metavar="BYTES",
        help="largest body accepted (default 5 MiB, at most 100 MiB)",
    )
    parser.add_argument(
        "--max-redirs",
        type=int,
        metavar="N",
        help="redirects followed at most (default 30; 0 prints the 3xx itself)",
    )
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the body to FILE instead of stdout"
    )
    parser.add_argument(
        "-f",
        "--fail",
        action="store_true",
        help="a 4xx or 5xx response: no body, its status on stderr, exit 22",
    )


_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def with_scheme(url: str) -> str:
    """``url`` with ``http://`` in front when it names no scheme (``127.0.0.1:8081/x``)."""
    url = url.strip()
    return url if _SCHEME.match(url) else f"http://{url}"


def parse_header(text: str) -> tuple[str, str]:
    """``'Name: value'`` -> ``("Name", "value")``; 401 without a colon."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise HttpError.parameter(f"header: expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def parse_proxy(text: str) -> HttpProxy:
    """``http://host:port`` or ``host:port`` -> HttpProxy (port 80 when omitted)."""
    parts = urlsplit(text if "://" in text else f"http://{text}")
    try:
        port = parts.port or 80
    except ValueError:
        raise HttpError.parameter(f"proxy: bad port in {text!r}") from None
    if not parts.hostname:
        raise HttpError.parameter(f"proxy: expected [http://]HOST:PORT, got {text!r}")
    return HttpProxy(parts.hostname, port)


def _data(text: str) -> str | bytes:
    if not text.startswith("@"):
        return text
    if text == "@-":
        return sys.stdin.buffer.read()
    try:
        with open(text[1:], "rb") as file:
            return file.read()
    except OSError as exc:
        raise HttpError.parameter(f"data: cannot read {text[1:]!r}: {exc.strerror}") from None


#: Flags whose value is the option's value as given: (flag, option).
_PLAIN_FLAGS: Final = (
    ("priority", "priority"),
    ("cacert", "caPath"),
    ("max_limit", "maxLimit"),
    ("max_redirs", "maxRedirects"),
)


def build_options(args: argparse.Namespace) -> dict[str, Any]:
    """The request options (@ohos.net.http's camelCase keys) that the flags ask for."""
    options: dict[str, Any] = {}
    if args.method:
        options["method"] = args.method.upper()
    elif args.data is not None:
        options["method"] = "POST"
    if args.header:
        options["header"] = dict(parse_header(h) for h in args.header)
    if args.data is not None:
        options["extraData"] = _data(args.data)
    for flag, key in _PLAIN_FLAGS:
        if getattr(args, flag) is not None:
            options[key] = getattr(args, flag)
    if args.timeout is not None:
        options["readTimeout"] = options["connectTimeout"] = args.timeout
    if args.http2:
        options["usingProtocol"] = HttpProtocol.HTTP2
    if args.proxy:
        options["usingProxy"] = parse_proxy(args.proxy)
    if args.cert:
        options["clientCert"] = ClientCert(
            cert_path=args.cert,
            key_path=args.key or "",
            cert_type=CertType(args.cert_type),
            key_password=args.key_password,
        )
    if not args.json:
        options["expectDataType"] = HttpDataType.ARRAY_BUFFER  # the bytes, untouched
    return options


def _status_line(response: HttpResponse) -> str:
    code = int(response.response_code)
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {code} {phrase}".rstrip()


def _write(args: argparse.Namespace, response: HttpResponse, out: IO[bytes]) -> None:
    if args.json:
        text = json.dumps(response_record(response), indent=2, ensure_ascii=False) + "\n"
        out.write(text.encode("utf-8"))
        out.flush()
        return
    if args.include:
        lines = [_status_line(response)]
        header = response.header
        lines += [f"{name}: {header[name]}" for name in header]
        out.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))
    out.write(body_bytes(response))
    out.flush()


def _output(args: argparse.Namespace, response: HttpResponse, console: Console) -> int:
    """Write ``response`` where ``-o`` says (stdout by default); the exit status."""
    if args.fail and response.response_code >= 400:
        console.print(
            f"[red]netstack: the server answered {escape(_status_line(response))} "
            f"for {escape(response.url)}[/]",
            soft_wrap=True,
        )
        return EXIT_HTTP_ERROR
    if args.output is None:
        _write(args, response, sys.stdout.buffer)
        return EXIT_OK
    try:
        with open(args.output, "wb") as file:
            _write(args, response, file)
    except OSError as exc:
        console.print(f"[red]netstack: cannot write {escape(args.output)}: {exc.strerror}[/]")
        return EXIT_FAILED
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``get``; return the exit status."""
    console = Console(stderr=True)
    try:
        options = build_options(args)
    except HttpError as error:
        return report_error(console, error)
    cache = open_cache(args.cache_dir)
    scheduler = Scheduler(max_workers=1, max_per_host=1, cache=cache, name="netstack-get")
    request = create_http(scheduler)
    try:
        response = request.request(with_scheme(args.url), cast("OptionsInput", options)).result()
    except HttpError as error:
        logger.info("get_failed", url=args.url, code=error.code)
        return report_error(console, error)
    except KeyboardInterrupt:
        request.destroy()
        console.print("[yellow]netstack: interrupted[/]")
        return EXIT_INTERRUPTED
    finally:
        scheduler.shutdown(wait=True, cancel_pending=True)
        close_cache(cache, console)
    return _output(args, response, console)
