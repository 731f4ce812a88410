"""``request_send.DirectSend``: the transport's urlopen call, minus what it never needs.

The target shortcut must only skip ``_encode_target`` where that returns the
target unchanged; requests on direct pools take ``send_direct`` and end as
urlopen ends them (the connection back in the pool once the body is read).
The failure paths are those of tests/faults and tests/transport, which run
through ``send_direct`` for every plain http(s) request.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from urllib3.util.url import _encode_target

from netstack.transport import request_send
from netstack.transport.exchange import DEFAULT_SETTINGS
from netstack.transport.pools import Pools
from netstack.transport.request_send import DirectSend

pytestmark = pytest.mark.timeout(60)

_CHARS = "abcXYZ019-._~!$&'()*+,;=:@/?%#[] \"<>\\^`{|}é\x7f"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_CHARS, max_size=20).map(lambda t: "/" + t))
def test_a_plain_target_is_one_encode_target_leaves_alone(target: str) -> None:
    if request_send._PLAIN_TARGET(target):
        assert _encode_target(target) == target


def test_direct_pools_send_without_urlopen() -> None:
    pools = Pools(max_per_host=2)
    try:
        http = pools.pool(DEFAULT_SETTINGS, "http", "127.0.0.1", 9, None)
        https = pools.pool(DEFAULT_SETTINGS, "https", "127.0.0.1", 9, None)
        proxied = pools.pool(DEFAULT_SETTINGS, "http", "127.0.0.1", 9, "http://127.0.0.1:8")
    finally:
        pools.close()
    assert isinstance(http, DirectSend)
    assert isinstance(https, DirectSend)
    assert http.proxy is None
    assert proxied.proxy is not None  # the transport sends these through urlopen
