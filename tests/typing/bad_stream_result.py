"""request_in_stream resolves to the status code, an int: using it as a response must fail."""

from __future__ import annotations

import netstack

code = netstack.create_http().request_in_stream("http://127.0.0.1:8000/get").result()
print(code.response_code)
