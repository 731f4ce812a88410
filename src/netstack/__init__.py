"""netstack: HTTP requests scheduled on a thread pool, in the shape of ``@ohos.net.http``.

Everything public is importable from here; the submodules are internal.
"""

from __future__ import annotations

from netstack.adaptive import AdaptiveConcurrency
from netstack.api import HttpRequest, create_http
from netstack.breaker import BreakerState, CircuitBreaker
from netstack.cache import (
    CacheStorage,
    FileStorage,
    HttpResponseCache,
    MemoryStorage,
    create_http_response_cache,
)
from netstack.distributed.redis_queue import RedisQueue
from netstack.distributed.redis_storage import RedisStorage
from netstack.errors import HttpError
from netstack.events import DataReceiveProgressInfo, DataSendProgressInfo
from netstack.options import (
    CertificatePinning,
    CertType,
    ClientCert,
    HttpDataType,
    HttpProtocol,
    HttpProxy,
    HttpRequestOptions,
    HttpRequestOptionsDict,
    MultiFormData,
    RequestMethod,
    ResponseCode,
)
from netstack.response import HttpResponse, PerformanceTiming
from netstack.scheduler import (
    PolitenessPolicy,
    RequestFuture,
    RetryPolicy,
    Scheduler,
    SchedulerStats,
    TagStats,
    get_default_scheduler,
)

__version__ = "0.1.0"

__all__ = [
    "AdaptiveConcurrency",
    "BreakerState",
    "CacheStorage",
    "CertType",
    "CertificatePinning",
    "CircuitBreaker",
    "ClientCert",
    "DataReceiveProgressInfo",
    "DataSendProgressInfo",
    "FileStorage",
    "HttpDataType",
    "HttpError",
    "HttpProtocol",
    "HttpProxy",
    "HttpRequest",
    "HttpRequestOptions",
    "HttpRequestOptionsDict",
    "HttpResponse",
    "HttpResponseCache",
    "MemoryStorage",
    "MultiFormData",
    "PerformanceTiming",
    "PolitenessPolicy",
    "RedisQueue",
    "RedisStorage",
    "RequestFuture",
    "RequestMethod",
    "ResponseCode",
    "RetryPolicy",
    "Scheduler",
    "SchedulerStats",
    "TagStats",
    "create_http",
    "create_http_response_cache",
    "get_default_scheduler",
]
