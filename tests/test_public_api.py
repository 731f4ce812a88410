"""The public surface, pinned: a change to ``__all__`` or a signature shows up as a diff.

Regenerate after a reviewed contract change with:
``python -c "import tests.test_public_api as t; t.write_snapshot()"``.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
from pathlib import Path

import netstack

SNAPSHOT = Path(__file__).with_name("public_api.txt")


def _describe(name: str, obj: object) -> list[str]:
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        members = ", ".join(f"{m.name}={m.value!r}" for m in obj)
        return [f"enum {name}: {members}"]
    if isinstance(obj, type) and dataclasses.is_dataclass(obj):
        fields = ", ".join(
            f"{f.name}={f.default!r}" if f.default is not dataclasses.MISSING else f.name
            for f in dataclasses.fields(obj)
        )
        lines = [f"dataclass {name}({fields})"]
    elif isinstance(obj, type):
        try:
            lines = [f"class {name}{inspect.signature(obj)}"]
        except (TypeError, ValueError):
            lines = [f"class {name}"]
    elif callable(obj):
        return [f"def {name}{inspect.signature(obj)}"]
    else:
        return [f"{name}: {type(obj).__name__}"]
    assert isinstance(obj, type)
    for attr, value in sorted(vars(obj).items()):
        if attr.startswith("_"):
            continue
        if isinstance(value, property):
            lines.append(f"    property {attr}")
        elif callable(value) or isinstance(value, staticmethod | classmethod):
            function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
            lines.append(f"    def {attr}{inspect.signature(function)}")
    return lines


def snapshot() -> str:
    lines = [f"__all__ = {sorted(netstack.__all__)}"]
    for name in sorted(netstack.__all__):
        lines.extend(_describe(name, getattr(netstack, name)))
    return "\n".join(lines) + "\n"


def write_snapshot() -> None:
    SNAPSHOT.write_text(snapshot())


def test_public_api_matches_the_reviewed_snapshot() -> None:
    assert snapshot() == SNAPSHOT.read_text()


def test_the_contract_names_are_all_public() -> None:
    contract = {
        "create_http", "create_http_response_cache", "get_default_scheduler",
        "Scheduler", "SchedulerStats", "HttpRequest", "RequestFuture",
        "HttpResponseCache", "CacheStorage", "FileStorage", "MemoryStorage",
        "HttpRequestOptions", "HttpResponse", "PerformanceTiming",
        "DataReceiveProgressInfo", "DataSendProgressInfo",
        "RequestMethod", "ResponseCode", "HttpDataType", "HttpProtocol", "CertType",
        "ClientCert", "CertificatePinning", "MultiFormData", "HttpProxy",
        "HttpError",
    }  # fmt: skip
    assert contract <= set(netstack.__all__)
    for name in netstack.__all__:
        assert getattr(netstack, name).__doc__, f"{name} needs a docstring"
